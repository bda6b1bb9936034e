#!/usr/bin/env bash
# troupe's overhead over Docker itself (performance issue #12): COUNT
# containers of local/busybox:latest running `true` on a private dockerd
# (scripts/test-dockerd.sh: own network namespace, image imported from
# /bin/busybox, no registry), for each concurrency C in CONCURRENCIES:
#
#   reference   bench_docker_ref: the Docker backend's own calls (create with
#               the same body, start, wait, logs, inspect, remove) through the
#               same HTTP client (runtime/exec/docker_client), C threads; no
#               scheduling. Run before and after troupe (the machine is shared;
#               the two runs show the drift) and the overhead uses their mean.
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
# One node, not three: the reference is one daemon driven at concurrency C;
# one node with capacity C runs exactly C containers at a time on it, while
# three nodes would each run C (3C on one daemon) and measure something else.
# The one node still commits every job transition through its Raft log (fsync).
#
#   bench/docker.sh [BUILD_DIR]          (default: build)
#
# Environment: COUNT (100), CONCURRENCIES ("1 4"), BACKEND_REF (1), POLL_MS (200),
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

troupe_run() {  # $1: C -> $TMP/troupe-C.json, $TMP/troupe-times-C.json
  local c=$1
  rm -rf "$TMP"/troupe-1 "$TMP"/node1.toml
  free_ports 2
  TROUPE_EXECUTOR_TOML="backend = \"docker\"
docker_socket = \"$DOCKER_SOCK\"" \
    TROUPE_EXTRA_TOML="[worker]
capacity = $c" troupe_configs 1
  troupe_start 1
  troupe_wait_leader 60
  echo "== troupe: $COUNT jobs, capacity $c, image $IMAGE"
  local d0 n0
  d0=$(dockerd_cpu_s)
  n0=$(cpu_s "${NODE_PID[1]}")
  "$LOADGEN" --addr "$LEADER_ADDR" --mode jobs --count "$COUNT" --concurrency "${SUBMIT_CONCURRENCY:-16}" \
    --command true --image "$IMAGE" --poll-ms "${POLL_MS:-200}" \
    --complete-timeout-s "${COMPLETE_TIMEOUT_S:-600}" -o json | tee "$TMP/troupe-$c.json"
  echo "troupe-node CPU s during it: $(awk -v a="$n0" -v b="$(cpu_s "${NODE_PID[1]}")" 'BEGIN { printf "%.2f", b - a }');" \
    "dockerd+containerd CPU s: $(awk -v a="$d0" -v b="$(dockerd_cpu_s)" 'BEGIN { printf "%.2f", b - a }')"
  troupe_job_times "${HTTP[0]}" | tee "$TMP/troupe-times-$c.json"
  echo "jobs by status at the end: $(backlog_json)"
  stop_all
  # Containers troupe left behind would slow the next run; there should be none.
  local left
  left=$(curl -sS --max-time 10 --unix-socket "$DOCKER_SOCK" 'http://d/v1.41/containers/json?all=1' | jq length)
  [[ $left == 0 ]] || echo "WARNING: $left containers left on the daemon after the troupe run" >&2
}

for c in $CONCURRENCIES; do
  ref_run "$c" client before
  if [[ ${BACKEND_REF:-1} == 1 ]]; then ref_run "$c" backend backend; fi
  ref_run "$c" store store
  troupe_run "$c"
  ref_run "$c" client after
done

echo
echo "troupe: 1 node, docker backend, [worker] capacity = C; reference: the backend's own Docker API calls, C threads."
echo "overhead % = (reference containers/s / troupe jobs/s - 1) x 100, reference = mean of the runs before and after;"
echo "troupe jobs/s = jobs / (last completed_at - first created_at)."
echo
echo "| C | reference containers/s (before, after) | backend.run() containers/s | troupe jobs/s | overhead % | all COMPLETED |"
echo "|---:|---:|---:|---:|---:|---|"
for c in $CONCURRENCIES; do
  b=$(jq .containers_per_s "$TMP/ref-before-$c.json")
  a=$(jq .containers_per_s "$TMP/ref-after-$c.json")
  be="-"
  [[ -f $TMP/ref-backend-$c.json ]] && be=$(jq '.containers_per_s * 100 | round / 100' "$TMP/ref-backend-$c.json")
  t=$(jq --argjson n "$COUNT" 'if .span_s > 0 then $n / .span_s else 0 end' "$TMP/troupe-times-$c.json")
  ok=$(jq -r --argjson n "$COUNT" --slurpfile tt "$TMP/troupe-times-$c.json" \
    '(.jobs.all_terminal and .jobs.failed == 0 and ($tt[0].by_status.completed // 0) == $n)' "$TMP/troupe-$c.json")
  awk -v c="$c" -v b="$b" -v a="$a" -v be="$be" -v t="$t" -v ok="$ok" 'BEGIN {
    r = (a + b) / 2
    printf "| %d | %.2f (%.2f, %.2f) | %s | %.2f | %s | %s |\n", c, r, b, a, be, t, (t > 0 ? sprintf("%.1f", (r / t - 1) * 100) : "-"), ok }'
done
echo
echo "Seconds per container / job (mean / p50 / p99):"
echo
echo "| C | reference container (before) | reference container (after) | backend.run() | job disk work alone (store) | troupe exec (started -> completed) | troupe cycle (gap between completions) | troupe idle (completed -> next started) | troupe latency (created -> completed) |"
echo "|---:|---|---|---|---|---|---|---|---|"
for c in $CONCURRENCIES; do
  f='"\(.mean * 1000 | round / 1000) / \(.p50 * 1000 | round / 1000) / \(.p99 * 1000 | round / 1000)"'
  rb=$(jq -r ".container_s | $f" "$TMP/ref-before-$c.json")
  ra=$(jq -r ".container_s | $f" "$TMP/ref-after-$c.json")
  be="-"
  [[ -f $TMP/ref-backend-$c.json ]] && be=$(jq -r ".container_s | $f" "$TMP/ref-backend-$c.json")
  st=$(jq -r ".container_s | $f" "$TMP/ref-store-$c.json")
  te=$(jq -r ".exec_s | $f" "$TMP/troupe-times-$c.json")
  tc=$(jq -r ".cycle_s | $f" "$TMP/troupe-times-$c.json")
  ti="n/a (C > 1)"
  [[ $c == 1 ]] && ti=$(jq -r ".idle_s | $f" "$TMP/troupe-times-$c.json")
  tl=$(jq -r ".latency_s | $f" "$TMP/troupe-times-$c.json")
  echo "| $c | $rb | $ra | $be | $st | $te | $tc | $ti | $tl |"
done
echo
echo "Reference per step, mean s (before run):"
echo
echo "| C | create | start | wait | logs | inspect | remove |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONCURRENCIES; do
  jq -r --arg c "$c" '.step_s | "| \($c) | \(.create.mean) | \(.start.mean) | \(.wait.mean) | \(.logs.mean) | \(.inspect.mean) | \(.remove.mean) |"' "$TMP/ref-before-$c.json"
done
if [[ ${FSYNC_REF:-1} == 1 ]]; then echo "raw fsync at the start: $(fsync_summary start)"; fi
echo "load average at the end: $(loadavg)"
