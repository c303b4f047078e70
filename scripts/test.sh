#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs every test: unit
# tests (cmocka, under ASan/UBSan) then the integration tests (real DPDK
# processes: the daemon, traffic peers, dpdk-testpmd), one at a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/build.sh >/dev/null
bash scripts/hugepages.sh 2048

echo "== unit tests"
meson test -C build --print-errorlogs --suite unit

echo "== integration tests"
# Leftovers of an interrupted earlier run would hold hugepages.
pkill -f "$here/build/(virtio-forwarder|vfwd-peer)" 2>/dev/null || true
cd tests/integration
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE "$@"
