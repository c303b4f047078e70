#!/usr/bin/env bash
# Reserves 2 MB hugepages and mounts hugetlbfs on /dev/hugepages (idempotent).
# Usage: hugepages.sh [PAGES]   (default 2048 = 4 GiB: the daemon with 64
# relays plus the test peers; the guide's minimum for the daemon is 1375)
set -euo pipefail
pages=${1:-2048}
sysfs=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if (( $(cat $sysfs) < pages )); then
  echo "$pages" > $sysfs
  got=$(cat $sysfs)
  if (( got < pages )); then
    echo "hugepages: asked for $pages 2 MB pages, the kernel gave $got" >&2
    (( got > 0 )) || exit 1
  fi
fi
if ! awk '$2=="/dev/hugepages" && $3=="hugetlbfs"{f=1} END{exit !f}' /proc/mounts; then
  mkdir -p /dev/hugepages
  mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
fi
# max_map_count must exceed twice the number of hugepages (the guide).
need=$(( pages * 2 + 65530 ))
(( $(cat /proc/sys/vm/max_map_count) >= need )) || echo "$need" > /proc/sys/vm/max_map_count
echo "hugepages: $(cat $sysfs) x 2 MB reserved, mounted on /dev/hugepages" >&2
