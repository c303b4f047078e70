# Sourced by build-guest.sh and build-numa-guest.sh: what both guests are
# made of. Sets kver and kernel (the newest installed Debian kernel that
# has its modules: the host may run another kernel, without /lib/modules
# of its own) and busybox (checked to be busybox-static); exits naming
# the package to install when either is missing. $who prefixes messages.
kver=
for k in $(ls /boot | sed -n 's/^vmlinuz-//p' | sort -V); do
  [[ -d /lib/modules/$k/kernel ]] && kver=$k
done
if [[ -z $kver ]]; then
  echo "$who: no /boot/vmlinuz-* with /lib/modules: install linux-image-amd64" >&2
  exit 1
fi
kernel=/boot/vmlinuz-$kver
busybox=/bin/busybox
# (grep without -q: an early exit would kill busybox with SIGPIPE, and
# pipefail would take that for a failure)
if ! "$busybox" --list 2>/dev/null | grep -x poweroff >/dev/null || ldd "$busybox" >/dev/null 2>&1; then
  echo "$who: $busybox is not busybox-static: install busybox-static" >&2
  exit 1
fi

# install_image STAGE OUT NAME: packs directory STAGE (a /dev/console node
# added: the kernel opens it for init before anything is mounted) into
# OUT, uncompressed (unpacking is faster than inflating under TCG), and
# deletes the older images NAME-$kver-*.cpio of the same kernel.
install_image() {
  mknod "$1/dev/console" c 5 1 2>/dev/null || true
  (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$1.cpio"
  mv "$1.cpio" "$2"
  find "$(dirname "$2")" -maxdepth 1 -name "$3-$kver-*.cpio" ! -name "${2##*/}" -delete
}
