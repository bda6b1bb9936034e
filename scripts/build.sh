#!/usr/bin/env bash
# Configures and builds troupe into ./build (Ninja, ccache when present).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TROUPE_BUILD_DIR:-$root/build}
jobs=${TROUPE_BUILD_JOBS:-$(nproc)}
# ccache: hash paths relative to the checkout, so a fresh clone elsewhere hits the cache.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
# TROUPE_BUILD_TARGETS narrows the build (the demo needs only the binaries).
ninja -C "$build" -j "$jobs" ${TROUPE_BUILD_TARGETS:-}
