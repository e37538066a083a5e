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
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

SIZE=$((1024 * 1024 * 1024))
BOUND_MIB="${RSS_BOUND_MIB:-64}"
SLOW_RATE="${SLOW_RATE:-200M}"
KEY=benchkey
SECRET=benchsecret
BUCKET=bench

log() { printf '%s\n' "$*" >&2; }
die() { log "rss-1gib: $*"; exit 1; }

# --- tools -------------------------------------------------------------------

if [[ ! -x ./caddy ]]; then
	log "./caddy not found; building it with ./xcaddy.sh"
	./xcaddy.sh build
fi

find_versitygw() {
	local c
	if [[ -n "${R2GATE_VERSITYGW:-}" ]]; then
		[[ -x "$R2GATE_VERSITYGW" ]] || return 1
		echo "$R2GATE_VERSITYGW"
		return
	fi
	if command -v versitygw >/dev/null 2>&1; then
		command -v versitygw
		return
	fi
	for c in "$HOME/.cache/r2gate-tools/versitygw" "$(go env GOPATH 2>/dev/null)/bin/versitygw"; do
		if [[ -f "$c" && -x "$c" ]]; then
			echo "$c"
			return
		fi
	done
	return 1
}
VERSITYGW="$(find_versitygw)" || die "versitygw not found. Install it (about 3 minutes on an empty module cache) with:
  GOBIN=\$HOME/.cache/r2gate-tools go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
or point R2GATE_VERSITYGW at the binary."
command -v curl >/dev/null || die "curl not found"

# --- cleanup -----------------------------------------------------------------

tmp="$(mktemp -d "${TMPDIR:-/tmp}/r2gate-rss.XXXXXX")"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback TCP port nobody is listening on.
free_port() {
	local p _
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_http waits until url answers HTTP at all (any status).
wait_http() {
	local url=$1 what=$2 _
	for _ in $(seq 100); do
		if curl -s -o /dev/null --max-time 1 "$url"; then
			return
		fi
		sleep 0.1
	done
	die "$what did not start; its log:
$(tail -20 "$tmp/$what.log" 2>/dev/null)"
}

s3() { # s3 <curl args...>: a SigV4-signed request to versitygw
	curl -sS --fail-with-body --aws-sigv4 "aws:amz:auto:s3" --user "$KEY:$SECRET" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# --- S3 server with a 1 GiB object -------------------------------------------

s3port="$(free_port)"
mkdir -p "$tmp/s3"
"$VERSITYGW" --port "127.0.0.1:$s3port" --access "$KEY" --secret "$SECRET" \
	--region auto --keep-alive --quiet posix "$tmp/s3" >"$tmp/versitygw.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$s3port/" versitygw
s3url="http://127.0.0.1:$s3port"

log "writing a 1 GiB object through S3 ($VERSITYGW) ..."
s3 -o /dev/null -X PUT "$s3url/$BUCKET"
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
# Keep Caddy's autosave and data out of the user's home.
XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data" \
	./caddy run --config "$tmp/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
pids+=("$caddy_pid")
wait_http "http://127.0.0.1:$port/" caddy
base="http://127.0.0.1:$port"

# --- measuring ---------------------------------------------------------------

status_kib() { # status_kib <field>: a /proc/<caddy>/status field in KiB
	local k v _
	while read -r k v _; do
		if [[ $k == "$1:" ]]; then
			echo "$v"
			return
		fi
	done <"/proc/$caddy_pid/status"
	die "no $1 for caddy (pid $caddy_pid); did it exit? $(tail -5 "$tmp/caddy.log")"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Warm up: one tiny request through the whole path, then let it settle.
[[ "$(curl -s "$base/tiny.txt")" == hello ]] || die "warm-up request failed; caddy log: $(tail -5 "$tmp/caddy.log")"
sleep 1
idle_kib="$(status_kib VmRSS)"
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
	if ! { echo 5 >"/proc/$caddy_pid/clear_refs"; } 2>/dev/null; then
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
		hwm="$(status_kib VmHWM)"
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
