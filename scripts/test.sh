#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs every test: unit
# tests (cmocka, under ASan/UBSan), the fuzz targets (tests/fuzz, about a
# minute), then the integration tests (real DPDK processes: the daemon,
# traffic peers, dpdk-testpmd), one at a time, and the VM tests (tests/vm:
# QEMU guests on the daemon's relays).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/build.sh >/dev/null
bash scripts/hugepages.sh 2048

echo "== unit tests"
meson test -C build --print-errorlogs --suite unit

echo "== fuzzing (libFuzzer: the regressions, then 15 s per target)"
bash scripts/fuzz.sh 15

echo "== integration tests, then the VM tests (real QEMU guests)"
# Leftovers of an interrupted earlier run would hold hugepages (and a test
# guest left running, a core: its kernel command line names vfwd.steps).
pkill -f "$here/build/(virtio-forwarder|vfwd-peer)" 2>/dev/null || true
pkill -f "qemu-system-x86_64 .*vfwd\.steps=" 2>/dev/null || true
cd tests/integration
# Both directories in one run; arguments naming tests or files replace them.
paths=(. ../vm)
for a in "$@"; do
  [[ $a != -* && -e ${a%%::*} ]] && paths=()
done
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfExX "${paths[@]}" "$@"
