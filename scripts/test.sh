#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs every test: unit
# tests (cmocka, under ASan/UBSan), the fuzz targets (tests/fuzz, about a
# minute), then the integration tests (real DPDK processes: the daemon,
# traffic peers, dpdk-testpmd), one at a time, and the VM tests (tests/vm:
# QEMU guests on the daemon's relays); then the data-path and control tests
# again with the daemon and peers built under ASan and UBSan (build-asan/;
# DPDK itself is not instrumented). Arguments (pytest's) run only those
# tests, on the normal build.
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
pkill -f "$here/build(-asan)?/(virtio-forwarder|vfwd-peer)" 2>/dev/null || true
pkill -f "qemu-system-x86_64 .*vfwd\.steps=" 2>/dev/null || true
cd tests/integration
# Both directories in one run; arguments naming tests or files replace them.
paths=(. ../vm)
for a in "$@"; do
  [[ $a != -* && -e ${a%%::*} ]] && paths=()
done
pytest=(/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfExX --durations=12)
(( ${#paths[@]} )) || exec "${pytest[@]}" "$@"
"${pytest[@]}" "${paths[@]}" "$@"

echo "== integration tests under ASan/UBSan (any report aborts the process)"
BUILD_DIR=build-asan bash "$here/scripts/build.sh" -Db_sanitize=address,undefined \
  -Db_lundef=false >/dev/null
# grep reads it all: with -q it would stop early and pipefail count nm's SIGPIPE.
nm "$here/build-asan/virtio-forwarder" | grep __asan_init >/dev/null ||
  { echo "build-asan/virtio-forwarder is not built with ASan" >&2; exit 1; }
# No leak check at exit: DPDK's own start-up allocations are never freed.
# The 1000-cycle churn runs on the normal build only (ASan's quarantine
# would dominate its memory figures, and it takes two minutes).
ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  VFWD_BUILD="$here/build-asan" "${pytest[@]}" -k "not 1000_add_remove" test_relay.py \
  test_control.py test_scheduler.py test_bond.py test_multiqueue.py test_jumbo.py \
  test_memif_peer_churn.py test_config_cli.py test_hostile_guest.py test_migration_protocol.py \
  test_rx_checksum.py
