#!/usr/bin/env bash
# Builds the guest of tests/vm/test_numa.py: the Debian kernel and an
# initramfs holding busybox-static, build/virtio-forwarder and
# build/vfwd-peer with every shared library they need (ldd; copied to the
# same paths, the dynamic loader too), and tests/vm/numa-guest.sh as /init,
# which runs the daemon and its peers inside a guest with two NUMA nodes.
#
# Cached in /var/cache/virtio-forwarder/vm (VFWD_VM_CACHE), keyed by the
# kernel version and a hash of everything that goes in, binaries and
# libraries included: a rebuilt daemon gives a new image, an unchanged one
# builds nothing. Prints two lines: the kernel's path, then the initramfs's.
#
# Environment: VFWD_BUILD (default <repo>/build) names the build directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${VFWD_BUILD:-$repo/build}
cache=${VFWD_VM_CACHE:-/var/cache/virtio-forwarder/vm}
bins=("$build/virtio-forwarder" "$build/vfwd-peer")

who=build-numa-guest
source "$here/guest-base.sh"   # kver, kernel, busybox
for b in "${bins[@]}"; do
  [[ -x $b ]] || { echo "build-numa-guest: $b is missing: build first (scripts/build.sh)" >&2; exit 1; }
done

# Every shared object the binaries load, with the path ldd resolves it at
# (and the loader at the path the binaries name, /lib64/...).
libs=$(ldd "${bins[@]}" | awk '
  $2 == "=>" && $3 ~ /^\// { print $3 }
  $1 ~ /^\// && $2 ~ /^\(0x/ { print $1 }' | LC_ALL=C sort -u)
for l in $libs; do
  [[ -e $l ]] || { echo "build-numa-guest: $l (from ldd) does not exist" >&2; exit 1; }
done

key=$( { cat "$0" "$here/guest-base.sh" "$here/numa-guest.sh" "$busybox" "${bins[@]}"
         for l in $libs; do echo "$l"; cat "$l"; done; } | sha256sum | cut -c1-16)
out=$cache/numa-initramfs-$kver-$key.cpio
if [[ ! -s $out ]]; then
  mkdir -p "$cache"
  stage=$(mktemp -d "$cache/numa-stage.XXXXXX")
  trap 'rm -rf "$stage" "$stage.cpio"' EXIT
  mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,run,var,etc,usr/bin}
  ln -s ../run "$stage/var/run"
  cp "$busybox" "$stage/bin/busybox"
  install -m 755 "$here/numa-guest.sh" "$stage/init"
  for b in "${bins[@]}"; do
    install -m 755 "$b" "$stage/usr/bin/${b##*/}"
  done
  for l in $libs; do
    mkdir -p "$stage$(dirname "$l")"
    cp -L "$l" "$stage$l"
  done
  # getpwnam() and friends find no users: the daemon is told to keep its own.
  echo "root:x:0:0:root:/:/bin/sh" >"$stage/etc/passwd"
  echo "root:x:0:" >"$stage/etc/group"
  install_image "$stage" "$out" numa-initramfs
fi
echo "$kernel"
echo "$out"
