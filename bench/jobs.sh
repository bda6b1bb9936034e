#!/usr/bin/env bash
# Jobs completed per second: submit COUNT (10000) `true` jobs to a fresh local
# 3-node troupe cluster (process executor) with CONCURRENCY (64) in flight, and
# time from the first submission until the last of them is terminal
# (troupe-loadgen --mode jobs: polls ListJobs totals at the leader every
# POLL_MS, 20).
#
#   bench/jobs.sh [BUILD_DIR]          (default: build)
#
# Environment: COUNT, CONCURRENCY, COMMAND (`true`; `/bin/true` runs without a
# shell, `/bin/true;` through one), POLL_MS, COMPLETE_TIMEOUT_S (600),
# QUIET_WAIT_S (as bench/compare.sh), KEEP_TMP. Diagnostics (where a job's CPU
# goes, docs/BENCHMARKS.md section 2, ninth round): TMP_ROOT puts the nodes'
# data dirs on another file system (e.g. a tmpfs), OUTPUTS_ROOT only their
# job outputs (data_dir/outputs becomes a symlink into it).
# Prints the machine's busy CPU per job over the loadgen's run as well, and
# the nodes' own share of it (their threads, not the jobs' processes), and
# how long each job held its worker slot.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" jobs
COUNT=${COUNT:-10000}
CONCURRENCY=${CONCURRENCY:-64}

quiet_wait
free_ports 6
troupe_configs 3
if [[ -n ${OUTPUTS_ROOT:-} ]]; then
  EXTRA_DIRS+=("$(mktemp -d "$OUTPUTS_ROOT/troupe-outputs.XXXXXX")")
  for i in 1 2 3; do
    mkdir -p "$TMP/troupe-$i" "${EXTRA_DIRS[0]}/node$i"
    ln -s "${EXTRA_DIRS[0]}/node$i" "$TMP/troupe-$i/outputs"
  done
fi
troupe_start 3
troupe_wait_leader 60
CPU0=$(cpu_ticks)
NODE0=$(node_ticks)
"$LOADGEN" --addr "$LEADER_ADDR" --mode jobs --count "$COUNT" --concurrency "$CONCURRENCY" --command "${COMMAND:-true}" \
  --poll-ms "${POLL_MS:-20}" --complete-timeout-s "${COMPLETE_TIMEOUT_S:-600}" -o json | tee "$TMP/jobs.json"
read -r B0 _ <<<"$CPU0"
read -r B1 _ <<<"$(cpu_ticks)"
NODE1=$(node_ticks)
ms_per_job() {  # $1: CPU jiffies -> milliseconds per job
  awk -v b="$1" -v hz="$(getconf CLK_TCK)" -v n="$COUNT" 'BEGIN { printf "%.2f", 1000 * b / hz / n }'
}
echo "CPU: $(cpu_busy_pct "$CPU0")% of all CPUs busy during the run;" \
  "$(ms_per_job $((B1 - B0))) ms busy per job," \
  "of it $(ms_per_job $((NODE1 - NODE0))) ms in the three troupe-node processes (not their jobs)"
echo "jobs by status at the end: $(backlog_json)"
# How long each job held its worker slot (troupe_job_run_seconds: start
# request to result, on every node), and so how many ran at once on average
# over the run: whether the slots or the CPUs bound the drain
# (docs/BENCHMARKS.md, forty-third round).
run=$(for i in $(seq 1 "${#HTTP[@]}"); do node_metrics "$i" || true; done |
  awk '/^troupe_job_run_seconds_sum /{s+=$2} /^troupe_job_run_seconds_count /{c+=$2} END{printf "%.6f %d", s, c}')
read -r RUN_S RUN_N <<<"$run"
awk -v s="$RUN_S" -v n="$RUN_N" -v t="$(jq '.jobs.first_submit_to_last_terminal_s' "$TMP/jobs.json")" 'BEGIN {
  if (n > 0 && t > 0) printf "slots: %d jobs ran, each held its slot %.1f ms on average (start to result); %.1f jobs running at once on average\n", n, 1000 * s / n, s / t
}'
echo
echo "| jobs | in flight | submit phase s | submitted/s | first submit to last terminal s | jobs completed/s | failed | all terminal |"
echo "|---:|---:|---:|---:|---:|---:|---:|---|"
jq -r '"| \(.jobs.submitted) | \(.concurrency) | \(.jobs.submit_s * 100 | round / 100) | \(.committed_per_s | floor) | \(.jobs.first_submit_to_last_terminal_s * 100 | round / 100) | \(.jobs.completed_per_s | floor) | \(.jobs.failed) | \(.jobs.all_terminal) |"' "$TMP/jobs.json"
echo "load average at the end: $(loadavg)"
