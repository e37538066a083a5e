#!/usr/bin/env bash
# soak.sh: the long forms of the soak and fault tests (issue 12, "Soak and
# faults"). Each is a Go test in caddymodule/ (soak_test.go, faults_test.go)
# that starts a real Caddy process from a Caddyfile over a real versitygw;
# by default they run their short forms in `go test ./caddymodule/`. With
# R2GATE_SOAK=<duration> they run their load for that long instead, and the
# soak writes bench/results/soak-<date>.md (samples of RSS, goroutines and
# open fds, answer counts, the cache metrics).
#
#   bench/soak.sh                          # TestSoakMixedTraffic for 10 minutes
#   SOAK=30m bench/soak.sh                 # longer
#   RUN='TestFault' SOAK=3m bench/soak.sh  # every fault scenario, 3 minutes each
#   RACE=1 bench/soak.sh                   # under the race detector (RSS about 2x)
#
# Environment:
#   SOAK   the duration of each test's load (default 10m)
#   RUN    go test -run pattern (default TestSoakMixedTraffic); the fault tests
#          are TestFault*: bucket down, bucket slow, disk full, disk read-only,
#          kill -9 (the disk ones mount a tmpfs and an ext4 loop device: root)
#   RACE   1 to build with -race
#
# The test output goes to stdout and to bench/results/soak-<date>-log.txt,
# beside the soak's soak-<date>.md (both named by the script's start).
# Runs only the named tests, never the whole caddymodule package (its
# caddytest tests use fixed ports).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

soak=${SOAK:-10m}
run=${RUN:-TestSoakMixedTraffic}
flags=(-count=1 -v -run "$run")
if [[ ${RACE:-} == 1 ]]; then
	flags+=(-race)
fi
# Every matching test runs its load for $soak; leave room for the setup.
tests=$(go test -list "$run" ./caddymodule/ | grep -c '^Test' || true)
if [[ $tests == 0 ]]; then
	echo "soak.sh: no test matches $run" >&2
	exit 1
fi
if [[ ! $soak =~ ^([0-9]+)(s|m|h)$ ]]; then
	echo "soak.sh: SOAK=$soak: want a whole number of s, m or h, such as 10m" >&2
	exit 1
fi
case ${BASH_REMATCH[2]} in
s) minutes=$(( BASH_REMATCH[1] / 60 + 1 )) ;;
m) minutes=${BASH_REMATCH[1]} ;;
h) minutes=$(( BASH_REMATCH[1] * 60 )) ;;
esac
flags+=(-timeout "$(( tests * (minutes + 5) ))m")

mkdir -p bench/results
stamp=$(date -u +%Y-%m-%d-%H%M)
log=bench/results/soak-$stamp-log.txt
echo "soak.sh: R2GATE_SOAK=$soak go test ${flags[*]} ./caddymodule/ (log: $log)" >&2
R2GATE_SOAK=$soak R2GATE_SOAK_STAMP=$stamp go test "${flags[@]}" ./caddymodule/ 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
