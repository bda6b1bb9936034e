#!/usr/bin/env bash
# README command 1: installs, builds, starts a local 3-node cluster from
# deploy/local/, submits a job, prints its output, and keeps the cluster
# running with the dashboard URL on screen until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
TROUPE_BUILD_TARGETS="troupe-node troupe" "$root/scripts/build.sh"
bin="$root/build/tools"
work=${TROUPE_DEMO_DIR:-$root/data/demo}
mkdir -p "$work"
cd "$work"

# Executor: Docker when a daemon answers on its socket, else plain processes.
sock=/var/run/docker.sock
executor=process
if curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
  executor=docker
  if ! curl -sf --unix-socket "$sock" http://d/v1.41/images/local/busybox:latest/json >/dev/null; then
    # No registry is reachable here: build the demo image from busybox-static.
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for t in sh echo cat sleep ls head tail uname date; do ln -s busybox "$rootfs/bin/$t"; done
    tar -C "$rootfs" -c . | curl -sf --unix-socket "$sock" -X POST -H 'Content-Type: application/x-tar' \
      --data-binary @- "http://d/v1.41/images/create?fromSrc=-&repo=local/busybox&tag=latest" >/dev/null
    rm -rf "$rootfs"
  fi
fi
echo "demo: executor backend: $executor"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: cluster stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM
for i in 1 2 3; do
  "$bin/troupe-node" --config "$root/deploy/local/node$i.toml" --executor "$executor" >"node$i.log" 2>&1 &
  pids+=($!)
done
echo "demo: started nodes ${pids[*]} (logs in $work/node{1,2,3}.log)"

for _ in $(seq 1 50); do
  curl -sf http://127.0.0.1:8081/health/ready >/dev/null 2>&1 && break
  sleep 0.2
done
"$bin/troupe" -a 127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053 cluster status

echo
echo "demo: submitting a job to a follower (node 2); the client follows the redirect to the leader"
"$bin/troupe" -a 127.0.0.1:50052,127.0.0.1:50051,127.0.0.1:50053 job submit --wait 'echo "hello from troupe on $(uname -n)"; date'
echo
echo "demo: dashboard: http://127.0.0.1:8081/   (REST: http://127.0.0.1:8081/api/cluster)"
echo "demo: CLI:       $bin/troupe -a 127.0.0.1:50051 job list"
echo "demo: press Ctrl-C to stop"
wait
