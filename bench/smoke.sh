#!/usr/bin/env bash
# ctest bench_smoke (label bench): the benchmark tools run and print
# well-formed output on a short run. No timed assertions: only that each tool
# exits 0 and its table / JSON has the expected shape.
#
#   bench/smoke.sh BUILD_DIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${1:?usage: smoke.sh BUILD_DIR}
OUT=$(mktemp -d /tmp/troupe-bench-smoke.XXXXXX)
trap 'if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "kept $OUT" >&2; else rm -rf "$OUT"; fi' EXIT
export QUIET_WAIT_S=0 FSYNC_S=0.2
fail() { echo "bench_smoke: $*" >&2; exit 1; }

# 1. compare.sh, one short row (etcd only when installed).
DURATION_S=1 CONCURRENCIES=1 RESULTS_JSONL=$OUT/rows.jsonl "$HERE/compare.sh" "$BUILD" >"$OUT/compare.txt" 2>&1 ||
  { cat "$OUT/compare.txt" >&2; fail "compare.sh failed"; }
grep -Eq '^\| 1 \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| ' "$OUT/compare.txt" || { cat "$OUT/compare.txt" >&2; fail "no troupe row in the compare table"; }
grep -q '^raw fsync before: ' "$OUT/compare.txt" || fail "no fsync line"
jq -se 'map(select(.target == "troupe")) | length == 1 and all(.[]; .committed > 0 and (.jobs_at_end.backlog | type == "number"))' "$OUT/rows.jsonl" >/dev/null ||
  fail "troupe row JSON lacks committed / jobs_at_end.backlog"
if command -v etcd >/dev/null && command -v etcdctl >/dev/null; then
  jq -se 'map(select(.target == "etcd")) | length == 1' "$OUT/rows.jsonl" >/dev/null || fail "no etcd row"
fi

# 2. jobs mode: a few jobs submitted and waited for.
COUNT=30 CONCURRENCY=4 "$HERE/jobs.sh" "$BUILD" >"$OUT/jobs.txt" 2>&1 || { cat "$OUT/jobs.txt" >&2; fail "jobs.sh failed"; }
grep -Eq '^\| 30 \| 4 \| ' "$OUT/jobs.txt" || { cat "$OUT/jobs.txt" >&2; fail "no jobs table row"; }
grep -Eq '^slots: 30 jobs ran, each held its slot [0-9.]+ ms on average \(start to result\); [0-9.]+ jobs running at once on average$' "$OUT/jobs.txt" ||
  { cat "$OUT/jobs.txt" >&2; fail "no slots line from jobs.sh"; }

# 2b. ab.sh, one pair of the same build: both rows, the medians and the pair count.
COUNT=30 CONCURRENCY=4 "$HERE/ab.sh" "$BUILD" "$BUILD" 1 >"$OUT/ab.txt" 2>&1 || { cat "$OUT/ab.txt" >&2; fail "ab.sh failed"; }
[[ $(grep -Ec '^\| 1 \| (before|after) \| [0-9:]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \|$' "$OUT/ab.txt") == 2 ]] ||
  { cat "$OUT/ab.txt" >&2; fail "ab.sh did not print one row per side"; }
grep -Eq '^after completed more jobs/s in [01] of 1 pairs$' "$OUT/ab.txt" || { cat "$OUT/ab.txt" >&2; fail "no pair count from ab.sh"; }

# 2c. threads.sh, a one-second window: the table's total row.
DURATION_S=1 "$HERE/threads.sh" "$BUILD" >"$OUT/threads.txt" 2>&1 || { cat "$OUT/threads.txt" >&2; fail "threads.sh failed"; }
grep -Eq '^\| total \| [0-9]+ \| [0-9]+ \| [0-9]+ \|$' "$OUT/threads.txt" || { cat "$OUT/threads.txt" >&2; fail "no total row from threads.sh"; }
grep -Eq '^machine: [0-9]+ us busy CPU per job' "$OUT/threads.txt" || { cat "$OUT/threads.txt" >&2; fail "no machine line from threads.sh"; }
# The drain phase: 500 jobs, of which the executor has not run most when the submits end.
PHASE=drain COUNT=500 "$HERE/threads.sh" "$BUILD" >"$OUT/threads-drain.txt" 2>&1 ||
  { cat "$OUT/threads-drain.txt" >&2; fail "PHASE=drain threads.sh failed"; }
grep -Eq '^Raft entries: [0-9]+, [0-9.]+ per job$' "$OUT/threads-drain.txt" &&
  grep -Eq '^\| total \| [0-9]+ \| [0-9]+ \| [0-9]+ \|$' "$OUT/threads-drain.txt" ||
  { cat "$OUT/threads-drain.txt" >&2; fail "no entries line or total row from PHASE=drain threads.sh"; }

# 2d. tail.sh, a one-second window: the burst table's summary line.
DURATION_S=1 CONCURRENCY=8 "$HERE/tail.sh" "$BUILD" >"$OUT/tail.txt" 2>&1 || { cat "$OUT/tail.txt" >&2; fail "tail.sh failed"; }
grep -Eq '^[0-9]+ of [0-9]+ windows hold [0-9]+ of the [0-9]+ replies above p99 \([0-9]+%\)$' "$OUT/tail.txt" ||
  { cat "$OUT/tail.txt" >&2; fail "no summary line from tail.sh"; }

# 3. idle.sh, a one-second window.
SETTLE_S=0 WINDOW_S=1 "$HERE/idle.sh" "$BUILD" >"$OUT/idle.txt" 2>&1 || { cat "$OUT/idle.txt" >&2; fail "idle.sh failed"; }
[[ $(grep -Ec '^\| [123] \| (leader|follower) \| [0-9.]+ \| [0-9.]+ \| [0-9]+ \| ' "$OUT/idle.txt") == 3 ]] ||
  { cat "$OUT/idle.txt" >&2; fail "idle table does not have 3 node rows"; }

# 4. bench_scale, a small table, when built.
if [[ -x $BUILD/bench/bench_scale ]]; then
  "$BUILD/bench/bench_scale" --jobs 2000 --pages 5 --dir "$OUT" --json >"$OUT/scale.json" || fail "bench_scale failed"
  jq -e '.jobs == 2000 and .snapshot.bytes > 0 and .list_ms.pending.pages > 0 and .requeue_entry_ms.entries > 0' "$OUT/scale.json" >/dev/null ||
    { cat "$OUT/scale.json" >&2; fail "bench_scale JSON malformed"; }
fi
# 5. docker.sh, 3 containers at concurrency 1 (~8 s), when built; it skips
#    itself (exit 0, a "skipped" line) where no private dockerd can run.
if [[ -x $BUILD/bench/bench_docker_ref ]]; then
  COUNT=3 CONCURRENCIES=1 ROUNDS=1 BACKEND_REF=0 FSYNC_REF=0 "$HERE/docker.sh" "$BUILD" >"$OUT/docker.txt" 2>&1 ||
    { cat "$OUT/docker.txt" >&2; fail "docker.sh failed"; }
  if ! grep -q '^docker bench skipped: ' "$OUT/docker.txt"; then
    grep -Eq '^\| 1 \| [0-9.]+, [0-9.]+ \| - \| [0-9.]+ \| -?[0-9.]+ \| -?[0-9.]+ \| true \|$' "$OUT/docker.txt" ||
      { cat "$OUT/docker.txt" >&2; fail "no docker table row with all jobs COMPLETED"; }
  fi
fi
echo "bench_smoke: ok"
