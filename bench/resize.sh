#!/usr/bin/env bash
# resize.sh: the first variant of a large photo, made by r2gate's resize
# library against libvips's `vips thumbnail`, each resize its own process
# under /usr/bin/time (wall time and peak RSS), in ONE run on the same
# machine. For each source (SOURCES, in IMAGES_DIR, and the phone photo
# below), each width (WIDTHS) and each output format (JPEG; WebP), the tools
# are:
#
#   vips          vips thumbnail SRC OUT[Q=85,strip] WIDTH --height 100000
#                 (the width alone constrains, as w=WIDTH; libvips's own
#                 thread pool: VIPS_CONCURRENCY, default the number of CPUs;
#                 it applies the EXIF orientation, as r2gate does)
#   r2gate        bench/resizebench with -workers $WORKERS (default nproc):
#                 read, resize.Probe, resize.ShrinkOnLoad (the JPEG decode's
#                 reduction), resize.Decoder.DecodeBytes (resize/jpegdec at
#                 that reduction), Source.PlanGeometry, TransformSource,
#                 EncodeAnimation; options "w=WIDTH"
#   r2gate-prev   the previous pipeline: resizebench built at PREV_COMMIT
#                 (before issue 11: image/jpeg decoding and encoding, the
#                 RGBA resampler); PREV=0 leaves it out
#   r2gate-w1     resizebench with -workers 1 (W1=0 leaves it out)
#   std           resizebench -std: image/jpeg decode, x/image/draw
#                 CatmullRom scale (one goroutine), image/jpeg encode (JPEG
#                 only; STD=0 leaves it out)
#
# resizebench is built with -tags nodynamic (RESIZEBENCH_TAGS), the tag
# resize/encode_webp.go needs: it links r2gate's WebP encoder (gen2brain/webp,
# pure Go, lossy method 1), as ./xcaddy.sh does for ./caddy. A resizebench
# without it (or a prebuilt RESIZEBENCH without it) exits 3 for format=webp;
# the script asks it once per format and then runs vips alone for that
# format and says "not available" in the r2gate rows. JPEG quality is 85 for
# everyone (r2gate's default; vips's own default is 75), metadata stripped
# (r2gate's default); vips's WebP saver keeps its default effort 4, r2gate
# uses method 1 (resize/encode_webp.go: webpLossyMethod).
#
# Every run of the first round is checked: exit 0, and an output of the same
# width and height as vips's (vipsheader). Then ROUNDS rounds, each running
# every case and tool once, the tools' order rotating every round so that
# noise from other processes hits them alike. The table gives the medians of
# the rounds: wall time, peak RSS and CPU time (%e, %M, %U + %S of
# /usr/bin/time, so process start-up included), their ratios to vips for the
# same case, the CPU other processes used meanwhile (from /proc/stat), and for
# resizebench the medians of its own phase timings (read, decode, transform
# incl. planning, encode). It is printed and written to
# bench/results/resize-<date>-<time>.md with the raw per-run lines next to it.
#
# The phone photo (PHONE=1, the default) is made by the script with
# ImageMagick and exiftool: big-baseline.jpg resized to 4000×3000 (12 MP),
# 4:2:0, quality 90, with an EXIF Orientation of 6 (shown rotated 90°
# clockwise, 3000×4000), as a phone stores a portrait photo; it is
# phone-12mp-o6.jpg in the table.
#
# Before the runs the script waits, up to LOAD_WAIT seconds (default 300),
# for the 1-minute load average to drop to LOAD_MAX (default 1.5), then runs
# anyway and says so; the load is in the table's header either way.
#
#   bench/resize.sh                   # about 6 minutes with the defaults
#   ROUNDS=1 WIDTHS=400 SOURCES=big-baseline.jpg PHONE=0 bench/resize.sh   # a look
#
# Environment:
#   IMAGES_DIR   folder with the sources (default ../shared/testdata/images
#                next to the repository, i.e. /work/shared/testdata/images)
#   SOURCES      file names in IMAGES_DIR (default "big-baseline.jpg big.jpg")
#   WIDTHS       output widths (default "400 1600")
#   FORMATS      output formats (default "jpeg webp")
#   ROUNDS       rounds (default 5)
#   WORKERS      resizebench -workers for the "r2gate" rows (default nproc)
#   QUALITY      JPEG/WebP quality for every tool (default 85)
#   STD          1: include the std rows (default 1)
#   PREV, W1     1: include the r2gate-prev / r2gate-w1 rows (default 1)
#   PHONE        1: add the phone photo made with ImageMagick (default 1)
#   LOAD_MAX, LOAD_WAIT  the load wait above (default 1.5, 300 s)
#   RESULTS_DIR  where the markdown is written (default bench/results)
#   RESIZEBENCH  a prebuilt resizebench to use instead of building one from
#                the working tree (e.g. one built from a clean checkout;
#                build it with -tags nodynamic for WebP)
#   RESIZEBENCH_TAGS  go build -tags for resizebench (default nodynamic: the
#                WebP encoder; empty: a build without it)
#   PREV_COMMIT  the commit whose resizebench (run without -prev) makes the
#                r2gate-prev rows: the pipeline before issue 11 (default
#                077e0bb: image/jpeg decoding and encoding, the RGBA
#                resampler, WebP method 2); built in a temporary worktree.
#                Empty: this build's -prev (image/jpeg decoding only)
#
# Needs Go (to build resizebench), `vips` and `vipsheader` (Debian
# libvips-tools), GNU time at /usr/bin/time (Debian time), and for the phone
# photo ImageMagick's convert and exiftool (Debian imagemagick,
# libimage-exiftool-perl); as root with apt-get it installs the missing
# ones.

set -euo pipefail
BENCH_NAME=resize
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGES_DIR="${IMAGES_DIR:-$repo/../shared/testdata/images}"
SOURCES="${SOURCES:-big-baseline.jpg big.jpg}"
WIDTHS="${WIDTHS:-400 1600}"
FORMATS="${FORMATS:-jpeg webp}"
ROUNDS="${ROUNDS:-5}"
WORKERS="${WORKERS:-$(nproc)}"
QUALITY="${QUALITY:-85}"
STD="${STD:-1}"
PREV="${PREV:-1}"
W1="${W1:-1}"
PHONE="${PHONE:-1}"
LOAD_MAX="${LOAD_MAX:-1.5}"
LOAD_WAIT="${LOAD_WAIT:-300}"
RESULTS_DIR="${RESULTS_DIR:-$repo/bench/results}"
RESIZEBENCH_TAGS="${RESIZEBENCH_TAGS-nodynamic}"

# --- tools -------------------------------------------------------------------

need_pkg() { # need_pkg <command> <debian package>
	command -v "$1" >/dev/null && return
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "$1 not found; installing the Debian package $2"
		apt-get install -y "$2" >&2 || { apt-get update >&2 && apt-get install -y "$2" >&2; } ||
			die "could not install $2"
	else
		die "$1 not found. Install it with:
  sudo apt-get install -y $2"
	fi
}
need_pkg vips libvips-tools
need_pkg vipsheader libvips-tools
[[ -x /usr/bin/time ]] || { need_pkg /usr/bin/time time; }
/usr/bin/time -f '%e' true 2>/dev/null || die "/usr/bin/time is not GNU time (needs -f); install Debian's time"
command -v go >/dev/null || die "go not found (needed to build bench/resizebench)"
if [[ $PHONE == 1 ]]; then
	# /usr/bin/convert: ImageMagick's own (a stand-in elsewhere on PATH may
	# not be).
	[[ -x /usr/bin/convert ]] || need_pkg /usr/bin/convert imagemagick
	need_pkg exiftool libimage-exiftool-perl
fi

[[ -d $IMAGES_DIR ]] || die "IMAGES_DIR $IMAGES_DIR not found: the test photos are in ../shared/testdata/images next to the repository (see its README.md); set IMAGES_DIR to their folder"
for s in $SOURCES; do
	[[ -r $IMAGES_DIR/$s ]] || die "source $IMAGES_DIR/$s not found or not readable (set IMAGES_DIR or SOURCES)"
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not $ROUNDS"
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer, not $WORKERS"

bench_tmp

# The phone photo: 12 MP, EXIF orientation 6, in a folder of its own next to
# links to the other sources (so every source is $src_dir/NAME).
src_dir="$tmp/src"
mkdir -p "$src_dir"
for s in $SOURCES; do
	ln -s "$(cd "$IMAGES_DIR" && pwd)/$s" "$src_dir/$s"
done
if [[ $PHONE == 1 ]]; then
	phone_from="$IMAGES_DIR/big-baseline.jpg"
	[[ -r $phone_from ]] || die "the phone photo is made from $phone_from, which is not there (PHONE=0 leaves it out)"
	log "making phone-12mp-o6.jpg (ImageMagick: 4000×3000, 4:2:0, q90; exiftool: Orientation 6)"
	/usr/bin/convert "$phone_from" -resize '4000x3000!' -sampling-factor 2x2 -quality 90 "$src_dir/phone-12mp-o6.jpg" ||
		die "convert failed"
	exiftool -q -n -Orientation=6 -overwrite_original "$src_dir/phone-12mp-o6.jpg" || die "exiftool failed"
	[[ "$(vipsheader -f orientation "$src_dir/phone-12mp-o6.jpg")" == 6 ]] ||
		die "phone-12mp-o6.jpg has no EXIF orientation 6"
	SOURCES="$SOURCES phone-12mp-o6.jpg"
fi
IMAGES_DIR="$src_dir"

if [[ -n ${RESIZEBENCH:-} ]]; then
	rb="$RESIZEBENCH"
	[[ -x $rb ]] || die "RESIZEBENCH=$rb is not an executable"
	rb_note="resizebench from RESIZEBENCH=$rb"
else
	rb="$tmp/resizebench"
	log "building bench/resizebench (-tags '$RESIZEBENCH_TAGS')"
	go build -tags "$RESIZEBENCH_TAGS" -o "$rb" ./bench/resizebench ||
		die "go build -tags '$RESIZEBENCH_TAGS' ./bench/resizebench failed (set RESIZEBENCH to a prebuilt one)"
	rb_note="resizebench built from the tree with -tags '$RESIZEBENCH_TAGS'"
fi

PREV_COMMIT="${PREV_COMMIT-077e0bb}"
rb_prev=""
prev_note="r2gate-prev: this build's -prev (image/jpeg decoding at full size, the rest as r2gate)"
if [[ $PREV == 1 && -n $PREV_COMMIT ]]; then
	log "building bench/resizebench at $PREV_COMMIT (the previous pipeline) in a worktree"
	git -C "$repo" worktree add -f --detach "$tmp/prev" "$PREV_COMMIT" >/dev/null 2>&1 ||
		die "git worktree add $PREV_COMMIT failed (PREV_COMMIT= uses this build's -prev)"
	(cd "$tmp/prev" && go build -tags "$RESIZEBENCH_TAGS" -o "$tmp/resizebench-prev" ./bench/resizebench) ||
		die "building resizebench at $PREV_COMMIT failed"
	git -C "$repo" worktree remove --force "$tmp/prev" >/dev/null 2>&1 || true
	rb_prev="$tmp/resizebench-prev"
	prev_note="r2gate-prev: resizebench at $PREV_COMMIT, the pipeline before issue 11 (image/jpeg decoding and encoding, the RGBA resampler, WebP method 2)"
fi

git_head="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git_dirty=""
if [[ -n "$(git status --porcelain -- resize bench/resizebench 2>/dev/null)" ]]; then
	git_dirty=" (resize/ or bench/resizebench modified)"
fi

# --- cases and tools -----------------------------------------------------------

# ext <format>: the file extension vips picks the saver by.
ext() { case $1 in jpeg) echo jpg ;; *) echo "$1" ;; esac; }

# r2gate_has <format>: whether resizebench can encode format (exit 3: no).
declare -A HAS
for f in $FORMATS; do
	set +e
	"$rb" -format "$f" "$IMAGES_DIR/${SOURCES%% *}" w=16 >/dev/null 2>"$tmp/probe.txt"
	rc=$?
	set -e
	case $rc in
	0) HAS[$f]=1 ;;
	3) HAS[$f]=0; log "r2gate: no $f encoder in this build ($(cat "$tmp/probe.txt")): $f rows for vips only" ;;
	*) die "resizebench -format $f failed: $(cat "$tmp/probe.txt")" ;;
	esac
done

# tools_for <format> <source>: the tools run for that output format and
# source (std applies no EXIF orientation, so it does not run on the phone
# photo: its output would be the other way round).
tools_for() {
	local t="vips"
	if [[ ${HAS[$1]} == 1 ]]; then
		t+=" r2gate"
		[[ $PREV == 1 ]] && t+=" r2gate-prev"
		[[ $W1 == 1 ]] && t+=" r2gate-w1"
		[[ $STD == 1 && $1 == jpeg && $2 != phone-12mp-o6.jpg ]] && t+=" std"
	fi
	echo "$t"
}

# command_for <tool> <src> <width> <format> <out>: prints nothing, sets cmd.
command_for() {
	local tool=$1 src=$2 w=$3 f=$4 out=$5
	case $tool in
	vips) cmd=(vips thumbnail "$src" "$out[Q=$QUALITY,strip]" "$w" --height 100000) ;;
	r2gate) cmd=("$rb" -workers "$WORKERS" -format "$f" -o "$out" "$src" "w=$w&q=$QUALITY") ;;
	r2gate-prev)
		if [[ -n $rb_prev ]]; then
			cmd=("$rb_prev" -workers "$WORKERS" -format "$f" -o "$out" "$src" "w=$w&q=$QUALITY")
		else
			cmd=("$rb" -prev -workers "$WORKERS" -format "$f" -o "$out" "$src" "w=$w&q=$QUALITY")
		fi
		;;
	r2gate-w1) cmd=("$rb" -workers 1 -format "$f" -o "$out" "$src" "w=$w&q=$QUALITY") ;;
	std) cmd=("$rb" -std -o "$out" "$src" "w=$w&q=$QUALITY") ;;
	*) die "unknown tool $tool" ;;
	esac
}

cases=()
for s in $SOURCES; do
	for w in $WIDTHS; do
		for f in $FORMATS; do
			cases+=("$s|$w|$f")
		done
	done
done

# busy_ticks: the CPUs' busy time so far, in USER_HZ ticks (user, nice,
# system, irq, softirq, steal).
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
hz="$(getconf CLK_TCK)"

# --- quiet machine? ---------------------------------------------------------------

load1() { read -r l _ </proc/loadavg && echo "$l"; }
load_above() { awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN { exit !(l > m) }'; }
load_wait_start="$(load1)"
waited=0
while load_above && ((waited < LOAD_WAIT)); do
	((waited == 0)) && log "load average $(load1) > $LOAD_MAX: waiting up to ${LOAD_WAIT}s for it to drop ..."
	sleep 10
	waited=$((waited + 10))
done
if load_above; then
	load_note="1-minute load $load_wait_start before the wait, still $(load1) after ${waited}s (LOAD_MAX $LOAD_MAX): ran anyway, other processes were busy"
elif ((waited > 0)); then
	load_note="1-minute load $load_wait_start before the wait, $(load1) after ${waited}s (≤ $LOAD_MAX)"
else
	load_note="1-minute load $load_wait_start (≤ $LOAD_MAX), no wait"
fi
log "$load_note"

# --- runs ----------------------------------------------------------------------

declare -A WALL RSS CPU OTHERS PHASES BYTES DIMS SCALE
mkdir -p "$tmp/out"
raw="$tmp/runs.txt"
: >"$raw"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
total=0
for c in "${cases[@]}"; do
	IFS='|' read -r s w f <<<"$c"
	read -ra ts <<<"$(tools_for "$f" "$s")"
	total=$((total + ${#ts[@]} * ROUNDS))
done
log "$total runs ($ROUNDS rounds); load average at the start: $load_start"
run=0
for r in $(seq 0 $((ROUNDS - 1))); do
	for c in "${cases[@]}"; do
		IFS='|' read -r s w f <<<"$c"
		read -ra ts <<<"$(tools_for "$f" "$s")"
		n=${#ts[@]}
		for i in $(seq 0 $((n - 1))); do
			tool=${ts[$(((i + r) % n))]}
			out="$tmp/out/${s%.*}-$w-$tool.$(ext "$f")"
			command_for "$tool" "$IMAGES_DIR/$s" "$w" "$f" "$out"
			rm -f "$out"
			b0="$(busy_ticks)"
			set +e
			/usr/bin/time -f '%e %M %U %S' -o "$tmp/time.txt" "${cmd[@]}" >"$tmp/stdout.txt" 2>"$tmp/stderr.txt"
			rc=$?
			set -e
			b1="$(busy_ticks)"
			((rc == 0)) || die "$tool failed (exit $rc) on $s w=$w $f: ${cmd[*]}
$(cat "$tmp/stderr.txt" "$tmp/time.txt")"
			read -r e m u sy <"$tmp/time.txt"
			k="$c|$tool"
			WALL[$k]+="$e "
			RSS[$k]+="$m "
			CPU[$k]+="$(awk -v u="$u" -v s="$sy" 'BEGIN { print u + s }') "
			other="$(awk -v b="$((b1 - b0))" -v hz="$hz" -v u="$u" -v s="$sy" -v e="$e" \
				'BEGIN { o = (b / hz - u - s) / (e > 0 ? e : 0.01) * 100; if (o < 0) o = 0; printf "%.0f", o }')"
			OTHERS[$k]+="$other "
			BYTES[$k]="$(stat -c %s "$out")"
			DIMS[$k]="$(vipsheader -f width "$out")x$(vipsheader -f height "$out")"
			if [[ $tool != vips ]]; then
				PHASES[$k]+="$(sed -n 's/.*read_ms=\([0-9.]*\) decode_ms=\([0-9.]*\) transform_ms=\([0-9.]*\) encode_ms=\([0-9.]*\).*/\1,\2,\3,\4/p' "$tmp/stdout.txt") "
				SCALE[$k]="$(sed -n 's/.* scale=\([0-9]*\).*/\1/p' "$tmp/stdout.txt")"
			fi
			if ((r == 0)) && [[ $tool != vips && -n ${DIMS[$c|vips]:-} && ${DIMS[$k]} != "${DIMS[$c|vips]}" ]]; then
				die "$tool made ${DIMS[$k]} for $s w=$w, vips ${DIMS[$c|vips]}"
			fi
			run=$((run + 1))
			printf '%s %s w=%s %s %s: %s s, %s KiB, user %s s, sys %s s, others %s%% CPU; %s\n' \
				"round=$((r + 1))" "$s" "$w" "$f" "$tool" "$e" "$m" "$u" "$sy" "$other" "$(cat "$tmp/stdout.txt")" >>"$raw"
			log "$(printf '[%3d/%d] round %d %-16s w=%-4s %-4s %-9s %6s s %8s KiB  others %s%% CPU' \
				"$run" "$total" $((r + 1)) "$s" "$w" "$f" "$tool" "$e" "$m" "$other")"
		done
	done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# The first round checked the dimensions only where vips ran before the
# other tool; check every case now.
for c in "${cases[@]}"; do
	IFS='|' read -r s w f <<<"$c"
	read -ra ts <<<"$(tools_for "$f" "$s")"
	for tool in "${ts[@]}"; do
		[[ ${DIMS[$c|$tool]} == "${DIMS[$c|vips]}" ]] ||
			die "$tool made ${DIMS[$c|$tool]} for ${c//|/ }, vips ${DIMS[$c|vips]}"
	done
done

# --- the table -------------------------------------------------------------------

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# phase <k> <i>: the median of phase i (1 read, 2 decode, 3 transform, 4 encode).
phase() { tr ' ' '\n' <<<"${PHASES[$1]}" | awk -F, -v i="$2" 'NF { print $i }' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'; }

date_utc="$(date -u +%Y-%m-%d)"
stamp="$(date -u +%Y-%m-%d-%H%M)"
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
verdict=""

report() {
	local c s w f tool k wall rss cpu vw vr vc
	echo "## resize.sh, $date_utc"
	echo
	echo "$(nproc) vCPUs ($cpu_model), $(uname -sr), shared: compare ratios only, not absolute figures."
	echo "$(vips --version), $(go version | awk '{ print $3 }'), r2gate at $git_head$git_dirty ($rb_note); resizebench -workers $WORKERS for \"r2gate\"; $prev_note."
	echo "$ROUNDS rounds, tools interleaved (order rotating every round), each resize its own process under /usr/bin/time; medians of the rounds."
	echo "Load average (1, 5, 15 min): $load_start at the start, $load_end at the end. Load wait: $load_note."
	echo
	echo "| source | w | out | tool | wall s | peak RSS MiB | × vips time | × vips RSS | CPU s | × vips CPU | read / decode / transform / encode ms | JPEG scale | output | bytes | others' CPU % |"
	echo "|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|"
	for c in "${cases[@]}"; do
		IFS='|' read -r s w f <<<"$c"
		vw="$(median <<<"${WALL[$c|vips]}")"
		vr="$(median <<<"${RSS[$c|vips]}")"
		vc="$(median <<<"${CPU[$c|vips]}")"
		read -ra ts <<<"$(tools_for "$f" "$s")"
		for tool in "${ts[@]}"; do
			k="$c|$tool"
			wall="$(median <<<"${WALL[$k]}")"
			rss="$(median <<<"${RSS[$k]}")"
			cpu="$(median <<<"${CPU[$k]}")"
			printf '| %s | %s | %s | %s | %.2f | %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s |\n' \
				"$s" "$w" "$f" "$tool" "$wall" "$(mib "$rss")" "$(ratio "$wall" "$vw")" "$(ratio "$rss" "$vr")" \
				"$cpu" "$(ratio "$cpu" "$vc")" \
				"$(if [[ $tool == vips ]]; then echo '—'; else printf '%.0f / %.0f / %.0f / %.0f' "$(phase "$k" 1)" "$(phase "$k" 2)" "$(phase "$k" 3)" "$(phase "$k" 4)"; fi)" \
				"${SCALE[$k]:-—}" "${DIMS[$k]}" "${BYTES[$k]}" "$(tr ' ' '\n' <<<"${OTHERS[$k]}" | awk 'NF' | paste -sd/)"
		done
		if [[ ${HAS[$f]} != 1 ]]; then
			printf '| %s | %s | %s | r2gate | not available (no %s encoder in this build) | | | | | | | | | | |\n' "$s" "$w" "$f" "$f"
		fi
	done
	echo
	echo "wall s and peak RSS: /usr/bin/time's %e and %M for the whole process (start-up, reading the file, writing the output)."
	echo "CPU s: user + system time of the process (%U + %S), less sensitive to other processes than wall time."
	echo "Phases: resizebench's own timings (transform includes PlanGeometry; the Go process's start-up is not in them)."
	echo "Others' CPU: per round, the CPU time other processes used during the run, % of one CPU."
	echo "JPEG scale: the reduction r2gate's JPEG decode used (shrink-on-load; 1 for the previous pipeline)."
	echo "JPEG and WebP at quality $QUALITY, metadata stripped (WebP: vips at its default effort 4, r2gate at method 1); vips: \`vips thumbnail SRC OUT[Q=$QUALITY,strip] W --height 100000\`; r2gate: \`resizebench -workers N -format F SRC 'w=W&q=$QUALITY'\`; r2gate-prev: as in the header; std: \`resizebench -std\` (image/jpeg + x/image/draw CatmullRom, one goroutine)."
	echo "The phone photo phone-12mp-o6.jpg is big-baseline.jpg resized by ImageMagick to 4000×3000, 4:2:0, q90, with EXIF Orientation 6 (shown 3000×4000)."
	if [[ -n $verdict ]]; then
		echo
		printf '%s' "$verdict"
	fi
}

# Issue 11's targets, r2gate (-workers $WORKERS) against vips: baseline
# w=400 within 1.0× vips's time, progressive w=400 within 1.5×, every
# w=1600 case within 1.5×, and peak RSS within 1.0× on every case.
ok() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }' && echo PASS || echo FAIL; }
for c in "${cases[@]}"; do
	[[ -n ${WALL[$c|r2gate]:-} ]] || continue
	IFS='|' read -r s w f <<<"$c"
	tw="$(ratio "$(median <<<"${WALL[$c|r2gate]}")" "$(median <<<"${WALL[$c|vips]}")")"
	tr_="$(ratio "$(median <<<"${RSS[$c|r2gate]}")" "$(median <<<"${RSS[$c|vips]}")")"
	bound=""
	case "$s|$w" in
	big-baseline.jpg\|400) bound=1.0 ;;
	big.jpg\|400) bound=1.5 ;;
	*\|1600) bound=1.5 ;;
	esac
	line="- $s w=$w $f: time ${tw}× vips"
	[[ -n $bound ]] && line+=" (≤ ${bound}×: $(ok "$tw" "$bound"))"
	line+=", peak RSS ${tr_}× vips (≤ 1.0×: $(ok "$tr_" 1.0))"
	verdict+="$line"$'\n'
done
[[ -n $verdict ]] && verdict="Targets (issue 11; r2gate with -workers $WORKERS):"$'\n'"$verdict"

mkdir -p "$RESULTS_DIR"
result="$RESULTS_DIR/resize-$stamp.md"
report >"$result"
cp "$raw" "${result%.md}-runs.txt"
echo
cat "$result"
echo
echo "written to $result (every run in ${result%.md}-runs.txt)"
