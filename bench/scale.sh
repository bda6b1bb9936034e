#!/usr/bin/env bash
# Scale: 1,000,000 jobs in the job table. Runs bench_scale (in-process: RSS,
# filtered list pages, snapshot encode/write/read/restore), which also leaves
# its table as a 1-node data dir (raft/snapshot + raft/hard_state, written with
# runtime/storage); then starts a real troupe-node on that data dir and times
# restart-to-serving: until /health/ready answers 200, and until a filtered
# ListJobs page (troupe job list --status pending) succeeds. Also the node's
# RSS once serving.
#
#   bench/scale.sh [BUILD_DIR]          (default: build)
#
# Environment: JOBS (1000000), QUIET_WAIT_S (as bench/compare.sh), KEEP_TMP,
# LOCAL_JOBS (unset): passed to bench_scale --local-jobs -- how many assigned
# or running jobs the restarted node holds; unset, it holds a third of them
# (~23,000 at 1M), which it must start or report failed as it comes up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" scale
JOBS=${JOBS:-1000000}
SCALE=$BUILD/bench/bench_scale
[[ -x $SCALE ]] || { echo "missing $SCALE (ninja -C $BUILD bench_scale)" >&2; exit 2; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 2; }

quiet_wait
free_ports 2
troupe_configs 1
echo "== bench_scale --jobs $JOBS --data-dir $TMP/troupe-1${LOCAL_JOBS:+ --local-jobs $LOCAL_JOBS}"
"$SCALE" --jobs "$JOBS" --dir "$TMP" --data-dir "$TMP/troupe-1" ${LOCAL_JOBS:+--local-jobs "$LOCAL_JOBS"}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
echo "== troupe-node (1 node) restarting on that data dir"
t0=$(now_ms)
troupe_start_node 1
ready_ms=-1 list_ms=-1
for _ in $(seq 1 6000); do  # up to ~10 min at 0.1 s
  if (( ready_ms < 0 )); then
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://${HTTP[0]}/health/ready" || true)
    [[ $code == 200 ]] && ready_ms=$(( $(now_ms) - t0 ))
  fi
  if (( ready_ms >= 0 )); then
    if out=$("$CLI" -a "${GRPC[0]}" -o json job list --status pending --page-size 100 2>/dev/null); then
      list_ms=$(( $(now_ms) - t0 ))
      total=$(jq -r '.total_count' <<<"$out")
      break
    fi
  fi
  kill -0 "${NODE_PID[1]}" 2>/dev/null || { echo "troupe-node exited; log: $TMP/node1.log" >&2; tail -20 "$TMP/node1.log" >&2; KEEP_TMP=1; exit 1; }
  sleep 0.1
done
(( list_ms >= 0 )) || { echo "troupe-node not serving within 10 min; logs in $TMP" >&2; KEEP_TMP=1; exit 1; }
# One more filtered page, timed by the CLI round trip (a process start included).
t1=$(now_ms)
"$CLI" -a "${GRPC[0]}" -o json job list --status completed --page-size 100 >/dev/null
page_ms=$(( $(now_ms) - t1 ))
rss=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/${NODE_PID[1]}/status")
echo "restart to /health/ready 200: ${ready_ms} ms; to the first filtered ListJobs page: ${list_ms} ms (pending total ${total})"
echo "a completed-status page through the CLI (process start included): ${page_ms} ms; node RSS once serving: ${rss} MiB"
echo "load average at the end: $(loadavg)"
