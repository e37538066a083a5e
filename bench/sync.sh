#!/usr/bin/env bash
# sync.sh: how fast "caddy r2gate sync" publishes, and in how much memory,
# against a real S3 server (versitygw on loopback):
#
#   1. a folder of 2,000 small files (1-16 KiB): the first run uploads them
#      all, the second finds them unchanged;
#   2. one 1 GiB file (default 8 MiB parts, 4 at once): the first run
#      uploads it, the second reads it to compare its multipart ETag.
#
# Each run is the real subcommand in its own process under /usr/bin/time,
# which gives the peak RSS. Prints files/s, MiB/s and peak RSS per run, and
# the peak RSS of "caddy version" (the binary's own floor: its pages and
# module inits, some 56 MiB), and exits 1 if the 1 GiB upload's peak RSS
# grows more than RSS_BOUND_MIB (default 64) over that floor: the part
# buffers (4 parts at once + 1 of 8 MiB) and little else.
#
#   bench/sync.sh
#
# Environment:
#   CADDY_BIN         a caddy with r2gate to run (default: one built here
#                     with go build from the working tree, same tags as
#                     ./xcaddy.sh, into the temp dir)
#   R2GATE_VERSITYGW  path to the versitygw binary (else PATH, then
#                     ~/.cache/r2gate-tools/versitygw, then $(go env GOPATH)/bin)
#   SMALL_FILES       how many small files (default 2000)
#   BIG_MIB           size of the big file in MiB (default 1024)
#   RSS_BOUND_MIB     growth over the floor the big upload must stay under
#                     (default 64)
#   TMPDIR            where the files and the bucket go (needs ~2.2 GiB free)
set -euo pipefail

BENCH_NAME=sync
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # sets repo, cd "$repo"

SMALL_FILES="${SMALL_FILES:-2000}"
BIG_MIB="${BIG_MIB:-1024}"
BOUND_MIB="${RSS_BOUND_MIB:-64}"

[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (Debian package: time)"
require_versitygw
bench_tmp sync

# --- the binary ----------------------------------------------------------------

if [[ -n ${CADDY_BIN:-} ]]; then
	[[ -x $CADDY_BIN ]] || die "CADDY_BIN=$CADDY_BIN is not executable"
	bin="$CADDY_BIN"
else
	# A main package under .cache/ (ignored by git) makes a Caddy from the
	# working tree, as xcaddy would, without touching ./caddy.
	main="$repo/.cache/syncbench"
	mkdir -p "$main"
	cat >"$main/main.go" <<'GO'
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/r2gate/r2gate"
)

func main() { caddycmd.Main() }
GO
	log "building caddy with r2gate from the working tree ..."
	go build -trimpath -ldflags='-w -s' -tags=nobadger,nomysql,nopgx,nodynamic -o "$tmp/caddy" ./.cache/syncbench
	bin="$tmp/caddy"
fi
"$bin" r2gate sync --help >/dev/null 2>&1 || die "$bin has no 'r2gate sync' subcommand (rebuild it)"
/usr/bin/time -v -o "$tmp/version.time" "$bin" version >/dev/null
floor_kib=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$tmp/version.time")

# --- the bucket ----------------------------------------------------------------

start_versitygw
s3_create_bucket "$BUCKET"
export R2_BUCKET="$BUCKET" R2_ACCESS_KEY_ID="$KEY" R2_SECRET_ACCESS_KEY="$SECRET" R2_ACCOUNT_ID=
export AWS_EC2_METADATA_DISABLED=true

# run_sync <name> <sync args...>: runs the sync under /usr/bin/time, logs to
# $tmp/<name>.log and sets secs (wall time) and rss_kib (peak RSS).
run_sync() {
	local name=$1 start end
	shift
	start=$(date +%s.%N)
	/usr/bin/time -v -o "$tmp/$name.time" "$bin" r2gate sync --endpoint "$s3url" "$@" >"$tmp/$name.log" 2>&1 ||
		die "$name failed: $(tail -5 "$tmp/$name.log")"
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
	rss_kib=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$tmp/$name.time")
	log "  $(tail -1 "$tmp/$name.log")"
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }

results=()
report() { # report <label> <files> <bytes>
	local line
	line=$(printf '%-34s %8s s %10s files/s %9s MiB/s %8s MiB peak RSS' "$1" "$secs" \
		"$(rate "$2" "$secs")" "$(rate "$(($3 / 1048576))" "$secs")" "$(mib "$rss_kib")")
	results+=("$line")
}

# --- 1. many small files ---------------------------------------------------------

log "writing $SMALL_FILES small files ..."
small="$tmp/small"
mkdir -p "$small"
small_bytes=0
for i in $(seq "$SMALL_FILES"); do
	d="$small/dir$((i % 20))"
	mkdir -p "$d"
	size=$((1024 + (i * 7919) % 15360))
	head -c "$size" /dev/urandom >"$d/file$i.txt"
	small_bytes=$((small_bytes + size))
done
# small_bytes is below a MiB per 100 files: report KiB-exact MiB/s.
log "sync of $SMALL_FILES small files ($(mib $((small_bytes / 1024))) MiB), first run:"
run_sync small-first --prefix small "$small"
grep -q "uploaded $SMALL_FILES " "$tmp/small-first.log" || die "the first run did not upload $SMALL_FILES files"
line=$(printf '%-34s %8s s %10s files/s %9s MiB/s %8s MiB peak RSS' "$SMALL_FILES small files, first run" "$secs" \
	"$(rate "$SMALL_FILES" "$secs")" "$(awk -v b="$small_bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / 1048576 / s }')" "$(mib "$rss_kib")")
results+=("$line")
log "second run (unchanged):"
run_sync small-second --prefix small "$small"
grep -q "uploaded 0 " "$tmp/small-second.log" || die "the second run uploaded something"
line=$(printf '%-34s %8s s %10s files/s %9s MiB/s %8s MiB peak RSS' "$SMALL_FILES small files, unchanged" "$secs" \
	"$(rate "$SMALL_FILES" "$secs")" "-" "$(mib "$rss_kib")")
results+=("$line")

# --- 2. one big file ---------------------------------------------------------------

log "writing a $BIG_MIB MiB file ..."
big="$tmp/big"
mkdir -p "$big"
head -c "$((BIG_MIB * 1048576))" /dev/urandom >"$big/big.bin"
log "sync of one $BIG_MIB MiB file, first run:"
run_sync big-first --prefix big "$big"
grep -q "uploaded 1 " "$tmp/big-first.log" || die "the big file was not uploaded"
report "one $BIG_MIB MiB file, first run" 1 $((BIG_MIB * 1048576))
big_rss=$rss_kib
log "second run (unchanged; reads the file for its multipart ETag):"
run_sync big-second --prefix big "$big"
grep -q "uploaded 0 " "$tmp/big-second.log" || die "the second run uploaded the big file again"
report "one $BIG_MIB MiB file, unchanged" 1 $((BIG_MIB * 1048576))

echo
echo "caddy r2gate sync against versitygw on loopback ($(nproc) CPUs, $(date -u +%Y-%m-%d)):"
printf '%s\n' "${results[@]}"
echo "floor: \"caddy version\" peaks at $(mib "$floor_kib") MiB RSS"
growth_kib=$((big_rss - floor_kib))
if ((growth_kib >= BOUND_MIB * 1024)); then
	echo "FAIL: the $BIG_MIB MiB upload peaked at $(mib "$big_rss") MiB RSS, $(mib "$growth_kib") MiB over the floor (bound $BOUND_MIB MiB)"
	exit 1
fi
echo "ok: the $BIG_MIB MiB upload peaked at $(mib "$big_rss") MiB RSS, $(mib "$growth_kib") MiB over the floor (bound $BOUND_MIB MiB)"
