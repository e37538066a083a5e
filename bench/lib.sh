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

# --- additions for run.sh (usable by any script) ------------------------------
#
#   ensure_pkg CMD PKG         installs Debian package PKG when CMD is missing
#                              (as root with apt-get), else dies with how
#   ensure_versitygw           require_versitygw, installing v1.8.0 into
#                              ~/.cache/r2gate-tools first when it is missing
#   start_caddy_named NAME CONFIG URL
#                              like start_caddy, logging to $tmp/caddy-NAME.log;
#                              waits for URL; sets caddy_pid
#   proc_tree PID              PID and all its descendants, one per line
#   tree_ticks PID             utime + stime (clock ticks) of PID's tree
#   tree_hwm_kib PID           the sum of VmHWM over PID's tree, in KiB
#   tree_reset_hwm PID         reset_hwm on every process of the tree
#   median                     the median of numbers on stdin (spaces or
#                              lines); "nan" for none
#   maxof                      the largest number on stdin
#   to_ms DURATION             wrk's 812.00us / 1.23ms / 2.00s in milliseconds
#   load1                      the 1-minute load average
#   wait_quiet MAX SECONDS     waits up to SECONDS for load1 <= MAX; sets
#                              load_note (what happened, for a results header)
#   metric_growth BEFORE AFTER METRIC L1 L2
#                              "v1/v2 N, ..." for each series of a Prometheus
#                              counter that grew between two scrapes, labelled
#                              by the values of labels L1 and L2 ("none")

ensure_pkg() { # ensure_pkg <command> <debian package>
	command -v "$1" >/dev/null && return
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "$1 not found; installing the Debian package $2"
		DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >&2; } ||
			die "could not install $2"
	else
		die "$1 not found. Install it with:
  sudo apt-get install -y $2"
	fi
}

ensure_versitygw() {
	if ! find_versitygw >/dev/null; then
		command -v go >/dev/null || die "versitygw not found, and no go to install it with"
		log "versitygw not found; installing v1.8.0 into ~/.cache/r2gate-tools (about 3 minutes)"
		GOBIN="$HOME/.cache/r2gate-tools" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 >&2 ||
			die "go install versitygw@v1.8.0 failed"
	fi
	require_versitygw
}

# start_caddy_named <name> <Caddyfile> <url>: runs $CADDY_BIN (default
# ./caddy) with the Caddyfile, logging to $tmp/caddy-<name>.log, waits until
# url answers and sets caddy_pid.
start_caddy_named() {
	local name=$1 config=$2 url=$3
	XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data" \
		"${CADDY_BIN:-./caddy}" run --config "$config" --adapter caddyfile >"$tmp/caddy-$name.log" 2>&1 &
	caddy_pid=$!
	pids+=("$caddy_pid")
	wait_http "$url" "caddy-$name"
}

proc_tree() { # proc_tree <pid>: the pid and its descendants
	local p c
	echo "$1"
	for p in /proc/"$1"/task/*/children; do
		[[ -r $p ]] || continue
		for c in $(<"$p"); do
			proc_tree "$c"
		done
	done
}

tree_ticks() { # tree_ticks <pid>: utime + stime of the pid and its descendants
	local p t=0 v
	for p in $(proc_tree "$1"); do
		v="$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')" || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

tree_hwm_kib() { # tree_hwm_kib <pid>: sum of VmHWM over the tree
	local p t=0 v
	for p in $(proc_tree "$1"); do
		v="$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$p/status" 2>/dev/null)" || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

tree_reset_hwm() { # tree_reset_hwm <pid>: fails when any reset was refused
	local p ok=0
	for p in $(proc_tree "$1"); do
		reset_hwm "$p" || ok=1
	done
	return "$ok"
}

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { tr ' ' '\n' | awk 'NF' | sort -g | tail -1; }

to_ms() { # to_ms <wrk duration>: 812.00us, 1.23ms, 2.00s, 1.00m -> ms
	awk -v d="$1" 'BEGIN {
		if (d ~ /us$/) { sub(/us$/, "", d); printf "%.3f", d / 1000 }
		else if (d ~ /ms$/) { sub(/ms$/, "", d); printf "%.3f", d }
		else if (d ~ /s$/) { sub(/s$/, "", d); printf "%.3f", d * 1000 }
		else if (d ~ /m$/) { sub(/m$/, "", d); printf "%.3f", d * 60000 }
		else printf "nan"
	}'
}

load1() { local l _; read -r l _ </proc/loadavg && echo "$l"; }

wait_quiet() { # wait_quiet <max load> <seconds>: sets load_note
	local max=$1 limit=$2 first waited=0
	first="$(load1)"
	above() { awk -v l="$(load1)" -v m="$max" 'BEGIN { exit !(l > m) }'; }
	while above && ((waited < limit)); do
		((waited == 0)) && log "load average $(load1) > $max: waiting up to ${limit}s for it to drop ..."
		sleep 10
		waited=$((waited + 10))
	done
	if above; then
		load_note="1-minute load $first, still $(load1) after waiting ${waited}s (limit $max): ran anyway, other processes were busy"
	elif ((waited > 0)); then
		load_note="1-minute load $first, waited ${waited}s until it was $(load1) (≤ $max)"
	else
		load_note="1-minute load $first (≤ $max), no wait"
	fi
	log "$load_note"
}

metric_growth() { # metric_growth <before> <after> <metric> <label1> <label2>
	awk -v m="$3" -v l1="$4" -v l2="$5" '
		function val(s, l) { if (!sub(".*" l "=\"", "", s)) return "-"; sub(/".*/, "", s); return s }
		/^#/ { next }
		{ name = $1; sub(/\{.*/, "", name) }
		name == m {
			k = val($1, l1) "/" val($1, l2)
			if (FILENAME == ARGV[1]) b[k] += $NF; else { a[k] += $NF; if (!(k in seen)) { seen[k] = 1; keys[++n] = k } }
		}
		END {
			for (i = 1; i <= n; i++) { d = a[keys[i]] - b[keys[i]]; if (d > 0) { printf "%s%s %.0f", sep, keys[i], d; sep = ", " } }
			if (sep == "") printf "none"
		}' "$1" "$2"
}

# try_start_caddy <name> <Caddyfile> <url>: like start_caddy_named, but
# returns 1 (and forgets the process) when Caddy exits before url answers,
# e.g. because another process took one of its ports meanwhile; the caller
# picks other ports and tries again.
try_start_caddy() {
	local name=$1 config=$2 url=$3 _
	XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data" \
		"${CADDY_BIN:-./caddy}" run --config "$config" --adapter caddyfile >"$tmp/caddy-$name.log" 2>&1 &
	caddy_pid=$!
	for _ in $(seq 150); do
		if curl -s -o /dev/null --max-time 1 "$url"; then
			pids+=("$caddy_pid")
			return 0
		fi
		if ! kill -0 "$caddy_pid" 2>/dev/null; then
			wait "$caddy_pid" 2>/dev/null || true
			return 1
		fi
		sleep 0.1
	done
	kill "$caddy_pid" 2>/dev/null || true
	wait "$caddy_pid" 2>/dev/null || true
	return 1
}
