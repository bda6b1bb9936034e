#!/usr/bin/env bash
# Issue #12's main measurement: committed SubmitJob/s of a local 3-node troupe
# cluster (process executor: every submitted `true` job really runs) beside a
# 3-member etcd 3.4 cluster's Put/s, driven by the same load generator at each
# concurrency, with the troupe backlog (pending + assigned + running) read as
# each row ends, and the raw fsync rate and latency before and after.
#
#   bench/compare.sh [BUILD_DIR]          (default: build)
#
# Needs BUILD_DIR/tools/{troupe-node,troupe,troupe-loadgen}, optionally
# BUILD_DIR/bench/bench_log_store (else dd measures fsync); etcd and etcdctl for
# the reference, skipped when missing (or SKIP_ETCD=1). Everything listens on
# 127.0.0.1 (free ports picked at start); configs, data and logs go to a
# temporary directory, removed at the end unless KEEP_TMP=1.
# Environment: DURATION_S (5), CONCURRENCIES ("1 16 64 256"), QUIET_WAIT_S
# (1200: how long to wait for ctest/raft_sim/cc1plus to end before measuring),
# FSYNC_S (1: seconds per bench_log_store case), RESULTS_JSONL (also append the
# rows there), DRAIN=1 (after each troupe row, wait up to DRAIN_TIMEOUT_S, 300,
# until the backlog is 0, so a row does not start with the previous row's jobs
# still running; by default rows follow each other and inherit the backlog),
# HOLD_EXECUTION=1 (a diagnostic, not the measurement: every node is drained
# before the rows, so jobs are accepted but none runs, and the rows show the
# consensus path alone), COMMAND (each job's command, `true` by default, the
# issue's measurement; `/bin/true` is a program, which the shim runs without
# a shell: docs/BENCHMARKS.md, thirty-fifth round). Each row also reports how
# busy the machine's CPUs were during it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" compare
DURATION_S=${DURATION_S:-5}
CONCURRENCIES=${CONCURRENCIES:-"1 16 64 256"}
[[ ${SKIP_ETCD:-0} == 1 ]] && HAVE_ETCD=0
RESULTS=$TMP/results.jsonl
: >"$RESULTS"

quiet_wait
free_ports 12
fsync_ref before

# --- troupe ------------------------------------------------------------------
troupe_start_warmed
for c in $CONCURRENCIES; do
  t0=$(cpu_ticks)
  row=$("$LOADGEN" --addr "$LEADER_ADDR" --concurrency "$c" --duration-s "$DURATION_S" --command "${COMMAND:-true}" -o json)
  busy=$(cpu_busy_pct "$t0")
  # The backlog right as the row ends, before the next row submits more.
  bl=$(backlog_json)
  jq -c --argjson b "$bl" --argjson cpu "$busy" '. + {jobs_at_end: $b, cpu_busy_pct: $cpu}' <<<"$row" | tee -a "$RESULTS"
  if [[ ${DRAIN:-0} == 1 ]]; then  # let the executor catch up before the next row (bounded)
    t0=$(date +%s)
    backlog_wait_empty "${DRAIN_TIMEOUT_S:-300}" 0.5 || true  # the message below shows what is left
    echo "backlog drained in $(( $(date +%s) - t0 )) s: $(backlog_json)" >&2
  fi
done
stop_all

# --- etcd --------------------------------------------------------------------
if (( HAVE_ETCD )); then
  etcd_start
  etcd_wait_leader
  "$LOADGEN" --etcd --addr "$ELEADER" --concurrency 4 --count 200 --duration-s 30 >/dev/null
  for c in $CONCURRENCIES; do
    t0=$(cpu_ticks)
    row=$("$LOADGEN" --etcd --addr "$ELEADER" --concurrency "$c" --duration-s "$DURATION_S" -o json)
    jq -c --argjson cpu "$(cpu_busy_pct "$t0")" '. + {cpu_busy_pct: $cpu}' <<<"$row" | tee -a "$RESULTS"
  done
  stop_all
else
  echo "== etcd/etcdctl not installed (or SKIP_ETCD=1): etcd reference skipped" >&2
fi

fsync_ref after
[[ -n ${RESULTS_JSONL:-} ]] && cat "$RESULTS" >>"$RESULTS_JSONL"

# --- summary -------------------------------------------------------------------
echo
echo "| in flight | troupe committed/s | p50 ms | p99 ms | CPU busy | etcd Put/s | p50 ms | p99 ms | CPU busy | ratio troupe/etcd | troupe backlog at row end | troupe retries / errors |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
jq -rs '
  def r2: (. * 100 | round) / 100;
  (map(select(.target == "etcd")) | map({key: (.concurrency | tostring), value: .}) | from_entries) as $e
  | .[] | select(.target == "troupe")
  | . as $t | ($e[$t.concurrency | tostring]) as $x
  | "| \($t.concurrency) | \($t.committed_per_s | floor) | \($t.latency_ms.p50 | r2) | \($t.latency_ms.p99 | r2)"
    + " | \($t.cpu_busy_pct)%"
    + " | \(if $x then ($x.committed_per_s | floor | tostring) else "-" end)"
    + " | \(if $x then ($x.latency_ms.p50 | r2 | tostring) else "-" end)"
    + " | \(if $x then ($x.latency_ms.p99 | r2 | tostring) else "-" end)"
    + " | \(if $x then "\($x.cpu_busy_pct)%" else "-" end)"
    + " | \(if $x and $x.committed_per_s > 0 then ($t.committed_per_s / $x.committed_per_s | r2 | tostring) else "-" end)"
    + " | \($t.jobs_at_end.backlog) (p \($t.jobs_at_end.pending) / a \($t.jobs_at_end.assigned) / r \($t.jobs_at_end.running))"
    + " | \($t.retries.redirect + $t.retries.no_leader + $t.retries.RESOURCE_EXHAUSTED + $t.retries.UNAVAILABLE) / \($t.errors_total) |"
' "$RESULTS"
echo
for f in before after; do echo "raw fsync $f: $(fsync_summary "$f")"; done
p50_1=$(jq -rs 'map(select(.target == "troupe" and .concurrency == 1)) | first | .latency_ms.p50 // empty' "$RESULTS")
if [[ -n $p50_1 ]]; then
  echo "latency at 1 in flight: troupe p50 $(awk -v v="$p50_1" 'BEGIN { printf "%.0f", v * 1000 }') us beside raw fsync $(fsync_summary before | sed -E 's/.*, //')"
fi
echo "load average at the end: $(loadavg)"
