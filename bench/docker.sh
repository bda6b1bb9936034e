#!/usr/bin/env bash
# troupe's overhead over Docker itself (performance issue #12): COUNT
# containers of local/busybox:latest running `true` on a private dockerd
# (scripts/test-dockerd.sh: own network namespace, image imported from
# /bin/busybox, no registry), for each concurrency C in CONCURRENCIES:
#
#   reference   bench_docker_ref: the Docker backend's own calls (create with
#               the same body, start, wait, logs, inspect, remove) through the
#               same HTTP client (runtime/exec/docker_client), C threads; no
#               scheduling. Run before and after each troupe run (the
#               machine is shared; the two runs show the drift) and each
#               round's overhead uses the mean of the two runs around it.
#   backend     (BACKEND_REF=1, default) bench_docker_ref --mode backend:
#               docker_backend::run() itself, i.e. plus the on-disk job output
#               store; still no scheduling.
#   store       bench_docker_ref --mode store: no container, only the node's
#               per-job disk work around backend::run() (record_start, output
#               files, meta.json; six fsyncs), to price that part.
#   troupe      a fresh 1-node troupe cluster, [executor] backend = "docker" on
#               that daemon, [worker] capacity = C; troupe-loadgen --mode jobs
#               submits COUNT jobs (`true`, --image local/busybox:latest) and
#               waits until all are terminal (polling every POLL_MS, 200);
#               jobs/s = COUNT / (last completed_at - first created_at), the
#               jobs' own timestamps, so the poll interval does not quantize it.
#               The poll is kept slow on purpose: at 20 ms (3 ListJobs a poll)
#               it took enough CPU on a 2-core machine to slow the containers
#               by ~10% at C = 1 (troupe exec 0.158 s vs 0.146 s at 200 ms).
#
# ROUNDS (default 3) troupe runs per C, each between two reference runs
# (reference, troupe, reference, troupe, ..., reference): the daemon's own
# rate drifts by up to a quarter within minutes here, more than the 10%
# target, so one troupe run beside one reference tells little; the summary
# gives every round's overhead and their median.
#
# One node, not three: the reference is one daemon driven at concurrency C;
# one node with capacity C runs exactly C containers at a time on it, while
# three nodes would each run C (3C on one daemon) and measure something else.
# The one node still commits every job transition through its Raft log (fsync).
#
#   bench/docker.sh [BUILD_DIR]          (default: build)
#
# Environment: COUNT (100), CONCURRENCIES ("1 4"), ROUNDS (3), BACKEND_REF (1), POLL_MS (200),
# SUBMIT_CONCURRENCY (16), COMPLETE_TIMEOUT_S (600), FSYNC_REF (1: measure the
# raw fsync rate first), QUIET_WAIT_S (as bench/compare.sh), KEEP_TMP. Exits 0 with a "skipped" line when no dockerd
# can run here.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" docker
REF=$BUILD/bench/bench_docker_ref
[[ -x $REF ]] || { echo "missing $REF (ninja -C $BUILD bench_docker_ref)" >&2; exit 2; }
COUNT=${COUNT:-100}
CONCURRENCIES=${CONCURRENCIES:-1 4}
ROUNDS=${ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "ROUNDS is 1-99" >&2; exit 2; }
IMAGE=local/busybox:latest

dockerd_start "$TMP/dockerd"
if [[ -n $DOCKER_UNAVAILABLE ]]; then
  echo "docker bench skipped: $DOCKER_UNAVAILABLE"
  exit 0
fi
quiet_wait
# The job output store and the Raft log fsync on this disk: its rate explains part of the gap.
if [[ ${FSYNC_REF:-1} == 1 ]]; then fsync_ref start; fi

# Per-job times of the troupe run from the leader's HTTP API (started_at and
# completed_at are the executing node's own clock readings): exec = started ->
# completed; latency = created -> completed (includes queueing behind the
# other jobs); cycle = gap between consecutive completions; idle = from one
# job's completion to the next job's start (C = 1: the worker's idle time).
troupe_job_times() {  # $1: HTTP host:port -> one JSON object
  python3 - "$1" <<'EOF'
import json, sys, urllib.request, datetime
base = "http://" + sys.argv[1] + "/api/jobs?page_size=500"
def ns(s):
    # RFC 3339 with up to 9 fractional digits, "Z"
    main, frac = s.rstrip("Z").split(".") if "." in s else (s.rstrip("Z"), "0")
    t = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 10**9 + int(frac.ljust(9, "0")[:9])
jobs, token = [], ""
for _ in range(10000):
    with urllib.request.urlopen(base + ("&page_token=" + token if token else ""), timeout=30) as r:
        jobs += json.load(r)
        token = r.headers.get("X-Next-Page-Token") or ""
    if not token:
        break
def stats(v):
    v = sorted(v)
    if not v:
        return {"mean": 0, "p50": 0, "p99": 0, "max": 0}
    pct = lambda p: v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
    return {"mean": sum(v) / len(v), "p50": pct(0.5), "p99": pct(0.99), "max": v[-1]}
done = [j for j in jobs if j.get("completed_at")]
ex = [(ns(j["completed_at"]) - ns(j["started_at"])) / 1e9 for j in done if j.get("started_at")]
lat = [(ns(j["completed_at"]) - ns(j["created_at"])) / 1e9 for j in done]
ends = sorted(ns(j["completed_at"]) for j in done)
cyc = [(b - a) / 1e9 for a, b in zip(ends, ends[1:])]
# idle: from a completion to the next job's start (by start time); at C = 1 the
# worker is idle then, so this is troupe's scheduling time per job.
runs = sorted((ns(j["started_at"]), ns(j["completed_at"])) for j in done if j.get("started_at"))
idle = [(s2 - e1) / 1e9 for (s1, e1), (s2, e2) in zip(runs, runs[1:])]
by = {}
for j in jobs:
    by[j["status"]] = by.get(j["status"], 0) + 1
print(json.dumps({"jobs": len(jobs), "by_status": by, "images": sorted({j.get("image") or "" for j in jobs}),
                  "exec_s": stats(ex), "latency_s": stats(lat), "cycle_s": stats(cyc), "idle_s": stats(idle),
                  "span_s": (max(ends) - min(ns(j["created_at"]) for j in jobs)) / 1e9 if ends else 0}))
EOF
}

cpu_s() {  # $1: pid -> user + system CPU seconds it has used (0 when gone)
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
dockerd_cpu_s() {  # dockerd and its containerd (its child)
  local d total=0 p
  d=$(cat "$DOCKERD_DIR/dockerd.pid" 2>/dev/null || echo 0)
  for p in $d $(pgrep -P "$d" 2>/dev/null || true); do total=$(awk -v a="$total" -v b="$(cpu_s "$p")" 'BEGIN { print a + b }'); done
  echo "$total"
}

ref_run() {  # $1: C, $2: mode, $3: label -> $TMP/ref-$3-C.json
  echo "== reference ($2, $3): $COUNT containers, concurrency $1"
  local d0
  d0=$(dockerd_cpu_s)
  "$REF" --socket "$DOCKER_SOCK" --image "$IMAGE" --count "$COUNT" --concurrency "$1" --mode "$2" --json |
    tee "$TMP/ref-$3-$1.json"
  echo "dockerd+containerd CPU s during it: $(awk -v a="$d0" -v b="$(dockerd_cpu_s)" 'BEGIN { printf "%.2f", b - a }')"
}

troupe_run() {  # $1: C, $2: round -> $TMP/troupe-C-R.json, $TMP/troupe-times-C-R.json
  local c=$1 r=$2
  rm -rf "$TMP"/troupe-1 "$TMP"/node1.toml
  free_ports 2
  TROUPE_EXECUTOR_TOML="backend = \"docker\"
docker_socket = \"$DOCKER_SOCK\"" \
    TROUPE_EXTRA_TOML="[worker]
capacity = $c" troupe_configs 1
  troupe_start 1
  troupe_wait_leader 60
  echo "== troupe (round $r): $COUNT jobs, capacity $c, image $IMAGE"
  local d0 n0
  d0=$(dockerd_cpu_s)
  n0=$(cpu_s "${NODE_PID[1]}")
  "$LOADGEN" --addr "$LEADER_ADDR" --mode jobs --count "$COUNT" --concurrency "${SUBMIT_CONCURRENCY:-16}" \
    --command true --image "$IMAGE" --poll-ms "${POLL_MS:-200}" \
    --complete-timeout-s "${COMPLETE_TIMEOUT_S:-600}" -o json | tee "$TMP/troupe-$c-$r.json"
  echo "troupe-node CPU s during it: $(awk -v a="$n0" -v b="$(cpu_s "${NODE_PID[1]}")" 'BEGIN { printf "%.2f", b - a }');" \
    "dockerd+containerd CPU s: $(awk -v a="$d0" -v b="$(dockerd_cpu_s)" 'BEGIN { printf "%.2f", b - a }')"
  troupe_job_times "${HTTP[0]}" | tee "$TMP/troupe-times-$c-$r.json"
  echo "jobs by status at the end: $(backlog_json)"
  stop_all
  # Containers troupe left behind would slow the next run; there should be none.
  local left
  left=$(curl -sS --max-time 10 --unix-socket "$DOCKER_SOCK" 'http://d/v1.41/containers/json?all=1' | jq length)
  [[ $left == 0 ]] || echo "WARNING: $left containers left on the daemon after the troupe run" >&2
}

# Per C: the backend and store references once, then reference 0, troupe 1,
# reference 1, ..., troupe ROUNDS, reference ROUNDS.
for c in $CONCURRENCIES; do
  if [[ ${BACKEND_REF:-1} == 1 ]]; then ref_run "$c" backend backend; fi
  ref_run "$c" store store
  ref_run "$c" client client0
  for ((r = 1; r <= ROUNDS; r++)); do
    troupe_run "$c" "$r"
    ref_run "$c" client "client$r"
  done
done

echo
echo "troupe: 1 node, docker backend, [worker] capacity = C; reference: the backend's own Docker API calls, C threads,"
echo "run before the first troupe run and after each. Round i's overhead % = (reference containers/s / troupe jobs/s - 1) x 100,"
echo "reference = mean of the runs just before and just after it; troupe jobs/s = jobs / (last completed_at - first created_at)."
echo
echo "| C | reference containers/s, in run order | backend.run() containers/s | troupe jobs/s, each round | overhead %, each round | median overhead % | all COMPLETED |"
echo "|---:|---|---:|---|---|---:|---|"
for c in $CONCURRENCIES; do
  refs=() ts=() ok=true
  for ((r = 0; r <= ROUNDS; r++)); do refs+=("$(jq .containers_per_s "$TMP/ref-client$r-$c.json")"); done
  for ((r = 1; r <= ROUNDS; r++)); do
    ts+=("$(jq --argjson n "$COUNT" 'if .span_s > 0 then $n / .span_s else 0 end' "$TMP/troupe-times-$c-$r.json")")
    [[ $(jq -r --argjson n "$COUNT" --slurpfile tt "$TMP/troupe-times-$c-$r.json" \
      '(.jobs.all_terminal and .jobs.failed == 0 and ($tt[0].by_status.completed // 0) == $n)' "$TMP/troupe-$c-$r.json") == true ]] ||
      ok=false
  done
  be="-"
  [[ -f $TMP/ref-backend-$c.json ]] && be=$(jq '.containers_per_s * 100 | round / 100' "$TMP/ref-backend-$c.json")
  awk -v c="$c" -v refs="${refs[*]}" -v ts="${ts[*]}" -v be="$be" -v ok="$ok" 'BEGIN {
    nr = split(refs, rf, " "); nt = split(ts, t, " ")
    for (i = 1; i <= nr; i++) rs = rs (i > 1 ? ", " : "") sprintf("%.2f", rf[i])
    for (i = 1; i <= nt; i++) {
      tx = tx (i > 1 ? ", " : "") sprintf("%.2f", t[i])
      o[i] = t[i] > 0 ? ((rf[i] + rf[i + 1]) / 2 / t[i] - 1) * 100 : 1e9  # a round with no job done sorts last
      ox = ox (i > 1 ? ", " : "") (t[i] > 0 ? sprintf("%.1f", o[i]) : "-")
    }
    for (i = 2; i <= nt; i++) for (j = i; j > 1 && o[j - 1] > o[j]; j--) { x = o[j]; o[j] = o[j - 1]; o[j - 1] = x }
    m = nt % 2 ? o[(nt + 1) / 2] : (o[nt / 2] + o[nt / 2 + 1]) / 2
    printf "| %d | %s | %s | %s | %s | %s | %s |\n", c, rs, be, tx, ox, (m < 1e8 ? sprintf("%.1f", m) : "-"), ok }'
done
echo
echo "Seconds per container / job, round 1 (mean / p50 / p99):"
echo
echo "| C | reference container (before) | reference container (after) | backend.run() | job disk work alone (store) | troupe exec (started -> completed) | troupe cycle (gap between completions) | troupe idle (completed -> next started) | troupe latency (created -> completed) |"
echo "|---:|---|---|---|---|---|---|---|---|"
for c in $CONCURRENCIES; do
  f='"\(.mean * 1000 | round / 1000) / \(.p50 * 1000 | round / 1000) / \(.p99 * 1000 | round / 1000)"'
  rb=$(jq -r ".container_s | $f" "$TMP/ref-client0-$c.json")
  ra=$(jq -r ".container_s | $f" "$TMP/ref-client1-$c.json")
  be="-"
  [[ -f $TMP/ref-backend-$c.json ]] && be=$(jq -r ".container_s | $f" "$TMP/ref-backend-$c.json")
  st=$(jq -r ".container_s | $f" "$TMP/ref-store-$c.json")
  te=$(jq -r ".exec_s | $f" "$TMP/troupe-times-$c-1.json")
  tc=$(jq -r ".cycle_s | $f" "$TMP/troupe-times-$c-1.json")
  ti="n/a (C > 1)"
  [[ $c == 1 ]] && ti=$(jq -r ".idle_s | $f" "$TMP/troupe-times-$c-1.json")
  tl=$(jq -r ".latency_s | $f" "$TMP/troupe-times-$c-1.json")
  echo "| $c | $rb | $ra | $be | $st | $te | $tc | $ti | $tl |"
done
echo
echo "Reference per step, mean s (the first run):"
echo
echo "| C | create | start | wait | logs | inspect | remove |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONCURRENCIES; do
  jq -r --arg c "$c" '.step_s | "| \($c) | \(.create.mean) | \(.start.mean) | \(.wait.mean) | \(.logs.mean) | \(.inspect.mean) | \(.remove.mean) |"' "$TMP/ref-client0-$c.json"
done
if [[ ${FSYNC_REF:-1} == 1 ]]; then echo "raw fsync at the start: $(fsync_summary start)"; fi
echo "load average at the end: $(loadavg)"
