#!/usr/bin/env bash
# Scale: 1,000,000 jobs in the job table. Runs bench_scale (in-process: RSS,
# filtered list pages, snapshot encode/write/read/restore), which also leaves
# its table as a 1-node data dir (raft/snapshot + raft/hard_state, written with
# runtime/storage); then starts a real troupe-node on that data dir and times
# restart-to-serving: until /health/ready answers 200, and until a filtered
# ListJobs page (troupe job list --status pending) succeeds. Also the node's
# RSS once serving, and the latency of its first submits. Then its re-queue of
# the jobs that workers 2 and 3 (not in its configuration) held, with the
# submits' latency meanwhile. Then the serving node
# takes a snapshot of its own (SNAP_JOBS submits of 64 KiB commands bring it
# on): the node's time for each step, its peak RSS, and the submits' latency
# meanwhile. Last, a backup (`troupe snapshot save`) while submits run: its
# time, the submits' latency meanwhile, the node's peak RSS.
#
#   bench/scale.sh [BUILD_DIR]          (default: build)
#
# Environment: JOBS (1000000), SNAP_JOBS (1100), BACKUP_LOAD_S (30), QUIET_WAIT_S (as bench/compare.sh), KEEP_TMP,
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
# The compaction phase below proposes 64 KiB commands, so that a few thousand
# entries reach the 64 MiB that start a snapshot of a table this large
# (config::max_log_bytes_between_snapshots).
TROUPE_LOG_LEVEL=${TROUPE_LOG_LEVEL:-info} TROUPE_EXTRA_TOML=$'[raft]\nsnapshot_every = 1000' troupe_configs 1
sed -i '/^\[jobs\]/a max_command_bytes = 65536' "$TMP/node1.toml"
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

# A warm-up first: coming up, the node acts at once on the ~23,000 jobs
# assigned to it (starts them or reports them failed), and the first submits
# after it serves wait through that burst (50-130 ms in some runs): measured
# here, apart from the snapshot's phase. Running those jobs takes the next
# minute, and goes on during the phase.
warm=$("$LOADGEN" --addr "${GRPC[0]}" --concurrency 16 --count 64 --duration-s 60 -o json)
jq -r '"first 64 submits after the restart (16 in flight): latency ms p50 \(.latency_ms.p50) max \(.latency_ms.max)"' <<<"$warm"

# The re-queue: the table has the other two thirds of its assigned and
# running jobs on workers 2 and 3, which are not in this node's
# configuration, so [worker] dead_after_ms after it leads, its dispatcher
# puts them back to pending (requeue_jobs entries of
# config::requeue_batch_jobs, one after the other). Submits run at 16 in
# flight meanwhile; reported: the jobs re-queued and the span from the first
# entry's proposal to the last's (the dispatcher's log lines), and the
# submits answered within that span. Waited out here so that it
# overlaps no later phase (until session 26 it fell on the backup's).
echo "== re-queue of the removed workers' jobs while submits run at 16 in flight"
requeue_lines() { grep -c 'job_dispatcher: re-queueing' "$TMP/node1.log" || true; }
DEAD_AFTER_MS=5000  # [worker] dead_after_ms: the default, which troupe_configs leaves
# The load starts a little before the re-queue is due (dead_after after the
# node leads, which is before it is ready), not at once: every submit is one
# more job in the table, and later phases' RSS is compared across rounds.
due_ms=$(( t0 + ready_ms + DEAD_AFTER_MS - 1500 ))
while (( $(now_ms) < due_ms )) && (( $(requeue_lines) == 0 )); do sleep 0.1; done
(( $(requeue_lines) == 0 )) || echo "(the re-queue began before the load: its first entries had no submit behind them)"
"$LOADGEN" --addr "${GRPC[0]}" --concurrency 16 --duration-s 300 --success-log "$TMP/requeue_submits.log" \
  >/dev/null &
load_pid=$!
seen=0 quiet=0
for _ in $(seq 1 600); do  # up to 60 s: until no new line for 1 s (entries follow each other), or none within 20 s
  sleep 0.1
  n=$(requeue_lines)
  if (( n > seen )); then seen=$n quiet=0; else quiet=$((quiet + 1)); fi
  (( seen > 0 && quiet >= 10 )) && break
  (( seen == 0 && quiet >= 200 )) && break
done
stop_pid "$load_pid"
if (( seen == 0 )); then
  echo "nothing re-queued (LOCAL_JOBS left no job on another worker)"
else
  # Log lines: "<RFC 3339 UTC> WARN  node=1 job_dispatcher: re-queueing N jobs: ..."
  grep 'job_dispatcher: re-queueing' "$TMP/node1.log" >"$TMP/requeue_lines"
  r0=$(date -d "$(head -1 "$TMP/requeue_lines" | cut -d' ' -f1)" +%s%N)
  r1=$(date -d "$(tail -1 "$TMP/requeue_lines" | cut -d' ' -f1)" +%s%N)
  requeued=$(awk '{ n += $6 } END { print n }' "$TMP/requeue_lines")
  span_ms=$(( (r1 - r0) / 1000000 ))
  echo "re-queued $requeued jobs in $seen log lines (one per removed worker per entry) over ${span_ms} ms"
  answered_between "$TMP/requeue_submits.log" "$r0" "$r1" "the re-queue"
fi

# Compaction on the serving node: submit ~70 MiB of 64 KiB commands (jobs
# that run `true`) at 16 in flight; the node then encodes its 1M-job table,
# hands it to Raft and writes it. Reported: the node's own timing of each
# step (its log), its peak RSS during this phase (VmHWM, reset first), and
# the submits' latency, which a snapshot must not stall.
SNAP_JOBS=${SNAP_JOBS:-1100}
echo "== compaction: $SNAP_JOBS submits of 64 KiB commands at 16 in flight"
echo 5 >"/proc/${NODE_PID[1]}/clear_refs" 2>/dev/null || echo "(cannot reset VmHWM: the peak below includes the restart)"
cmd="true #$(head -c 65000 /dev/zero | tr '\0' x)"
lg=$("$LOADGEN" --addr "${GRPC[0]}" --concurrency 16 --count "$SNAP_JOBS" --duration-s 300 --command "$cmd" --success-log "$TMP/submits.log" -o json)
jq -r '"submits: \(.committed) committed, \(.committed_per_s) /s, latency ms p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) max \(.latency_ms.max)"' <<<"$lg"
snap=""
for _ in $(seq 1 600); do  # up to 60 s
  snap=$(grep -m1 "raft_node: snapshot at index" "$TMP/node1.log" || true)
  [[ -n $snap ]] && break
  sleep 0.1
done
[[ -n $snap ]] || { echo "no snapshot within 60 s of the last submit; log: $TMP/node1.log" >&2; KEEP_TMP=1; exit 1; }
echo "node: ${snap#*raft_node: }"
hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/${NODE_PID[1]}/status")
rss=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/${NODE_PID[1]}/status")
echo "node RSS during the compaction phase: peak ${hwm} MiB, now ${rss} MiB"

# A backup of the 1M-job table (AdminService.SaveSnapshot through the CLI)
# while submits keep coming at 16 in flight: the backup's time, the latency
# of the submits answered meanwhile (the table serves both), the node's peak
# RSS during this phase, and the file checked with `troupe snapshot status`.
echo "== backup: troupe snapshot save while submits run at 16 in flight"
echo 5 >"/proc/${NODE_PID[1]}/clear_refs" 2>/dev/null || true
"$LOADGEN" --addr "${GRPC[0]}" --concurrency 16 --duration-s "${BACKUP_LOAD_S:-30}" \
  --success-log "$TMP/backup_submits.log" -o json >"$TMP/backup_load.json" &
load_pid=$!
sleep 3
b0=$(date +%s%N)
"$CLI" -a "${GRPC[0]}" snapshot save "$TMP/backup.snap" --timeout 300 >/dev/null
b1=$(date +%s%N)
hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/${NODE_PID[1]}/status")
wait "$load_pid"
jq -r '"submits over the phase: \(.committed) committed, \(.committed_per_s) /s, latency ms p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) max \(.latency_ms.max), errors \(.errors_total)"' "$TMP/backup_load.json"
echo "backup of $(stat -c %s "$TMP/backup.snap") bytes: $(( (b1 - b0) / 1000000 )) ms (CLI, process start included); node RSS peak ${hwm} MiB"
answered_between "$TMP/backup_submits.log" "$b0" "$b1" "the backup"
"$CLI" snapshot status "$TMP/backup.snap" | head -4
echo "load average at the end: $(loadavg)"
