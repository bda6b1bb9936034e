#!/usr/bin/env bash
# Where a job's CPU goes, by group of threads: a fresh local 3-node troupe
# cluster (process executor: every submitted `true` job runs) takes
# CONCURRENCY (1) SubmitJobs in flight for DURATION_S (8) s. The CPU each group
# used over that window (utime + stime of /proc/PID/task/*/stat), divided by
# the jobs committed, for the leader and for the two followers together; the
# jobs' own processes (the fork servers and their shims, with the shells they reaped);
# the machine's busy CPU and context switches per job.
#
#   bench/threads.sh [BUILD_DIR]          (default: build)
#
# Groups by thread name: CAF 0.17 names its scheduler's workers
# `caf.multiplexer`, its detached actors (log_store) `caf.actor`, its timer
# thread `caf.clock`; gRPC 1.51 its callback threads `nexting_thread` and
# `default-executo`; the rest keep the process's name (`troupe-node`: main and
# the process backend's threads). Environment: CONCURRENCY, DURATION_S,
# QUIET_WAIT_S (as bench/compare.sh), HOLD_EXECUTION=1 (every node drained
# first: the consensus path alone), RUN_ON_LEADER=1 (the followers drained
# first: every job runs on the leader, no result is forwarded), KEEP_TMP,
# NODE_PRELOAD / NODE_ENV (bench/lib.sh).
# PHASE=drain measures the drain instead (docs/BENCHMARKS.md, nineteenth
# round): COUNT (10000) jobs submitted at CONCURRENCY (64 there) first, then
# the window runs from the end of the submits until the backlog is 0 (polled
# with the CLI every second, at most DRAIN_TIMEOUT_S, 300), per job left at
# its start; it also prints the Raft entries per job (the leader's
# troupe_raft_last_index). The machine figure then includes the polls.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" threads
PHASE=${PHASE:-submit}
[[ $PHASE == submit || $PHASE == drain ]] || { echo "PHASE is submit or drain" >&2; exit 2; }
if [[ $PHASE == drain ]]; then CONCURRENCY=${CONCURRENCY:-64}; else CONCURRENCY=${CONCURRENCY:-1}; fi
DURATION_S=${DURATION_S:-8}

quiet_wait
free_ports 6
troupe_start_warmed

# One line per thread, child and grandchild process of a node: "ROLE:PID:TID GROUP
# TICKS" (ROLE leader or follower; a process's TICKS include what it reaped).
snapshot() {
  local i pid role t c s servers
  for i in 1 2 3; do
    pid=${NODE_PID[$i]}
    role=follower
    [[ $i == "$LEADER" ]] && role=leader
    for t in /proc/"$pid"/task/*; do
      awk -v k="$role:$pid:${t##*/}" '{ n = $0; sub(/^[0-9]+ \(/, "", n); sub(/\) .*$/, "", n); gsub(/ /, "_", n)
        s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print k, n, f[12] + f[13] }' "$t/stat" 2>/dev/null || true
    done
    # The fork server, and its shims (live ones hold their own and their
    # jobs' CPU; an exited one's is in the server's reaped-children fields).
    servers=$(pgrep -P "$pid" || true)
    for c in $servers $(for s in $servers; do pgrep -P "$s" || true; done); do
      awk -v k="$role:$pid:child$c" '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
        print k, "jobs", f[12] + f[13] + f[14] + f[15] }' "/proc/$c/stat" 2>/dev/null || true
    done
  done | sort
}
ctxt() { awk '/^ctxt / { print $2 }' /proc/stat; }

last_index() { leader_metrics | awk '/^troupe_raft_last_index / { print $2 }'; }

if [[ $PHASE == drain ]]; then
  row=$("$LOADGEN" --addr "$LEADER_ADDR" --concurrency "$CONCURRENCY" --count "${COUNT:-10000}" --duration-s 300 -o json)
  echo "$row"
  bl=$(backlog_json)
  jobs=$(jq -r .backlog <<<"$bl")
  echo "backlog as the submits end: $bl"
fi
i0=$(last_index)
snapshot >"$TMP/before"
cs0=$(ctxt)
cpu0=$(cpu_ticks)
if [[ $PHASE == drain ]]; then
  d0=$(date +%s%N)
  backlog_wait_empty "${DRAIN_TIMEOUT_S:-300}" 1 || { echo "backlog not drained in ${DRAIN_TIMEOUT_S:-300} s" >&2; exit 1; }
  d1=$(date +%s%N)
else
  row=$("$LOADGEN" --addr "$LEADER_ADDR" --concurrency "$CONCURRENCY" --duration-s "$DURATION_S" -o json)
fi
read -r b0 t0 <<<"$cpu0"
read -r b1 t1 <<<"$(cpu_ticks)"
cs1=$(ctxt)
snapshot >"$TMP/after"
i1=$(last_index)
if [[ $PHASE == drain ]]; then
  awk -v n="$jobs" -v ns="$((d1 - d0))" 'BEGIN { printf "drained %d jobs in %.1f s (%.0f jobs/s, to within the 1 s poll)\n", n, ns / 1e9, n / (ns / 1e9) }'
else
  echo "$row"
  jobs=$(jq -r '.committed' <<<"$row")
fi
[[ $jobs -gt 0 ]] || { echo "no job committed, or none left to drain" >&2; exit 1; }
awk -v n="$jobs" -v e="$((i1 - i0))" 'BEGIN { printf "Raft entries: %d, %.2f per job\n", e, e / n }'
hz=$(getconf CLK_TCK)
# A thread or child seen only at the end started during the window: all of its ticks count.
join -a 2 -e 0 -o 0,2.2,1.3,2.3 "$TMP/before" "$TMP/after" |
  awk -v jobs="$jobs" -v hz="$hz" -v busy="$((b1 - b0))" -v total="$((t1 - t0))" \
      -v cs="$((cs1 - cs0))" -v c="$CONCURRENCY" -v phase="$PHASE" '
    { split($1, k, ":"); d = $4 - $3; if (d < 0) d = 0; g[$2] = 1; t[k[1], $2] += d; sum[k[1]] += d }
    function us(ticks) { return ticks * 1e6 / hz / jobs }
    END {
      if (phase == "drain") printf "\n%d jobs drained (submitted at %d in flight); CPU per job by thread group (us):\n\n", jobs, c
      else printf "\n%d jobs committed at %d in flight; CPU per job by thread group (us):\n\n", jobs, c
      print "| threads | leader | followers (both) | all three nodes |"
      print "|---|---:|---:|---:|"
      n = split("caf.multiplexer nexting_thread default-executo caf.actor caf.clock troupe-node jobs", order, " ")
      for (i = 1; i <= n; i++) seen[order[i]] = 1
      for (x in g) if (!(x in seen)) order[++n] = x
      for (i = 1; i <= n; i++) {
        x = order[i]
        if (!(x in g) || (i > 7 && t["leader", x] + t["follower", x] == 0)) continue  # idle threads named once
        printf "| %s | %.0f | %.0f | %.0f |\n", x, us(t["leader", x]), us(t["follower", x]),
          us(t["leader", x] + t["follower", x])
      }
      printf "| total | %.0f | %.0f | %.0f |\n", us(sum["leader"]), us(sum["follower"]),
        us(sum["leader"] + sum["follower"])
      # /proc/stat counts every CPU: busy ticks per job in CPU time.
      printf "\nmachine: %.0f us busy CPU per job (%.0f%% of all CPUs busy), %.1f context switches per job\n",
        busy * 1e6 / hz / jobs, (total > 0 ? 100 * busy / total : 0), cs / jobs
    }'
