#!/usr/bin/env bash
# rss-cache.sh: does the memory tier keep Caddy's memory bounded? Issue 3:
# "Peak RSS under load with `memory 256MiB` must stay under 256 MiB +
# 64 MiB". The script uploads N objects of 1 MiB (random bytes) to a
# versitygw bucket, more than the memory tier holds, starts ./caddy with one
# r2gate site (cache { memory 256MiB  memory_item 2MiB }, no disk tier) and
# drives it with wrk in two phases:
#
#   uniform  every request asks for a random key among the N: the memory
#            tier fills up and churns (ristretto admission and eviction)
#   hot      80 % of requests go to 50 keys, 20 % to the rest: the hit ratio
#            of a cache in front of a skewed workload
#
# Meanwhile it samples the Caddy process's VmRSS every 100 ms and reads the
# kernel's peak (VmHWM, reset before each phase). r2gate's Prometheus
# metrics (admin endpoint on a free loopback port) give the hit ratio and
# r2gate_cache_bytes{tier="memory"}. Exits 1 when the process's own memory
# at its peak (anonymous RSS: Go heap, stacks and the memory tier, which
# lives outside the Go heap) or the peak RSS growth over idle is not below
# RSS_BOUND_MIB, or the memory tier held more than its bound. The total
# VmRSS is printed too; it also counts the pages of the caddy executable
# mapped from disk (about 43 MiB, there before r2gate serves anything).
#
#   bench/rss-cache.sh                          # about 75 s; ~0.5 GiB in $TMPDIR
#   N=300 DURATION=10s bench/rss-cache.sh       # a quick look
#   CADDY_GOMEMLIMIT=300MiB bench/rss-cache.sh  # Go's soft memory limit
#
# Environment:
#   N                 objects of OBJ_SIZE bytes (default 400)
#   OBJ_SIZE          object size in bytes (default 1048576)
#   DURATION          wrk -d of each phase (default 30s)
#   WRK_ARGS          other wrk arguments (default "-t2 -c32")
#   HOT_KEYS          keys of the hot set in the second phase (default 50)
#   HOT_PCT           % of requests to the hot set (default 80)
#   MEMORY            the site's `memory` (default 256MiB)
#   MEMORY_ITEM       the site's `memory_item` (default 2MiB)
#   RSS_BOUND_MIB     peak anonymous RSS and peak growth must stay below this, MiB (default 320)
#   CADDY_GOMEMLIMIT  GOMEMLIMIT for the Caddy process only (default: unset)
#   CADDY_GOGC        GOGC for the Caddy process only (default: unset)
#   CADDY_GLOBAL      extra lines for the Caddyfile's global options block,
#                     e.g. $'servers {\ntimeouts {\nwrite_idle -1s\n}\n}'
#   PROFILE_DIR       if set, a folder where Caddy's heap profile
#                     (/debug/pprof/heap) and /metrics are saved after each
#                     phase: go tool pprof -top -sample_index=inuse_space <file>
#   CADDY_BIN         the caddy binary (default ./caddy); the script runs a copy
#   R2GATE_VERSITYGW  the versitygw binary (see bench/README.md)
set -euo pipefail

BENCH_NAME="rss-cache"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # sets repo, cd "$repo"

N="${N:-400}"
OBJ_SIZE="${OBJ_SIZE:-1048576}"
DURATION="${DURATION:-30s}"
WRK_ARGS="${WRK_ARGS:--t2 -c32}"
HOT_KEYS="${HOT_KEYS:-50}"
HOT_PCT="${HOT_PCT:-80}"
MEMORY="${MEMORY:-256MiB}"
MEMORY_ITEM="${MEMORY_ITEM:-2MiB}"
BOUND_MIB="${RSS_BOUND_MIB:-320}"
CADDY_GOMEMLIMIT="${CADDY_GOMEMLIMIT:-}"
CADDY_GOGC="${CADDY_GOGC:-}"
PROFILE_DIR="${PROFILE_DIR:-}"

for v in N OBJ_SIZE HOT_KEYS HOT_PCT BOUND_MIB; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, not '${!v}'"
done
((N > HOT_KEYS && HOT_KEYS > 0)) || die "need N > HOT_KEYS > 0 (N=$N, HOT_KEYS=$HOT_KEYS)"
((HOT_PCT <= 100)) || die "HOT_PCT must be at most 100"

ensure_caddy
require_versitygw
require_curl
command -v wrk >/dev/null || die "wrk not found. Install it with:
  sudo apt-get install -y wrk"
bench_tmp rss-cache
[[ -z $PROFILE_DIR ]] || mkdir -p "$PROFILE_DIR" || die "cannot create PROFILE_DIR $PROFILE_DIR"

# Run a copy of ./caddy (or $CADDY_BIN), so that a rebuild during the run
# changes nothing.
caddy_src="${CADDY_BIN:-./caddy}"
cp "$caddy_src" "$tmp/caddy"
CADDY_BIN="$tmp/caddy"
caddy_built="$(date -u -r "$caddy_src" '+%Y-%m-%d %H:%M UTC')"
caddy_sum="$(sha256sum "$CADDY_BIN" | cut -c1-12)"
"$CADDY_BIN" list-modules 2>/dev/null | grep -x 'http.handlers.r2gate' >/dev/null ||
	die "./caddy has no http.handlers.r2gate module; rebuild it with ./xcaddy.sh"

# --- S3 server with N objects ------------------------------------------------

start_versitygw
s3_create_bucket "$BUCKET"
log "uploading $N objects of $OBJ_SIZE random bytes through S3 ($VERSITYGW) ..."
# put_one <i>: writes obj/<i>.bin (4 digits) through a temporary file.
put_one() {
	local name f
	name="$(printf 'obj/%04d.bin' "$1")"
	f="$tmp/up-$1"
	head -c "$OBJ_SIZE" /dev/urandom >"$f"
	s3 -o /dev/null -H 'Content-Type: application/octet-stream' -T "$f" "$s3url/$BUCKET/$name"
	rm -f "$f"
}
export -f put_one s3
export tmp OBJ_SIZE s3url BUCKET KEY SECRET
# shellcheck disable=SC2016 # $1 is for the inner bash
seq 0 $((N - 1)) | xargs -P 4 -I{} bash -c 'put_one "$1"' _ {} ||
	die "upload failed"
printf 'hello\n' >"$tmp/tiny.txt"
s3 -o /dev/null -H 'Content-Type: text/plain' -T "$tmp/tiny.txt" "$s3url/$BUCKET/tiny.txt"

# --- Caddy with r2gate in front of it ----------------------------------------

# The admin endpoint (loopback, free port) serves /metrics, r2gate's metrics
# included: Caddy mounts it there permanently; the `metrics` global option
# (per-request HTTP metrics) is not needed for them and stays off.
port="$(free_port)"
admin_port="$(free_port)"
while [[ $admin_port == "$port" ]]; do admin_port="$(free_port)"; done
cat >"$tmp/Caddyfile" <<CADDYFILE
{
	admin 127.0.0.1:$admin_port
${CADDY_GLOBAL:-}
}

http://127.0.0.1:$port {
	bind 127.0.0.1
	r2gate {
		bucket     $BUCKET
		endpoint   $s3url
		access_key $KEY
		secret_key $SECRET
		cache {
			memory      $MEMORY
			memory_item $MEMORY_ITEM
		}
	}
}
CADDYFILE
# Only CADDY_GOMEMLIMIT and CADDY_GOGC reach Caddy as GOMEMLIMIT and GOGC
# (versitygw runs already; wrk and curl are not Go).
unset GOMEMLIMIT GOGC
[[ -n $CADDY_GOMEMLIMIT ]] && export GOMEMLIMIT="$CADDY_GOMEMLIMIT"
[[ -n $CADDY_GOGC ]] && export GOGC="$CADDY_GOGC"
start_caddy "$tmp/Caddyfile" "$port"
unset GOMEMLIMIT GOGC
base="http://127.0.0.1:$port"
metrics_url="http://127.0.0.1:$admin_port/metrics"

# metric <file> <name> [label-regex]: sum of the samples of a metric whose
# labels match the regex (e.g. 'tier="memory"'), 0 when there are none.
metric() {
	awk -v n="$2" -v re="${3:-}" '
		$0 ~ /^#/ { next }
		{ name = $1; sub(/\{.*/, "", name) }
		name == n && (re == "" || $1 ~ re) { s += $NF }
		END { printf "%.0f\n", s }' "$1"
}
# grown <before> <after> <metric> <label> <label>: "v1/v2 N" for every
# series of a counter that grew, by the values of the two labels.
grown() {
	awk -v m="$3" -v l1="$4" -v l2="$5" '
		function val(s, l) { if (!sub(".*" l "=\"", "", s)) return "?"; sub(/".*/, "", s); return s }
		{ name = $1; sub(/\{.*/, "", name) }
		name == m {
			k = val($1, l1) "/" val($1, l2)
			if (FILENAME == ARGV[1]) b[k] = $NF; else { a[k] = $NF; if (!(k in seen)) { seen[k] = 1; keys[++n] = k } }
		}
		END {
			for (i = 1; i <= n; i++) { d = a[keys[i]] - b[keys[i]]; if (d > 0) { printf "%s%s %.0f", sep, keys[i], d; sep = ", " } }
			if (sep == "") printf "none"
		}' "$1" "$2"
}
scrape() { curl -sS --max-time 5 "$metrics_url" >"$1" || die "cannot read $metrics_url"; }

# Warm up: one tiny request through the whole path, check an object, settle.
[[ "$(curl -s "$base/tiny.txt")" == hello ]] || die "warm-up request failed; caddy log: $(tail -5 "$tmp/caddy.log")"
code="$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$base/obj/0000.bin")"
[[ $code == "200 $OBJ_SIZE" ]] || die "GET /obj/0000.bin: $code, want 200 $OBJ_SIZE"
scrape "$tmp/m0.txt"
grep -q '^r2gate_requests_total' "$tmp/m0.txt" ||
	die "no r2gate_requests_total at $metrics_url; is ./caddy current?"
sleep 2
idle_kib="$(status_kib "$caddy_pid" VmRSS)"
idle_split="anonymous $(mib "$(status_kib "$caddy_pid" RssAnon)") MiB, file-backed $(mib "$(status_kib "$caddy_pid" RssFile)") MiB"
gomemlimit_set="$(metric "$tmp/m0.txt" go_gc_gomemlimit_bytes)"
gogc_set="$(metric "$tmp/m0.txt" go_gc_gogc_percent)"

# --- the wrk scripts -------------------------------------------------------------

# setup gives every wrk thread its own id, so that each seeds its own
# random sequence (they would all draw the same keys otherwise).
lua_common="local n, hot, hotpct = $N, $HOT_KEYS, $HOT_PCT
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set('id', threads)
end
function init(args)
	math.randomseed(os.time() * 1000 + id * 7919)
	for _ = 1, 10 do math.random() end
end"
cat >"$tmp/uniform.lua" <<LUA
$lua_common
function request()
	return wrk.format('GET', string.format('/obj/%04d.bin', math.random(0, n - 1)))
end
LUA
cat >"$tmp/hot.lua" <<LUA
$lua_common
function request()
	local i
	if math.random(1, 100) <= hotpct then
		i = math.random(0, hot - 1)
	else
		i = math.random(hot, n - 1)
	end
	return wrk.format('GET', string.format('/obj/%04d.bin', i))
end
LUA

# --- measuring -------------------------------------------------------------------

hwm_reset=yes
peak_all_kib=$idle_kib
peak_anon_all_kib=0
cache_max_all=0
results=()

# phase <name> <lua>: one wrk run while sampling VmRSS (100 ms) and the
# memory tier's size (1 s, from /metrics).
phase() {
	local name=$1 lua=$2
	local samples="$tmp/rss-$name.txt" csamples="$tmp/cache-$name.txt"
	local sampler csampler out rps errs peak peak_anon hwm n before="$tmp/m-$name-0.txt" after="$tmp/m-$name-1.txt"
	scrape "$before"
	reset_hwm "$caddy_pid" || hwm_reset=no
	(
		set +e
		while [[ -r /proc/$caddy_pid/status ]]; do
			rss='' anon=''
			while read -r k v _; do
				case $k in
				VmRSS:) rss=$v ;;
				RssAnon:) anon=$v ;;
				esac
			done <"/proc/$caddy_pid/status"
			[[ -n $rss ]] && echo "$rss ${anon:-0}"
			sleep 0.1
		done
	) >"$samples" &
	sampler=$!
	pids+=("$sampler")
	(
		set +e
		while sleep 1 && [[ -d /proc/$caddy_pid ]]; do
			curl -s --max-time 1 "$metrics_url" 2>/dev/null |
				awk '/^r2gate_cache_bytes\{tier="memory"\}/ { print $NF }'
		done
	) >"$csamples" &
	csampler=$!
	pids+=("$csampler")
	out="$tmp/wrk-$name.txt"
	# shellcheck disable=SC2086 # WRK_ARGS is a list of arguments
	wrk $WRK_ARGS -d "$DURATION" --latency -s "$lua" "$base" >"$out" 2>&1 ||
		die "wrk failed: $(cat "$out")"
	kill "$sampler" "$csampler" 2>/dev/null || true
	wait "$sampler" "$csampler" 2>/dev/null || true
	pids=("${pids[@]:0:${#pids[@]}-2}") # the two samplers are gone
	scrape "$after"

	rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
	[[ -n $rps ]] || die "cannot read wrk's output: $(cat "$out")"
	errs="$(awk '/Non-2xx or 3xx responses:/ { e += $NF }
		/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
		END { print e + 0 }' "$out")"
	peak="$(awk '$1 > m { m = $1 } END { print m + 0 }' "$samples")"
	peak_anon="$(awk '$2 > m { m = $2 } END { print m + 0 }' "$samples")"
	((peak_anon > peak_anon_all_kib)) && peak_anon_all_kib=$peak_anon
	n="$(wc -l <"$samples")"
	if [[ $hwm_reset == yes ]]; then
		hwm="$(status_kib "$caddy_pid" VmHWM)"
		((hwm > peak)) && peak=$hwm
	fi
	((peak > peak_all_kib)) && peak_all_kib=$peak

	# Deltas of r2gate's counters over the phase.
	local d_total d_hit d_bucket d_evict cache_end items_end cache_max heap_inuse heap_idle heap_rel go_sys next_gc gc_n p50 p99
	delta() { echo $(($(metric "$after" "$@") - $(metric "$before" "$@"))); }
	d_total="$(delta r2gate_requests_total)"
	d_hit="$(delta r2gate_requests_total 'tier="memory".*outcome="hit"|outcome="hit".*tier="memory"')"
	d_bucket="$(delta r2gate_bucket_requests_total 'op="get"')"
	d_evict="$(delta r2gate_cache_evictions_total 'tier="memory"')"
	cache_end="$(metric "$after" r2gate_cache_bytes 'tier="memory"')"
	items_end="$(metric "$after" r2gate_cache_items 'tier="memory"')"
	cache_max="$( (cat "$csamples"; echo "$cache_end") | awk '$1 + 0 > m { m = $1 + 0 } END { printf "%.0f\n", m }')"
	((cache_max > cache_max_all)) && cache_max_all=$cache_max
	heap_inuse="$(metric "$after" go_memstats_heap_inuse_bytes)"
	heap_idle="$(metric "$after" go_memstats_heap_idle_bytes)"
	heap_rel="$(metric "$after" go_memstats_heap_released_bytes)"
	go_sys="$(metric "$after" go_memstats_sys_bytes)"
	gc_n="$(delta go_gc_duration_seconds_count)"
	next_gc="$(metric "$after" go_memstats_next_gc_bytes)"
	p50="$(awk '$1 == "50%" { print $2 }' "$out")"
	p99="$(awk '$1 == "99%" { print $2 }' "$out")"

	results+=("$(printf '%-8s %8.1f req/s (%6.1f MiB/s)  p50 %8s  p99 %8s  errors %s' \
		"$name" "$rps" "$(awk -v r="$rps" -v s="$OBJ_SIZE" 'BEGIN { print r * s / 1048576 }')" "$p50" "$p99" "$errs")")
	results+=("$(printf '         peak RSS %s MiB (+%s MiB over idle; %s samples); anonymous part, sampled: %s MiB' \
		"$(mib "$peak")" "$(mib $((peak - idle_kib)))" "$n" "$(mib "$peak_anon")")")
	results+=("$(printf '         memory-tier hits %s of %s requests = %s; bucket GETs %s; memory evictions %s' \
		"$d_hit" "$d_total" "$(awk -v h="$d_hit" -v t="$d_total" 'BEGIN { if (t) printf "%.1f %%", h / t * 100; else print "n/a" }')" \
		"$d_bucket" "$d_evict")")
	results+=("         answers (tier/outcome): $(grown "$before" "$after" r2gate_requests_total tier outcome); coalesced waiters $(delta r2gate_coalesced_total)")
	results+=("         bucket requests (op/result): $(grown "$before" "$after" r2gate_bucket_requests_total op result)")
	results+=("$(printf '         memory tier at the end: %s MiB in %s entries (max seen %s MiB)' \
		"$(mib $((cache_end / 1024)))" "$items_end" "$(mib $((cache_max / 1024)))")")
	results+=("$(printf '         Go at the end: heap in use %s MiB, heap idle not returned %s MiB, all from the OS %s MiB; next GC at %s MiB; %s GCs in the phase' \
		"$(mib $((heap_inuse / 1024)))" "$(mib $(((heap_idle - heap_rel) / 1024)))" "$(mib $(((go_sys - heap_rel) / 1024)))" \
		"$(mib $((next_gc / 1024)))" "$gc_n")")
	results+=("$(printf '         RSS at the end: %s MiB (anonymous %s MiB, file-backed %s MiB)' \
		"$(mib "$(status_kib "$caddy_pid" VmRSS)")" "$(mib "$(status_kib "$caddy_pid" RssAnon)")" "$(mib "$(status_kib "$caddy_pid" RssFile)")")")
	if [[ -n $PROFILE_DIR ]]; then
		curl -sS --max-time 10 -o "$PROFILE_DIR/heap-$name.pb.gz" "http://127.0.0.1:$admin_port/debug/pprof/heap" || true
		cp "$after" "$PROFILE_DIR/metrics-$name.txt"
	fi
	log "$name: $rps req/s, peak RSS $(mib "$peak") MiB, memory-tier hits $d_hit/$d_total"
}

log "caddy (pid $caddy_pid): idle RSS $(mib "$idle_kib") MiB; phase uniform: wrk $WRK_ARGS -d $DURATION over $N keys ..."
phase uniform "$tmp/uniform.lua"
log "phase hot: $HOT_PCT % of requests to $HOT_KEYS keys ..."
phase hot "$tmp/hot.lua"
scrape "$tmp/m-end.txt"
cache_end="$(metric "$tmp/m-end.txt" r2gate_cache_bytes 'tier="memory"')"
cache_bound="$(awk -v m="$MEMORY" 'BEGIN {
	n = m + 0; u = m; sub(/^[0-9.]+/, "", u)
	f["B"] = 1; f[""] = 1; f["KiB"] = 1024; f["MiB"] = 1048576; f["GiB"] = 1073741824
	f["KB"] = 1000; f["MB"] = 1000000; f["GB"] = 1000000000
	if (!(u in f)) { print -1; exit } printf "%.0f\n", n * f[u] }')"

verdict=PASS
reasons=()
if ((peak_anon_all_kib >= BOUND_MIB * 1024)); then
	verdict=FAIL
	reasons+=("peak anonymous RSS $(mib "$peak_anon_all_kib") MiB ≥ $BOUND_MIB MiB")
fi
if ((peak_all_kib - idle_kib >= BOUND_MIB * 1024)); then
	verdict=FAIL
	reasons+=("peak RSS growth $(mib $((peak_all_kib - idle_kib))) MiB ≥ $BOUND_MIB MiB")
fi
if ((cache_bound > 0 && cache_max_all > cache_bound)); then
	verdict=FAIL
	reasons+=("memory tier held $cache_max_all bytes > $MEMORY")
fi

echo
echo "r2gate RSS under load, cache { memory $MEMORY  memory_item $MEMORY_ITEM }, no disk tier ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "$N objects of $OBJ_SIZE bytes in versitygw on loopback; wrk $WRK_ARGS -d $DURATION per phase; $(nproc) vCPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Caddy $("$CADDY_BIN" version | awk '{ print $1 }') + r2gate (./caddy built $caddy_built, sha256 $caddy_sum…)," \
	"${CADDY_GLOBAL:+global options: $(tr '\n\t' '  ' <<<"$CADDY_GLOBAL" | tr -s ' '), }GOMEMLIMIT ${CADDY_GOMEMLIMIT:-unset} (runtime: $(if [[ $gomemlimit_set == 0 ]]; then echo '?'; else echo "$(mib $((gomemlimit_set / 1024))) MiB"; fi)), GOGC ${CADDY_GOGC:-unset} (runtime: ${gogc_set})"
echo "idle RSS (after warm-up):  $(mib "$idle_kib") MiB ($idle_split)"
for r in "${results[@]}"; do
	echo "$r"
done
echo "peak RSS:                  $(mib "$peak_all_kib") MiB (VmRSS every 100 ms; kernel VmHWM reset: $hwm_reset)"
echo "peak - idle:               $(mib $((peak_all_kib - idle_kib))) MiB"
echo "peak anonymous RSS:        $(mib "$peak_anon_all_kib") MiB (RssAnon every 100 ms: without the file-backed pages of the caddy binary)"
echo "memory tier at the end:    $cache_end bytes ($(mib $((cache_end / 1024))) MiB; bound $MEMORY = $cache_bound bytes); max seen $(mib $((cache_max_all / 1024))) MiB"
echo "verdict (peak anonymous RSS and peak RSS growth < $BOUND_MIB MiB, memory tier ≤ $MEMORY): $verdict${reasons:+ (${reasons[*]})}"
[[ $verdict == PASS ]]
