#!/usr/bin/env bash
# Where SubmitJob's tail latency comes from: a fresh local 3-node troupe
# cluster (process executor: every submitted `true` job runs) takes
# CONCURRENCY (64) SubmitJobs in flight for DURATION_S (10) s, and
# troupe-loadgen's --success-log keeps every reply's send and answer times.
# The replies are cut into WINDOW_MS (100) ms windows by send time; each
# window holding at least BURST (10) replies slower than the run's p99 is
# printed, with the share of all replies above p99 those windows hold. A
# tail in a few such windows is a stall of the whole pipeline; a tail spread
# over every window is each request's own.
#
#   bench/tail.sh [BUILD_DIR]          (default: build)
#
# Environment: CONCURRENCY, DURATION_S, WINDOW_MS, BURST, QUIET_WAIT_S (as
# bench/compare.sh), HOLD_EXECUTION=1 (every node drained first), KEEP_TMP
# (keeps the replies and the nodes' logs), NODE_PRELOAD / NODE_ENV
# (bench/lib.sh); PERF, arguments of a `perf` run over the same window whose
# output goes to $TMP/perf.data (with KEEP_TMP=1): PERF="sched record", then
# `perf sched latency -i .../perf.data --sort max`; PERF="trace -a -e
# fdatasync,fsync" writes the calls and their durations as text.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" tail
CONCURRENCY=${CONCURRENCY:-64}
DURATION_S=${DURATION_S:-10}
WINDOW_MS=${WINDOW_MS:-100}
BURST=${BURST:-10}

quiet_wait
free_ports 6
troupe_start_warmed

perf_pid=
if [[ -n ${PERF:-} ]]; then
  # shellcheck disable=SC2086  # PERF is a list of perf's own arguments
  perf $PERF -o "$TMP/perf.data" -- sleep "$DURATION_S" >"$TMP/perf.log" 2>&1 &
  perf_pid=$!
fi
row=$("$LOADGEN" --addr "$LEADER_ADDR" --concurrency "$CONCURRENCY" --duration-s "$DURATION_S" -o json \
  --success-log "$TMP/replies")
if [[ -n $perf_pid ]]; then wait "$perf_pid" || echo "perf $PERF failed: $(tail -1 "$TMP/perf.log")" >&2; fi
echo "$row"
[[ -s $TMP/replies ]] || { echo "no reply logged" >&2; exit 1; }

# "ms since the first send, latency ms", in send order. Sums and differences
# stay in doubles (awk has no 64-bit integers): 256 ns steps at today's epoch.
sort -n -k2,2 "$TMP/replies" | awk 'NR == 1 { t0 = $2 } { printf "%.3f %.3f\n", ($2 - t0) / 1e6, ($1 - $2) / 1e6 }' \
  >"$TMP/latency"
n=$(wc -l <"$TMP/latency")
# awk reads to the end: an early exit would fail the pipeline (sort's SIGPIPE).
p99=$(cut -d' ' -f2 "$TMP/latency" | sort -g | awk -v k="$((n * 99 / 100 + 1))" 'NR == k { print }')
awk -v p99="$p99" -v w="$WINDOW_MS" -v burst="$BURST" -v n="$n" -v c="$CONCURRENCY" '
  { k = int($1 / w); replies[k]++; if ($2 > slowest[k]) slowest[k] = $2
    if ($2 >= p99) { above[k]++; tail++ }
    if (k > last) last = k }
  END {
    printf "\n%d replies at %d in flight, p99 %.2f ms; %d ms windows with at least %d replies above p99:\n\n",
      n, c, p99, w, burst
    print "| window starts (s) | replies | above p99 | slowest (ms) |"
    print "|---:|---:|---:|---:|"
    for (k = 0; k <= last; k++)
      if (above[k] >= burst) {
        printf "| %.1f | %d | %d | %.1f |\n", k * w / 1000, replies[k], above[k], slowest[k]
        windows++; inside += above[k]
      }
    printf "\n%d of %d windows hold %d of the %d replies above p99 (%.0f%%)\n",
      windows, last + 1, inside, tail, tail ? 100 * inside / tail : 0
  }' "$TMP/latency"
