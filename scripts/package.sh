#!/usr/bin/env bash
# Builds the Debian package of troupe from a configured build dir:
#   scripts/package.sh [BUILD_DIR] [OUT_DIR]
# BUILD_DIR defaults to $TROUPE_BUILD_DIR or ./build; OUT_DIR to BUILD_DIR.
# Builds troupe-node and troupe first (ninja; nothing to do when they are up
# to date), then runs CPack's DEB generator (stripped binaries, Depends from
# dpkg-shlibdeps). Prints the path of the .deb on its last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-${TROUPE_BUILD_DIR:-$root/build}}" && pwd)
out=${2:-$build}
[[ -f $build/CPackConfig.cmake ]] || { echo "package: $build has no CPackConfig.cmake (configure it with cmake first)" >&2; exit 1; }
for tool in dpkg-shlibdeps file; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
cmake --build "$build" --target troupe-node troupe >/dev/null
mkdir -p "$out"
out=$(cd "$out" && pwd)
# CPack stages under OUT_DIR/_CPack_Packages; remove it afterwards.
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$out" >"$out/cpack.log" 2>&1 ||
  { cat "$out/cpack.log" >&2; exit 1; }
rm -rf "$out/_CPack_Packages"
deb=$(sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' "$out/cpack.log" | tail -1)
[[ -n $deb && -f $deb ]] || { cat "$out/cpack.log" >&2; echo "package: no .deb generated" >&2; exit 1; }
echo "$deb"
