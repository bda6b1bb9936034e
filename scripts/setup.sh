#!/usr/bin/env bash
# Installs everything troupe needs to build, run and test, from Debian 12's
# archive only. Idempotent: when every package is present it changes nothing
# and does not touch the network.
set -euo pipefail

# What configuring and building troupe needs (CMakeLists.txt's find_package /
# pkg_check_modules and the tool chain). deploy/docker/Dockerfile's build stage
# installs exactly these; tests/deploy (ctest -L deploy) compares the two lists.
build_packages=(
  build-essential cmake ninja-build pkg-config
  libcaf-dev                                   # CAF 0.17.6 actors
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libcpp-httplib-dev nlohmann-json3-dev libtomlplusplus-dev
  libcurl4-openssl-dev                         # Docker Engine API over its unix socket
  doctest-dev                                  # find_package(doctest) is required even without the tests
  file                                         # CPack reads ELF types with it before dpkg-shlibdeps (scripts/package.sh)
)
# Development, test and CI tools: not needed to build, not in the image.
dev_test_packages=(
  ccache git
  clang-14 libclang-rt-14-dev                  # libFuzzer targets (scripts/fuzz.sh); the main build stays g++
  docker.io busybox-static                     # real dockerd + a local test image for the executor tests
  curl util-linux iproute2 procps              # test scripts: curl --unix-socket, unshare, setsid, pgrep
  nodejs chromium                              # dashboard end-to-end test (playwright-core drives Debian's chromium)
  python3-yaml openssl                         # deploy checks (tests/deploy): YAML parsing, test certificates
  debootstrap                                  # package test (tests/deploy): installs the .deb into a clean bookworm chroot
  faketime                                     # integration_clock: a node whose wall clock is off (libfaketime)
  jq                                           # bench/*.sh (bench_smoke) read the load generator's JSON
  etcd-server etcd-client                      # bench/compare.sh's reference cluster, beside troupe in the same run
)
packages=("${build_packages[@]}" "${dev_test_packages[@]}")
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
