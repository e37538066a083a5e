#!/usr/bin/env bash
# compare.sh: throughput and latency of r2gate against Caddy's own handlers,
# measured with wrk on loopback in ONE run on the same machine. One ./caddy
# process serves several sites, each on its own loopback port, all serving
# the SAME bytes (printable random bytes, one object per size):
#
#   file_server  Caddy's file_server over a folder (the reference)
#   respond      Caddy's respond with the body in the Caddyfile (Caddy's
#                ceiling for a body already in memory)
#   r2gate-dir   r2gate { dir <the same folder> }
#   r2gate-s3    r2gate in front of a versitygw bucket (no cache yet: every
#                request is a GET to versitygw)
#   versitygw    versitygw itself, unsigned GETs (the bucket gets a public-read
#                policy for s3:GetObject); not the Caddy process
#   ...          plus the sites of EXTRA_SITES_FILE (see below)
#
# Every site is checked first (200, Content-Length, bytes identical to the
# file). Then, for ROUNDS rounds, for each size, for each site (the order
# rotates every round): a WARMUP wrk run, then a DURATION wrk run with
# --latency. Rounds interleave the sites so that noise from other processes
# hits all of them alike. The table gives per site and size the median of the
# rounds: req/s, the ratios to file_server and to respond, wrk's p50 and p99
# latency, and the peak RSS (VmHWM) of the Caddy process during that site's
# runs. It is printed and written to bench/results/compare-<date>-<time>.md.
#
#   bench/compare.sh                       # about 7 minutes with the defaults
#   SIZES=100k ROUNDS=1 DURATION=3s bench/compare.sh     # a quick look
#
# Environment:
#   SIZES             object sizes, k = KiB, m = MiB (default "100k 1m")
#   ROUNDS            rounds per site and size (default 3)
#   DURATION          wrk -d of each measured run (default 8s)
#   WARMUP            wrk -d of the warm-up before each run (default 2s)
#   WRK_ARGS          other wrk arguments (default "-t2 -c32")
#   EXTRA_SITES_FILE  a file of extra Caddyfile site blocks (see below)
#   LOAD_MAX          wait while the 1-minute load average is above this
#                     (default 1.5) ...
#   LOAD_WAIT         ... for at most this many seconds, then run anyway and
#                     say so in the results (default 180; 0 = do not wait)
#   CADDY_GLOBAL      extra lines for the Caddyfile's global options block,
#                     one directive or brace per line, e.g.
#                     $'servers {\ntimeouts {\nwrite_idle -1s\n}\n}' (see
#                     bench/README.md: Caddy's default write_idle turns off
#                     sendfile for file_server)
#   RESULTS_DIR       where the markdown is written (default bench/results)
#   CADDY_BIN         the caddy binary (default ./caddy); the script runs a copy
#   R2GATE_VERSITYGW  the versitygw binary (see bench/README.md)
#
# EXTRA_SITES_FILE holds Caddyfile site blocks that are appended to the
# generated Caddyfile. Each site's address must be
# http://127.0.0.1:{$BENCH_PORT_<name>} (add "bind 127.0.0.1", or Caddy
# listens on all interfaces): every distinct <name> gets a free port and a
# row named <name> in the table, in order of first appearance. The port
# variables are also expanded in CADDY_GLOBAL, e.g. to give one site other
# server options: servers 127.0.0.1:{$BENCH_PORT_<name>} { ... }.
# The objects are at /<size>.bin (/100k.bin, /1m.bin). Caddy expands these
# environment placeholders in the file:
#   {$BENCH_DIR}          the folder with the objects
#   {$BENCH_S3_ENDPOINT}  versitygw's URL
#   {$BENCH_BUCKET} {$BENCH_ACCESS_KEY} {$BENCH_SECRET_KEY}
#   {$BENCH_TMP}          a scratch folder, removed at the end (disk caches)
# Example:
#   http://127.0.0.1:{$BENCH_PORT_r2gate_mem} {
#   	bind 127.0.0.1
#   	r2gate {
#   		bucket     {$BENCH_BUCKET}
#   		endpoint   {$BENCH_S3_ENDPOINT}
#   		access_key {$BENCH_ACCESS_KEY}
#   		secret_key {$BENCH_SECRET_KEY}
#   		cache {
#   			memory 256MiB
#   		}
#   	}
#   }
set -euo pipefail

BENCH_NAME=compare
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # sets repo, cd "$repo"

SIZES="${SIZES:-100k 1m}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-8s}"
WARMUP="${WARMUP:-2s}"
WRK_ARGS="${WRK_ARGS:--t2 -c32}"
EXTRA_SITES_FILE="${EXTRA_SITES_FILE:-}"
LOAD_MAX="${LOAD_MAX:-1.5}"
LOAD_WAIT="${LOAD_WAIT:-180}"
RESULTS_DIR="${RESULTS_DIR:-$repo/bench/results}"

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
if [[ -n $EXTRA_SITES_FILE ]]; then
	[[ -r $EXTRA_SITES_FILE ]] || die "EXTRA_SITES_FILE $EXTRA_SITES_FILE is not readable"
	EXTRA_SITES_FILE="$(cd "$(dirname "$EXTRA_SITES_FILE")" && pwd)/$(basename "$EXTRA_SITES_FILE")"
fi

# size_bytes <label>: 100k -> 102400, 1m -> 1048576, 123 -> 123.
size_bytes() {
	local n=${1%[kKmM]}
	[[ $n =~ ^[0-9]+$ ]] || die "bad size '$1' in SIZES (want e.g. 100k, 1m, 4096)"
	case $1 in
	*[kK]) echo $((n * 1024)) ;;
	*[mM]) echo $((n * 1024 * 1024)) ;;
	*) echo "$n" ;;
	esac
}
for s in $SIZES; do size_bytes "$s" >/dev/null; done

# --- tools -------------------------------------------------------------------

ensure_caddy
require_versitygw
require_curl
if ! command -v wrk >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "wrk not found; installing the Debian package"
		apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; } ||
			die "could not install wrk"
	else
		die "wrk not found. Install it with:
  sudo apt-get install -y wrk"
	fi
fi
bench_tmp compare

# Run a copy of ./caddy (or $CADDY_BIN), so that a rebuild during the run
# changes nothing.
caddy_src="${CADDY_BIN:-./caddy}"
cp "$caddy_src" "$tmp/caddy"
CADDY_BIN="$tmp/caddy"
caddy_built="$(date -u -r "$caddy_src" '+%Y-%m-%d %H:%M UTC')"
caddy_sum="$(sha256sum "$CADDY_BIN" | cut -c1-12)"
git_head="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
git_dirty=""
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
	git_dirty=", uncommitted changes"
fi
"$CADDY_BIN" list-modules 2>/dev/null | grep -x 'http.handlers.r2gate' >/dev/null ||
	die "./caddy has no http.handlers.r2gate module; rebuild it with ./xcaddy.sh"

# --- quiet machine? --------------------------------------------------------------

load1() { read -r l _ </proc/loadavg && echo "$l"; }
load_above() { awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN { exit !(l > m) }'; }
load_start="$(load1)"
waited=0
while load_above && ((waited < LOAD_WAIT)); do
	((waited == 0)) && log "load average $(load1) > $LOAD_MAX: waiting up to ${LOAD_WAIT}s for it to drop ..."
	sleep 10
	waited=$((waited + 10))
done
load_run="$(load1)"
if load_above; then
	load_note="1-minute load $load_start at start; still $load_run after waiting ${waited}s (LOAD_MAX $LOAD_MAX): ran anyway, other processes were busy"
elif ((waited > 0)); then
	load_note="1-minute load $load_start at start; waited ${waited}s until it was $load_run (≤ $LOAD_MAX)"
else
	load_note="1-minute load $load_start at start (≤ $LOAD_MAX)"
fi
log "$load_note"

# --- the objects -------------------------------------------------------------

# Printable random bytes (base64 alphabet: no braces, so Caddy's placeholder
# expansion in respond leaves them alone; no newlines).
mkdir -p "$tmp/www"
for s in $SIZES; do
	n="$(size_bytes "$s")"
	head -c $((n * 3 / 4 + 3)) /dev/urandom | base64 -w0 >"$tmp/www/$s.bin"
	truncate -s "$n" "$tmp/www/$s.bin"
done

start_versitygw
s3_create_bucket "$BUCKET"
for s in $SIZES; do
	s3 -o /dev/null -H 'Content-Type: application/octet-stream' -T "$tmp/www/$s.bin" "$s3url/$BUCKET/$s.bin"
done
# Unsigned GETs for the "versitygw" site: a public-read bucket policy.
printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}' \
	"$BUCKET" >"$tmp/policy.json"
s3 -o /dev/null -X PUT -T "$tmp/policy.json" "$s3url/$BUCKET?policy=" ||
	die "versitygw refused the public-read bucket policy"

# --- the sites -----------------------------------------------------------------

SITE_NAMES=()          # table order
declare -A SITE_URL    # name -> base URL; the objects are at <base>/<size>.bin
declare -A SITE_CADDY  # name -> 1 when the Caddy process serves it (RSS column)
declare -A SITE_NOTE   # name -> one line for the notes under the table
declare -A PORT_USED

new_port() {
	local p
	while :; do
		p="$(free_port)"
		if [[ -z ${PORT_USED[$p]:-} ]]; then
			PORT_USED[$p]=1
			echo "$p"
			return
		fi
	done
}

cat >"$tmp/Caddyfile" <<CADDYFILE
{
	admin off
${CADDY_GLOBAL:-}
}
CADDYFILE

# caddy_site <name> <note> <site body>: a site on its own loopback port in
# the Caddy process.
caddy_site() {
	local name=$1 note=$2 body=$3 port
	port="$(new_port)"
	printf '\nhttp://127.0.0.1:%s {\n\tbind 127.0.0.1\n%s\n}\n' "$port" "$body" >>"$tmp/Caddyfile"
	SITE_NAMES+=("$name")
	SITE_URL[$name]="http://127.0.0.1:$port"
	SITE_CADDY[$name]=1
	SITE_NOTE[$name]=$note
}

# external_site <name> <note> <base URL>: a server that is not Caddy.
external_site() {
	SITE_NAMES+=("$1")
	SITE_URL[$1]=$3
	SITE_CADDY[$1]=
	SITE_NOTE[$1]=$2
}

r2gate_bucket="		bucket     $BUCKET
		endpoint   $s3url
		access_key $KEY
		secret_key $SECRET"

caddy_site file_server "Caddy \`file_server\` over the folder (the reference; default server options, so no sendfile: see bench/README.md)" "	root * $tmp/www
	file_server"

body=""
for s in $SIZES; do
	# A heredoc body is taken literally; the newline before the closing
	# marker is not part of it. Caddy would send it chunked, without
	# Content-Length, so set that (and file_server's Content-Type) too.
	# The explicit "*" matcher matters: without it, a body whose first
	# byte is "/" (a base64 character) is read as a path matcher.
	body+="	handle /$s.bin {
		header Content-Type application/octet-stream
		header Content-Length $(size_bytes "$s")
		respond * <<R2GATE_BODY
$(cat "$tmp/www/$s.bin")
R2GATE_BODY 200
	}
"
done
caddy_site respond "Caddy \`respond\` with the body in the Caddyfile (heredoc), plus \`header Content-Length\`" "$body"

caddy_site r2gate-dir "\`r2gate { dir <the same folder> }\`" "	r2gate {
		dir $tmp/www
	}"

caddy_site r2gate-s3 "\`r2gate\` in front of the versitygw bucket, no cache: every request is a signed GET to versitygw" "	r2gate {
$r2gate_bucket
	}"

# ==== MORE SITES GO HERE ======================================================
# r2gate's cache tiers. The warm-up before every measured run fills the
# cache, so the measured runs are hits. Without editing this script, pass
# more site blocks in EXTRA_SITES_FILE.
caddy_site r2gate-mem "r2gate over versitygw, memory-tier hit" "	r2gate {
$r2gate_bucket
		cache {
			memory 256MiB
		}
	}"
mkdir -p "$tmp/disk-cache"
caddy_site r2gate-disk "r2gate over versitygw, disk-tier hit (memory 0)" "	r2gate {
$r2gate_bucket
		cache {
			memory 0
			disk   $tmp/disk-cache 1GiB
		}
	}"
# ==============================================================================

if [[ -n $EXTRA_SITES_FILE ]]; then
	mkdir -p "$tmp/scratch"
	export BENCH_DIR="$tmp/www" BENCH_S3_ENDPOINT="$s3url" BENCH_BUCKET="$BUCKET" \
		BENCH_ACCESS_KEY="$KEY" BENCH_SECRET_KEY="$SECRET" BENCH_TMP="$tmp/scratch"
	# shellcheck disable=SC2016 # {$BENCH_PORT_x} is literal Caddyfile text
	extra_names="$(grep -o '{\$BENCH_PORT_[A-Za-z0-9_]*}' "$EXTRA_SITES_FILE" |
		sed 's/^{\$BENCH_PORT_//; s/}$//' | awk '!seen[$0]++')" || true
	[[ -n $extra_names ]] || die "EXTRA_SITES_FILE has no site address http://127.0.0.1:{\$BENCH_PORT_<name>}"
	for name in $extra_names; do
		port="$(new_port)"
		export "BENCH_PORT_$name=$port"
		SITE_NAMES+=("$name")
		SITE_URL[$name]="http://127.0.0.1:$port"
		SITE_CADDY[$name]=1
		SITE_NOTE[$name]="from $EXTRA_SITES_FILE"
	done
	printf '\n# ---- from %s ----\n' "$EXTRA_SITES_FILE" >>"$tmp/Caddyfile"
	cat "$EXTRA_SITES_FILE" >>"$tmp/Caddyfile"
fi

external_site versitygw "versitygw itself (not Caddy), unsigned GETs: the bucket has a public-read policy for \`s3:GetObject\`" "$s3url/$BUCKET"

first_port="${SITE_URL[file_server]##*:}"
start_caddy "$tmp/Caddyfile" "$first_port"

# --- check every site ----------------------------------------------------------

log "checking that every site returns the same bytes ..."
for name in "${SITE_NAMES[@]}"; do
	for s in $SIZES; do
		url="${SITE_URL[$name]}/$s.bin"
		code="$(curl -sS -o "$tmp/got" -D "$tmp/got.hdr" -w '%{http_code}' "$url")" || code=000
		n="$(size_bytes "$s")"
		[[ $code == 200 ]] || die "$name: GET $url: status $code; caddy log: $(tail -5 "$tmp/caddy.log")"
		cmp -s "$tmp/got" "$tmp/www/$s.bin" || die "$name: GET $url: $(wc -c <"$tmp/got") bytes that differ from $tmp/www/$s.bin"
		cl="$(tr -d '\r' <"$tmp/got.hdr" | awk -F': *' 'tolower($1) == "content-length" { print $2 }')"
		[[ $cl == "$n" ]] || die "$name: GET $url: Content-Length '${cl:-none}', want $n"
	done
done

# --- measuring -------------------------------------------------------------------

clk_tck="$(getconf CLK_TCK)"
vgw_pid="${pids[0]}"
# cpu_busy: ticks of all CPUs in user, nice and system mode (not irq/softirq,
# which the kernel charges to no process).
cpu_busy() { awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat; }
cpu_steal() { awk '$1 == "cpu" { print $9; exit }' /proc/stat; }
# proc_ticks <pid>: utime + stime of a process (all threads).
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# to_ms <wrk duration>: 812.00us, 1.23ms, 2.00s, 1.00m -> milliseconds.
to_ms() {
	awk -v d="$1" 'BEGIN {
		if (d ~ /us$/) { sub(/us$/, "", d); printf "%.3f", d / 1000 }
		else if (d ~ /ms$/) { sub(/ms$/, "", d); printf "%.3f", d }
		else if (d ~ /s$/) { sub(/s$/, "", d); printf "%.3f", d * 1000 }
		else if (d ~ /m$/) { sub(/m$/, "", d); printf "%.3f", d * 60000 }
		else printf "nan"
	}'
}

declare -A RPS P50 P99 ERRS HWM OTHERS # "<name>|<size>" -> space-separated values per round
mkdir -p "$tmp/wrk"
other_cpu=() # per measured run: CPU used by processes other than ours, % of one CPU
steal_cpu=()
n_sites=${#SITE_NAMES[@]}
total_runs=$((ROUNDS * n_sites * $(wc -w <<<"$SIZES")))
run=0
hwm_reset=yes
idle_kib="$(status_kib "$caddy_pid" VmRSS)"
start_hwm_kib="$(status_kib "$caddy_pid" VmHWM)"
log "caddy (pid $caddy_pid): RSS $(mib "$idle_kib") MiB, peak so far $(mib "$start_hwm_kib") MiB"
log "$total_runs runs of $DURATION (+ $WARMUP warm-up) with wrk $WRK_ARGS ..."
for ((r = 0; r < ROUNDS; r++)); do
	for s in $SIZES; do
		for ((i = 0; i < n_sites; i++)); do
			name="${SITE_NAMES[$(((i + r) % n_sites))]}"
			url="${SITE_URL[$name]}/$s.bin"
			out="$tmp/wrk/$name-$s-$r.txt"
			run=$((run + 1))
			# shellcheck disable=SC2086 # WRK_ARGS is a list of arguments
			wrk $WRK_ARGS -d "$WARMUP" "$url" >"$tmp/wrk/warmup.txt" 2>&1 ||
				die "wrk failed on $url: $(cat "$tmp/wrk/warmup.txt")"
			if [[ -n ${SITE_CADDY[$name]} ]] && ! reset_hwm "$caddy_pid"; then
				hwm_reset=no
			fi
			busy0="$(cpu_busy)" steal0="$(cpu_steal)"
			ours0=$(($(proc_ticks "$caddy_pid") + $(proc_ticks "$vgw_pid")))
			t0="$(date +%s.%N)"
			TIMEFORMAT='%U %S'
			# shellcheck disable=SC2086
			{ time wrk $WRK_ARGS -d "$DURATION" --latency "$url" >"$out" 2>&1; } 2>"$tmp/wrk/time.txt" ||
				die "wrk failed on $url: $(cat "$out")"
			t1="$(date +%s.%N)"
			busy1="$(cpu_busy)" steal1="$(cpu_steal)"
			ours1=$(($(proc_ticks "$caddy_pid") + $(proc_ticks "$vgw_pid")))
			read -r wu ws <"$tmp/wrk/time.txt"
			read -r other steal < <(awk -v b="$((busy1 - busy0))" -v o="$((ours1 - ours0))" \
				-v st="$((steal1 - steal0))" -v hz="$clk_tck" -v w="$(awk -v u="$wu" -v s="$ws" 'BEGIN { print u + s }')" \
				-v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
				'BEGIN { x = (b / hz - o / hz - w) / t * 100; if (x < 0) x = 0; printf "%.0f %.0f\n", x, st / hz / t * 100 }')
			other_cpu+=("$other")
			OTHERS[$name|$s]+="$other "
			steal_cpu+=("$steal")

			rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
			p50="$(awk '$1 == "50%" { print $2 }' "$out")"
			p99="$(awk '$1 == "99%" { print $2 }' "$out")"
			errs="$(awk '/Non-2xx or 3xx responses:/ { e += $NF }
				/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
				END { print e + 0 }' "$out")"
			[[ -n $rps && -n $p50 && -n $p99 ]] || die "cannot read wrk's output for $url: $(cat "$out")"
			k="$name|$s"
			RPS[$k]+="$rps "
			P50[$k]+="$(to_ms "$p50") "
			P99[$k]+="$(to_ms "$p99") "
			ERRS[$k]+="$errs "
			if [[ -n ${SITE_CADDY[$name]} ]]; then
				HWM[$k]+="$(status_kib "$caddy_pid" VmHWM) "
			fi
			log "$(printf '[%3d/%d] round %d %-5s %-12s %10.1f req/s  p50 %8s  p99 %8s  errors %s  others %s%% CPU' \
				"$run" "$total_runs" $((r + 1)) "$s" "$name" "$rps" "$p50" "$p99" "$errs" "$other")"
		done
	done
done
load_end="$(load1)"
end_hwm_kib="$(status_kib "$caddy_pid" VmHWM)"

# --- the table ---------------------------------------------------------------------

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { tr ' ' '\n' | awk 'NF' | sort -g | tail -1; }
sumof() { tr ' ' '\n' | awk '{ s += $1 } END { print s + 0 }'; }

date_utc="$(date -u +%Y-%m-%d)"
stamp="$(date -u +%Y-%m-%d-%H%M)"
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
peak_under_load=0
for k in "${!HWM[@]}"; do
	v="$(maxof <<<"${HWM[$k]}")"
	((v > peak_under_load)) && peak_under_load=$v
done
other_med="$(median <<<"${other_cpu[*]}")"
other_max="$(maxof <<<"${other_cpu[*]}")"
steal_max="$(maxof <<<"${steal_cpu[*]}")"

report() {
	local s name k rps ref_fs ref_rs
	echo "## compare.sh, $date_utc"
	echo
	echo "$(nproc) vCPUs ($cpu_model), $(uname -sr), shared by wrk, Caddy and versitygw:"
	echo "compare ratios only, not absolute figures."
	echo "Caddy $("$CADDY_BIN" version | awk '{ print $1 }') + r2gate (./caddy built $caddy_built, sha256 $caddy_sum…; tree at the start: HEAD $git_head$git_dirty), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }'), versitygw at $VERSITYGW."
	if [[ -n ${CADDY_GLOBAL:-} ]]; then
		echo "Caddy global options added (CADDY_GLOBAL): \`$(tr '\n\t' '  ' <<<"$CADDY_GLOBAL" | tr -s ' ' | sed 's/^ //; s/ $//')\`."
	fi
	echo "wrk $WRK_ARGS, ${WARMUP} warm-up then ${DURATION} measured, per site and size; $ROUNDS rounds interleaved across sites; medians of the rounds."
	echo "Load: $load_note; $load_end at the end."
	echo "CPU used by other processes during the measured runs (all CPUs' user+system time minus Caddy, versitygw and wrk): median ${other_med}%, max ${other_max}% of one CPU, over 25% in $(awk '$1 > 25' <<<"$(tr ' ' '\n' <<<"${other_cpu[*]}")" | wc -l) of $total_runs runs; steal max ${steal_max}%."
	echo
	echo "| size | site | req/s | MiB/s | × file_server | × respond | p50 ms | p99 ms | errors | Caddy peak RSS MiB | others' CPU % |"
	echo "|------|------|------:|------:|--------------:|----------:|-------:|-------:|-------:|-------------------:|--------------:|"
	for s in $SIZES; do
		ref_fs="$(median <<<"${RPS[file_server|$s]}")"
		ref_rs="$(median <<<"${RPS[respond|$s]}")"
		for name in "${SITE_NAMES[@]}"; do
			k="$name|$s"
			rps="$(median <<<"${RPS[$k]}")"
			printf '| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s |\n' \
				"$s" "$name" "$rps" "$(awk -v r="$rps" -v n="$(size_bytes "$s")" 'BEGIN { print r * n / 1048576 }')" \
				"$(awk -v a="$rps" -v b="$ref_fs" 'BEGIN { print a / b }')" \
				"$(awk -v a="$rps" -v b="$ref_rs" 'BEGIN { print a / b }')" \
				"$(median <<<"${P50[$k]}")" "$(median <<<"${P99[$k]}")" "$(sumof <<<"${ERRS[$k]}")" \
				"$(if [[ -n ${SITE_CADDY[$name]} ]]; then mib "$(maxof <<<"${HWM[$k]}")"; else echo '—'; fi)" \
				"$(tr ' ' '\n' <<<"${OTHERS[$k]}" | awk 'NF' | paste -sd/)"
		done
	done
	echo
	echo "Caddy RSS: $(mib "$idle_kib") MiB idle after start and the checks (peak $(mib "$start_hwm_kib") MiB while adapting the config);" \
		"peak under load $(mib "$peak_under_load") MiB (VmHWM, reset before each run: $hwm_reset; without resets $(mib "$end_hwm_kib") MiB at the end)."
	echo "Peak RSS per row is over that site's runs only; the process serves all sites, so it includes the others' leftovers."
	echo "Errors: wrk's non-2xx responses and socket errors, summed over the rounds."
	echo "Others' CPU: per round, the CPU other processes used during the measured run, % of one CPU (rounds with much more than the rest are noisy)."
	echo
	echo "Sites (every one checked first: 200, Content-Length, bytes identical to the file):"
	for name in "${SITE_NAMES[@]}"; do
		echo "- \`$name\`: ${SITE_NOTE[$name]}"
	done
}

mkdir -p "$RESULTS_DIR"
result="$RESULTS_DIR/compare-$stamp.md"
report >"$result"
# Keep the raw wrk outputs next to the table.
tar -C "$tmp" -czf "${result%.md}-wrk.tar.gz" wrk Caddyfile 2>/dev/null || true
echo
cat "$result"
echo
echo "written to $result (raw wrk output and the Caddyfile in ${result%.md}-wrk.tar.gz)"
