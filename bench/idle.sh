#!/usr/bin/env bash
# Idle cost of a local 3-node troupe cluster: after SETTLE_S (10) with a leader
# and no client load, each node's CPU (% of one core, from /proc/PID/stat
# utime + stime over WINDOW_S, default 30), its RSS, and its threads counted by
# name (/proc/PID/task/*/comm).
#
#   bench/idle.sh [BUILD_DIR]          (default: build)
#
# Environment: SETTLE_S, WINDOW_S, QUIET_WAIT_S (as bench/compare.sh), KEEP_TMP.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" idle
SETTLE_S=${SETTLE_S:-10}
WINDOW_S=${WINDOW_S:-30}
TICKS=$(getconf CLK_TCK)

cpu_ticks() {  # utime + stime of $1 (fields 14 and 15; the name in field 2 may hold spaces)
  sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

quiet_wait
free_ports 6
troupe_configs 3
troupe_start 3
troupe_wait_leader 60
echo "settling ${SETTLE_S} s, then measuring ${WINDOW_S} s (load average now: $(loadavg))"
sleep "$SETTLE_S"
declare -A T0
for i in 1 2 3; do T0[$i]=$(cpu_ticks "${NODE_PID[$i]}"); done
t0=$(date +%s%N)
sleep "$WINDOW_S"
t1=$(date +%s%N)
echo
echo "| node | role | CPU % of a core | RSS MiB | threads | threads by name |"
echo "|---:|---|---:|---:|---:|---|"
for i in 1 2 3; do
  pid=${NODE_PID[$i]}
  kill -0 "$pid" 2>/dev/null || { echo "node $i (pid $pid) is gone; logs in $TMP" >&2; KEEP_TMP=1; exit 1; }
  t=$(cpu_ticks "$pid")
  cpu=$(awk -v d=$((t - T0[$i])) -v hz="$TICKS" -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", 100 * d / hz / (ns / 1e9) }')
  rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
  nthreads=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l)
  byname=$(cat "/proc/$pid/task"/*/comm 2>/dev/null | sort | uniq -c | sort -k1,1nr -k2 | awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "%s%s x%d", (NR > 1 ? ", " : ""), $0, n }')
  role=follower
  [[ $i == "$LEADER" ]] && role=leader
  echo "| $i | $role | $cpu | $rss | $nthreads | $byname |"
done
echo "leader after the window: node $(troupe_leader_id) (was $LEADER); load average at the end: $(loadavg)"
