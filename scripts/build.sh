#!/usr/bin/env bash
# Installs build dependencies, builds (or reuses) the project's DPDK, and
# builds virtio-forwarder, its tools and tests into build/ (or $BUILD_DIR).
# Usage: [BUILD_DIR=dir] build.sh [meson setup options...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/install-deps.sh"
prefix=$("$here/scripts/build-dpdk.sh" | tail -n 1)
export PKG_CONFIG_PATH="$prefix/lib/x86_64-linux-gnu/pkgconfig"
cd "$here"
b=${BUILD_DIR:-build}
pc=(-Dpkg_config_path="$PKG_CONFIG_PATH")
if [[ ! -f $b/build.ninja ]]; then
  meson setup "$b" "${pc[@]}" "$@" >&2
elif [[ "$(cat $b/.dpdk-prefix 2>/dev/null)" != "$prefix" ]]; then
  # The DPDK flags are read at configure time: a new DPDK needs a new setup.
  meson setup --reconfigure "$b" "${pc[@]}" "$@" >&2
else
  meson configure "$b" "${pc[@]}" "$@" >&2
fi
echo "$prefix" > $b/.dpdk-prefix
ninja -C "$b" >&2
echo "$here/$b"
