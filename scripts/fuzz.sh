#!/usr/bin/env bash
# The libFuzzer targets (fuzz/, docs/TESTING.md), built by Debian's clang-14
# in a build directory of their own; the normal build stays g++.
#
#   fuzz.sh build                      configure and build the fuzzers
#   fuzz.sh run <target> [seconds]     replay fuzz/regressions/<target>, then
#                                      fuzz from fuzz/corpus/<target> (default 30 s)
#   fuzz.sh seeds                      rewrite fuzz/corpus/* from the real encoders
#
# Targets: record snapshot config rest http raft wire state apply. Extra arguments after the seconds
# go to libFuzzer (e.g. -jobs=2, -max_len=65536).
# Exits 77, which ctest reports as skipped, when clang-14 or its libFuzzer
# runtime is missing. TROUPE_FUZZ_CXX names another clang++ (default clang++-14).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TROUPE_FUZZ_BUILD_DIR:-$root/build/fuzz-clang}
jobs=${TROUPE_BUILD_JOBS:-$(nproc)}
cxx=${TROUPE_FUZZ_CXX:-clang++-14}  # another clang with libFuzzer works too
targets=(record snapshot config rest http raft wire state apply)
# libFuzzer exits 77 on a crash by default, which ctest would take for "skipped".
exit_codes=(-error_exitcode=1 -timeout_exitcode=1)

require_clang() {
  if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "fuzz: SKIPPED: $cxx not found (Debian packages clang-14 and libclang-rt-14-dev; scripts/setup.sh installs them)"
    exit 77
  fi
  local rt
  rt="$("$cxx" -print-runtime-dir)/libclang_rt.fuzzer-$(uname -m).a"
  if [[ ! -f $rt ]]; then
    echo "fuzz: SKIPPED: libFuzzer runtime $rt not found (Debian package libclang-rt-14-dev; scripts/setup.sh installs it)"
    exit 77
  fi
}

build_fuzzers() {
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
    -DTROUPE_FUZZ=ON -DTROUPE_BENCH=OFF >/dev/null
  ninja -C "$build" -j "$jobs" fuzzers
}

run_fuzzer() {
  local t=$1 secs=${2:-30}
  shift 2 || shift $#
  local bin="$build/fuzz/${t}_fuzz"
  [[ -x $bin ]] || { echo "fuzz: $bin is missing; run 'scripts/fuzz.sh build' first" >&2; exit 1; }
  local artifacts="$build/artifacts/$t"
  mkdir -p "$artifacts"
  # Regressions first: every input that once failed, run once each.
  local regressions=("$root/fuzz/regressions/$t"/*)
  if [[ -e ${regressions[0]} ]]; then
    local out
    if ! out=$("$bin" "${exit_codes[@]}" -artifact_prefix="$artifacts/" "${regressions[@]}" 2>&1); then
      echo "$out"
      echo "fuzz: $t: a regression input fails again"
      exit 1
    fi
    echo "fuzz: $t: ${#regressions[@]} regression input(s) pass"
  fi
  # New inputs go to a scratch directory, so a run never grows the checked-in corpus.
  # Global, not local: the EXIT trap runs after this function has returned.
  work=$(mktemp -d "${TMPDIR:-/tmp}/troupe-fuzz-$t.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "fuzz: $t: fuzzing for ${secs}s (crash inputs go to $artifacts/)"
  "$bin" "${exit_codes[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$@" "$work" "$root/fuzz/corpus/$t"
}

case ${1:-} in
  build)
    require_clang
    build_fuzzers
    ;;
  run)
    [[ " ${targets[*]} " == *" ${2:-none} "* ]] || { echo "usage: fuzz.sh run <${targets[*]}> [seconds] [libFuzzer flags]" >&2; exit 2; }
    require_clang
    run_fuzzer "${@:2}"
    ;;
  seeds)
    require_clang
    build_fuzzers
    for t in "${targets[@]}"; do
      rm -rf "$root/fuzz/corpus/$t"
      mkdir -p "$root/fuzz/corpus/$t"
    done
    "$build/fuzz/make_seeds" "$root/fuzz/corpus"
    cp "$root"/config/examples/*.toml "$root/fuzz/corpus/config/"
    ;;
  *)
    echo "usage: fuzz.sh build | run <target> [seconds] [libFuzzer flags] | seeds" >&2
    exit 2
    ;;
esac
