#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, run and test
# virtio-forwarder. Idempotent: a second run installs nothing.
set -euo pipefail

PKGS=(
  # build
  build-essential pkg-config meson ninja-build python3-pyelftools
  libnuma-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
  libsystemd-dev libpcap-dev libelf-dev zlib1g-dev libbsd-dev
  libbpf-dev libxdp-dev libjansson-dev libarchive-dev libmicrohttpd-dev
  dpkg-dev
  # tests and demo: Debian's testpmd/telemetry tools, peers, terminals,
  # curl to scrape the exporter
  libcmocka-dev dpdk dpdk-dev python3 python3-pytest iproute2 tmux procps
  curl
  # the benchmark's instructions per packet (bench/bench.py: callgrind)
  valgrind
  # VM tests (tests/vm): a QEMU guest from Debian's kernel and busybox, the
  # host's ping, libvirt's schema check of the example domains
  qemu-system-x86 linux-image-amd64 busybox-static cpio iputils-ping ethtool
  libvirt-clients libxml2-utils
  # packaging tests: the Debian package, unit checks, man pages
  debhelper lintian systemd man-db git
  # fuzzing (scripts/fuzz.sh): clang and its libFuzzer/sanitizer runtimes
  clang libclang-rt-14-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
