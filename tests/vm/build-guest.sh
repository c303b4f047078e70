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

who=build-guest
source "$here/guest-base.sh"

key=$(cat "$here/init.sh" "$here/guest-tool.c" "$here/guest-base.sh" "$0" | sha256sum | cut -c1-16)
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
  install_image "$stage" "$out" initramfs
fi
echo "$kernel"
echo "$out"
