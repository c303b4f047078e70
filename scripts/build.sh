#!/usr/bin/env bash
# Installs build dependencies, builds (or reuses) the project's DPDK, and
# builds virtio-forwarder, its tools and tests into build/.
# Usage: build.sh [meson setup options...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/install-deps.sh"
prefix=$("$here/scripts/build-dpdk.sh" | tail -n 1)
export PKG_CONFIG_PATH="$prefix/lib/x86_64-linux-gnu/pkgconfig"
cd "$here"
if [[ ! -f build/build.ninja ]]; then
  meson setup build "$@" >&2
elif [[ "$(cat build/.dpdk-prefix 2>/dev/null)" != "$prefix" ]]; then
  # The DPDK flags are read at configure time: a new DPDK needs a new setup.
  meson setup --reconfigure build "$@" >&2
elif (( $# )); then
  meson configure build "$@" >&2
fi
echo "$prefix" > build/.dpdk-prefix
ninja -C build >&2
echo "$here/build"
