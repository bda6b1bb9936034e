#!/usr/bin/env bash
# Jobs completed per second: submit COUNT (10000) `true` jobs to a fresh local
# 3-node troupe cluster (process executor) with CONCURRENCY (64) in flight, and
# time from the first submission until the last of them is terminal
# (troupe-loadgen --mode jobs: polls ListJobs totals at the leader every
# POLL_MS, 20).
#
#   bench/jobs.sh [BUILD_DIR]          (default: build)
#
# Environment: COUNT, CONCURRENCY, POLL_MS, COMPLETE_TIMEOUT_S (600),
# QUIET_WAIT_S (as bench/compare.sh), KEEP_TMP.
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
troupe_start 3
troupe_wait_leader 60
"$LOADGEN" --addr "$LEADER_ADDR" --mode jobs --count "$COUNT" --concurrency "$CONCURRENCY" \
  --poll-ms "${POLL_MS:-20}" --complete-timeout-s "${COMPLETE_TIMEOUT_S:-600}" -o json | tee "$TMP/jobs.json"
echo "jobs by status at the end: $(backlog_json)"
echo
echo "| jobs | in flight | submit phase s | submitted/s | first submit to last terminal s | jobs completed/s | failed | all terminal |"
echo "|---:|---:|---:|---:|---:|---:|---:|---|"
jq -r '"| \(.jobs.submitted) | \(.concurrency) | \(.jobs.submit_s * 100 | round / 100) | \(.committed_per_s | floor) | \(.jobs.first_submit_to_last_terminal_s * 100 | round / 100) | \(.jobs.completed_per_s | floor) | \(.jobs.failed) | \(.jobs.all_terminal) |"' "$TMP/jobs.json"
echo "load average at the end: $(loadavg)"
