#!/usr/bin/env bash
# Builds the tiny test guest from Debian packages (linux-image-amd64,
# busybox-static; scripts/install-deps.sh installs them): the Debian kernel
# and an initramfs with busybox, the virtio-net modules, vfwd-guest-tool
# and our /init (tests/vm/init.sh), which runs a scenario read from the
# kernel command line.
#
# The initramfs is cached in /var/cache/virtio-forwarder/vm, keyed by the
# kernel version and a hash of what goes into it; a second run builds
# nothing. Prints two lines: the kernel's path, then the initramfs's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VFWD_VM_CACHE:-/var/cache/virtio-forwarder/vm}
MODULES="virtio_ring virtio failover net_failover virtio_net
         virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci"

# The newest installed kernel that has its modules (the host may run
# another kernel, without /lib/modules of its own).
kver=
for k in $(ls /boot | sed -n 's/^vmlinuz-//p' | sort -V); do
  [[ -d /lib/modules/$k/kernel ]] && kver=$k
done
if [[ -z $kver ]]; then
  echo "build-guest: no /boot/vmlinuz-* with /lib/modules: install linux-image-amd64" >&2
  exit 1
fi
kernel=/boot/vmlinuz-$kver
busybox=/bin/busybox
# (grep without -q: an early exit would kill busybox with SIGPIPE, and
# pipefail would take that for a failure)
if ! "$busybox" --list 2>/dev/null | grep -x insmod >/dev/null || ldd "$busybox" >/dev/null 2>&1; then
  echo "build-guest: $busybox is not busybox-static" >&2
  exit 1
fi

key=$(cat "$here/init.sh" "$here/guest-tool.c" "$0" | sha256sum | cut -c1-16)
out=$cache/initramfs-$kver-$key.cpio
if [[ ! -s $out ]]; then
  mkdir -p "$cache"
  stage=$(mktemp -d "$cache/stage.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,lib/modules}
  cp "$busybox" "$stage/bin/busybox"
  install -m 755 "$here/init.sh" "$stage/init"
  gcc -static -Os -Wall -Werror -o "$stage/bin/vfwd-guest-tool" "$here/guest-tool.c"
  for m in $MODULES; do
    f=$(find "/lib/modules/$kver/kernel" -name "$m.ko" -o -name "$m.ko.xz" \
             -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -1)
    [[ -n $f ]] || { echo "build-guest: module $m not found for $kver" >&2; exit 1; }
    case $f in
      *.xz) xz -dc "$f" ;;
      *.zst) zstd -dc "$f" ;;
      *.gz) gzip -dc "$f" ;;
      *) cat "$f" ;;
    esac >"$stage/lib/modules/$m.ko"
    echo "$m" >>"$stage/modules.order"
  done
  # The kernel opens /dev/console for init before anything is mounted.
  mknod "$stage/dev/console" c 5 1 2>/dev/null || true
  # Uncompressed: unpacking is faster than inflating under TCG.
  (cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$stage.cpio"
  mv "$stage.cpio" "$out"
  # Older builds of the same kernel are stale.
  find "$cache" -maxdepth 1 -name "initramfs-$kver-*.cpio" ! -name "${out##*/}" -delete
fi
echo "$kernel"
echo "$out"
