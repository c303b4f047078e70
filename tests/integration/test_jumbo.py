"""Jumbo frames: with -J (and mergeable RX buffers, -R) frames up to 9000
bytes cross the relay intact both ways, as chains of 2 KB mbufs."""
import json
import os

from harness import Daemon, Peer

N = 1500
SIZES = "64,1518,9000,4000"


def memif(workdir, role):
    # memif in DPDK 22.11 mis-handles frames larger than its buffer size
    # mixed with small ones: buffers of 10 KB keep every frame in one slot.
    return "net_memif0,role=%s,socket=%s/memif0.sock,id=0,rsize=11,bsize=10240" % (
        role, workdir)


def test_jumbo_frames_both_ways(workdir, procs):
    d = Daemon(workdir, ["-C", "1", "-M", "0", "--server", "-J", "-R", "-V", workdir,
                         "-P", memif(workdir, "client") + "=0"])
    procs.append(d)
    go = os.path.join(workdir, "go")
    common = ["--tx", N, "--expect", N, "--flows", 4, "--sizes", SIZES, "--pps", 3000,
              "--start-file", go, "--wait-link"]
    vf = Peer(workdir, [memif(workdir, "server")], common + ["--tag", 1, "--expect-tag", 2])
    procs.append(vf)
    vm = Peer(workdir, ["net_virtio_user0,path=%s/virtio-forwarder0.sock,queue_size=1024"
                        % workdir], common + ["--tag", 2, "--expect-tag", 1])
    procs.append(vm)
    d.wait_relay(0, lambda r: r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"])
    open(go, "w").close()
    r = None
    for rep in (vf.report(), vm.report()):
        p = rep["ports"][0]
        r = r or d.relay(0)
        ok = (p["rx_ok"] == N and p["lost"] == 0 and p["rx_corrupt"] == 0
              and p["reordered_or_dup"] == 0)
        assert ok, "%s\n%s" % (json.dumps(p), json.dumps(r))
    vm.stop()
    d.wait_relay(0, lambda r: not r["vm_connected"] and r["pool_in_use"] == 0)
    assert d.stop() == 0
