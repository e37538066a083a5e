#!/usr/bin/env bash
# run.sh: the benchmark suite. r2gate against the floor handler (bench/floor),
# Caddy's own file_server and respond, nginx proxy_cache, Varnish and
# versitygw itself, all on loopback in ONE run on the same machine, in front
# of (or next to) the same versitygw bucket and the same bytes. Documented in
# bench/README.md ("run.sh"); the servers' configurations are there too.
#
#   bench/run.sh                                      # the whole suite (long)
#   ROUNDS=1 DURATION=2 SIZES=100k CONNS=32 bench/run.sh   # a quick look
#   SUITES="http h2" bench/run.sh
#
# Suites (SUITES, default all of them, in this order within a round):
#   http    hits over plain HTTP/1.1 (wrk): r2gate-mem, r2gate-disk, floor,
#           file_server, file_server_sendfile, respond, nginx, varnish,
#           versitygw
#   tls     the same over HTTPS, HTTP/1.1 (wrk), without varnish (no TLS in
#           Varnish) and versitygw
#   h2      the same as tls over HTTP/2 (h2load)
#   range   random 256 KiB ranges of a 200 MiB object (wrk + Lua):
#           r2gate-disk, file_server, file_server_sendfile, nginx, varnish,
#           versitygw
#   reval   r2gate revalidation: objects with Cache-Control: no-cache, so
#           every request is a conditional GET to the bucket answered 304
#           (coalesced per key): r2gate-mem, r2gate-disk
#   miss    cold misses: every request a key never asked for (wrk + Lua):
#           r2gate-miss, nginx, varnish, versitygw
#   resize  bench/resize.sh (vips thumbnail against r2gate's resizebench) and
#           bench/variant-hit.sh with small settings, folded into a second
#           table
#
# Each round runs every (suite, size, connections) group, and in it every
# server once, the servers' order rotating every round; the table gives the
# medians of the rounds. Every server is first checked: 200, Content-Length,
# the same bytes (cmp); r2gate's rows are hits of the right tier
# (Cache-Status), nginx's and Varnish's cache hits (X-Cache-Status, X-Cache).
#
# Environment:
#   ROUNDS      rounds (default 3)
#   DURATION    seconds of each measured run (default 8; "8s" works too)
#   WARMUP      seconds of the warm-up run before each one (default 2)
#   SIZES       object sizes, k = KiB, m = MiB (default "1k 100k 1m")
#   CONNS       connection counts (default "32 256")
#   SUITES      see above (default "http tls h2 range reval miss resize")
#   THREADS     wrk -t and h2load -t (default 2)
#   H2_STREAMS  h2load -m, concurrent streams per connection (default 1)
#   RANGE_SIZE  the Range object (default 200m); RANGE_LEN (default 256k)
#   LOAD_MAX, LOAD_WAIT  wait up to LOAD_WAIT s (default 120) for the
#               1-minute load to drop to LOAD_MAX (default 1.5)
#   SERVERS     only these servers of each suite, e.g. "r2gate-mem floor nginx"
#               (a quick A/B look; default all)
#   RESULTS_DIR where run-<date>-<time>.md and the charts go (bench/results)
#   CADDY_BIN   a Caddy binary with r2gate and r2gate_floor to use instead of
#               building bench/floorcaddy from the working tree
#   CADDY_REF   build bench/floorcaddy at this commit (a temporary git
#               worktree) instead of from the working tree, e.g. HEAD while
#               others have uncommitted changes
#   R2GATE_VERSITYGW  the versitygw binary (else found or installed)
#
# As root on Debian it installs what is missing: wrk, nginx, varnish,
# nghttp2-client (h2load), libvips-tools (the resize suite), openssl, and
# versitygw v1.8.0 (go install). It needs Go (to build Caddy and the chart
# tool) and curl.
set -euo pipefail

BENCH_NAME=run
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # sets repo, cd "$repo"

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-8}"
DURATION="${DURATION%s}"
WARMUP="${WARMUP:-2}"
WARMUP="${WARMUP%s}"
SIZES="${SIZES:-1k 100k 1m}"
CONNS="${CONNS:-32 256}"
SUITES="${SUITES:-http tls h2 range reval miss resize}"
THREADS="${THREADS:-2}"
H2_STREAMS="${H2_STREAMS:-1}"
RANGE_SIZE="${RANGE_SIZE:-200m}"
RANGE_LEN="${RANGE_LEN:-256k}"
LOAD_MAX="${LOAD_MAX:-1.5}"
LOAD_WAIT="${LOAD_WAIT:-120}"
RESULTS_DIR="${RESULTS_DIR:-$repo/bench/results}"

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be whole seconds, not '$DURATION'"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be whole seconds, not '$WARMUP'"
for s in $SUITES; do
	case $s in http | tls | h2 | range | reval | miss | resize) ;; *) die "unknown suite '$s' in SUITES" ;; esac
done
for c in $CONNS; do
	[[ $c =~ ^[1-9][0-9]*$ ]] && ((c >= THREADS)) || die "CONNS: '$c' is not a number ≥ THREADS ($THREADS)"
done
has_suite() { [[ " $SUITES " == *" $1 "* ]]; }

# size_bytes <label>: 100k -> 102400, 1m -> 1048576, 123 -> 123.
size_bytes() {
	local n=${1%[kKmM]}
	[[ $n =~ ^[0-9]+$ ]] || die "bad size '$1' (want e.g. 1k, 100k, 1m, 4096)"
	case $1 in
	*[kK]) echo $((n * 1024)) ;;
	*[mM]) echo $((n * 1024 * 1024)) ;;
	*) echo "$n" ;;
	esac
}
for s in $SIZES $RANGE_SIZE $RANGE_LEN; do size_bytes "$s" >/dev/null; done

# --- tools -------------------------------------------------------------------

require_curl
ensure_pkg wrk wrk
ensure_pkg openssl openssl
if has_suite http || has_suite tls || has_suite h2 || has_suite range || has_suite miss; then
	ensure_pkg nginx nginx
fi
if has_suite http || has_suite range || has_suite miss; then
	ensure_pkg varnishd varnish
fi
has_suite h2 && ensure_pkg h2load nghttp2-client
has_suite resize && ensure_pkg vips libvips-tools
ensure_versitygw
command -v go >/dev/null || die "go not found (needed to build bench/floorcaddy and bench/chart)"

bench_tmp run
mkdir -p "$tmp/bin"
git_head="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
git_dirty=""
if [[ -n "$(git status --porcelain --untracked-files=no -- caddymodule cache origin resize bench/floor 2>/dev/null)" ]]; then
	git_dirty=", uncommitted changes in caddymodule/cache/origin/resize"
fi
if [[ -n ${CADDY_BIN:-} ]]; then
	[[ -x $CADDY_BIN ]] || die "CADDY_BIN=$CADDY_BIN is not executable"
	cp "$CADDY_BIN" "$tmp/bin/caddy"
	caddy_note="CADDY_BIN=$CADDY_BIN (a copy)"
elif [[ -n ${CADDY_REF:-} ]]; then
	ref="$(git rev-parse --short "$CADDY_REF^{commit}")" || die "CADDY_REF=$CADDY_REF is not a commit"
	log "building bench/floorcaddy (Caddy + r2gate + r2gate_floor, -tags nodynamic) at $ref in a worktree ..."
	git worktree add -f --detach "$tmp/src" "$ref" >/dev/null 2>&1 || die "git worktree add $ref failed"
	(cd "$tmp/src" && go build -trimpath -tags nodynamic -ldflags '-w -s' -o "$tmp/bin/caddy" ./bench/floorcaddy) ||
		die "go build ./bench/floorcaddy at $ref failed"
	git worktree remove --force "$tmp/src" >/dev/null 2>&1 || true
	caddy_note="bench/floorcaddy built at $ref (CADDY_REF=$CADDY_REF)"
else
	log "building bench/floorcaddy (Caddy + r2gate + r2gate_floor, -tags nodynamic) from the working tree ..."
	go build -trimpath -tags nodynamic -ldflags '-w -s' -o "$tmp/bin/caddy" ./bench/floorcaddy ||
		die "go build ./bench/floorcaddy failed"
	caddy_note="bench/floorcaddy built from the tree at $git_head$git_dirty"
fi
CADDY_BIN="$tmp/bin/caddy"
modules="$("$CADDY_BIN" list-modules)" || die "$CADDY_BIN list-modules failed"
grep -qx http.handlers.r2gate_floor <<<"$modules" || die "$CADDY_BIN has no http.handlers.r2gate_floor"
grep -qx http.handlers.r2gate <<<"$modules" || die "$CADDY_BIN has no http.handlers.r2gate"
go build -o "$tmp/bin/chart" ./bench/chart || die "go build ./bench/chart failed"

# --- the objects ---------------------------------------------------------------

# Printable random bytes (the base64 alphabet: no braces, no newlines), so
# that respond can carry them in the Caddyfile; "/" may come first (respond
# gets an explicit * matcher).
printable() { # printable <bytes> <file>
	head -c $(($1 * 3 / 4 + 3)) /dev/urandom | base64 -w0 >"$2"
	truncate -s "$1" "$2"
}
mkdir -p "$tmp/www" "$tmp/floor"
for s in $SIZES; do
	printable "$(size_bytes "$s")" "$tmp/www/$s.bin"
	ln "$tmp/www/$s.bin" "$tmp/floor/$s.bin"
done
range_bytes="$(size_bytes "$RANGE_SIZE")"
range_len="$(size_bytes "$RANGE_LEN")"
if has_suite range; then
	log "making the $RANGE_SIZE Range object ..."
	printable "$range_bytes" "$tmp/www/range.bin"
fi

start_versitygw
vgw_pid="${pids[-1]}"
s3_create_bucket "$BUCKET"
for s in $SIZES; do
	s3 -o /dev/null -H 'Content-Type: application/octet-stream' -T "$tmp/www/$s.bin" "$s3url/$BUCKET/$s.bin"
	s3 -o /dev/null -H 'Content-Type: application/octet-stream' -H 'Cache-Control: no-cache' \
		-T "$tmp/www/$s.bin" "$s3url/$BUCKET/reval-$s.bin"
	s3 -o /dev/null -H 'Content-Type: application/octet-stream' -T "$tmp/www/$s.bin" "$s3url/$BUCKET/miss-$s.bin"
done
if has_suite range; then
	s3 -o /dev/null -H 'Content-Type: application/octet-stream' -T "$tmp/www/range.bin" "$s3url/$BUCKET/range.bin"
fi
# Unsigned GETs for nginx, Varnish and versitygw direct: public read.
printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}' \
	"$BUCKET" >"$tmp/policy.json"
s3 -o /dev/null -X PUT -T "$tmp/policy.json" "$s3url/$BUCKET?policy=" || die "versitygw refused the public-read policy"

# Cold-miss keys: hard links of miss-<size>.bin in versitygw's posix folder.
# A link shares the inode, so also the extended attributes where versitygw
# keeps the ETag and Content-Type: miss-<size>-<n>.bin is an object with the
# same bytes and metadata, made in microseconds instead of an upload each.
# An inode takes at most 65,000 links (ext4), so every 50,000 keys link a
# fresh copy (cp -a keeps the extended attributes).
miss_made=0
make_miss_keys() { # make_miss_keys <up to n>: links miss-<size>-<i>.bin, i < n
	local n=$1 s b d="$tmp/s3/$BUCKET"
	((n > miss_made)) || return 0
	for s in $SIZES; do
		for ((b = miss_made / 50000; b <= (n - 1) / 50000; b++)); do
			[[ -e $d/miss-$s-src$b.bin ]] || cp -a "$d/miss-$s.bin" "$d/miss-$s-src$b.bin" || die "copying miss-$s.bin failed"
		done
		perl -e 'my ($d, $s, $a, $b) = @ARGV; for my $i ($a .. $b - 1) { my $src = "$d/miss-$s-src" . int($i / 50000) . ".bin"; link($src, "$d/miss-$s-$i.bin") or die "link $i: $!\n" }' \
			"$d" "$s" "$miss_made" "$n" || die "making miss keys failed"
	done
	miss_made=$n
}
miss_next=0 # the next unused miss key number (shared by all servers: a key is cold everywhere once)

# --- TLS -----------------------------------------------------------------------

mkdir -p "$tmp/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" 2>"$tmp/tls/openssl.log" ||
	die "openssl could not make a self-signed certificate: $(cat "$tmp/tls/openssl.log")"

# --- servers ---------------------------------------------------------------------

declare -A SRV_PID SRV_HTTP SRV_HTTPS SRV_ADMIN SRV_KIND SRV_NOTE
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

mkdir -p "$tmp/scratch" "$tmp/caddy"
export BENCH_BUCKET="$BUCKET" BENCH_S3_ENDPOINT="$s3url" BENCH_ACCESS_KEY="$KEY" BENCH_SECRET_KEY="$SECRET" \
	BENCH_TMP="$tmp/scratch" BENCH_DIR="$tmp/www" BENCH_FLOOR_DIR="$tmp/floor" \
	BENCH_CERT="$tmp/tls/cert.pem" BENCH_KEY="$tmp/tls/key.pem"

# caddy_server <name> <site file> <tls: 1|0> <note> [<servers option lines>]:
# one Caddy process for one row, with its own admin endpoint (metrics).
caddy_server() {
	local name=$1 site=$2 tls=$3 note=$4 extra=${5:-} port tport admin conf="$tmp/caddy/$1.caddyfile" try
	for try in 1 2 3 4 5; do
		port="$(new_port)" tport="$(new_port)" admin="$(new_port)"
		cat >"$conf" <<CADDYFILE
{
	admin 127.0.0.1:$admin
	persist_config off
	auto_https disable_redirects
	servers {
		protocols h1 h2
$extra
	}
}

import $site
CADDYFILE
		export BENCH_PORT=$port BENCH_TLS_PORT=$tport
		try_start_caddy "$name" "$conf" "http://127.0.0.1:$port/" && break
		((try < 5)) || die "caddy $name did not start; its log:
$(grep -v '"level":"info"' "$tmp/caddy-$name.log" | tail -5)"
		log "caddy $name did not start (a port taken meanwhile?), trying other ports: $(grep -o '"msg":"[^"]*"' "$tmp/caddy-$name.log" | tail -1)"
	done
	SRV_PID[$name]=$caddy_pid
	SRV_HTTP[$name]="http://127.0.0.1:$port"
	SRV_HTTPS[$name]=""
	((tls)) && SRV_HTTPS[$name]="https://127.0.0.1:$tport"
	SRV_ADMIN[$name]="http://127.0.0.1:$admin"
	SRV_KIND[$name]=caddy
	SRV_NOTE[$name]=$note
}

sites="$repo/bench/sites"
caddy_server r2gate-mem "$sites/run-r2gate-mem.caddy" 1 "r2gate over versitygw, memory tier 1 GiB (memory_item 8 MiB)"
SRV_KIND[r2gate-mem]=r2gate
caddy_server r2gate-disk "$sites/run-r2gate-disk.caddy" 1 "r2gate over versitygw, disk tier only (memory 0, disk 4 GiB)"
SRV_KIND[r2gate-disk]=r2gate
if has_suite miss; then
	caddy_server r2gate-miss "$sites/run-r2gate-miss.caddy" 0 "r2gate over versitygw, memory tier 256 MiB, every request a new key"
	SRV_KIND[r2gate-miss]=r2gate
fi
caddy_server floor "$sites/run-floor.caddy" 1 "bench/floor's r2gate_floor: the bytes in memory, 4 prebuilt headers, one Write"
caddy_server file_server "$sites/run-file-server.caddy" 1 "Caddy file_server, default server options (write_idle 1m: no sendfile)"
caddy_server file_server_sendfile "$sites/run-file-server.caddy" 1 "Caddy file_server with write_idle -1s (sendfile)" \
	$'\t\ttimeouts {\n\t\t\twrite_idle -1s\n\t\t}'

# respond: the bodies are written into a generated site file.
{
	echo "(respond_site) {"
	for s in $SIZES; do
		# "*" first: a body starting with "/" would otherwise be a matcher.
		printf '\thandle /%s.bin {\n\t\theader Content-Type application/octet-stream\n\t\theader Content-Length %s\n\t\trespond * <<R2GATE_BODY\n%s\nR2GATE_BODY 200\n\t}\n' \
			"$s" "$(size_bytes "$s")" "$(cat "$tmp/www/$s.bin")"
	done
	echo "}"
	printf 'http://127.0.0.1:{$BENCH_PORT} {\n\tbind 127.0.0.1\n\timport respond_site\n}\n'
	printf 'https://127.0.0.1:{$BENCH_TLS_PORT} {\n\tbind 127.0.0.1\n\ttls {$BENCH_CERT} {$BENCH_KEY}\n\timport respond_site\n}\n'
} >"$tmp/caddy/respond-site.caddy"
caddy_server respond "$tmp/caddy/respond-site.caddy" 1 "Caddy respond with the body in the Caddyfile (heredoc) and header Content-Length"

# nginx: proxy_cache in front of the bucket.
if has_suite http || has_suite tls || has_suite h2 || has_suite range || has_suite miss; then
	nport="$(new_port)" ntport="$(new_port)"
	mkdir -p "$tmp/nginx/cache" "$tmp/nginx/temp"
	cat >"$tmp/nginx/nginx.conf" <<NGINX
# bench/run.sh: nginx proxy_cache in front of the versitygw bucket.
user root;
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	sendfile on;
	tcp_nopush off;
	tcp_nodelay on;
	keepalive_requests 100000000;
	client_body_temp_path $tmp/nginx/temp/body;
	proxy_temp_path $tmp/nginx/temp/proxy;
	fastcgi_temp_path $tmp/nginx/temp/fastcgi;
	uwsgi_temp_path $tmp/nginx/temp/uwsgi;
	scgi_temp_path $tmp/nginx/temp/scgi;
	proxy_cache_path $tmp/nginx/cache levels=1:2 keys_zone=bench:64m max_size=8g inactive=1h use_temp_path=off;
	upstream versitygw {
		server 127.0.0.1:${s3url##*:};
		keepalive 64;
	}
	server {
		listen 127.0.0.1:$nport;
		listen 127.0.0.1:$ntport ssl http2;
		ssl_certificate $tmp/tls/cert.pem;
		ssl_certificate_key $tmp/tls/key.pem;
		location / {
			proxy_pass http://versitygw/$BUCKET/;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache bench;
			proxy_cache_valid 200 10m;
			proxy_cache_lock on;
			add_header X-Cache-Status \$upstream_cache_status always;
		}
		# The Range object: cached in 1 MiB slices (nginx's way of caching
		# ranges of a large object; without it each Range of a miss
		# fetches the whole 200 MiB).
		location = /range.bin {
			slice 1m;
			proxy_pass http://versitygw/$BUCKET/range.bin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Range \$slice_range;
			proxy_cache bench;
			proxy_cache_key \$uri\$slice_range;
			proxy_cache_valid 200 206 10m;
			proxy_cache_lock on;
			add_header X-Cache-Status \$upstream_cache_status always;
		}
	}
}
NGINX
	nginx -t -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" >"$tmp/nginx.log" 2>&1 ||
		die "nginx -t failed: $(cat "$tmp/nginx.log")"
	nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" >>"$tmp/nginx.log" 2>&1 &
	pids+=($!)
	SRV_PID[nginx]=$!
	wait_http "http://127.0.0.1:$nport/" nginx
	SRV_HTTP[nginx]="http://127.0.0.1:$nport"
	SRV_HTTPS[nginx]="https://127.0.0.1:$ntport"
	SRV_KIND[nginx]=nginx
	SRV_NOTE[nginx]="nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') proxy_cache (sendfile on, tcp_nopush off, keepalive to versitygw, proxy_cache_valid 200 10m, worker_processes auto, access_log off)"
fi

# Varnish: malloc storage, default thread settings, TTL 10 minutes.
if has_suite http || has_suite range || has_suite miss; then
	vport="$(new_port)"
	cat >"$tmp/varnish.vcl" <<VCL
vcl 4.1;
# bench/run.sh: Varnish in front of the versitygw bucket.
backend versitygw {
	.host = "127.0.0.1";
	.port = "${s3url##*:}";
}
sub vcl_recv {
	set req.url = "/$BUCKET" + req.url;
}
sub vcl_backend_response {
	set beresp.ttl = 10m;
}
sub vcl_deliver {
	if (obj.hits > 0) {
		set resp.http.X-Cache = "HIT";
	} else {
		set resp.http.X-Cache = "MISS";
	}
}
VCL
	varnishd -F -j none -n "$tmp/varnish" -T none -a "127.0.0.1:$vport" -f "$tmp/varnish.vcl" \
		-s malloc,2G >"$tmp/varnish.log" 2>&1 &
	pids+=($!)
	SRV_PID[varnish]=$!
	wait_http "http://127.0.0.1:$vport/" varnish
	SRV_HTTP[varnish]="http://127.0.0.1:$vport"
	SRV_HTTPS[varnish]=""
	SRV_KIND[varnish]=varnish
	SRV_NOTE[varnish]="$(varnishd -V 2>&1 | sed -n 1p | awk '{ print $2 }' | tr -d '()') (-s malloc,2G, default thread settings, beresp.ttl 10m; no TLS in Varnish)"
fi

SRV_PID[versitygw]=$vgw_pid
SRV_HTTP[versitygw]="$s3url/$BUCKET"
SRV_HTTPS[versitygw]=""
SRV_KIND[versitygw]=versitygw
SRV_NOTE[versitygw]="versitygw $("$VERSITYGW" --version 2>/dev/null | awk -F': *' '/^Version/ { print $2; exit }') itself, posix backend, unsigned GETs (public-read policy); plain HTTP only"

# --- suites: which servers, which tool, which paths ---------------------------------

servers_of() { # servers_of <suite>: its servers, only those in $SERVERS when set
	local all s
	all=$(all_servers_of "$1")
	[ -z "${SERVERS:-}" ] && { echo "$all"; return; }
	for s in $all; do
		case " $SERVERS " in *" $s "*) printf '%s ' "$s" ;; esac
	done
	echo
}
all_servers_of() { # all_servers_of <suite>
	case $1 in
	http) echo "r2gate-mem r2gate-disk floor file_server file_server_sendfile respond nginx varnish versitygw" ;;
	tls | h2) echo "r2gate-mem r2gate-disk floor file_server file_server_sendfile respond nginx" ;;
	range) echo "r2gate-disk file_server file_server_sendfile nginx varnish versitygw" ;;
	reval) echo "r2gate-mem r2gate-disk" ;;
	miss) echo "r2gate-miss nginx varnish versitygw" ;;
	esac
}
sizes_of() { # sizes_of <suite>
	case $1 in range) echo "$RANGE_SIZE" ;; *) echo "$SIZES" ;; esac
}
base_of() { # base_of <suite> <server>: the URL prefix
	case $1 in tls | h2) echo "${SRV_HTTPS[$2]}" ;; *) echo "${SRV_HTTP[$2]}" ;; esac
}
path_of() { # path_of <suite> <size>: the object's path (miss: the key prefix)
	case $1 in
	range) echo "/range.bin" ;;
	reval) echo "/reval-$2.bin" ;;
	miss) echo "/miss-$2" ;;
	*) echo "/$2.bin" ;;
	esac
}

# wrk Lua scripts.
cat >"$tmp/range.lua" <<'LUA'
-- Random ranges of one object: wrk ... -s range.lua URL -- <object bytes> <range bytes>
local size, len
function init(args)
	size = tonumber(args[1]); len = tonumber(args[2])
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end
function request()
	local first = math.random(0, size - len)
	return wrk.format(nil, nil, { ["Range"] = "bytes=" .. first .. "-" .. (first + len - 1) })
end
LUA
cat >"$tmp/miss.lua" <<'LUA'
-- A new key per request: wrk ... -s miss.lua URL -- <first key number> <threads>
-- Requests <path>-<n>.bin, n = first + thread index + k * threads. n, step
-- and prefix are globals: done() reads each thread's n with thread:get.
local counter = 1
local threads = {}
function setup(thread)
	thread:set("idx", counter - 1)
	counter = counter + 1
	table.insert(threads, thread)
end
function init(args)
	step = tonumber(args[2]); n = tonumber(args[1]) + idx
	prefix = wrk.path
end
function request()
	local p = prefix .. "-" .. n .. ".bin"
	n = n + step
	return wrk.format(nil, p)
end
function done()
	local hi = 0
	for _, t in ipairs(threads) do
		local v = t:get("n")
		if v and v > hi then hi = v end
	end
	io.write("miss keys: next ", hi, "\n")
end
LUA

# --- checks ------------------------------------------------------------------------

hdr() { tr -d '\r' <"$1" | awk -F': *' -v h="$2" 'tolower($1) == tolower(h) { print $2 }'; }
declare -A CHECK_NOTE # "<suite>|<server>" -> what the check saw (Cache-Status etc.)
# fetch <url> <out> [curl args]: GET into $tmp/<out>.body/.hdr; prints status.
fetch() {
	local url=$1 out=$2
	shift 2
	curl -sS -k -o "$tmp/$out.body" -D "$tmp/$out.hdr" -w '%{http_code} %{http_version}\n' "$@" "$url" || echo "000 0"
}
# check_cache <suite> <server> <url> <want file> [curl args]: GETs until the
# server says its cache answered (at most 20 times), then checks status,
# length and bytes; records the cache header.
check_one() {
	local suite=$1 name=$2 url=$3 want=$4
	shift 4
	local code ver cs i n kind=${SRV_KIND[$name]} hit=""
	n="$(stat -c %s "$want")"
	for i in $(seq 20); do
		read -r code ver < <(fetch "$url" chk "$@")
		[[ $code == 200 || $code == 206 ]] || die "check $suite $name: GET $url: status $code; $(head -c 300 "$tmp/chk.body")"
		case $kind in
		r2gate) cs="$(hdr "$tmp/chk.hdr" Cache-Status)" ;;
		nginx) cs="$(hdr "$tmp/chk.hdr" X-Cache-Status)" ;;
		varnish) cs="$(hdr "$tmp/chk.hdr" X-Cache)" ;;
		*) cs="" ;;
		esac
		case "$suite|$kind" in
		reval\|r2gate) [[ $cs == *fwd-status=304* ]] && hit=1 ;;
		miss\|*) hit=1 ;;
		*\|r2gate)
			# r2gate-mem must answer from memory, r2gate-disk from disk.
			case $name in
			r2gate-mem) [[ $cs == *"; hit"*detail=memory* ]] && hit=1 ;;
			r2gate-disk) [[ $cs == *"; hit"*detail=disk* ]] && hit=1 ;;
			*) [[ $cs == *"; hit"* ]] && hit=1 ;;
			esac
			;;
		*\|nginx | *\|varnish) [[ $cs == HIT ]] && hit=1 ;;
		*) hit=1 ;;
		esac
		[[ -n $hit ]] && break
		sleep 0.2
	done
	[[ -n $hit ]] || die "check $suite $name: GET $url: no cache hit after 20 requests (last: '$cs')"
	cmp -s "$tmp/chk.body" "$want" || die "check $suite $name: GET $url: $(wc -c <"$tmp/chk.body") bytes that differ from $want"
	[[ "$(hdr "$tmp/chk.hdr" Content-Length)" == "$n" ]] ||
		die "check $suite $name: GET $url: Content-Length '$(hdr "$tmp/chk.hdr" Content-Length)', want $n"
	if [[ $suite == h2 && $ver != 2 ]]; then
		die "check $suite $name: GET $url: HTTP version $ver, want 2"
	fi
	if [[ $suite == tls && $ver != 1.1 ]]; then
		die "check $suite $name: GET $url: HTTP version $ver, want 1.1"
	fi
	echo "$cs"
}

log "checking every server: status, Content-Length, bytes, cache hits ..."
for suite in $SUITES; do
	[[ $suite == resize ]] && continue
	for name in $(servers_of "$suite"); do
		notes=""
		for s in $(sizes_of "$suite"); do
			base="$(base_of "$suite" "$name")"
			case $suite in
			h2) args=(--http2) ;;
			tls) args=(--http1.1) ;;
			*) args=() ;;
			esac
			case $suite in
			range)
				cs="$(check_one "$suite" "$name" "$base/range.bin" "$tmp/www/range.bin")"
				first=$((range_bytes / 3))
				dd if="$tmp/www/range.bin" of="$tmp/range-want" iflag=skip_bytes,count_bytes skip="$first" count="$range_len" status=none
				read -r code _ < <(fetch "$base/range.bin" rng -H "Range: bytes=$first-$((first + range_len - 1))")
				[[ $code == 206 ]] || die "check range $name: status $code for a Range request, want 206"
				cmp -s "$tmp/rng.body" "$tmp/range-want" || die "check range $name: the range's bytes differ"
				;;
			miss)
				ln -f "$tmp/s3/$BUCKET/miss-$s.bin" "$tmp/s3/$BUCKET/miss-$s-check-$name.bin"
				cs="$(check_one "$suite" "$name" "$base/miss-$s-check-$name.bin" "$tmp/www/$s.bin")"
				;;
			*)
				cs="$(check_one "$suite" "$name" "$base$(path_of "$suite" "$s")" "$tmp/www/$s.bin" "${args[@]}")"
				;;
			esac
			[[ -n $cs ]] && notes+="${notes:+; }$s: $cs"
		done
		CHECK_NOTE[$suite|$name]="${notes:-200, same bytes}"
		log "  $suite $name: ok${notes:+ ($notes)}"
	done
done

# --- measuring -------------------------------------------------------------------

clk_tck="$(getconf CLK_TCK)"
declare -A RPS P50 P99 ERRS HWM CPU_US TIERS
mkdir -p "$tmp/out"
flags=()

# run_tool <suite> <url> <conns> <seconds> <out>: one wrk or h2load run.
run_tool() {
	local suite=$1 url=$2 c=$3 d=$4 out=$5 lua=() path
	# h2load -D waits for the requests in flight when the time is up: a
	# server that stalls would hang the suite, hence the timeout.
	case $suite in
	h2)
		timeout -k 5 $((d * 3 + 30)) h2load -c "$c" -t "$THREADS" -m "$H2_STREAMS" -D "$d" --log-file="$out.log" "$url" >"$out" 2>&1
		return
		;;
	range) lua=(-s "$tmp/range.lua") ;;
	miss) lua=(-s "$tmp/miss.lua") ;;
	esac
	if [[ $suite == miss ]]; then
		make_miss_keys $((miss_next + 10000 * d + 1000))
		wrk -t "$THREADS" -c "$c" -d "${d}s" --latency "${lua[@]}" "$url" -- "$miss_next" "$THREADS" >"$out" 2>&1 || return 1
		path="$(awk '/^miss keys: next/ { print $4 }' "$out")"
		[[ -n $path ]] || return 1
		miss_next=$path
		((miss_next <= miss_made)) || flags+=("$(basename "$out"): ran past the miss keys made ($miss_made)")
		return 0
	fi
	if [[ $suite == range ]]; then
		wrk -t "$THREADS" -c "$c" -d "${d}s" --latency "${lua[@]}" "$url" -- "$range_bytes" "$range_len" >"$out" 2>&1
		return
	fi
	wrk -t "$THREADS" -c "$c" -d "${d}s" --latency "$url" >"$out" 2>&1
}

# parse <suite> <out>: prints "rps p50ms p99ms errors requests".
parse() {
	local suite=$1 out=$2
	if [[ $suite == h2 ]]; then
		local rps req ok bad p50 p99
		rps="$(awk '/^finished in/ { gsub(/,/, ""); print $4 }' "$out")"
		read -r req ok bad < <(awk '/^requests:/ { print $2, $8, $10 + $12 + $14 }' "$out")
		local non2xx
		non2xx="$(awk '/^status codes:/ { print $5 + $7 + $9 }' "$out")"
		read -r p50 p99 < <(awk -F'\t' 'NF >= 3 { print $3 }' "$out.log" | sort -n |
			awk '{ v[NR] = $1 } END { if (NR == 0) print "nan nan"; else printf "%.3f %.3f\n", v[int(NR * 0.5) + (NR * 0.5 > int(NR * 0.5))] / 1000, v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))] / 1000 }')
		echo "${rps:-nan} $p50 $p99 $((bad + non2xx)) ${ok:-0}"
		return
	fi
	local rps p50 p99 errs req
	rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
	p50="$(awk '$1 == "50%" { print $2 }' "$out")"
	p99="$(awk '$1 == "99%" { print $2 }' "$out")"
	errs="$(awk '/Non-2xx or 3xx responses:/ { e += $NF } /Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 } END { print e + 0 }' "$out")"
	req="$(awk '/ requests in / { print $1 }' "$out")"
	echo "${rps:-nan} $(to_ms "${p50:-x}") $(to_ms "${p99:-x}") $errs ${req:-0}"
}

groups=() # "suite|size|conns"
for suite in $SUITES; do
	[[ $suite == resize ]] && continue
	for s in $(sizes_of "$suite"); do
		for c in $CONNS; do
			groups+=("$suite|$s|$c")
		done
	done
done
total=0
for g in "${groups[@]}"; do
	read -ra ss <<<"$(servers_of "${g%%|*}")"
	total=$((total + ${#ss[@]} * ROUNDS))
done

wait_quiet "$LOAD_MAX" "$LOAD_WAIT"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
t_start="$(date -u '+%H:%M:%S')"
log "$total measured runs of ${DURATION}s (+ ${WARMUP}s warm-up each); load average $load_before"
n=0
for ((r = 0; r < ROUNDS; r++)); do
	for g in "${groups[@]}"; do
		IFS='|' read -r suite s c <<<"$g"
		read -ra ss <<<"$(servers_of "$suite")"
		k=${#ss[@]}
		for ((i = 0; i < k; i++)); do
			name=${ss[$(((i + r) % k))]}
			url="$(base_of "$suite" "$name")$(path_of "$suite" "$s")"
			out="$tmp/out/$suite-$s-$c-$name-$((r + 1)).txt"
			pid=${SRV_PID[$name]}
			n=$((n + 1))
			if ((WARMUP > 0)) && ! run_tool "$suite" "$url" "$c" "$WARMUP" "$tmp/out/warmup.txt"; then
				flags+=("round $((r + 1)) $suite $s c=$c $name: the warm-up failed or timed out, not measured: $(tail -2 "$tmp/out/warmup.txt" | tr '\n' ' ')")
				log "[$n/$total] $suite $s c=$c $name: the warm-up failed or timed out; skipped"
				continue
			fi
			if [[ ${SRV_KIND[$name]} == r2gate ]]; then
				curl -sS --max-time 5 "${SRV_ADMIN[$name]}/metrics" >"$tmp/m0.txt" || die "cannot read $name's metrics"
			fi
			tree_reset_hwm "$pid" || true
			t0="$(tree_ticks "$pid")"
			if ! run_tool "$suite" "$url" "$c" "$DURATION" "$out"; then
				flags+=("round $((r + 1)) $suite $s c=$c $name: the run failed or timed out, not counted: $(tail -2 "$out" | tr '\n' ' ')")
				log "[$n/$total] $suite $s c=$c $name: the run failed or timed out"
				continue
			fi
			t1="$(tree_ticks "$pid")"
			hwm="$(tree_hwm_kib "$pid")"
			read -r rps p50 p99 errs req < <(parse "$suite" "$out")
			key="$g|$name"
			if [[ $rps == nan || ${req:-0} == 0 ]]; then
				# Nothing completed (e.g. 256 connections each waiting for
				# 1 MiB over TLS on a busy machine in a short run): a 0 row
				# and a flag, not the end of the suite.
				flags+=("round $((r + 1)) $suite $s c=$c $name: no request completed in ${DURATION}s: $(grep -E 'requests in|read|finished' "$out" | tr -s ' \n' ' ')")
				log "[$n/$total] $suite $s c=$c $name: no request completed"
				RPS[$key]+="0 "
				ERRS[$key]+="0 "
				HWM[$key]+="$hwm "
				continue
			fi
			RPS[$key]+="$rps "
			P50[$key]+="$p50 "
			P99[$key]+="$p99 "
			ERRS[$key]+="$errs "
			HWM[$key]+="$hwm "
			CPU_US[$key]+="$(awk -v t="$((t1 - t0))" -v hz="$clk_tck" -v n="$req" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }') "
			if [[ ${SRV_KIND[$name]} == r2gate ]]; then
				curl -sS --max-time 5 "${SRV_ADMIN[$name]}/metrics" >"$tmp/m1.txt" || die "cannot read $name's metrics"
				tiers="$(metric_growth "$tmp/m0.txt" "$tmp/m1.txt" r2gate_requests_total tier outcome)"
				breqs="$(metric_growth "$tmp/m0.txt" "$tmp/m1.txt" r2gate_bucket_requests_total op result)"
				TIERS[$key]+="${TIERS[$key]:+ / }$tiers; bucket: $breqs"
				want=""
				case "$suite|$name" in
				reval\|*) want=revalidated ;;
				miss\|*) want=miss ;;
				*\|r2gate-mem) want=memory/hit ;;
				*\|r2gate-disk) want=disk/hit ;;
				esac
				if [[ -n $want && $tiers != *"$want"* ]]; then
					flags+=("round $((r + 1)) $suite $s c=$c $name: expected $want, r2gate_requests_total grew by: $tiers; bucket requests: $breqs")
				elif [[ $want == */hit && ($tiers == *,* || $breqs != none) ]]; then
					flags+=("round $((r + 1)) $suite $s c=$c $name: not only ${want}s: $tiers; bucket requests: $breqs")
				fi
			fi
			((errs == 0)) || flags+=("round $((r + 1)) $suite $s c=$c $name: $errs errors (non-2xx or socket errors)")
			log "$(printf '[%3d/%d] r%d %-5s %-5s c=%-3s %-20s %10.0f req/s p50 %7.2f p99 %7.2f ms  %s errors' \
				"$n" "$total" $((r + 1)) "$suite" "$s" "$c" "$name" "$rps" "$p50" "$p99" "$errs")"
		done
	done
done
load_after_runs="$(cut -d' ' -f1-3 /proc/loadavg)"
t_end="$(date -u '+%H:%M:%S')"

# --- resize -------------------------------------------------------------------------

resize_rows=()
resize_notes=()
if has_suite resize; then
	mkdir -p "$tmp/resize"
	log "resize suite: bench/resize.sh and bench/variant-hit.sh (small settings) ..."
	if ROUNDS="$ROUNDS" WIDTHS=400 SOURCES=big-baseline.jpg FORMATS=jpeg PHONE=0 PREV=0 W1=0 STD=0 \
		LOAD_WAIT=0 RESULTS_DIR="$tmp/resize" bench/resize.sh >"$tmp/resize/resize.out" 2>&1; then
		rz="$(ls "$tmp"/resize/resize-*.md | grep -v runs | sed -n 1p)"
		# | source | w | out | tool | wall s | peak RSS MiB | × vips time | × vips RSS | CPU s | × vips CPU | ...
		while IFS='|' read -r _ src w f tool wall rss xt xr cpu xc _; do
			tool="$(xargs <<<"$tool")"
			[[ $tool == vips || $tool == r2gate ]] || continue
			resize_rows+=("| first variant, $(xargs <<<"$src") w=$(xargs <<<"$w") $(xargs <<<"$f") | $([[ $tool == vips ]] && echo 'vips thumbnail' || echo 'r2gate resize (bench/resizebench)') | $(awk -v s="$wall" 'BEGIN { printf "%.0f", s * 1000 }') ms | $(xargs <<<"$rss") | $(awk -v s="$cpu" 'BEGIN { printf "%.0f", s * 1000 }') ms CPU | $(xargs <<<"$xt") × vips time |")
		done < <(grep '^| big-baseline' "$rz")
		resize_notes+=("resize.sh: $(sed -n 3,5p "$rz" | tr '\n' ' ')")
	else
		flags+=("bench/resize.sh failed: $(tail -3 "$tmp/resize/resize.out" | tr '\n' ' ')")
	fi
	if CADDY_BIN="$CADDY_BIN" ROUNDS="$ROUNDS" DURATION="${DURATION}s" WARMUP="${WARMUP}s" LOAD_WAIT=0 \
		RESULTS_DIR="$tmp/resize" bench/variant-hit.sh >"$tmp/resize/variant-hit.out" 2>&1; then
		vh="$(ls "$tmp"/resize/variant-hit-*.md | sed -n 1p)"
		vmade="$(grep -o 'made in [0-9]* ms by the first GET' "$vh" | grep -o '[0-9]*' | sed -n 1p)"
		vrow="$(grep '^| variant' "$vh")"
		orow="$(grep '^| object' "$vh")"
		ratio="$(grep -o 'Variant hit / object hit: [0-9.]*' "$vh" | awk '{ print $NF }')"
		resize_rows+=("| first variant through Caddy (GET /photo.jpg?w=400, bucket source) | r2gate | ${vmade:-?} ms | — | — | — |")
		resize_rows+=("| variant hit, memory tier | r2gate | $(awk -F'|' '{ gsub(/ /, "", $3); print $3 }' <<<"$vrow") req/s | p50 $(awk -F'|' '{ gsub(/ /, "", $5); print $5 }' <<<"$vrow") ms | $(awk -F'|' '{ gsub(/ /, "", $8); print $8 }' <<<"$vrow") µs/req | ${ratio:-?} × object hit |")
		resize_rows+=("| object hit of the same bytes | r2gate | $(awk -F'|' '{ gsub(/ /, "", $3); print $3 }' <<<"$orow") req/s | p50 $(awk -F'|' '{ gsub(/ /, "", $5); print $5 }' <<<"$orow") ms | $(awk -F'|' '{ gsub(/ /, "", $8); print $8 }' <<<"$orow") µs/req | 1.00 |")
	else
		flags+=("bench/variant-hit.sh failed: $(tail -3 "$tmp/resize/variant-hit.out" | tr '\n' ' ')")
	fi
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table -----------------------------------------------------------------------

stamp="$(date -u +%Y-%m-%d-%H%M)"
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "—" }'; }

report() {
	local g suite s c name key rps ng fl
	echo "# bench/run.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "**Machine:** $(nproc) vCPUs ($cpu_model), $(uname -sr), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM."
	echo "**Shared machine:** other agents' builds and tests ran on the same cores, and the load generator shares them with the servers: absolute figures are noise, compare ratios of rows measured in the same group."
	echo "Load average (1, 5, 15 min): $load_before before the runs ($t_start UTC), $load_after_runs after them ($t_end UTC), $load_after at the end. $load_note."
	echo "Software: Caddy $("$CADDY_BIN" version | awk '{ print $1 }') ($caddy_note); $(go version | awk '{ print $3 }'); $(nginx -v 2>&1 | sed 's/^nginx version: //'); $(varnishd -V 2>&1 | sed -n 1p | awk '{ print $2 }' | tr -d '()'); versitygw $("$VERSITYGW" --version 2>/dev/null | awk -F': *' '/^Version/ { print $2; exit }'); $(wrk -v 2>&1 | sed -n 1p | awk '{ print $1, $2 }'); $(h2load --version 2>/dev/null | sed -n 1p)."
	echo "Settings: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP SIZES=\"$SIZES\" CONNS=\"$CONNS\" SUITES=\"$SUITES\" THREADS=$THREADS H2_STREAMS=$H2_STREAMS RANGE_SIZE=$RANGE_SIZE RANGE_LEN=$RANGE_LEN. Each row: the median of $ROUNDS round(s) (servers interleaved, order rotating per round); peak RSS the largest."
	echo
	echo "| suite | size | conns | server | req/s | p50 ms | p99 ms | peak RSS MiB | CPU µs/req | × nginx | × floor | errors |"
	echo "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|"
	for g in "${groups[@]}"; do
		IFS='|' read -r suite s c <<<"$g"
		ng="$(median <<<"${RPS[$g|nginx]:-}")"
		fl="$(median <<<"${RPS[$g|floor]:-}")"
		for name in $(servers_of "$suite"); do
			key="$g|$name"
			if [[ -z ${RPS[$key]:-} ]]; then
				printf '| %s | %s | %s | %s | — | — | — | — | — | — | — | not measured (see flags) |\n' "$suite" "$s" "$c" "$name"
				continue
			fi
			rps="$(median <<<"${RPS[$key]}")"
			printf '| %s | %s | %s | %s | %.0f | %.2f | %.2f | %s | %.1f | %s | %s | %s |\n' \
				"$suite" "$s" "$c" "$name" "$rps" "$(median <<<"${P50[$key]}")" "$(median <<<"${P99[$key]}")" \
				"$(mib "$(maxof <<<"${HWM[$key]}")")" "$(median <<<"${CPU_US[$key]}")" \
				"$(ratio "$rps" "$ng")" "$(ratio "$rps" "$fl")" \
				"$(tr ' ' '\n' <<<"${ERRS[$key]}" | awk '{ s += $1 } END { print s + 0 }')"
		done
	done
	echo
	echo "Columns: req/s, p50, p99 from wrk (h2: h2load, percentiles from its per-request log); peak RSS: VmHWM of the server's processes (summed over nginx's master and workers and Varnish's manager and child), reset before each run; CPU µs/req: the server processes' utime + stime (/proc/<pid>/stat) during the run over the requests completed; × nginx, × floor: req/s over nginx's and the floor handler's in the same suite, size and connection count; errors: non-2xx responses and socket errors, summed over the rounds."
	if ((${#resize_rows[@]})); then
		echo
		echo "Resizing (bench/resize.sh: big-baseline.jpg, 17.9 MP, to w=400 JPEG q85, each resize its own process; bench/variant-hit.sh: the same photo through Caddy, $ROUNDS round(s)):"
		echo
		echo "| what | tool | time or req/s | peak RSS MiB / p50 | CPU | ratio |"
		echo "|---|---|--:|--:|--:|--:|"
		printf '%s\n' "${resize_rows[@]}"
		((${#resize_notes[@]})) && printf '\n%s\n' "${resize_notes[@]}"
	fi
	echo
	if ((${#flags[@]})); then
		echo "Flags:"
		printf -- '- %s\n' "${flags[@]}"
	else
		echo "No flags: every measured run had 0 errors; r2gate-mem's hit rows were memory hits only, r2gate-disk's disk hits only, with no bucket request (r2gate's metrics around every run)."
	fi
	echo
	echo "Checks before measuring (200, Content-Length, identical bytes; h2 rows answered over HTTP/2):"
	for suite in $SUITES; do
		[[ $suite == resize ]] && continue
		for name in $(servers_of "$suite"); do
			echo "- $suite $name: ${CHECK_NOTE[$suite|$name]}"
		done
	done
	echo
	echo "r2gate tiers per run (r2gate_requests_total tier/outcome growth; bucket requests op/result):"
	for g in "${groups[@]}"; do
		IFS='|' read -r suite s c <<<"$g"
		for name in $(servers_of "$suite"); do
			[[ -n ${TIERS[$g|$name]:-} ]] && echo "- $suite $s c=$c $name: ${TIERS[$g|$name]}"
		done
	done
	echo
	echo "Servers:"
	for name in r2gate-mem r2gate-disk r2gate-miss floor file_server file_server_sendfile respond nginx varnish versitygw; do
		[[ -n ${SRV_PID[$name]:-} ]] && echo "- \`$name\`: ${SRV_NOTE[$name]}"
	done
	echo
	echo "<details><summary>Configurations</summary>"
	echo
	for f in "$tmp"/caddy/*.caddyfile; do
		echo "\`$(basename "$f")\` (imports a file of bench/sites/, or the generated respond site):"
		echo '```'
		cat "$f"
		echo '```'
	done
	if [[ -f $tmp/nginx/nginx.conf ]]; then
		echo "nginx.conf:"
		echo '```'
		sed "s#$tmp#\$TMP#g" "$tmp/nginx/nginx.conf"
		echo '```'
	fi
	if [[ -f $tmp/varnish.vcl ]]; then
		echo "Varnish: \`varnishd -F -j none -T none -a 127.0.0.1:<port> -f default.vcl -s malloc,2G\`, default.vcl:"
		echo '```'
		cat "$tmp/varnish.vcl"
		echo '```'
	fi
	echo
	echo "</details>"
}

mkdir -p "$RESULTS_DIR"
result="$RESULTS_DIR/run-$stamp.md"
report | sed "s#$tmp#\$TMP#g" >"$result"
"$tmp/bin/chart" -in "$result" -out "${result%.md}" || flags+=("bench/chart failed")
echo
cat "$result"
echo
echo "written to $result and the charts $(ls "${result%.md}"-*.png 2>/dev/null | tr '\n' ' ')"
