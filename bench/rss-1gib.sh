#!/usr/bin/env bash
# rss-1gib.sh: does r2gate stream? Measures the resident memory (RSS) of the
# Caddy process while it serves a 1 GiB object from a real S3 server
# (versitygw on loopback), once at full speed and once to a slow client
# (curl --limit-rate). Streaming means the RSS stays flat: the peak may grow
# by at most RSS_BOUND_MIB (default 64) over the idle RSS. Exits 1 if not.
#
#   bench/rss-1gib.sh
#
# Environment:
#   R2GATE_VERSITYGW  path to the versitygw binary (else PATH, then
#                     ~/.cache/r2gate-tools/versitygw, then $(go env GOPATH)/bin)
#   RSS_BOUND_MIB     allowed growth over idle, MiB (default 64)
#   SLOW_RATE         curl --limit-rate for the slow run (default 200M)
#   TMPDIR            where the 1 GiB object is written (needs ~2 GiB free)
#   CADDY_BIN         the caddy binary (default ./caddy); the script runs a copy
set -euo pipefail

BENCH_NAME=rss-1gib
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # sets repo, cd "$repo"

SIZE=$((1024 * 1024 * 1024))
BOUND_MIB="${RSS_BOUND_MIB:-64}"
SLOW_RATE="${SLOW_RATE:-200M}"

ensure_caddy
require_versitygw
require_curl
bench_tmp rss

# Run a copy of ./caddy (or $CADDY_BIN), so that a rebuild during the run
# changes nothing.
cp "${CADDY_BIN:-./caddy}" "$tmp/caddy"
CADDY_BIN="$tmp/caddy"

# --- S3 server with a 1 GiB object -------------------------------------------

start_versitygw

log "writing a 1 GiB object through S3 ($VERSITYGW) ..."
s3_create_bucket "$BUCKET"
head -c "$SIZE" /dev/urandom >"$tmp/big.bin"
s3 -o /dev/null -H 'Content-Type: application/octet-stream' -T "$tmp/big.bin" "$s3url/$BUCKET/big.bin"
rm -f "$tmp/big.bin"
printf 'hello\n' >"$tmp/tiny.txt"
s3 -o /dev/null -H 'Content-Type: text/plain' -T "$tmp/tiny.txt" "$s3url/$BUCKET/tiny.txt"

# --- Caddy with r2gate in front of it ----------------------------------------

port="$(free_port)"
cat >"$tmp/Caddyfile" <<CADDYFILE
{
	admin off
}

http://127.0.0.1:$port {
	r2gate {
		bucket     $BUCKET
		endpoint   $s3url
		access_key $KEY
		secret_key $SECRET
	}
}
CADDYFILE
start_caddy "$tmp/Caddyfile" "$port"
base="http://127.0.0.1:$port"

# --- measuring ---------------------------------------------------------------

# Warm up: one tiny request through the whole path, then let it settle.
[[ "$(curl -s "$base/tiny.txt")" == hello ]] || die "warm-up request failed; caddy log: $(tail -5 "$tmp/caddy.log")"
sleep 1
idle_kib="$(status_kib "$caddy_pid" VmRSS)"
hwm_reset=yes # becomes no if the kernel refuses to reset VmHWM

peak_all_kib=$idle_kib
results=()

# transfer <name> [curl args...]: GET the 1 GiB object while sampling VmRSS.
transfer() {
	local name=$1
	shift
	local samples="$tmp/rss-$name.txt" sampler out code size speed total peak n hwm
	# Reset the kernel's peak-RSS mark (VmHWM) so it covers only this
	# transfer; if the kernel refuses, the 100 ms samples alone give the peak.
	if ! reset_hwm "$caddy_pid"; then
		hwm_reset=no
	fi
	(
		set +e
		while [[ -r /proc/$caddy_pid/status ]]; do
			while read -r k v _; do
				if [[ $k == VmRSS: ]]; then
					echo "$v"
				fi
			done <"/proc/$caddy_pid/status"
			sleep 0.1
		done
	) >"$samples" &
	sampler=$!
	out="$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download} %{time_total}' "$@" "$base/big.bin")" || true
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	read -r code size speed total <<<"$out"
	[[ "$code" == 200 && "$size" == "$SIZE" ]] ||
		die "$name transfer: status ${code:-?}, ${size:-0} of $SIZE bytes; caddy log: $(tail -5 "$tmp/caddy.log")"
	peak="$(sort -n "$samples" | tail -1)"
	n="$(wc -l <"$samples")"
	if [[ $hwm_reset == yes ]]; then
		hwm="$(status_kib "$caddy_pid" VmHWM)"
		((hwm > peak)) && peak=$hwm
	fi
	((peak > peak_all_kib)) && peak_all_kib=$peak
	results+=("$(printf '%-5s %7.1f MiB/s in %6.2f s   peak RSS %7s MiB (+%s MiB over idle; %s samples)' \
		"$name" "$(awk -v s="$speed" 'BEGIN { print s / 1048576 }')" "$total" \
		"$(mib "$peak")" "$(mib $((peak - idle_kib)))" "$n")")
}

log "streaming 1 GiB through r2gate (caddy pid $caddy_pid): full speed ..."
transfer fast
log "streaming 1 GiB through r2gate again to a slow client (curl --limit-rate $SLOW_RATE) ..."
transfer slow --limit-rate "$SLOW_RATE"

growth_kib=$((peak_all_kib - idle_kib))
verdict=PASS
((growth_kib <= BOUND_MIB * 1024)) || verdict=FAIL

echo
echo "r2gate RSS while streaming a 1 GiB object (versitygw on loopback, $(date -u +%Y-%m-%d))"
echo "idle RSS (after warm-up):  $(mib "$idle_kib") MiB"
for r in "${results[@]}"; do
	echo "$r"
done
echo "peak RSS:                  $(mib "$peak_all_kib") MiB (VmRSS every 100 ms; kernel VmHWM reset: $hwm_reset)"
echo "peak - idle:               $(mib "$growth_kib") MiB (bound $BOUND_MIB MiB): $verdict"
[[ $verdict == PASS ]]
