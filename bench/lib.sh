# shellcheck shell=bash
# lib.sh: shared helpers for the bench/ scripts. Source it, do not run it:
#
#   BENCH_NAME=my-bench            # prefix of error messages and temp dir
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing it sets "repo" (the repository root) and changes into it; nothing
# else happens until the functions are called:
#
#   log, die                 messages on stderr; die exits 1
#   ensure_caddy             with CADDY_BIN set: checks that it is executable;
#                            else builds ./caddy with ./xcaddy.sh when missing
#   require_versitygw        sets VERSITYGW or dies with how to install it
#   require_curl             dies when curl is missing
#   bench_tmp                creates "tmp" and the EXIT trap that stops every
#                            pid in "pids" and removes "tmp"
#   free_port                a loopback TCP port nobody is listening on
#   wait_http URL WHAT       waits until URL answers; WHAT names $tmp/WHAT.log
#   start_versitygw          starts versitygw on a free port; sets s3url
#   s3 ARGS...               a SigV4-signed curl request to versitygw
#   s3_create_bucket NAME    creates a bucket
#   start_caddy CONFIG PORT  runs ./caddy (or $CADDY_BIN) with a Caddyfile;
#                            sets caddy_pid
#   status_kib PID FIELD     a /proc/PID/status field in KiB (VmRSS, VmHWM)
#   mib KIB                  KiB as MiB with one decimal
#
# The S3 credentials and bucket are KEY, SECRET and BUCKET (set below unless
# already set). CADDY_BIN, when set, is the caddy binary ensure_caddy checks
# and start_caddy runs instead of ./caddy (e.g. a copy that a concurrent
# ./xcaddy.sh rebuild cannot replace mid-run: cp ./caddy /tmp/caddy-bench;
# CADDY_BIN=/tmp/caddy-bench bench/....sh). Scripts that copy the binary
# into their temp dir copy $CADDY_BIN when it is set.

: "${BENCH_NAME:=bench}"
KEY="${KEY:-benchkey}"
SECRET="${SECRET:-benchsecret}"
BUCKET="${BUCKET:-bench}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit

log() { printf '%s\n' "$*" >&2; }
die() { log "$BENCH_NAME: $*"; exit 1; }

# --- tools -------------------------------------------------------------------

ensure_caddy() {
	if [[ -n ${CADDY_BIN:-} ]]; then
		[[ -f $CADDY_BIN && -x $CADDY_BIN ]] || die "CADDY_BIN=$CADDY_BIN is not an executable file"
		return
	fi
	if [[ ! -x ./caddy ]]; then
		log "./caddy not found; building it with ./xcaddy.sh"
		./xcaddy.sh build
	fi
}

# find_versitygw prints the versitygw binary: $R2GATE_VERSITYGW, else PATH,
# then ~/.cache/r2gate-tools/versitygw, then $(go env GOPATH)/bin.
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

require_versitygw() {
	VERSITYGW="$(find_versitygw)" || die "versitygw not found. Install it (about 3 minutes on an empty module cache) with:
  GOBIN=\$HOME/.cache/r2gate-tools go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
or point R2GATE_VERSITYGW at the binary."
}

require_curl() {
	command -v curl >/dev/null || die "curl not found"
}

# --- temp dir and cleanup ----------------------------------------------------

# bench_tmp creates the temp dir "tmp" ($TMPDIR/r2gate-<suffix>.XXXXXX,
# suffix defaults to $BENCH_NAME) and a trap that, on exit, stops every pid
# in "pids" and removes the dir. Ctrl-C and TERM exit 130 through it.
bench_tmp() {
	tmp="$(mktemp -d "${TMPDIR:-/tmp}/r2gate-${1:-$BENCH_NAME}.XXXXXX")"
	pids=()
	trap _bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

_bench_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}

# --- network -----------------------------------------------------------------

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

# --- S3 server -----------------------------------------------------------------

s3() { # s3 <curl args...>: a SigV4-signed request to versitygw
	curl -sS --fail-with-body --aws-sigv4 "aws:amz:auto:s3" --user "$KEY:$SECRET" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# start_versitygw starts versitygw (posix backend in $tmp/s3) on a free
# loopback port, waits for it and sets s3url. Needs VERSITYGW and tmp.
start_versitygw() {
	local s3port
	s3port="$(free_port)"
	mkdir -p "$tmp/s3"
	"$VERSITYGW" --port "127.0.0.1:$s3port" --access "$KEY" --secret "$SECRET" \
		--region auto --keep-alive --quiet posix "$tmp/s3" >"$tmp/versitygw.log" 2>&1 &
	pids+=($!)
	wait_http "http://127.0.0.1:$s3port/" versitygw
	s3url="http://127.0.0.1:$s3port"
}

s3_create_bucket() { # s3_create_bucket <name>
	s3 -o /dev/null -X PUT "$s3url/$1"
}

# --- Caddy -------------------------------------------------------------------

# start_caddy <Caddyfile> <port>: runs $CADDY_BIN (default ./caddy) with the
# Caddyfile, logging to $tmp/caddy.log, waits until http://127.0.0.1:<port>/
# answers and sets caddy_pid. Caddy's autosave and data stay in $tmp.
start_caddy() {
	local config=$1 port=$2
	XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data" \
		"${CADDY_BIN:-./caddy}" run --config "$config" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
	caddy_pid=$!
	pids+=("$caddy_pid")
	wait_http "http://127.0.0.1:$port/" caddy
}

# --- measuring ---------------------------------------------------------------

status_kib() { # status_kib <pid> <field>: a /proc/<pid>/status field in KiB
	local k v _
	while read -r k v _; do
		if [[ $k == "$2:" ]]; then
			echo "$v"
			return
		fi
	done <"/proc/$1/status"
	die "no $2 for pid $1; did it exit? $(tail -5 "$tmp/caddy.log")"
}

# reset_hwm <pid>: resets the kernel's peak-RSS mark (VmHWM) of pid; fails
# when the kernel refuses (then only VmRSS samples give a peak).
reset_hwm() {
	{ echo 5 >"/proc/$1/clear_refs"; } 2>/dev/null
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
