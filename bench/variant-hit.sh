#!/usr/bin/env bash
# variant-hit.sh: is a cached image variant served as fast as a cached
# object of the same bytes? Once made, a variant (photo.jpg?w=400) lives in
# the cache tiers like any object, so a memory-tier hit on it should cost
# what a hit on a plain object costs, plus only the parsing of the resize
# options and the variant's cache key. The target: variant-hit req/s at
# least 0.95 × object-hit req/s.
#
# Method, in ONE run on the same machine:
#
#  1. versitygw (posix backend in a temp dir) with one bucket, and a copy of
#     ./caddy (or $CADDY_BIN) with one r2gate site in front of it:
#     cache { memory MEMORY } and resize { widths WIDTHS }.
#  2. The photo SOURCE (IMAGES_DIR/SOURCE) is uploaded as photo.jpg.
#     GET /photo.jpg?w=WIDTH makes the variant (a miss: resized, cached,
#     written back to the bucket as photo.jpg?w=WIDTH); the script repeats
#     the GET until Cache-Status says "hit" and keeps that response's bytes.
#  3. Those exact bytes are uploaded as a plain object, variant-copy.jpg
#     (Content-Type image/jpeg, like the variant), and fetched until it is a
#     memory hit too; both bodies are compared (cmp) and both responses'
#     headers are kept for the results.
#  4. ROUNDS rounds of wrk $WRK_ARGS, each round running both targets once,
#     the order alternating every round (variant first in odd rounds, object
#     first in even ones) so that noise from other processes hits both
#     alike: a WARMUP wrk run, then a DURATION wrk run. Every run must have
#     0 non-2xx responses and 0 socket errors (else the script stops), and
#     r2gate's own metrics (admin /metrics) must show only memory-tier hits
#     for it and no bucket requests at all (else the run is flagged).
#
# The table gives per target the median req/s of the rounds (and every
# round's figure), wrk's median p50 and p99 latency, and the ratio of the
# medians variant / object; also the per-round ratio of the two runs of the
# same round (their median is less sensitive to a slow round). It is printed
# and written to bench/results/variant-hit-<date>-<time>.md with the wrk
# outputs, the response headers and the Caddyfile next to it.
#
#   bench/variant-hit.sh                     # about 2 minutes with the defaults
#   ROUNDS=1 DURATION=3s bench/variant-hit.sh          # a quick look
#   PROFILE_DIR=/tmp/vh bench/variant-hit.sh # + CPU profiles of the last round
#
# Environment:
#   IMAGES_DIR   folder with the photo (default ../shared/testdata/images
#                next to the repository, i.e. /work/shared/testdata/images)
#   SOURCE       the photo in IMAGES_DIR (default big-baseline.jpg); a JPEG
#   WIDTH        the variant's width, one of WIDTHS (default 400)
#   WIDTHS       the resize block's widths (default "100 200 400 800 1600")
#   MEMORY       the cache's memory tier (default 256MiB)
#   ROUNDS       rounds (default 5)
#   DURATION     wrk -d of each measured run (default 10s)
#   WARMUP       wrk -d of the warm-up before each measured run (default 2s)
#   WRK_ARGS     other wrk arguments (default "-t2 -c32")
#   TARGET       the ratio to reach (default 0.95); the script exits 0 either
#                way, the verdict is in the table
#   LOAD_MAX     before measuring, wait while the 1-minute load average is
#                above this (default 1.5) ...
#   LOAD_WAIT    ... for at most this many seconds, then run anyway and say
#                so in the results (default 120; 0 = do not wait)
#   PROFILE_DIR  if set: during the last round's measured runs, a CPU profile
#                of Caddy (/debug/pprof/profile, DURATION - 2 s) is saved
#                there as variant.pprof and object.pprof:
#                go tool pprof -top -diff_base=object.pprof variant.pprof
#   CADDY_GLOBAL extra lines for the Caddyfile's global options block
#   CADDY_BIN    the caddy binary (default ./caddy); the script runs a copy
#   RESULTS_DIR  where the markdown is written (default bench/results)
#   R2GATE_VERSITYGW  the versitygw binary (see bench/README.md)
#
# Needs ./caddy with r2gate (./xcaddy.sh build), versitygw, curl and wrk (as
# root with apt-get it installs wrk when it is missing).
set -euo pipefail

BENCH_NAME=variant-hit
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # sets repo, cd "$repo"

IMAGES_DIR="${IMAGES_DIR:-$repo/../shared/testdata/images}"
SOURCE="${SOURCE:-big-baseline.jpg}"
WIDTH="${WIDTH:-400}"
WIDTHS="${WIDTHS:-100 200 400 800 1600}"
MEMORY="${MEMORY:-256MiB}"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
WRK_ARGS="${WRK_ARGS:--t2 -c32}"
TARGET="${TARGET:-0.95}"
LOAD_MAX="${LOAD_MAX:-1.5}"
LOAD_WAIT="${LOAD_WAIT:-120}"
PROFILE_DIR="${PROFILE_DIR:-}"
RESULTS_DIR="${RESULTS_DIR:-$repo/bench/results}"

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ $WIDTH =~ ^[1-9][0-9]*$ ]] || die "WIDTH must be a positive integer, not '$WIDTH'"
[[ " $WIDTHS " == *" $WIDTH "* ]] || die "WIDTH $WIDTH is not one of WIDTHS ($WIDTHS)"
[[ $DURATION =~ ^[1-9][0-9]*s$ ]] || die "DURATION must be whole seconds like 10s, not '$DURATION'"
[[ -r $IMAGES_DIR/$SOURCE ]] || die "$IMAGES_DIR/$SOURCE not found or not readable: the test photos are in ../shared/testdata/images next to the repository; set IMAGES_DIR or SOURCE"
[[ -z $PROFILE_DIR ]] || mkdir -p "$PROFILE_DIR" || die "cannot create PROFILE_DIR $PROFILE_DIR"

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
bench_tmp

# Run a copy of the binary, so that a rebuild during the run changes nothing.
caddy_src="${CADDY_BIN:-./caddy}"
cp "$caddy_src" "$tmp/caddy"
CADDY_BIN="$tmp/caddy"
caddy_built="$(date -u -r "$caddy_src" '+%Y-%m-%d %H:%M UTC')"
caddy_sum="$(sha256sum "$CADDY_BIN" | cut -c1-12)"
"$CADDY_BIN" list-modules 2>/dev/null | grep -x 'http.handlers.r2gate' >/dev/null ||
	die "$caddy_src has no http.handlers.r2gate module; rebuild it with ./xcaddy.sh"
git_head="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
git_dirty=""
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
	git_dirty=", uncommitted changes in the tree"
fi

# --- the bucket and Caddy ------------------------------------------------------

start_versitygw
s3_create_bucket "$BUCKET"
s3 -o /dev/null -H 'Content-Type: image/jpeg' -T "$IMAGES_DIR/$SOURCE" "$s3url/$BUCKET/photo.jpg"

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
			memory $MEMORY
		}
		resize {
			widths $WIDTHS
		}
	}
}
CADDYFILE
start_caddy "$tmp/Caddyfile" "$port"
base="http://127.0.0.1:$port"
admin="http://127.0.0.1:$admin_port"
variant_path="/photo.jpg?w=$WIDTH"
object_path="/variant-copy.jpg"

# get_until_hit <path> <name>: GETs base+path until its Cache-Status says
# hit (at most 50 tries, 0.1 s apart); keeps the last body in $tmp/<name>.body
# and the headers in $tmp/<name>.hdr; prints the first Cache-Status seen.
get_until_hit() {
	local path=$1 name=$2 code cs first="" i
	for i in $(seq 50); do
		code="$(curl -sS -o "$tmp/$name.body" -D "$tmp/$name.hdr" -w '%{http_code}' "$base$path")" || code=000
		[[ $code == 200 ]] || die "GET $path: status $code; caddy log: $(tail -5 "$tmp/caddy.log")"
		cs="$(tr -d '\r' <"$tmp/$name.hdr" | awk -F': *' 'tolower($1) == "cache-status" { print $2 }')"
		[[ -n $first ]] || first="$cs"
		if [[ $cs == *"; hit"* ]]; then
			log "GET $path: 200, $(wc -c <"$tmp/$name.body") bytes, Cache-Status '$cs' after $i request(s)"
			echo "$first"
			return
		fi
		sleep 0.1
	done
	die "GET $path: no hit after 50 requests (last Cache-Status '$cs')"
}

# The first GET makes the variant: its time and Cache-Status.
read -r code first_s < <(curl -sS -o /dev/null -D "$tmp/first.hdr" -w '%{http_code} %{time_total}\n' "$base$variant_path") ||
	die "first GET $variant_path failed"
[[ $code == 200 ]] || die "first GET $variant_path: status $code; caddy log: $(tail -5 "$tmp/caddy.log")"
first_ms="$(awk -v s="$first_s" 'BEGIN { printf "%.0f", s * 1000 }')"
variant_made="$(tr -d '\r' <"$tmp/first.hdr" | awk -F': *' 'tolower($1) == "cache-status" { print $2 }')"
variant_first="$(get_until_hit "$variant_path" variant)"
vbytes="$(wc -c <"$tmp/variant.body")"
vct="$(tr -d '\r' <"$tmp/variant.hdr" | awk -F': *' 'tolower($1) == "content-type" { print $2 }')"
[[ $vct == image/jpeg* ]] || die "the variant's Content-Type is '$vct', want image/jpeg"
vdim="$(file -b "$tmp/variant.body" 2>/dev/null | grep -o '[0-9]*x[0-9]*' | tail -1 || true)"

s3 -o /dev/null -H 'Content-Type: image/jpeg' -T "$tmp/variant.body" "$s3url/$BUCKET/variant-copy.jpg"
object_first="$(get_until_hit "$object_path" object)"
cmp -s "$tmp/variant.body" "$tmp/object.body" || die "GET $object_path gave other bytes than the variant"
# The variant was written back to the bucket (asynchronously): say whether
# it is there by now; the hits do not depend on it.
if s3 -o /dev/null "$s3url/$BUCKET/photo.jpg%3Fw%3D$WIDTH" 2>/dev/null; then
	writeback="the variant is in the bucket as photo.jpg?w=$WIDTH"
else
	writeback="the variant was not (yet) in the bucket as photo.jpg?w=$WIDTH"
fi

# --- metrics -------------------------------------------------------------------

scrape() { curl -sS --max-time 5 "$admin/metrics" >"$1" || die "cannot read $admin/metrics"; }
# grown <before> <after> <metric> <label> <label>: "v1/v2 N, ..." for every
# series of a counter that grew, by the values of the two labels.
grown() {
	awk -v m="$3" -v l1="$4" -v l2="$5" '
		function val(s, l) { if (!sub(".*" l "=\"", "", s)) return "-"; sub(/".*/, "", s); return s }
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
scrape "$tmp/m.txt"
grep -q '^r2gate_requests_total' "$tmp/m.txt" || die "no r2gate_requests_total at $admin/metrics; is $caddy_src current?"
# series <file> <metric>: "labels value, ..." of every sample of a metric.
series() {
	awk -v m="$2" '$0 !~ /^#/ { n = $1; sub(/\{.*/, "", n) } n == m && $0 !~ /^#/ {
		l = $1; sub(/^[^{]*\{/, "", l); sub(/\}$/, "", l); printf "%s%s %s", s, l, $NF; s = ", " }' "$1"
}
setup_metrics="variants_total: $(series "$tmp/m.txt" r2gate_variants_total); variant_writes_total: $(series "$tmp/m.txt" r2gate_variant_writes_total)"

# --- quiet machine? --------------------------------------------------------------

load1() { read -r l _ </proc/loadavg && echo "$l"; }
load_above() { awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN { exit !(l > m) }'; }
load_first="$(load1)"
waited=0
while load_above && ((waited < LOAD_WAIT)); do
	((waited == 0)) && log "load average $(load1) > $LOAD_MAX: waiting up to ${LOAD_WAIT}s for it to drop ..."
	sleep 10
	waited=$((waited + 10))
done
if load_above; then
	load_note="1-minute load $load_first, still $(load1) after waiting ${waited}s (LOAD_MAX $LOAD_MAX): ran anyway, other processes were busy"
elif ((waited > 0)); then
	load_note="1-minute load $load_first, waited ${waited}s until it was $(load1) (≤ $LOAD_MAX)"
else
	load_note="1-minute load $load_first (≤ $LOAD_MAX)"
fi
log "$load_note"

# --- measuring -------------------------------------------------------------------

clk_tck="$(getconf CLK_TCK)"
cpu_busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# to_ms <wrk duration>: 812.00us, 1.23ms, 2.00s -> milliseconds.
to_ms() {
	awk -v d="$1" 'BEGIN {
		if (d ~ /us$/) { sub(/us$/, "", d); printf "%.3f", d / 1000 }
		else if (d ~ /ms$/) { sub(/ms$/, "", d); printf "%.3f", d }
		else if (d ~ /s$/) { sub(/s$/, "", d); printf "%.3f", d * 1000 }
		else printf "nan"
	}'
}
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A URL=([variant]="$base$variant_path" [object]="$base$object_path")
declare -A RPS P50 P99 OTHERS CADDY_CPU CADDY_US TIERS BUCKET_REQS
round_ratio=()
flags=()
mkdir -p "$tmp/wrk"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
idle_kib="$(status_kib "$caddy_pid" VmRSS)"
log "load average $load_start; $((ROUNDS * 2)) runs of $DURATION (+ $WARMUP warm-up) with wrk $WRK_ARGS ..."
prof_secs=$((${DURATION%s} - 2))
((prof_secs >= 1)) || prof_secs=1
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then order=(variant object); else order=(object variant); fi
	declare -A this=()
	for name in "${order[@]}"; do
		url="${URL[$name]}"
		out="$tmp/wrk/$name-$((r + 1)).txt"
		# shellcheck disable=SC2086 # WRK_ARGS is a list of arguments
		wrk $WRK_ARGS -d "$WARMUP" "$url" >"$tmp/wrk/warmup.txt" 2>&1 ||
			die "wrk failed on $url: $(cat "$tmp/wrk/warmup.txt")"
		scrape "$tmp/m0.txt"
		prof_pid=""
		if [[ -n $PROFILE_DIR ]] && ((r == ROUNDS - 1)); then
			curl -sS -o "$PROFILE_DIR/$name.pprof" "$admin/debug/pprof/profile?seconds=$prof_secs" &
			prof_pid=$!
		fi
		busy0="$(cpu_busy)" c0="$(proc_ticks "$caddy_pid")" t0="$(date +%s.%N)"
		# shellcheck disable=SC2086
		wrk $WRK_ARGS -d "$DURATION" --latency "$url" >"$out" 2>&1 || die "wrk failed on $url: $(cat "$out")"
		busy1="$(cpu_busy)" c1="$(proc_ticks "$caddy_pid")" t1="$(date +%s.%N)"
		[[ -z $prof_pid ]] || wait "$prof_pid" || log "the CPU profile of the $name run failed"
		scrape "$tmp/m1.txt"
		rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
		p50="$(awk '$1 == "50%" { print $2 }' "$out")"
		p99="$(awk '$1 == "99%" { print $2 }' "$out")"
		[[ -n $rps && -n $p50 && -n $p99 ]] || die "cannot read wrk's output for $url: $(cat "$out")"
		non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
		sockerr="$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")"
		[[ ${non2xx:-0} == 0 && ${sockerr:-0} == 0 ]] ||
			die "round $((r + 1)) $name: $non2xx non-2xx responses, $sockerr socket errors: $(cat "$out")"
		tiers="$(grown "$tmp/m0.txt" "$tmp/m1.txt" r2gate_requests_total tier outcome)"
		breqs="$(grown "$tmp/m0.txt" "$tmp/m1.txt" r2gate_bucket_requests_total op result)"
		# Only memory hits, and no bucket request at all, are expected.
		if [[ $tiers != memory/hit* || $tiers == *,* || $breqs != none ]]; then
			flags+=("round $((r + 1)) $name: requests by tier/outcome: $tiers; bucket requests: $breqs")
		fi
		nreq="$(awk '/ requests in / { print $1 }' "$out")"
		read -r other ccpu cus < <(awk -v b="$((busy1 - busy0))" -v c="$((c1 - c0))" -v hz="$clk_tck" -v a="$t0" -v z="$t1" -v n="$nreq" \
			'BEGIN { t = z - a; printf "%.0f %.0f %.1f\n", (b - c) / hz / t * 100, c / hz / t * 100, c / hz / n * 1e6 }')
		RPS[$name]+="$rps "
		P50[$name]+="$(to_ms "$p50") "
		P99[$name]+="$(to_ms "$p99") "
		OTHERS[$name]+="$other "
		CADDY_CPU[$name]+="$ccpu "
		CADDY_US[$name]+="$cus "
		TIERS[$name]+="$tiers; "
		BUCKET_REQS[$name]+="$breqs; "
		this[$name]=$rps
		log "$(printf 'round %d/%d %-7s %9s req/s  p50 %-8s p99 %-8s caddy %s%% CPU, the rest %s%% CPU (of one CPU)' \
			$((r + 1)) "$ROUNDS" "$name" "$rps" "$p50" "$p99" "$ccpu" "$other")"
	done
	round_ratio+=("$(awk -v a="${this[variant]}" -v b="${this[object]}" 'BEGIN { printf "%.3f", a / b }')")
	unset this
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
peak_kib="$(status_kib "$caddy_pid" VmHWM)"

# --- the table -------------------------------------------------------------------

v_rps="$(median <<<"${RPS[variant]}")"
o_rps="$(median <<<"${RPS[object]}")"
ratio="$(awk -v a="$v_rps" -v b="$o_rps" 'BEGIN { printf "%.3f", a / b }')"
rr_median="$(median <<<"${round_ratio[*]}")"
cpu_ratio="$(awk -v v="$(median <<<"${CADDY_US[variant]}")" -v o="$(median <<<"${CADDY_US[object]}")" 'BEGIN { printf "%.3f", o / v }')"
verdict="$(awk -v r="$ratio" -v t="$TARGET" 'BEGIN { print (r >= t ? "PASS" : "FAIL") }')"
stamp="$(date -u +%Y-%m-%d-%H%M)"
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
hdr_lines() { tr -d '\r' <"$1" | sed -n '2,$p' | awk 'NF' | grep -vi '^date:' | sed 's/^/    /'; }

report() {
	local name
	echo "## variant-hit.sh, $(date -u +%Y-%m-%d)"
	echo
	echo "$(nproc) vCPUs ($cpu_model), $(uname -sr), shared by Caddy, wrk and other processes: compare the ratio, not absolute req/s."
	echo "Caddy + r2gate: copy of $caddy_src (built $caddy_built, sha256 $caddy_sum…), r2gate at $git_head$git_dirty; versitygw $("$VERSITYGW" --version 2>/dev/null | awk -F': *' '/^Version/ { print $2; exit }'); $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')."
	echo "Source $SOURCE ($(wc -c <"$IMAGES_DIR/$SOURCE") bytes); the variant \`$variant_path\`: $vbytes bytes${vdim:+, $vdim}, made in $first_ms ms by the first GET (Cache-Status '$variant_made'; the next one '$variant_first'); $writeback."
	echo "r2gate's metrics after the setup requests: $setup_metrics."
	echo "The object \`$object_path\`: the same $vbytes bytes uploaded as a plain object (first Cache-Status '$object_first')."
	echo "Site: \`cache { memory $MEMORY }\`, \`resize { widths $WIDTHS }\`. wrk $WRK_ARGS, $ROUNDS rounds of a $WARMUP warm-up + $DURATION run per target, order alternating per round."
	echo "Before measuring: $load_note. Load average (1, 5, 15 min): $load_start at the start, $load_end at the end. Caddy RSS: $(mib "$idle_kib") MiB before the runs, peak $(mib "$peak_kib") MiB."
	echo
	echo "| target | median req/s | req/s per round | p50 ms | p99 ms | Caddy CPU % | Caddy CPU µs/req | others' CPU % | r2gate tier/outcome (per round) |"
	echo "|---|--:|---|--:|--:|--:|--:|--:|---|"
	for name in variant object; do
		printf '| %s `%s` | %.0f | %s | %.3f | %.3f | %s | %s | %s | %s |\n' "$name" \
			"$(if [[ $name == variant ]]; then echo "$variant_path"; else echo "$object_path"; fi)" \
			"$(median <<<"${RPS[$name]}")" \
			"$(tr ' ' '\n' <<<"${RPS[$name]}" | awk 'NF { printf "%s%.0f", s, $1; s = " / " }')" \
			"$(median <<<"${P50[$name]}")" "$(median <<<"${P99[$name]}")" \
			"$(median <<<"${CADDY_CPU[$name]}")" "$(median <<<"${CADDY_US[$name]}")" \
			"$(tr ' ' '\n' <<<"${OTHERS[$name]}" | awk 'NF' | paste -sd/)" \
			"$(sed 's/; $//' <<<"${TIERS[$name]}" | awk -F'; ' '{ for (i = 1; i <= NF; i++) { printf "%s%s", s, $i; s = " / " } }')"
	done
	echo
	echo "**Variant hit / object hit: ${ratio} (medians of the rounds; target ≥ $TARGET: $verdict).** Per round (variant / object of the same round): $(paste -sd' ' <<<"$(printf '%s\n' "${round_ratio[@]}")"), median $rr_median. Caddy CPU per request, object / variant (medians): $cpu_ratio."
	echo
	if ((${#flags[@]})); then
		echo "Runs that were not all memory hits, or that asked the bucket:"
		printf '* %s\n' "${flags[@]}"
	else
		echo "Every measured run: 0 non-2xx, 0 socket errors, only memory-tier hits in r2gate_requests_total, no bucket requests."
	fi
	echo
	echo "Caddy CPU %: the Caddy process's CPU time during the measured run, % of one CPU; µs/req: that CPU time per request wrk completed (medians of the rounds); others': all other CPU time (wrk included), from /proc/stat."
	echo
	echo "Response headers (Date left out):"
	echo
	echo "  variant \`$variant_path\`:"
	echo
	hdr_lines "$tmp/variant.hdr"
	echo
	echo "  object \`$object_path\`:"
	echo
	hdr_lines "$tmp/object.hdr"
	if [[ -n $PROFILE_DIR ]]; then
		echo
		echo "CPU profiles of round $ROUNDS (${prof_secs} s each): $PROFILE_DIR/variant.pprof, $PROFILE_DIR/object.pprof."
	fi
}

mkdir -p "$RESULTS_DIR"
result="$RESULTS_DIR/variant-hit-$stamp.md"
report >"$result"
{
	echo "# Caddyfile (credentials are the bench's own)"
	cat "$tmp/Caddyfile"
	for f in "$tmp"/wrk/variant-*.txt "$tmp"/wrk/object-*.txt; do
		echo
		echo "# $(basename "$f")"
		cat "$f"
	done
} >"${result%.md}-runs.txt"
echo
cat "$result"
echo
echo "written to $result (wrk outputs in ${result%.md}-runs.txt)"
