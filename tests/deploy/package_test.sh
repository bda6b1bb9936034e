#!/usr/bin/env bash
# Package test (ctest -L package): builds the .deb from a build dir with CPack
# (scripts/package.sh), installs it with apt into a clean Debian 12 chroot (so
# its Depends resolve from the archive, as on a user's machine), and runs
# inside it, as root and as the troupe user the postinst created:
#   troupe-node --version
#   troupe-node --check-config --config /etc/troupe/troupe.toml
#
#   tests/deploy/package_test.sh BUILD_DIR
#
# The pristine chroot (debootstrap --variant=minbase bookworm) is cached as a
# tarball in $TROUPE_CHROOT_CACHE (default /var/cache/troupe-chroot), with the
# .debs apt downloads; without a cache it is made from nothing. Each run
# unpacks a fresh copy into a temp dir, and removes it and its mounts on exit.
# Needs root, debootstrap and the Debian archive ($TROUPE_DEBIAN_MIRROR).
# TROUPE_PACKAGE_DEB=path skips building the package.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: $0 BUILD_DIR}
cache=${TROUPE_CHROOT_CACHE:-/var/cache/troupe-chroot}
mirror=${TROUPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${TROUPE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=bookworm
t0=$(date +%s)
step() { echo "package_test: [$(($(date +%s) - t0))s] $*"; }
die() { echo "package_test: FAIL: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || { echo "package_test: SKIP: needs root (debootstrap, chroot, mounts)"; exit 77; }
command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/setup.sh installs it)"

work=$(mktemp -d /var/tmp/troupe-package-test.XXXXXX)
rootfs=$work/rootfs
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  # Never delete through a mount that is still there.
  if ! grep -q " $work/" /proc/self/mounts; then rm -rf "$work"; else echo "package_test: left $work (busy mounts)" >&2; fi
}
trap cleanup EXIT

# 1. the package
if [[ -n ${TROUPE_PACKAGE_DEB:-} ]]; then
  deb=$TROUPE_PACKAGE_DEB
else
  step "building the .deb from $build"
  deb=$("$root/scripts/package.sh" "$build" "$work/out" | tail -1)
fi
[[ -f $deb ]] || die "no package at '$deb'"
step "package: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb -f "$deb" Depends | grep -q 'libc6' || die "Depends has no shared library dependencies (dpkg-shlibdeps did not run?)"
for f in ./usr/bin/troupe-node ./usr/bin/troupe ./usr/libexec/troupe/troupe-job-shim ./etc/troupe/troupe.toml ./usr/lib/systemd/system/troupe.service; do
  dpkg-deb -c "$deb" | awk '{print $6}' | grep -qx "$f" || die "the package lacks $f"
done
dpkg-deb -I "$deb" conffiles | grep -qx /etc/troupe/troupe.toml || die "/etc/troupe/troupe.toml is not a conffile"

# 2. a clean bookworm chroot: from the cache, or debootstrapped (then cached)
mkdir -p "$cache/archives/partial"
tarball=$cache/$suite-minbase.tar
exec 9>"$cache/lock"
flock 9   # one run at a time: the cache and apt's archive lock are shared
if [[ ! -f $tarball ]]; then
  step "no cached chroot: debootstrap --variant=minbase $suite from $mirror"
  fresh=$work/fresh
  debootstrap --variant=minbase --cache-dir="$cache/archives" "$suite" "$fresh" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  rm -rf "$fresh"/var/cache/apt/archives/*.deb "$fresh"/var/lib/apt/lists/*
  tar -C "$fresh" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$fresh"
  step "cached the chroot in $tarball ($(du -m "$tarball" | cut -f1) MiB)"
fi
mkdir -p "$rootfs"
tar -C "$rootfs" -xf "$tarball"
step "chroot unpacked in $rootfs"

mount_in() {  # mount args... target
  mount "$@"
  mounts+=("${*: -1}")
}
mount_in -t proc proc "$rootfs/proc"
mount_in --bind "$cache/archives" "$rootfs/var/cache/apt/archives"
cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
# No service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cp "$deb" "$rootfs/tmp/troupe.deb"
in_chroot() { chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# 3. install with apt: the Depends come from the archive
step "apt-get update"
in_chroot apt-get update -qq >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; die "apt-get update failed"; }
step "apt-get install ./troupe.deb"
in_chroot apt-get install -y -q --no-install-recommends /tmp/troupe.deb >>"$work/apt.log" 2>&1 ||
  { tail -40 "$work/apt.log" >&2; die "apt-get install of the package failed"; }
grep -E '^(Get|Setting up)' "$work/apt.log" | grep -c '^Setting up' | xargs -I{} echo "package_test: {} packages set up"

# 4. the checks
version=$(in_chroot troupe-node --version) || die "troupe-node --version failed"
echo "package_test: troupe-node --version: $version"
[[ $version == "troupe $(dpkg-deb -f "$deb" Version)"* ]] || die "unexpected version '$version'"
in_chroot troupe --help >/dev/null 2>&1 || in_chroot troupe help >/dev/null 2>&1 || die "troupe (CLI) does not run"
summary=$(in_chroot troupe-node --check-config --config /etc/troupe/troupe.toml) || die "--check-config failed as root"
echo "package_test: --check-config (root): $summary"
in_chroot getent passwd troupe >/dev/null || die "the postinst did not create the troupe user"
[[ $(in_chroot stat -c %U:%G /var/lib/troupe) == troupe:troupe ]] || die "/var/lib/troupe is not owned by troupe"
[[ $(in_chroot stat -c %a:%G /etc/troupe/troupe.toml) == 640:troupe ]] || die "/etc/troupe/troupe.toml is not 0640 root:troupe"
# As the service runs it: the troupe user reads the config and writes the data dir.
summary=$(chroot --userspec=troupe:troupe "$rootfs" /usr/bin/env -i PATH=/usr/bin:/bin \
  troupe-node --check-config --config /etc/troupe/troupe.toml) || die "--check-config failed as the troupe user"
echo "package_test: --check-config (troupe): $summary"
in_chroot dpkg-query -W -f='${Conffiles}\n' troupe | grep -q /etc/troupe/troupe.toml || die "dpkg does not list the conffile"
in_chroot dpkg --purge troupe >>"$work/apt.log" 2>&1 || die "dpkg --purge troupe failed"
step "PASS"
