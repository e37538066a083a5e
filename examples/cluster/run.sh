#!/usr/bin/env bash
# run.sh: an r2gate cluster on loopback to try out: three nodes
# (node.Caddyfile) and the front (front.Caddyfile) over one bucket.
#
#   examples/cluster/run.sh            start everything, print what to try,
#                                      stop everything on Ctrl-C
#   examples/cluster/run.sh --check    start, check that the front answers
#                                      from all three nodes and that a purge
#                                      at n1 reaches them, stop (exit 1 if not)
#
# The bucket: with R2_BUCKET set, your R2 bucket (R2_ACCOUNT_ID or
# R2_ENDPOINT, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY, as for
# Caddyfile.example); else a versitygw on a free port holding a copy of
# examples/bucket/ (install: see bench/lib.sh's require_versitygw).
#
# Ports (loopback): the front on PORT_BASE (default 8080), the nodes on
# PORT_BASE+1..3, the admin APIs of the front and the nodes on
# PORT_BASE+10..13. The nodes' disk tiers live in .cache/cluster/n1..n3 and
# are kept between runs. The Caddy binary is $CADDY_BIN, else ./caddy (built
# with ./xcaddy.sh when missing).
set -euo pipefail

BENCH_NAME=cluster
# shellcheck source=../../bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../bench/lib.sh"

check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

PORT_BASE="${PORT_BASE:-8080}"
state="$repo/.cache/cluster"
mkdir -p "$state"
ensure_caddy
caddy="${CADDY_BIN:-$repo/caddy}"
require_curl
bench_tmp cluster
secret="${R2GATE_PURGE_SECRET:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"

if [[ -n ${R2_BUCKET:-} ]]; then
	log "bucket: R2_BUCKET=$R2_BUCKET"
	bucket_env=()
else
	require_versitygw
	start_versitygw
	s3_create_bucket "$BUCKET"
	while IFS= read -r -d '' f; do
		key="${f#examples/bucket/}"
		s3 -o /dev/null -X PUT --data-binary "@$f" "$s3url/$BUCKET/$key"
	done < <(find examples/bucket -type f -not -path '*/.r2gate-meta/*' -not -name '*\?*' -print0)
	log "bucket: versitygw at $s3url holding examples/bucket/ as $BUCKET"
	bucket_env=(R2_BUCKET="$BUCKET" R2_ENDPOINT="$s3url" R2_ACCOUNT_ID=
		R2_ACCESS_KEY_ID="$KEY" R2_SECRET_ACCESS_KEY="$SECRET")
fi

nodes=()
for i in 1 2 3; do
	nodes+=("127.0.0.1:$((PORT_BASE + i))")
done
for i in 1 2 3; do
	peers=()
	for j in 1 2 3; do
		[[ $j == "$i" ]] || peers+=("http://${nodes[j - 1]}/_r2gate/purge")
	done
	envfile="$state/n$i.env"
	vars=("R2GATE_NODE_NAME=n$i" "R2GATE_NODE_ADMIN=127.0.0.1:$((PORT_BASE + 10 + i))"
		"R2GATE_NODE_ADDR=http://${nodes[i - 1]}" "R2GATE_MEMORY=${R2GATE_MEMORY:-64MiB}"
		"R2GATE_DISK=$state/n$i" "R2GATE_DISK_SIZE=${R2GATE_DISK_SIZE:-1GiB}"
		"R2GATE_PEERS=${peers[*]}" "R2GATE_PURGE_SECRET=$secret"
		"XDG_CONFIG_HOME=$state/n$i-xdg" "XDG_DATA_HOME=$state/n$i-xdg" "${bucket_env[@]}")
	for v in "${vars[@]}"; do
		printf '%s=%q\n' "${v%%=*}" "${v#*=}"
	done >"$envfile"
	chmod 600 "$envfile"
	(
		set -a
		# shellcheck disable=SC1090
		. "$envfile"
		exec "$caddy" run --config examples/cluster/node.Caddyfile --adapter caddyfile
	) >"$tmp/n$i.log" 2>&1 &
	pids+=($!)
	echo $! >"$state/n$i.pid"
	wait_http "http://${nodes[i - 1]}/_health" "n$i"
done

R2GATE_FRONT_ADMIN="127.0.0.1:$((PORT_BASE + 10))" R2GATE_FRONT_ADDR="http://127.0.0.1:$PORT_BASE" \
	R2GATE_NODES="${nodes[*]}" XDG_CONFIG_HOME="$tmp/front/config" XDG_DATA_HOME="$tmp/front/data" \
	"$caddy" run --config examples/cluster/front.Caddyfile --adapter caddyfile >"$tmp/front.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$PORT_BASE/_health" front
front="http://127.0.0.1:$PORT_BASE"

if $check; then
	# Twenty keys nobody has: each 404 says which node answered.
	declare -A seen=()
	for i in $(seq 20); do
		node="$(curl -sS -o /dev/null -D - "$front/check-$i-$RANDOM" | tr -d '\r' |
			awk 'tolower($1) == "x-r2gate-node:" { print $2 }')"
		[[ -n $node ]] && seen[$node]=1
	done
	log "nodes that answered through the front: ${!seen[*]}"
	[[ ${#seen[@]} == 3 ]] || die "want all three nodes to answer; logs in $tmp"
	# A purge at n1 reaches the node that holds index.html.
	status() { curl -sS -f -o /dev/null -D - "$front/index.html" | tr -d '\r' | awk 'tolower($1) == "cache-status:" { $1 = ""; print }'; }
	status >/dev/null || die "GET /index.html through the front failed"
	sleep 0.2
	[[ $(status) == *"; hit"* ]] || die "index.html is not cached after two GETs"
	curl -sS -f -o /dev/null -X POST "127.0.0.1:$((PORT_BASE + 11))/r2gate/purge" -d '{"keys":["index.html"]}'
	sleep 0.5
	[[ $(status) != *"; hit"* ]] || die "index.html is still cached after a purge at n1"
	log "a purge at n1 reached the node holding index.html"
	curl -sS -f -o /dev/null "$front/images/hills.jpg?w=400" || die "GET /images/hills.jpg?w=400 through the front failed"
	log "check passed"
	exit 0
fi

cat <<EOF

The front:   $front/            (index.html, hello.txt, images/hills.jpg?w=400)
The nodes:   http://${nodes[0]}  http://${nodes[1]}  http://${nodes[2]}
             (X-R2gate-Node says which one answered; Cache-Status how)
Admin APIs:  front 127.0.0.1:$((PORT_BASE + 10)), nodes 127.0.0.1:$((PORT_BASE + 11))..$((PORT_BASE + 13))

Try:
  curl -sI $front/index.html | grep -i -e x-r2gate-node -e cache-status
  curl -s 127.0.0.1:$((PORT_BASE + 11))/metrics | grep '^r2gate_requests_total'
  curl -X POST 127.0.0.1:$((PORT_BASE + 11))/r2gate/purge -d '{"keys":["index.html"]}'   # reaches every node
  kill -9 \$(cat $state/n2.pid)      # the front re-homes n2's keys only
  (set -a; . $state/n2.env; exec $caddy run --config examples/cluster/node.Caddyfile)   # n2 rejoins, disk warm

Ctrl-C stops everything (logs: $tmp).
EOF
wait
