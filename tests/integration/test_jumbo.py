"""Jumbo frames: with -J (and mergeable RX buffers, -R) frames up to 9000
bytes cross the relay intact both ways, as chains of 2 KB mbufs."""
import json
import os

import pytest

from harness import Daemon, Peer, open_gate

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
    open_gate(go, vf, vm)
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


@pytest.mark.parametrize("limit", ["mtu", "guest_buffers", "guest_buffers_packed_ring"])
def test_oversize_frames_are_dropped_counted_and_stall_nothing(workdir, procs, limit):
    """Every third frame is 3000 bytes (the first: a gap the receiver sees). Without -J that is over the relay's
    MTU: dropped both ways before the destination sees it. With -J but no
    mergeable RX buffers (-R), the guest's 2 KB buffers cannot hold it: the
    guest refuses it every time, and holding it would stall VF->VM for good;
    it is dropped instead, and VM->VF carries it. The relay tells such a
    frame from a full ring by a buffer being posted, which a packed ring
    says in its descriptors' flags and a split ring in its avail index:
    both are tested. Either way the frames around it arrive intact and in
    order, and the drops are counted as oversize, nothing else."""
    jumbo = limit.startswith("guest_buffers")
    d = Daemon(workdir, ["-C", "1", "-M", "0", "--server", "-V", workdir,
                         "-P", memif(workdir, "client") + "=0"] + (["-J"] if jumbo else []))
    procs.append(d)
    go = os.path.join(workdir, "go")
    n, big = 1500, 500
    common = ["--tx", n, "--flows", 1, "--sizes", "3000,64,1518", "--pps", 3000,
              "--start-file", go, "--wait-link", "--idle-timeout", 1500]
    vf = Peer(workdir, [memif(workdir, "server")],
              common + ["--tag", 1, "--expect-tag", 2, "--expect", n if jumbo else n - big])
    procs.append(vf)
    # 1 KB segments: the guest's RX buffers are plain 2 KB mbufs.
    vm = Peer(workdir, ["net_virtio_user0,path=%s/virtio-forwarder0.sock,queue_size=1024%s"
                        % (workdir, ",packed_vq=1" if limit.endswith("packed_ring") else "")],
              common + ["--tag", 2, "--expect-tag", 1, "--expect", n - big,
                        "--seg-size", 1024])
    procs.append(vm)
    d.wait_relay(0, lambda r: r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"])
    open_gate(go, vf, vm)
    vf_port, vm_port = vf.report()["ports"][0], vm.report()["ports"][0]
    r = d.relay(0)
    why = "%s\n%s\n%s" % (json.dumps(vf_port), json.dumps(vm_port), json.dumps(r))
    for p, dropped in ((vm_port, big), (vf_port, 0 if jumbo else big)):
        assert p["rx_ok"] == n - dropped and p["lost"] == dropped, why
        assert p["rx_corrupt"] == 0 and p["reordered_or_dup"] == 0, why
    for dname, dropped in (("vf_to_vm", big), ("vm_to_vf", 0 if jumbo else big)):
        c = r[dname]
        assert c["rx_pkts"] == n and c["tx_pkts"] == n - dropped, why
        assert c["drop_oversize_pkts"] == dropped, why
        assert c["drop_oversize_bytes"] == dropped * 3000, why
        assert c["drop_full_pkts"] == c["drop_unconnected_pkts"] == 0, why
    vm.stop()
    d.wait_relay(0, lambda r: not r["vm_connected"] and r["pool_in_use"] == 0)
    assert d.stop() == 0
