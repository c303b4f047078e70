"""Bonds of VFs end to end: a relay whose VF is a DPDK bonding device
(active-backup by default) over two af_packet members on veth pairs, added
and removed through port control, carrying traffic both ways, checked byte
for byte; a VF-side peer on the far end of a member's veth."""
import os
import subprocess
import time

from harness import Peer, open_gate
from test_control import (assert_clean, both_active, port, ok, refused, sock, start_daemon,
                          vm_vdev)

SIZES = "64,512,1514,60,1000"    # at most the veths' 1500-byte MTU


def members(veths):
    return ["net_af_packet%d,iface=%s" % (i, a) for i, (a, _) in enumerate(veths)]


def exchange(workdir, procs, d, far_end, n=3000, pps=3000, min_ok=None):
    """n numbered frames each way between a VM-side peer and a VF-side
    peer on the veth end far_end, every one checked: all must arrive, or
    with min_ok at least that many, none corrupt, none out of order."""
    go = os.path.join(workdir, "go-%d" % time.monotonic_ns())
    opts = ["--tx", n, "--expect", n, "--flows", 4, "--pps", pps, "--sizes", SIZES,
            "--wait-link", "--idle-timeout", 5000, "--timeout", 60]
    vf = Peer(workdir, ["net_af_packet0,iface=%s" % far_end],
              opts + ["--tag", 1, "--expect-tag", 2, "--start-file", go])
    procs.append(vf)
    vm = Peer(workdir, [vm_vdev(workdir, 0)],
              opts + ["--tag", 2, "--expect-tag", 1, "--start-file", go])
    procs.append(vm)
    d.wait_relay(0, both_active, what="both directions active")
    open_gate(go, vf, vm)
    for rep in (vf.report(), vm.report()):
        if min_ok is None:
            assert_clean(rep, n)
            continue
        for p in rep["ports"]:
            assert p["rx_ok"] >= min_ok and p["rx_corrupt"] == 0 and \
                p["reordered_or_dup"] == 0, p


def active_member(name):
    return lambda r: r["vf_active"] == name


def test_bond_relays_both_ways_and_goes_with_its_members(workdir, procs, veths):
    d = start_daemon(workdir, procs)
    m = members(veths)
    bond = "b0,mode=1,member=net_af_packet0,member=net_af_packet1"
    add = ["--virtio-id=0", "--name=b0", "--pci-addr=" + m[0], "--pci-addr=" + m[1]]
    ok(port(workdir, "add", *add))
    r = d.relay(0)
    assert r["vf_attached"] and r["vf"] == bond, r
    assert ok(port(workdir, "query_pci", "--vhost-path=" + sock(workdir, 0))) == bond + "\n"
    # The first member is the primary: it carries the traffic.
    d.wait_relay(0, active_member("net_af_packet0"), what="member net_af_packet0 active")

    # The same bond again is there already; anything sharing a device or
    # the name with it is not another VF.
    refused(port(workdir, "add", *add), "relay 0 already has VF " + bond, "not conditional")
    ok(port(workdir, "add", *add, "--conditional"))
    refused(port(workdir, "add", *add, "--mode=2", "--conditional"), "remove it first")
    refused(port(workdir, "add", "--virtio-id=1", "--pci-addr=net_af_packet1"),
            "net_af_packet1 is already attached to relay 0 in " + bond)
    refused(port(workdir, "add", "--virtio-id=1", "--name=b0", "--pci-addr=net_tap7",
                 "--pci-addr=net_tap8"), "relay 0 has VF " + bond, "shares")
    refused(port(workdir, "add", "--virtio-id=1", "--name=b1", "--pci-addr=" + m[0]),
            "at least two")
    refused(port(workdir, "add", "--virtio-id=1", "--name=b1", "--mode=4", "--pci-addr=" + m[0],
                 "--pci-addr=net_tap9"), "802.3ad")
    refused(port(workdir, "remove", "--virtio-id=0", "--name=b0", "--pci-addr=" + m[0],
                 "--pci-addr=net_tap9"), "relay 0 has VF " + bond,
            "not bond b0 of net_af_packet0, net_tap9")
    refused(port(workdir, "remove", "--virtio-id=0", "--pci-addr=net_af_packet0"),
            "not net_af_packet0")

    exchange(workdir, procs, d, veths[0][1])
    r = d.relay(0)
    assert r["vf_to_vm"]["drop_full_pkts"] == 0 and r["vm_to_vf"]["drop_full_pkts"] == 0, r

    # Removed by its name and members: the bond goes, then its members,
    # which can then make a bond again.
    ok(port(workdir, "remove", *add))
    r = d.relay(0)
    assert not r["vf_attached"] and r["vf"] == "" and r["vf_active"] == "", r
    ok(port(workdir, "add", "--virtio-id=1", "--name=b0", "--mode=2", "--pci-addr=" + m[0],
            "--pci-addr=" + m[1]))
    r = d.wait_relay(1, lambda r: r["vf_link_up"], what="bond link up")
    assert r["vf"] == "b0,mode=2,member=net_af_packet0,member=net_af_packet1", r
    assert r["vf_active"] == "", r          # not active-backup: no one member
    ok(port(workdir, "remove", "--virtio-id=1"))
    assert d.stop() == 0
    log = d.log()
    assert "leak" not in log
    assert "relay 0: bond member net_af_packet0 carries the traffic" in log
    assert "port control: relay 0: VF bond b0 of net_af_packet0, net_af_packet1 added" in log


def test_bond_with_dynamic_sockets(workdir, procs, veths):
    d = start_daemon(workdir, procs, ["-d"])
    m = members(veths)
    bond = "b1,mode=1,member=net_af_packet0,member=net_af_packet1"
    path = sock(workdir, 0)
    add_sock = ["--vhost-path=" + path, "--name=b1", "--pci-addr=" + m[0], "--pci-addr=" + m[1]]
    ok(port(workdir, "add_sock", *add_sock))
    r = d.relay(0)
    assert r["vf"] == bond and r["socket"] == path, r
    assert ok(port(workdir, "query_pci", "--vhost-path=" + path)) == bond + "\n"
    refused(port(workdir, "add_sock", *add_sock), "already paired", "not conditional")
    ok(port(workdir, "add_sock", *add_sock, "--conditional"))
    refused(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 1), "--pci-addr=" + m[1]),
            "relay 0 has VF " + bond, "shares")
    refused(port(workdir, "remove_sock", "--vhost-path=" + path, "--name=b2",
                 "--pci-addr=" + m[0], "--pci-addr=" + m[1]), "paired with " + bond)

    exchange(workdir, procs, d, veths[0][1], n=1000)

    # The socket goes, and the bond with it, since add_sock brought it.
    ok(port(workdir, "remove_sock", *add_sock))
    r = d.relay(0)
    assert not r["in_use"] and r["vf"] == "" and r["socket"] == "", r
    assert d.stop() == 0
    assert "leak" not in d.log()


# DPDK 22.11's af_packet reports its link up from start to stop, whatever
# its interface does (its link_update does nothing), so a bond of af_packet
# members never sees one go down. (No software PMD of 22.11 does better: a
# tap updates its link without raising the event the bond waits for, and
# memif and vhost cannot take a bond's MAC address.) Passes with an
# af_packet link_update that reads the interface's IFF_UP|IFF_RUNNING;
# strict, so that it is noticed once DPDK has one.
# Needs patches/dpdk/0001-net-af_packet-report-link-from-interface-flags.patch:
# stock 22.11 af_packet never reports link down.
def test_bond_fails_over_when_its_active_member_loses_link(workdir, procs, veths):
    d = start_daemon(workdir, procs)
    m = members(veths)
    ok(port(workdir, "add", "--virtio-id=0", "--name=b0", "--pci-addr=" + m[0],
            "--pci-addr=" + m[1]))
    d.wait_relay(0, active_member("net_af_packet0"), what="member net_af_packet0 active")
    # The far end of the active member's veth goes down: its member end
    # loses carrier, and the bond moves to the other member.
    subprocess.run(["ip", "link", "set", veths[0][1], "down"], check=True)
    d.wait_relay(0, active_member("net_af_packet1"), timeout=5, what="failover")
    assert d.relay(0)["vf_link_up"]
    exchange(workdir, procs, d, veths[1][1])
    assert d.stop() == 0
    log = d.log()
    assert "leak" not in log
    assert "relay 0: bond member net_af_packet1 carries the traffic instead of " \
        "net_af_packet0" in log
