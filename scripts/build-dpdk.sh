#!/usr/bin/env bash
# Builds the DPDK that virtio-forwarder links: Debian 12's own dpdk source
# package (22.11 LTS), static, with room for 128 ethdev ports (Debian's
# binary build stops at 32, and 64 relays need 64 VF ports plus test peers).
# Only the drivers we use are built, with the project's patches
# (patches/dpdk/). The result is cached outside the work tree, keyed by
# version, options and patches, so a rebuild costs nothing.
# Prints the install prefix on stdout (last line).
set -euo pipefail

DPDK_VERSION=22.11.11
MAX_ETHPORTS=128
DRIVERS="bus/pci,bus/vdev,mempool/ring,mempool/stack,net/memif,net/af_packet,net/af_xdp,net/tap,net/ring,net/null,net/vhost,net/virtio,net/bonding,net/pcap,net/iavf,net/i40e,net/ixgbe,net/ice,net/nfp,common/iavf"
MESON_OPTS=(
  -Dmax_ethports=$MAX_ETHPORTS -Ddefault_library=static -Dplatform=generic
  -Ddisable_apps='*' -Dtests=false -Dexamples= -Denable_docs=false
  -Denable_kmods=false -Denable_driver_sdk=false
  "-Denable_drivers=$DRIVERS"
  -Dbuildtype=release
)
CACHE_ROOT=${VFWD_CACHE_DIR:-/var/cache/virtio-forwarder}
PATCH_DIR=$(cd "$(dirname "$0")/../patches/dpdk" && pwd)
key=$( (printf '%s\n' "$DPDK_VERSION" "${MESON_OPTS[@]}"; cat "$PATCH_DIR"/*.patch) \
      | sha256sum | cut -c1-12)
PREFIX="$CACHE_ROOT/dpdk-$DPDK_VERSION-$key"

if [[ -f "$PREFIX/.complete" ]]; then
  echo "$PREFIX"
  exit 0
fi

log() { echo "build-dpdk: $*" >&2; }
mkdir -p "$CACHE_ROOT"
work="$CACHE_ROOT/src-$DPDK_VERSION"
if [[ ! -f "$work/.extracted" ]]; then
  # A private apt configuration with a deb-src entry, so the machine's own
  # sources are left untouched.
  aptdir="$CACHE_ROOT/apt-src"
  mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    > "$aptdir/sources.list.d/debian-src.sources"
  APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null"
            -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
            -o "Dir::State::Lists=$aptdir/lists")
  log "fetching Debian's dpdk source package"
  apt-get "${APT_OPTS[@]}" update -qq >&2
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only "dpdk=${DPDK_VERSION}-*" >&2 \
     || apt-get "${APT_OPTS[@]}" source --download-only dpdk >&2)
  touch "$work/.extracted"
fi
# A fresh tree for every build, so that patches apply to pristine sources.
rm -rf "$work/tree"
(cd "$work" && dpkg-source --no-check -x dpdk_*.dsc tree >&2)
for p in "$PATCH_DIR"/*.patch; do
  log "applying $(basename "$p")"
  patch -d "$work/tree" -p1 --forward < "$p" >&2
done

log "configuring (max_ethports=$MAX_ETHPORTS, static, trimmed drivers)"
rm -rf "$work/build" "$PREFIX"
meson setup "$work/build" "$work/tree" --prefix="$PREFIX" "${MESON_OPTS[@]}" >&2
log "building (about 3 minutes on 2 cores)"
ninja -C "$work/build" install >&2
grep -q "RTE_MAX_ETHPORTS $MAX_ETHPORTS" "$PREFIX"/include/rte_build_config.h \
  || { log "RTE_MAX_ETHPORTS is not $MAX_ETHPORTS in the result"; exit 1; }
rm -rf "$work/build" "$work/tree"
touch "$PREFIX/.complete"
echo "$PREFIX"
