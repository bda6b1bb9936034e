#!/usr/bin/env bash
# Kept for the commands in docs/BENCHMARKS.md: the measurement moved to
# bench/compare.sh (same cluster setup, from bench/lib.sh, plus the etcd ratio
# and the backlog per row). Same arguments and environment; its old default
# concurrencies stay the default here.
#
#   bench/e2e_submit.sh [BUILD_DIR]
set -euo pipefail
CONCURRENCIES=${CONCURRENCIES:-"1 16 64"} exec "$(dirname "${BASH_SOURCE[0]}")/compare.sh" "$@"
