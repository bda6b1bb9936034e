#!/usr/bin/env bash
# Backups of one serving 1M-job node (bench_scale's data dir, as in
# bench/scale.sh) by two CLI binaries in turn, while troupe-loadgen submits at
# 16 in flight throughout: per backup, its time through the CLI and the
# submits the node answered within it (p50, p99, max). One node and one load
# for both sides, so only the CLI differs (e.g. how it writes its file).
#
#   bench/backup_ab.sh BUILD_DIR CLI_A CLI_B      (A first in every pair)
#
# Environment: PAIRS (4), JOBS (1000000), SETTLE_S (45: the restarted node's
# own jobs and its re-queue of the lost workers' jobs are over by then),
# QUIET_WAIT_S (as bench/compare.sh), KEEP_TMP.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

(( $# == 3 )) || { echo "usage: $0 BUILD_DIR CLI_A CLI_B" >&2; exit 2; }
lib_init "$1" backup-ab
CLI_A=$2 CLI_B=$3
for b in "$CLI_A" "$CLI_B" "$BUILD/bench/bench_scale"; do [[ -x $b ]] || { echo "missing $b" >&2; exit 2; }; done
PAIRS=${PAIRS:-4}
JOBS=${JOBS:-1000000}

quiet_wait
free_ports 2
TROUPE_EXTRA_TOML=$'[raft]\nsnapshot_every = 1000' troupe_configs 1
echo "== bench_scale --jobs $JOBS: the data dir"
"$BUILD/bench/bench_scale" --jobs "$JOBS" --dir "$TMP" --data-dir "$TMP/troupe-1" >/dev/null
troupe_start_node 1
troupe_wait_leader 600  # restoring the 1M-job snapshot takes a few s
sleep "${SETTLE_S:-45}"

# Each backup is followed by 8 s of load alone; ~14 s a backup in all.
"$LOADGEN" --addr "${GRPC[0]}" --concurrency 16 --duration-s $(( PAIRS * 2 * 16 + 10 )) \
  --success-log "$TMP/submits.log" -o json >"$TMP/load.json" &
PIDS+=($!)
load_pid=$!
sleep 3
echo "== $PAIRS pairs: A $CLI_A, B $CLI_B; submits at 16 in flight throughout"
for i in $(seq 1 "$PAIRS"); do
  for side in A B; do
    cli=$CLI_A
    [[ $side == B ]] && cli=$CLI_B
    rm -f "$TMP/backup.snap"
    b0=$(date +%s%N)
    "$cli" -a "${GRPC[0]}" snapshot save "$TMP/backup.snap" --timeout 300 >/dev/null
    b1=$(date +%s%N)
    sleep 3  # the success log is written as submits are answered
    echo "pair $i $side: backup $(( (b1 - b0) / 1000000 )) ms; $(answered_between "$TMP/submits.log" "$b0" "$b1" "it")"
    sleep 5
  done
done
wait "$load_pid" || true
jq -r '"submits over the run: \(.committed) committed, latency ms p99 \(.latency_ms.p99), errors \(.errors_total)"' "$TMP/load.json"
echo "load average at the end: $(loadavg)"
