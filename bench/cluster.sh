#!/usr/bin/env bash
# cluster.sh: the fleet's hit ratio. Three r2gate nodes of 64 MiB memory
# behind the front of examples/cluster/ (lb_policy uri_hash) against one
# node of 192 MiB behind the same front, on the same Zipf-distributed key
# stream, over one versitygw bucket:
#
#   bench/cluster.sh
#
# For each configuration: a warm-up stream (seed 1), then the measured
# stream (seed 2), both of REQUESTS requests over OBJECTS objects of 10-500
# KiB (uniform sizes), Zipf exponent ZIPF_S, CONC requests at once
# (bench/clusterbench). The hit ratio is read from the nodes' own metrics
# (r2gate_requests_total: hits over all answers; the byte hit ratio from
# r2gate_served_bytes_total), the bucket's load from
# r2gate_bucket_requests_total{op="get"}. Only memory tiers (no disk tier),
# so the comparison is of the fleet's memory against one node's.
#
# Settings (environment):
#   OBJECTS    objects in the bucket            [2000]
#   REQUESTS   requests per stream              [20000]
#   ZIPF_S     Zipf exponent                    [1.1]
#   CONC       requests at once                 [8]
#   NODE_MIB   memory per node of the fleet     [64]
#   NODES      nodes of the fleet               [3]
#   PURGE_NODES  fleet sizes of the purge fan-out measurement  ["3 10 20"]
#              (empty: skip it)
#   KEEP_LOGS  a folder to copy the purge fleets' node logs into
#   CADDY_BIN  the caddy binary (default ./caddy, built with ./xcaddy.sh
#              when missing); the script runs a copy
#
# The CPU columns are the CPU time (user + system, /proc/PID/stat) the
# nodes and the front spent during the measured stream, per request.
#
# Then the purge fan-out: for each size in PURGE_NODES, that many nodes
# (every node's peers block lists every node), one object cached on all of
# them, purged 5 times at node 1's admin API; the time from the purge to
# each other node's first refetch (clusterbench purge).
#
# Prints one table row per configuration and the difference, and exits 1
# when the fleet's hit ratio is more than 5 points below the single node's.
set -euo pipefail

BENCH_NAME=cluster
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OBJECTS="${OBJECTS:-2000}"
REQUESTS="${REQUESTS:-20000}"
ZIPF_S="${ZIPF_S:-1.1}"
CONC="${CONC:-8}"
NODE_MIB="${NODE_MIB:-64}"
NODES="${NODES:-3}"
PURGE_NODES="${PURGE_NODES-3 10 20}"

ensure_caddy
require_versitygw
require_curl
bench_tmp
cp "${CADDY_BIN:-./caddy}" "$tmp/caddy"
CADDY_BIN="$tmp/caddy"
go build -o "$tmp/clusterbench" ./bench/clusterbench
start_versitygw
s3_create_bucket "$BUCKET"
log "uploading $OBJECTS objects (10-500 KiB)"
R2_ACCESS_KEY_ID="$KEY" R2_SECRET_ACCESS_KEY="$SECRET" \
	"$tmp/clusterbench" upload -endpoint "$s3url" -bucket "$BUCKET" -prefix zipf -n "$OBJECTS" >&2

# port: a loopback port below the ephemeral range (so no outgoing
# connection holds it) that no socket uses now. lib.sh's free_port may pick
# one an outgoing connection holds, and Caddy then fails to bind it.
port() {
	local p _
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		if [[ -z $(ss -Htan "( sport = :$p )") ]] && ! grep -qx "$p" "$tmp/ports" 2>/dev/null; then
			echo "$p" >>"$tmp/ports" # $(port) runs in a subshell: remember in a file
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# node_conf <admin> <port> <memory MiB>: a node with a memory tier only.
node_conf() {
	cat <<EOF
{
	admin 127.0.0.1:$1
	persist_config off
}
http://127.0.0.1:$2 {
	bind 127.0.0.1
	handle /_health {
		respond "ok" 200
	}
	handle {
		r2gate {
			bucket $BUCKET
			endpoint $s3url
			access_key $KEY
			secret_key $SECRET
			cache {
				memory ${3}MiB
			}
		}
	}
}
EOF
}

# metric <admin> <prefix>: the sum of the samples starting with prefix.
metric() {
	curl -sS "http://$1/metrics" | awk -v p="$2" 'index($0, p) == 1 { s += $NF } END { printf "%.0f", s }'
}

# cpu_ticks <pids...>: their CPU time (user + system) in clock ticks.
cpu_ticks() {
	local p sum=0 f
	for p in "$@"; do
		read -r -a f <"/proc/$p/stat"
		sum=$((sum + f[13] + f[14]))
	done
	echo "$sum"
}

# snapshot <admins...>: hits, answers, bytes from the cache, bytes, bucket
# GETs, summed over the nodes, and each node's answers.
snapshot() {
	local a hits=0 all=0 hb=0 ab=0 gets=0 per=()
	for a in "$@"; do
		local h t m d b g
		h=$(metric "$a" 'r2gate_requests_total{outcome="hit"')
		t=$(metric "$a" 'r2gate_requests_total{')
		m=$(metric "$a" 'r2gate_served_bytes_total{tier="memory"}')
		d=$(metric "$a" 'r2gate_served_bytes_total{tier="disk"}')
		b=$(metric "$a" 'r2gate_served_bytes_total{')
		g=$(metric "$a" 'r2gate_bucket_requests_total{op="get"')
		hits=$((hits + h)) all=$((all + t)) hb=$((hb + m + d)) ab=$((ab + b)) gets=$((gets + g))
		per+=("$t")
	done
	echo "$hits $all $hb $ab $gets ${per[*]}"
}

# run_config <label> <nodes> <memory MiB>
run_config() {
	local label=$1 n=$2 mem=$3 i admins=() upstreams=() node_pids=() port admin front_port front_pid
	local start_pids=${#pids[@]}
	for i in $(seq "$n"); do
		port=$(port) admin=$(port)
		node_conf "$admin" "$port" "$mem" >"$tmp/$label-n$i.Caddyfile"
		XDG_CONFIG_HOME="$tmp/xdg" XDG_DATA_HOME="$tmp/xdg" "$CADDY_BIN" run \
			--config "$tmp/$label-n$i.Caddyfile" --adapter caddyfile >"$tmp/$label-n$i.log" 2>&1 &
		pids+=($!) node_pids+=($!)
		wait_http "http://127.0.0.1:$port/_health" "$label-n$i"
		admins+=("127.0.0.1:$admin") upstreams+=("127.0.0.1:$port")
	done
	front_port=$(port)
	R2GATE_FRONT_ADMIN="127.0.0.1:$(port)" R2GATE_FRONT_ADDR="http://127.0.0.1:$front_port" \
		R2GATE_NODES="${upstreams[*]}" XDG_CONFIG_HOME="$tmp/xdg" XDG_DATA_HOME="$tmp/xdg" \
		"$CADDY_BIN" run --config examples/cluster/front.Caddyfile --adapter caddyfile >"$tmp/$label-front.log" 2>&1 &
	pids+=($!) front_pid=$!
	wait_http "http://127.0.0.1:$front_port/_health" "$label-front"
	local front="http://127.0.0.1:$front_port"

	log "$label: warm-up stream"
	"$tmp/clusterbench" load -base "$front" -prefix zipf -n "$OBJECTS" -requests "$REQUESTS" -s "$ZIPF_S" -seed 1 -c "$CONC" >/dev/null
	local s0 s1 out
	read -r -a s0 <<<"$(snapshot "${admins[@]}")"
	local c0n c0f c1n c1f hz
	hz=$(getconf CLK_TCK)
	c0n=$(cpu_ticks "${node_pids[@]}") c0f=$(cpu_ticks "$front_pid")
	log "$label: measured stream"
	out=$("$tmp/clusterbench" load -base "$front" -prefix zipf -n "$OBJECTS" -requests "$REQUESTS" -s "$ZIPF_S" -seed 2 -after 1 -c "$CONC")
	c1n=$(cpu_ticks "${node_pids[@]}") c1f=$(cpu_ticks "$front_pid")
	read -r -a s1 <<<"$(snapshot "${admins[@]}")"
	local secs rps errs ideal
	secs=$(sed 's/.*seconds=\([^ ]*\).*/\1/' <<<"$out")
	rps=$(sed 's/.*rps=\([^ ]*\).*/\1/' <<<"$out")
	errs=$(sed 's/.*errors=\([^ ]*\).*/\1/' <<<"$out")
	ideal=$(sed 's/.*ideal_hit=\([^ ]*\).*/\1/' <<<"$out")
	local per="" j
	for ((j = 5; j < 5 + n; j++)); do
		per+="$((s1[j] - s0[j])) "
	done
	awk -v label="$label" -v n="$n" -v mem="$mem" -v h="$((s1[0] - s0[0]))" -v t="$((s1[1] - s0[1]))" \
		-v hb="$((s1[2] - s0[2]))" -v ab="$((s1[3] - s0[3]))" -v g="$((s1[4] - s0[4]))" \
		-v secs="$secs" -v rps="$rps" -v errs="$errs" -v ideal="$ideal" -v per="$per" \
		-v cn="$(((c1n - c0n) * 1000 / hz))" -v cf="$(((c1f - c0f) * 1000 / hz))" -v req="$REQUESTS" 'BEGIN {
		printf "| %s | %d × %d MiB | %.4f | %.4f | %.4f | %.0f | %.0f | %.1f | %s| %.2f | %.2f | %d |\n",
			label, n, mem, h / t, hb / ab, ideal, rps, rps / n, g / secs, per, cn / req, cf / req, errs
	}' | tee -a "$tmp/rows"
	echo "$label $(awk -v h="$((s1[0] - s0[0]))" -v t="$((s1[1] - s0[1]))" 'BEGIN { printf "%.6f", h / t }')" >>"$tmp/ratios"

	for ((j = start_pids; j < ${#pids[@]}; j++)); do
		kill "${pids[j]}" 2>/dev/null || true
		wait "${pids[j]}" 2>/dev/null || true
	done
	pids=("${pids[@]:0:start_pids}")
}

echo "cluster.sh $(date -u '+%Y-%m-%d %H:%M UTC'), HEAD $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$OBJECTS objects of 10-500 KiB, Zipf s=$ZIPF_S, $REQUESTS requests warm-up + $REQUESTS measured, $CONC at once, memory tiers only"
echo
echo "| config | memory | hit ratio | byte hit ratio | ideal (all cached) | req/s front | req/s per node | bucket GET/s | answers per node | node CPU ms/req | front CPU ms/req | errors |"
echo "|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|"
run_config fleet "$NODES" "$NODE_MIB"
run_config single 1 "$((NODES * NODE_MIB))"

# purge_fleet <n>: n nodes that are each other's peers; times purges at n1.
purge_fleet() {
	local n=$1 i ports=() admins=() urls=() bases=() start_pids=${#pids[@]} j
	for i in $(seq "$n"); do
		ports+=("$(port)") admins+=("$(port)")
		urls+=("http://127.0.0.1:${ports[i - 1]}/_r2gate/purge") bases+=("http://127.0.0.1:${ports[i - 1]}")
	done
	for i in $(seq "$n"); do
		cat >"$tmp/purge-n$i.Caddyfile" <<EOF
{
	admin 127.0.0.1:${admins[i - 1]}
	persist_config off
	r2gate {
		peers {
			to ${urls[*]}
			secret bench-purge-secret
		}
	}
}
http://127.0.0.1:${ports[i - 1]} {
	bind 127.0.0.1
	handle /_health {
		respond "ok" 200
	}
	handle /_r2gate/purge {
		r2gate_purge {
			secret bench-purge-secret
		}
	}
	handle {
		r2gate {
			bucket $BUCKET
			endpoint $s3url
			access_key $KEY
			secret_key $SECRET
			cache {
				memory 8MiB
			}
		}
	}
}
EOF
		XDG_CONFIG_HOME="$tmp/xdg" XDG_DATA_HOME="$tmp/xdg" "$CADDY_BIN" run \
			--config "$tmp/purge-n$i.Caddyfile" --adapter caddyfile >"$tmp/purge-n$i.log" 2>&1 &
		pids+=($!)
	done
	for i in $(seq "$n"); do
		wait_http "${bases[i - 1]}/_health" "purge-n$i"
	done
	"$tmp/clusterbench" purge -admin "127.0.0.1:${admins[0]}" -self "${bases[0]}" -key purge/one.txt -rounds 5 "${bases[@]}" |
		awk -v errs="$(metric "127.0.0.1:${admins[0]}" r2gate_purge_peer_errors_total)" '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			printf "| %d | %d | %s | %s | %s | %d |\n", v["nodes"], v["rounds"], v["answer_ms"], v["p50_ms"], v["max_ms"], errs
		}'
	if [[ -n ${KEEP_LOGS:-} ]]; then
		mkdir -p "$KEEP_LOGS" && cp "$tmp"/purge-n*.log "$KEEP_LOGS/"
	fi
	for ((j = start_pids; j < ${#pids[@]}; j++)); do
		kill "${pids[j]}" 2>/dev/null || true
		wait "${pids[j]}" 2>/dev/null || true
	done
	pids=("${pids[@]:0:start_pids}")
}

fleet=$(awk '$1 == "fleet" { print $2 }' "$tmp/ratios")
single=$(awk '$1 == "single" { print $2 }' "$tmp/ratios")
echo
awk -v f="$fleet" -v s="$single" 'BEGIN {
	printf "hit ratio: fleet %.4f, single %.4f, difference %+.2f points (%+.1f %% of the single node'"'"'s)\n", f, s, 100 * (f - s), 100 * (f - s) / s
}'
if [[ -n $PURGE_NODES ]]; then
	s3 -o /dev/null -X PUT --data-binary 'purge me' "$s3url/$BUCKET/purge/one.txt"
	echo
	echo "Purge fan-out (purge at node 1's admin API; latency: to each other node's first refetch, polled every 2 ms)"
	echo
	echo "| nodes | rounds | admin API answer ms (median) | refetch ms, median | refetch ms, max | failed peer requests (node 1) |"
	echo "|--:|--:|--:|--:|--:|--:|"
	for n in $PURGE_NODES; do
		purge_fleet "$n"
	done
fi
awk -v f="$fleet" -v s="$single" 'BEGIN { exit (s - f > 0.05) ? 1 : 0 }'
