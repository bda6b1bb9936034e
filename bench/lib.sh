# Shared by the bench/*.sh scripts: sourced, never run. Starts and stops local
# troupe and etcd clusters on 127.0.0.1, tracks every pid it starts, and removes
# its temporary directory (under TMP_ROOT, default /tmp: the nodes' data dirs go
# there) at exit unless KEEP_TMP=1; so it does the directories of EXTRA_DIRS.
#
#   source "$(dirname "$0")/lib.sh"
#   lib_init BUILD_DIR name      # tool paths, $TMP, traps
#   quiet_wait                   # bounded wait for ctest/raft_sim/cc1plus to end
#   free_ports 12                # -> PORTS array
#   troupe_configs N [opts]      # node1..N.toml in $TMP (ports from PORTS[0..2N-1])
#   troupe_start_node I; troupe_start N; troupe_wait_leader  # -> LEADER (id), LEADER_ADDR
#   troupe_start_warmed          # the three above for 3 nodes, a warm-up, HOLD_EXECUTION=1 drains them,
#                                # RUN_ON_LEADER=1 drains the followers only
#   etcd_start (PORTS[6..11]); etcd_wait_leader              # -> ELEADER (host:port)
#   node_metrics I; leader_metrics  # node I's / the leader's /metrics text, read now
#   backlog_json                 # job totals by status, read now, as one JSON object
#   backlog_wait_empty T P       # poll every P s until the backlog is 0 (status 1 after T s)
#   fsync_ref LABEL              # raw write+fdatasync rate -> $TMP/fsync-LABEL.txt
#   dockerd_start DIR            # private dockerd (scripts/test-dockerd.sh) -> DOCKER_SOCK,
#                                # or DOCKER_UNAVAILABLE (reason); stopped at exit
#   answered_between LOG A B WHAT  # submits of a loadgen --success-log answered in [A, B] ns: count, p50/p99/max
#   stop_pid PID; stop_all
# TROUPE_TLS=1: the troupe nodes get [tls] (certificates from
# scripts/make-certs.sh in $TMP/tls), and $CLI / $LOADGEN / leader_metrics
# trust their CA; the raft wire is then mutual TLS too.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables set here are read by the sourcing scripts

lib_init() {  # $1: build dir, $2: short name for the temp dir
  BUILD=${1:-build}
  NODE=$BUILD/tools/troupe-node
  CLI=$BUILD/tools/troupe
  LOADGEN=$BUILD/tools/troupe-loadgen
  LOGBENCH=$BUILD/bench/bench_log_store
  local b
  for b in "$NODE" "$CLI" "$LOADGEN"; do
    [[ -x $b ]] || { echo "missing $b (ninja -C $BUILD troupe-node troupe troupe-loadgen)" >&2; exit 2; }
  done
  command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }
  command -v python3 >/dev/null || { echo "needs python3" >&2; exit 2; }
  HAVE_ETCD=1
  if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then HAVE_ETCD=0; fi
  TMP=$(mktemp -d "${TMP_ROOT:-/tmp}/troupe-${2:-bench}.XXXXXX")
  EXTRA_DIRS=()
  PIDS=()
  declare -g -A NODE_PID=()
  DOCKERD_DIR=""
  trap lib_cleanup EXIT
  trap 'exit 130' INT TERM
  WEB=http CURL_CA=()
  if [[ ${TROUPE_TLS:-0} == 1 ]]; then
    bash "$(dirname "${BASH_SOURCE[0]}")/../scripts/make-certs.sh" "$TMP/tls" 1 2 3 4 5 >/dev/null
    local tool
    for tool in CLI LOADGEN; do  # the same tools, trusting the cluster CA
      printf '#!/bin/bash\nexec %q --ca-file %q "$@"\n' "${!tool}" "$TMP/tls/ca.crt" >"$TMP/${tool,,}-tls"
      chmod +x "$TMP/${tool,,}-tls"
      printf -v "$tool" '%s' "$TMP/${tool,,}-tls"
    done
    WEB=https CURL_CA=(--cacert "$TMP/tls/ca.crt")
  fi
}

stop_pid() {  # stop one process we started: TERM, up to 10 s, then KILL
  local pid=$1 _
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
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
  NODE_PID=()
}

lib_cleanup() {
  stop_all
  dockerd_stop
  if [[ ${KEEP_TMP:-0} == 1 ]]; then
    echo "kept $TMP ${EXTRA_DIRS[*]}" >&2
  else
    rm -rf "$TMP" "${EXTRA_DIRS[@]}" && date +%s >"$LAST_DELETE"
  fi
}

# On ext4 without a journal (this machine's disk) allocating an inode skips,
# one inode table lookup each, every inode of the group deleted in the last
# 60 s: right after a benchmark deleted its 50,000 output files, the next one
# spends a fifth of its CPU creating files. quiet_wait lets that window pass.
LAST_DELETE=/tmp/troupe-bench-last-delete

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# $1: a troupe-loadgen --success-log ("<answered ns> <sent ns>" per line),
# $2, $3: a window in ns since the epoch, $4: what the window was ("the
# backup") -> "submits answered during the backup: N, latency ms p50 p99 max"
# for the submits answered within it.
answered_between() {
  awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { print ($1 - $2) / 1e6 }' "$1" | sort -n |
    awk -v what="$4" '{ v[NR] = $1 } END { if (NR == 0) { print "no submit answered during " what; exit }
      printf "submits answered during %s: %d, latency ms p50 %.2f p99 %.2f max %.2f\n", what, NR, v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1], v[NR] }'
}

cpu_ticks() {  # "busy total" jiffies of all CPUs since boot (busy: everything but idle and iowait)
  awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

node_ticks() {  # CPU jiffies (user + system) the running troupe nodes' own threads used so far, summed
  local pid t=0
  for pid in "${NODE_PID[@]}"; do
    [[ -r /proc/$pid/stat ]] && t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
  done
  echo "$t"
}

cpu_busy_pct() {  # $1: "busy total" from cpu_ticks at the start -> % of all CPUs busy since then
  local b0 t0 b1 t1
  read -r b0 t0 <<<"$1"
  read -r b1 t1 <<<"$(cpu_ticks)"
  awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f", (t > 0 ? 100 * b / t : 0) }'
}

quiet_wait() {  # wait (bounded by QUIET_WAIT_S, default 1200) for other test/benchmark load to end
  local limit=${QUIET_WAIT_S:-1200} waited=0
  while pgrep -f "ctest|raft_sim|cc1plus" >/dev/null; do
    if (( waited >= limit )); then
      echo "WARNING: other load still running after ${limit}s; measuring anyway" >&2
      return 0
    fi
    (( waited % 60 == 0 )) && echo "waiting for other load to end (${waited}s): $(pgrep -fa 'ctest|raft_sim|cc1plus' | head -3 | cut -c1-100 | tr '\n' ';')" >&2
    sleep 10
    waited=$((waited + 10))
  done
  local since=$(( $(date +%s) - $(cat "$LAST_DELETE" 2>/dev/null || echo 0) ))
  if (( since < 65 )); then
    echo "waiting $((65 - since)) s: the last benchmark's files were deleted ${since} s ago (see LAST_DELETE in bench/lib.sh)"
    sleep $((65 - since))
    waited=$((waited + 65 - since))
  fi
  echo "machine quiet after ${waited}s of waiting; load average: $(loadavg)"
}

free_ports() {  # $1: how many -> PORTS
  read -r -a PORTS <<<"$(python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)"
}

fsync_ref() {  # $1: label; prints and keeps the raw 4 KiB write + fdatasync rate
  if [[ -x $LOGBENCH ]]; then
    echo "== raw fsync ($1): $LOGBENCH $TMP ${FSYNC_S:-1}"
    "$LOGBENCH" "$TMP" "${FSYNC_S:-1}" | tee "$TMP/fsync-$1.txt"
  else
    echo "== raw fsync ($1): dd bs=4k count=2000 oflag=dsync"
    dd if=/dev/zero of="$TMP/dd.bin" bs=4k count=2000 oflag=dsync 2>&1 | tail -1 | tee "$TMP/fsync-$1.txt"
    rm -f "$TMP/dd.bin"
  fi
}

fsync_summary() {  # $1: label -> "N syncs/s, M us per write+fdatasync" (first raw line)
  local rate
  rate=$(grep -m1 '^raw 4 KiB write + fdatasync:' "$TMP/fsync-$1.txt" 2>/dev/null | sed -E 's/.*: ([0-9.]+) syncs.*/\1/' || true)
  if [[ -n $rate && $rate != 0 ]]; then
    awk -v r="$rate" 'BEGIN { printf "%.0f syncs/s, %.0f us per write+fdatasync", r, 1e6 / r }'
  else
    tr '\n' ' ' <"$TMP/fsync-$1.txt"
  fi
}

# --- troupe ------------------------------------------------------------------
# troupe_configs N: node i listens on gRPC PORTS[i-1], HTTP PORTS[N+i-1], and
# on a raft wire port of its own (TROUPE_WIRE=0: none, appends on gRPC streams).
# TROUPE_EXECUTOR_TOML replaces the [executor] table's body (default: backend =
# "process"); TROUPE_EXTRA_TOML is appended to every config.
troupe_configs() {
  local n=$1 i j
  GRPC=() HTTP=() WIRE=()
  local saved=("${PORTS[@]}")
  free_ports "$n"
  local wire_ports=("${PORTS[@]}")
  PORTS=("${saved[@]}")
  for i in $(seq 1 "$n"); do
    GRPC+=("127.0.0.1:${PORTS[i-1]}")
    HTTP+=("127.0.0.1:${PORTS[n+i-1]}")
    WIRE+=("127.0.0.1:${wire_ports[i-1]}")
  done
  ALL_ADDRS=$(IFS=,; echo "${GRPC[*]}")
  for i in $(seq 1 "$n"); do
    {
      echo "[node]"
      echo "id = $i"
      echo "data_dir = \"$TMP/troupe-$i\""
      echo "[listen]"
      echo "grpc = \"${GRPC[i-1]}\""
      echo "http = \"${HTTP[i-1]}\""
      if [[ ${TROUPE_WIRE:-1} != 0 ]]; then echo "wire = \"${WIRE[i-1]}\""; fi
      for j in $(seq 1 "$n"); do
        echo "[[members]]"
        echo "id = $j"
        echo "address = \"${GRPC[j-1]}\""
        echo "http = \"${HTTP[j-1]}\""
        if [[ ${TROUPE_WIRE:-1} != 0 ]]; then echo "wire = \"${WIRE[j-1]}\""; fi
      done
      echo "[executor]"
      echo "${TROUPE_EXECUTOR_TOML:-backend = \"process\"}"
      echo "[jobs]"
      echo "max_active = 1000000   # measure the submit path, not admission control"
      echo "[log]"
      echo "level = \"${TROUPE_LOG_LEVEL:-warn}\""
      if [[ -n ${TROUPE_EXTRA_TOML:-} ]]; then echo "$TROUPE_EXTRA_TOML"; fi
      if [[ ${TROUPE_TLS:-0} == 1 ]]; then
        echo "[tls]"
        echo "cert_file = \"$TMP/tls/node-$i.crt\""
        echo "key_file = \"$TMP/tls/node-$i.key\""
        echo "ca_file = \"$TMP/tls/ca.crt\""
      fi
    } >"$TMP/node$i.toml"
  done
}

troupe_start_node() {  # $1: node id; appends to $TMP/node$1.log
  # Diagnostics (docs/BENCHMARKS.md, tenth round): NODE_PRELOAD, a library
  # for the nodes' LD_PRELOAD; NODE_ENV, more VAR=value words for the nodes
  # only (split on blanks).
  # shellcheck disable=SC2086
  env ${NODE_PRELOAD:+LD_PRELOAD=$NODE_PRELOAD} ${NODE_ENV:-} "$NODE" --config "$TMP/node$1.toml" >>"$TMP/node$1.log" 2>&1 &
  PIDS+=($!)
  NODE_PID[$1]=$!
}

troupe_start() {  # $1: node count (configs written first)
  local i
  echo "== troupe: $1 node(s) at ${GRPC[*]}"
  for i in $(seq 1 "$1"); do troupe_start_node "$i"; done
}

troupe_start_warmed() {  # 3 nodes (configs written), a leader, a warm-up; HOLD_EXECUTION=1: every node drained;
  # RUN_ON_LEADER=1: the followers drained
  troupe_configs 3
  troupe_start 3
  troupe_wait_leader 60
  # Warm-up: connections, first log segment, first apply.
  "$LOADGEN" --addr "$LEADER_ADDR" --concurrency 4 --count 200 --duration-s 30 >/dev/null
  if [[ ${HOLD_EXECUTION:-0} == 1 ]]; then
    local a
    for a in "${GRPC[@]}"; do "$CLI" -a "$a" cluster drain >/dev/null; done
    troupe_wait_leader 60  # draining the leader hands leadership over
    echo "== HOLD_EXECUTION=1: every node drained, no job runs (the consensus path alone)" >&2
  fi
  if [[ ${RUN_ON_LEADER:-0} == 1 ]]; then
    # Every job then runs where its result needs no ForwardJobStatus call
    # (docs/BENCHMARKS.md, fifteenth round). Draining a follower keeps the leader.
    local i
    for i in 1 2 3; do [[ $i == "$LEADER" ]] || "$CLI" -a "${GRPC[i-1]}" cluster drain >/dev/null; done
    troupe_wait_leader 60
    echo "== RUN_ON_LEADER=1: both followers drained, every job runs on the leader (node $LEADER)" >&2
  fi
}

troupe_leader_id() {  # prints the leader id known to any node, or 0
  "$CLI" -a "$ALL_ADDRS" -o json cluster status 2>/dev/null | jq -r '.leader_id // 0' 2>/dev/null || echo 0
}

troupe_wait_leader() {  # $1: timeout s (default 60) -> LEADER, LEADER_ADDR
  local limit=${1:-60} _
  LEADER=0
  for _ in $(seq 1 $((limit * 2))); do
    LEADER=$(troupe_leader_id)
    [[ -n $LEADER && $LEADER != 0 && $LEADER != null ]] && break
    LEADER=0
    sleep 0.5
  done
  if [[ $LEADER == 0 ]]; then
    echo "no troupe leader within ${limit} s; logs in $TMP" >&2
    KEEP_TMP=1
    exit 1
  fi
  LEADER_ADDR=${GRPC[LEADER-1]}
  echo "leader: node $LEADER ($LEADER_ADDR)"
}

node_metrics() {  # node $1's /metrics text, read now
  curl -fsS --max-time 5 "${CURL_CA[@]}" "$WEB://${HTTP[$1-1]}/metrics"
}

leader_metrics() {  # the leader's /metrics text, read now
  node_metrics "$LEADER"
}

backlog_json() {  # job totals by status at the leader, read now: {"pending":N,...,"backlog":N} (-1: unreadable)
  # One scrape of the leader's /metrics, not a CLI call and a jq per status:
  # polled every second through a drain, those were 5-9% of both CPUs.
  leader_metrics 2>/dev/null | awk '
    /^troupe_jobs\{status="[a-z]+"\} / { st = $1; sub(/^[^"]*"/, "", st); sub(/".*$/, "", st); n[st] = $2; ok = 1 }
    END {
      split("pending assigned running completed failed", order, " ")
      out = "{"
      for (i = 1; i <= 5; i++) { v = ok ? n[order[i]] + 0 : -1; out = out "\"" order[i] "\":" v "," }
      b = ok ? n["pending"] + n["assigned"] + n["running"] : -1
      printf "%s\"backlog\":%d}\n", out, b
    }'
}

backlog_wait_empty() {  # $1: timeout s, $2: seconds between polls -> 0 once the backlog reads 0, 1 at the timeout
  local t0
  t0=$(date +%s)
  until [[ $(backlog_json) == *'"backlog":0}' ]]; do
    (( $(date +%s) - t0 < $1 )) || return 1
    sleep "$2"
  done
}

# --- etcd --------------------------------------------------------------------
etcd_start() {  # 3 members, client ports PORTS[6..8], peer ports PORTS[9..11]
  local i
  ECLIENT=("127.0.0.1:${PORTS[6]}" "127.0.0.1:${PORTS[7]}" "127.0.0.1:${PORTS[8]}")
  EPEER=("127.0.0.1:${PORTS[9]}" "127.0.0.1:${PORTS[10]}" "127.0.0.1:${PORTS[11]}")
  local cluster="e1=http://${EPEER[0]},e2=http://${EPEER[1]},e3=http://${EPEER[2]}"
  echo "== etcd $(etcd --version | head -1 | awk '{print $3}'): 3 members at ${ECLIENT[*]}"
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$TMP/etcd-$i" \
      --listen-client-urls "http://${ECLIENT[i-1]}" --advertise-client-urls "http://${ECLIENT[i-1]}" \
      --listen-peer-urls "http://${EPEER[i-1]}" --initial-advertise-peer-urls "http://${EPEER[i-1]}" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "troupe-bench-$$" \
      --log-level warn >"$TMP/etcd$i.log" 2>&1 &
    PIDS+=($!)
  done
}

etcd_wait_leader() {  # -> ELEADER (host:port of the leader's client URL)
  local ep _
  ep=$(IFS=,; echo "${ECLIENT[*]}")
  ELEADER=""
  for _ in $(seq 1 120); do  # up to ~60 s
    ELEADER=$(ETCDCTL_API=3 etcdctl --endpoints="$ep" --command-timeout=2s endpoint status -w json 2>/dev/null |
      jq -r '.[] | select(.Status.leader == .Status.header.member_id) | .Endpoint' 2>/dev/null | head -1 || true)
    [[ -n $ELEADER ]] && break
    sleep 0.5
  done
  if [[ -z $ELEADER ]]; then
    echo "no etcd leader within 60 s; logs in $TMP" >&2
    KEEP_TMP=1
    exit 1
  fi
  ELEADER=${ELEADER#http://}
  echo "leader: $ELEADER"
}

# --- docker ------------------------------------------------------------------
# A private dockerd in its own network namespace with the test image
# local/busybox:latest imported (scripts/test-dockerd.sh; no registry).
dockerd_start() {  # $1: dir -> DOCKER_SOCK; DOCKER_UNAVAILABLE set (non-empty) when it cannot run
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  DOCKERD_DIR=$1
  DOCKER_SOCK=$DOCKERD_DIR/docker.sock
  DOCKER_UNAVAILABLE=""
  bash "$here/../scripts/test-dockerd.sh" start "$DOCKERD_DIR" >"$TMP/test-dockerd.log" 2>&1 ||
    DOCKER_UNAVAILABLE="test-dockerd.sh start failed: $(tail -n 3 "$TMP/test-dockerd.log" | tr '\n' ' ')"
  if [[ -z $DOCKER_UNAVAILABLE && -f $DOCKERD_DIR/unavailable ]]; then DOCKER_UNAVAILABLE=$(cat "$DOCKERD_DIR/unavailable"); fi
  if [[ -z $DOCKER_UNAVAILABLE ]]; then
    echo "== dockerd $(curl -sS --max-time 5 --unix-socket "$DOCKER_SOCK" http://d/version | jq -r '"\(.Version) (API \(.ApiVersion))"') at $DOCKER_SOCK"
  fi
}

dockerd_stop() {  # stops the dockerd that dockerd_start started, if any (by its pid file)
  [[ -n ${DOCKERD_DIR:-} ]] || return 0
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  bash "$here/../scripts/test-dockerd.sh" stop "$DOCKERD_DIR" >>"$TMP/test-dockerd.log" 2>&1 || true
  DOCKERD_DIR=""
}
