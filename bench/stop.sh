#!/usr/bin/env bash
# Stopping a whole local 3-node troupe cluster, CYCLES times (default 8): start
# it, run LOAD_S (2) of SubmitJob load at 16 in flight, then SIGTERM the nodes
# one after the other (bench/lib.sh stop_all: each one waited for, polled every
# 100 ms). Prints each cycle's total, how long each node took from its
# "shutting down" log line to "stopped", where each spent it (hand-off, gRPC
# server, the wait for every actor), and any node that did not exit cleanly
# (gRPC's "assertion failed" at exit). The last node to stop has no quorum
# left: it is the one that used to wait out deadlines.
#
#   bench/stop.sh [BUILD_DIR]          (default: build)
#
# Environment: CYCLES, LOAD_S, QUIET_WAIT_S (as bench/compare.sh), KEEP_TMP.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" stop
CYCLES=${CYCLES:-8}
LOAD_S=${LOAD_S:-2}
export TROUPE_LOG_LEVEL=info  # the shutdown's steps are logged at info

# ms between the first line matching $2 and the first matching $3 in log $1.
span_ms() {
  local a b
  a=$(grep -m1 -E "$2" "$1" | cut -d' ' -f1) || true
  b=$(grep -m1 -E "$3" "$1" | cut -d' ' -f1) || true
  [[ -n $a && -n $b ]] || { echo "-"; return; }
  echo $(( ($(date -d "$b" +%s%N) - $(date -d "$a" +%s%N)) / 1000000 ))
}

quiet_wait
totals=()
aborts=0
for c in $(seq 1 "$CYCLES"); do
  free_ports 6
  troupe_configs 3
  troupe_start 3 >/dev/null
  troupe_wait_leader 60 >/dev/null
  "$LOADGEN" --addr "$LEADER_ADDR" --concurrency 16 --duration-s "$LOAD_S" -o json >/dev/null 2>&1 || true
  t0=${EPOCHREALTIME//[!0-9]/}
  stop_all
  t1=${EPOCHREALTIME//[!0-9]/}
  total=$(( (t1 - t0) / 1000 ))
  totals+=("$total")
  line="cycle $c (leader was node $LEADER): all stopped in $total ms;"
  for i in 1 2 3; do
    log=$TMP/node$i.log
    steps=$(grep -E "node: (leadership|[0-9]+ request|gRPC server stopped)" "$log" | sed -E 's/.*node: //' | tr '\n' ';' || true)
    line+=" node $i $(span_ms "$log" 'node: shutting down' 'node: stopped') ms [${steps%;}]"
    if grep -q "assertion failed" "$log"; then
      line+=" ABORTED"
      aborts=$((aborts + 1))
    fi
  done
  echo "$line"
  rm -rf "$TMP"/troupe-* "$TMP"/node*.log
done
echo "whole-cluster stop, ms: ${totals[*]}"
echo "nodes that aborted at exit: $aborts of $((CYCLES * 3))"
echo "load average at the end: $(loadavg)"
