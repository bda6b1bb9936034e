#!/usr/bin/env bash
# Installs everything troupe needs to build, run and test, from Debian 12's
# archive only. Idempotent: when every package is present it changes nothing
# and does not touch the network.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libcaf-dev                                   # CAF 0.17.6 actors
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libcpp-httplib-dev nlohmann-json3-dev libtomlplusplus-dev
  libcurl4-openssl-dev                         # Docker Engine API over its unix socket
  doctest-dev
  clang-14 libclang-rt-14-dev                  # libFuzzer targets (scripts/fuzz.sh); the main build stays g++
  docker.io busybox-static                     # real dockerd + a local test image for the executor tests
  curl util-linux iproute2 procps              # test scripts: curl --unix-socket, unshare, setsid, pgrep
  nodejs chromium                              # dashboard end-to-end test (playwright-core drives Debian's chromium)
)
# Some images ship a nodejs that bundles npm (and conflicts with Debian's npm
# package); ask for the package only where the command is missing.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing packages (${missing[*]}); run this script as root" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The docker.io package enables its own daemon; troupe's tests start a private
# one and the demo uses whatever already answers, so leave the system unit alone.
echo "setup: done"
