#!/usr/bin/env bash
# Private dockerd for the exec tests.
#
#   test-dockerd.sh start DIR   start a dockerd whose socket is DIR/docker.sock and
#                               import the test images local/busybox:latest and
#                               local/busybox-alt:latest, built here from the
#                               static busybox binary (no registry is ever used)
#   test-dockerd.sh stop DIR    stop that dockerd by its pid and remove DIR/data
#
# The daemon runs in its own network namespace (unshare --net), so no container
# traffic can leave the machine and a pull of a missing image fails at once.
#
# When dockerd cannot start at all, `start` still exits 0 but writes the reason
# to DIR/unavailable and prints it loudly; the docker tests then skip themselves
# (exit code 77) and print the same reason.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$(realpath -m "$2")
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
busybox_bin=${TROUPE_TEST_BUSYBOX:-/bin/busybox}

unavailable() {
  echo "$1" >"$dir/unavailable"
  echo "##########################################################################" >&2
  echo "# test-dockerd: DOCKER TESTS WILL BE SKIPPED: $1" >&2
  echo "##########################################################################" >&2
  exit 0
}

api() { curl -sS --max-time 60 --unix-socket "$sock" "$@"; }

# Builds a rootfs holding busybox, its applet links and /etc/troupe-image
# containing $2, tars it and imports it as image $1 (repo:tag).
import_image() {
  local repo=${1%:*} tag=${1##*:} marker=$2
  local root="$dir/rootfs-$marker"
  rm -rf "$root"
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
  cp "$busybox_bin" "$root/bin/busybox"
  local applet
  for applet in sh echo sleep cat head tail dd yes true false ls ps kill env printf seq wc tr; do
    ln -s busybox "$root/bin/$applet"
  done
  echo "$marker" >"$root/etc/troupe-image"
  tar -C "$root" -cf "$dir/rootfs-$marker.tar" .
  local out
  out=$(api -X POST -H 'Content-Type: application/x-tar' --data-binary "@$dir/rootfs-$marker.tar" \
    "http://d/v1.41/images/create?fromSrc=-&repo=$repo&tag=$tag") || return 1
  if grep -q '"error"' <<<"$out"; then
    echo "import of $1 failed: $out" >&2
    return 1
  fi
  rm -rf "$root" "$dir/rootfs-$marker.tar"
}

start() {
  mkdir -p "$dir"
  rm -f "$dir/unavailable"
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "test-dockerd: already running with pid $(cat "$pidfile")" >&2
    return 0
  fi
  command -v dockerd >/dev/null || unavailable "dockerd is not installed"
  command -v unshare >/dev/null || unavailable "unshare is not installed"
  [[ -x $busybox_bin ]] || unavailable "no busybox binary at $busybox_bin (install busybox-static)"
  [[ $(id -u) -eq 0 ]] || unavailable "dockerd needs root (running as uid $(id -u))"

  # setsid: the daemon must outlive this script and ctest's process group.
  setsid unshare --net dockerd --storage-driver=overlay2 --iptables=false --ip-masq=false --bridge=none \
    -H "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  local launcher=$!

  local i
  for ((i = 0; i < 150; i++)); do  # 150 x 0.1 s = 15 s at most
    if curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
      break
    fi
    if ! kill -0 "$launcher" 2>/dev/null; then
      unavailable "dockerd exited at start: $(tail -n 3 "$dir/dockerd.log" | tr '\n' ' ')"
    fi
    sleep 0.1
  done
  if ((i == 150)); then
    kill -TERM "$launcher" 2>/dev/null || true
    unavailable "dockerd did not answer /_ping within 15 s: $(tail -n 3 "$dir/dockerd.log" | tr '\n' ' ')"
  fi

  import_image local/busybox:latest default || { stop; unavailable "could not import the test image"; }
  import_image local/busybox-alt:latest alt || { stop; unavailable "could not import the test image"; }
  echo "test-dockerd: running, pid $(cat "$pidfile"), socket $sock"
}

stop() {
  if [[ -f $pidfile ]]; then
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      local i
      for ((i = 0; i < 200; i++)); do  # 200 x 0.1 s = 20 s, then SIGKILL
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        echo "test-dockerd: pid $pid ignored SIGTERM for 20 s, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$pidfile"
  fi
  # Mounts the daemon may have left behind (overlay layers, netns files, shm).
  if [[ -d $dir ]]; then
    local m
    for m in $( (grep -F " $dir/" /proc/self/mounts || true) | awk '{print $2}' | sort -r); do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$dir/data" "$dir/exec"
  fi
  echo "test-dockerd: stopped"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
