#!/usr/bin/env bash
# End-to-end SubmitJob throughput of a local 3-node troupe cluster, beside a
# 3-member etcd cluster's Put rate and the raw fsync rate, all measured in one
# run on this machine (see docs/BENCHMARKS.md).
#
#   bench/e2e_submit.sh [BUILD_DIR]          (default: build)
#
# Needs BUILD_DIR/tools/{troupe-node,troupe,troupe-loadgen} and
# BUILD_DIR/bench/bench_log_store; etcd and etcdctl (Debian: etcd-server,
# etcd-client) for the reference, which is skipped when they are missing.
# Everything listens on 127.0.0.1 (free ports picked at start); configs, data
# and logs go to a temporary directory, removed at the end unless KEEP_TMP=1.
# Environment: DURATION_S (5), CONCURRENCIES ("1 16 64"), QUIET_WAIT_S (1200:
# how long to wait for other test/benchmark load -- ctest, raft_sim, cc1plus --
# to end before measuring; measured anyway afterwards, and said so).
set -euo pipefail

BUILD=${1:-build}
DURATION_S=${DURATION_S:-5}
CONCURRENCIES=${CONCURRENCIES:-"1 16 64"}
QUIET_WAIT_S=${QUIET_WAIT_S:-1200}

NODE=$BUILD/tools/troupe-node
CLI=$BUILD/tools/troupe
LOADGEN=$BUILD/tools/troupe-loadgen
LOGBENCH=$BUILD/bench/bench_log_store
for b in "$NODE" "$CLI" "$LOADGEN"; do
  [[ -x $b ]] || { echo "missing $b (ninja -C $BUILD troupe-node troupe troupe-loadgen)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }
command -v python3 >/dev/null || { echo "needs python3 (free port lookup)" >&2; exit 2; }
HAVE_ETCD=1
command -v etcd >/dev/null && command -v etcdctl >/dev/null || HAVE_ETCD=0

TMP=$(mktemp -d /tmp/troupe-e2e.XXXXXX)
RESULTS=$TMP/results.jsonl
PIDS=()

stop_pid() {  # stop one process we started: TERM, up to 10 s, then KILL
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "pid $pid ignored SIGTERM for 10 s; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
stop_all() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  PIDS=()
}
cleanup() {
  stop_all
  if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- wait until no other test/benchmark load runs (bounded) -----------------
waited=0
quiet=1
while pgrep -f "ctest|raft_sim|cc1plus" >/dev/null; do
  if (( waited >= QUIET_WAIT_S )); then quiet=0; break; fi
  (( waited % 60 == 0 )) && echo "waiting for other load to end (${waited}s): $(pgrep -fa 'ctest|raft_sim|cc1plus' | head -3 | cut -c1-100 | tr '\n' ';')" >&2
  sleep 10
  waited=$((waited + 10))
done
if (( quiet )); then
  echo "machine quiet after ${waited}s of waiting; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
else
  echo "WARNING: other load still running after ${QUIET_WAIT_S}s; measuring anyway" >&2
fi

# --- free loopback ports: 6 for troupe (gRPC + HTTP), 6 for etcd (client + peer)
read -r -a PORTS <<<"$(python3 - <<'EOF'
import socket
socks = []
for _ in range(12):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)"

# --- fsync reference (before) -----------------------------------------------
fsync_ref() {  # $1: label
  if [[ -x $LOGBENCH ]]; then
    echo "== raw fsync ($1): $LOGBENCH $TMP 1"
    "$LOGBENCH" "$TMP" 1 | tee "$TMP/fsync-$1.txt"
  else
    echo "== raw fsync ($1): dd bs=4k count=2000 oflag=dsync"
    dd if=/dev/zero of="$TMP/dd.bin" bs=4k count=2000 oflag=dsync 2>&1 | tail -1 | tee "$TMP/fsync-$1.txt"
    rm -f "$TMP/dd.bin"
  fi
}
fsync_ref before

# --- troupe ----------------------------------------------------------------
GRPC=("127.0.0.1:${PORTS[0]}" "127.0.0.1:${PORTS[1]}" "127.0.0.1:${PORTS[2]}")
HTTP=("127.0.0.1:${PORTS[3]}" "127.0.0.1:${PORTS[4]}" "127.0.0.1:${PORTS[5]}")
for i in 1 2 3; do
  {
    echo "[node]"
    echo "id = $i"
    echo "data_dir = \"$TMP/troupe-$i\""
    echo "[listen]"
    echo "grpc = \"${GRPC[i-1]}\""
    echo "http = \"${HTTP[i-1]}\""
    for j in 1 2 3; do
      echo "[[members]]"
      echo "id = $j"
      echo "address = \"${GRPC[j-1]}\""
      echo "http = \"${HTTP[j-1]}\""
    done
    echo "[executor]"
    echo "backend = \"process\""
    echo "[jobs]"
    echo "max_active = 1000000   # measure the submit path, not admission control"
    echo "[log]"
    echo "level = \"warn\""
  } >"$TMP/node$i.toml"
done

echo "== troupe: 3 nodes at ${GRPC[*]}"
for i in 1 2 3; do
  "$NODE" --config "$TMP/node$i.toml" >"$TMP/node$i.log" 2>&1 &
  PIDS+=($!)
done
ALL_ADDRS=$(IFS=,; echo "${GRPC[*]}")
leader=0
for _ in $(seq 1 120); do  # up to ~60 s
  leader=$("$CLI" -a "$ALL_ADDRS" -o json cluster status 2>/dev/null | jq -r '.leader_id // 0' 2>/dev/null || echo 0)
  [[ $leader != 0 && -n $leader ]] && break
  leader=0
  sleep 0.5
done
[[ $leader != 0 ]] || { echo "no troupe leader within 60 s; logs in $TMP" >&2; KEEP_TMP=1; exit 1; }
echo "leader: node $leader"
# Warm-up: connections, first log segment, first apply.
"$LOADGEN" --addr "${GRPC[0]}" --concurrency 4 --count 200 --duration-s 30 >/dev/null
for c in $CONCURRENCIES; do
  "$LOADGEN" --addr "${GRPC[0]}" --concurrency "$c" --duration-s "$DURATION_S" -o json | tee -a "$RESULTS"
done
echo "jobs by status at the end (the executor runs them behind the submissions):"
for st in pending assigned running completed failed; do
  printf '  %-10s %s\n' "$st" "$("$CLI" -a "$ALL_ADDRS" -o json job list --status "$st" --page-size 1 2>/dev/null | jq -r '.total_count // "?"')"
done
stop_all

# --- etcd ------------------------------------------------------------------
if (( HAVE_ETCD )); then
  ECLIENT=("127.0.0.1:${PORTS[6]}" "127.0.0.1:${PORTS[7]}" "127.0.0.1:${PORTS[8]}")
  EPEER=("127.0.0.1:${PORTS[9]}" "127.0.0.1:${PORTS[10]}" "127.0.0.1:${PORTS[11]}")
  CLUSTER="e1=http://${EPEER[0]},e2=http://${EPEER[1]},e3=http://${EPEER[2]}"
  echo "== etcd $(etcd --version | head -1 | awk '{print $3}'): 3 members at ${ECLIENT[*]}"
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$TMP/etcd-$i" \
      --listen-client-urls "http://${ECLIENT[i-1]}" --advertise-client-urls "http://${ECLIENT[i-1]}" \
      --listen-peer-urls "http://${EPEER[i-1]}" --initial-advertise-peer-urls "http://${EPEER[i-1]}" \
      --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token "troupe-e2e-$$" \
      --log-level warn >"$TMP/etcd$i.log" 2>&1 &
    PIDS+=($!)
  done
  EP=$(IFS=,; echo "${ECLIENT[*]}")
  eleader=""
  for _ in $(seq 1 120); do  # up to ~60 s
    eleader=$(ETCDCTL_API=3 etcdctl --endpoints="$EP" --command-timeout=2s endpoint status -w json 2>/dev/null |
      jq -r '.[] | select(.Status.leader == .Status.header.member_id) | .Endpoint' 2>/dev/null | head -1 || true)
    [[ -n $eleader ]] && break
    sleep 0.5
  done
  [[ -n $eleader ]] || { echo "no etcd leader within 60 s; logs in $TMP" >&2; KEEP_TMP=1; exit 1; }
  eleader=${eleader#http://}
  echo "leader: $eleader"
  "$LOADGEN" --etcd --addr "$eleader" --concurrency 4 --count 200 --duration-s 30 >/dev/null
  for c in $CONCURRENCIES; do
    "$LOADGEN" --etcd --addr "$eleader" --concurrency "$c" --duration-s "$DURATION_S" -o json | tee -a "$RESULTS"
  done
  stop_all
else
  echo "== etcd/etcdctl not installed: etcd reference skipped" >&2
fi

fsync_ref after

# --- summary -----------------------------------------------------------------
echo
echo "| system | concurrency | committed/s | p50 ms | p99 ms | max ms | retries (RE / redirect / other) | errors |"
echo "|---|---:|---:|---:|---:|---:|---|---|"
jq -r '"| \(.target) | \(.concurrency) | \(.committed_per_s | floor) | \(.latency_ms.p50*100|round/100) | \(.latency_ms.p99*100|round/100) | \(.latency_ms.max*100|round/100) | \(.retries.RESOURCE_EXHAUSTED) / \(.retries.redirect) / \(.retries.no_leader + .retries.UNAVAILABLE) | \(if .errors_total == 0 then "0" else (.errors | to_entries | map("\(.key) \(.value)") | join(", ")) end) |"' "$RESULTS"
for f in before after; do echo "fsync $f: $(grep -h "^raw" "$TMP/fsync-$f.txt" | tr "\n" ";" || cat "$TMP/fsync-$f.txt")"; done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
