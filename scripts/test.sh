#!/usr/bin/env bash
# README command 2: installs, builds and runs every test (ctest). .ci/run calls
# exactly this. The Docker tests start their own dockerd (scripts/test-dockerd.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
# The dashboard test's driver (playwright-core, pinned by package-lock.json);
# it uses Debian's chromium, never a downloaded browser.
if [[ ! -d "$root/tests/http/node_modules/playwright-core" ]]; then
  (cd "$root/tests/http" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
build=${TROUPE_BUILD_DIR:-$root/build}
cd "$build"
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
