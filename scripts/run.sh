#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs virtio-forwarder.
# With VFs configured in /etc/default/virtioforwarder (VIRTIOFWD_STATIC_VFS)
# it runs the daemon on them in the foreground. Without, it runs the demo
# topology: a stand-in VF (a memif peer process) and a stand-in VM (a
# virtio_user peer process) with real packets relayed both ways, and shows
# the relay's counters. DEMO_SECONDS=N (default 30) bounds the demo.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/build.sh" >/dev/null
bash "$here/scripts/hugepages.sh" 2048
conf=/etc/default/virtioforwarder
static_vfs=""
if [[ -r $conf ]]; then
  static_vfs=$(bash -c 'source "$1" >/dev/null 2>&1; echo "${VIRTIOFWD_STATIC_VFS[*]:-}"' _ "$conf")
fi
if [[ -n $static_vfs ]]; then
  echo "run: VFs configured in $conf ($static_vfs): starting the daemon on them"
  exec "$here/build/virtio-forwarder" -n
fi
echo "run: no VF configured in $conf: starting the demo topology"
exec /usr/bin/python3 "$here/scripts/demo.py" "${DEMO_SECONDS:-30}"
