"""Multiqueue virtio: VF->VM traffic spread over the guest's RX queues by
flow (each flow on one queue, in order), VM->VF taken from every TX queue.
virtio_user allows at most 8 queue pairs (DPDK's VIRTIO_MAX_VIRTQUEUE_PAIRS):
32 are tested with tests/integration/vhost_front.py; the VM suite covers
QEMU guests."""
import json
import os
import struct
import time

import pytest

from harness import Daemon, Peer, memif_peer, memif_vf, open_gate
from test_control import sock, start_daemon
from test_hostile_guest import Wire, frame
from test_relay import vm_gone_and_pool_full
from vhost_front import RING, Frontend

N = 4000


def relay_memif_both_ways(workdir, procs, vf_queues, guest_queues):
    """N frames each way of 32 flows between a memif VF of vf_queues queue
    pairs (--vf-queues when above 1; the sender puts flow f on ring
    f % vf_queues) and a virtio_user guest of guest_queues (flow f on TX
    queue f % guest_queues), every one checked to arrive once, in order,
    byte for byte. Returns the guest's and the VF peer's reports, the VM
    gone and every mbuf back."""
    vf_opt = ["--vf-queues", str(vf_queues)] if vf_queues > 1 else []
    d = Daemon(workdir, ["-C", "1", "-M", "0", "--server", "-V", workdir] + vf_opt +
               ["-P", memif_vf(workdir) + "=0"])
    procs.append(d)
    go = os.path.join(workdir, "go")
    common = ["--tx", N, "--expect", N, "--flows", 32, "--sizes", "64,700,1400",
              "--pps", 5000, "--start-file", go, "--wait-link"]
    vf = Peer(workdir, [memif_peer(workdir)],
              common + ["--tag", 1, "--expect-tag", 2, "--queues", vf_queues])
    procs.append(vf)
    vm = Peer(workdir, ["net_virtio_user0,path=%s/virtio-forwarder0.sock,queues=%d,cq=1,"
                        "queue_size=1024" % (workdir, guest_queues)],
              common + ["--tag", 2, "--expect-tag", 1, "--queues", guest_queues])
    procs.append(vm)
    d.wait_relay(0, lambda r: r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"]
                 and r["guest_rx_queues"] == r["guest_tx_queues"] == guest_queues,
                 what="%d queue pairs enabled" % guest_queues)
    assert d.relay(0)["vf_queues"] == vf_queues
    open_gate(go, vf, vm)
    vm_port, vf_port = vm.report()["ports"][0], vf.report()["ports"][0]
    r = d.relay(0)
    for p in (vm_port, vf_port):
        ok = (p["rx_ok"] == N and p["lost"] == 0 and p["reordered_or_dup"] == 0
              and p["rx_corrupt"] == 0)
        assert ok, "%s\n%s" % (json.dumps(p), json.dumps(r))
    assert r["vm_to_vf"]["tx_pkts"] == N and r["vf_to_vm"]["tx_pkts"] == N
    vm.stop()
    d.wait_relay(0, vm_gone_and_pool_full, what="guest gone, every mbuf back")
    assert d.stop() == 0
    return vm_port, vf_port


@pytest.mark.parametrize("queues", [4, 8])
def test_multiqueue_every_queue_carries_traffic_flows_in_order(workdir, procs, queues):
    vm_port, _ = relay_memif_both_ways(workdir, procs, 1, queues)
    # Every guest RX queue got a share of the 32 flows.
    assert all(n > 0 for n in vm_port["rx_per_queue"]), vm_port["rx_per_queue"]
    assert len(vm_port["rx_per_queue"]) == queues


@pytest.mark.parametrize("vf_queues,guest_queues", [(4, 4), (4, 2), (2, 4)])
def test_vf_queues_keep_each_flow_on_its_queue_pair(workdir, procs, vf_queues, guest_queues):
    """--vf-queues: the VF gets that many queue pairs, each kept to guest
    queues of its own (memif has no RSS: its sender picks the ring):
    - VF ring i feeds guest RX queue i mod guest_queues alone; with fewer
      VF queues than the guest's, ring i spreads over guest queues i,
      i + vf_queues... by flow;
    - every guest TX queue goes out on VF ring 0, one ring in full bursts."""
    vm_port, vf_port = relay_memif_both_ways(workdir, procs, vf_queues, guest_queues)
    ctx = "%s\n%s" % (json.dumps(vm_port), json.dumps(vf_port))
    if vf_queues >= guest_queues:
        # Flow f left on ring f % vf_queues: guest queue f % guest_queues.
        assert vm_port["rx_off_queue"] == 0, ctx
        assert vm_port["rx_per_queue"] == [N // guest_queues] * guest_queues, ctx
    else:
        # Ring i's frames spread over guest queues i, i + vf_queues...
        assert all(n > 0 for n in vm_port["rx_per_queue"]), ctx
        assert all(sum(vm_port["rx_per_queue"][i::vf_queues]) == N // vf_queues
                   for i in range(vf_queues)), ctx
    assert vf_port["rx_per_queue"] == [N] + [0] * (vf_queues - 1), ctx


def test_a_vf_with_fewer_queues_than_asked_gets_all_it_has(workdir, procs, veths):
    """af_packet has as many queue pairs as its qpairs=: asked for 4, a VF
    of 2 gets 2, says so, and relays both ways."""
    vf_if, far_if = veths[0]
    d = start_daemon(workdir, procs, ["--vf-queues", "4", "-P",
                                      "net_af_packet0,iface=%s,qpairs=2=0" % vf_if])
    d.wait_log("4 queue pairs asked (VIRTIOFWD_VF_QUEUES), it has 2")
    wire = Wire(far_if)
    guest = Frontend(sock(workdir, 0), pairs=1).start()
    d.wait_relay(0, lambda r: r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"],
                 what="both directions active")
    assert d.relay(0)["vf_queues"] == 2
    guest.offer_rx_buffers(RING - 1)
    there = [frame(i, 60 + i, 0) for i in range(8)]
    guest.transmit(there)
    assert sorted(wire.receive(len(there))) == sorted(there)
    back = [udp_frame(f, 0) for f in range(16)]
    wire.send(back)
    got = guest.received(timeout=5, want=len(back))
    assert sorted(got) == sorted(back), "%d of %d frames" % (len(got), len(back))
    guest.close()
    d.wait_relay(0, vm_gone_and_pool_full, what="guest gone, every mbuf back")
    assert d.stop() == 0


def test_a_full_guest_rx_queue_holds_back_only_its_own_vf_queue(workdir, procs, veths):
    """--vf-queues 2 on an af_packet VF of 2 queue pairs (the kernel spreads
    flows over its sockets by hash, as a NIC's RSS would): VF queue i feeds
    guest RX queue i alone. The guest drains queue 0 and posts nothing on
    queue 1. Queue 0's flows arrive, in order; queue 1's are held, not
    dropped, on the VF's side, where they wait without stalling queue 0.
    Queue 1 posts buffers: its flows arrive, every one, in order."""
    flows = 64
    d, wire, guest, sent = guest_with_rx_queue_1_stuck(workdir, procs, veths, 2, flows, 3)
    d.wait_relay(0, lambda r: r["vf_to_vm"]["held_pkts"] > 0, what="queue 1's frames held")
    # Queue 0's frames do not wait for queue 1's: they arrive meanwhile.
    on_0, quiet_since = [], time.time()
    while time.time() - quiet_since < 0.5:
        new = guest.received(timeout=0, want=0, pair=0)
        if new:
            on_0, quiet_since = on_0 + new, time.time()
        time.sleep(0.05)
    flows_0 = {flow_of(f) for f in on_0}
    assert 0 < len(flows_0) < flows, "the flows did not spread over both queues"
    assert on_0 == [f for f in sent if flow_of(f) in flows_0], \
        "queue 0's flows not relayed exactly and in order"
    r = d.relay(0)["vf_to_vm"]
    assert r["drop_full_pkts"] == 0 and r["tx_pkts"] == len(on_0), r
    assert guest.received(timeout=0, want=0, pair=1) == []

    guest.offer_rx_buffers(RING - 1, pair=1)
    rest = [f for f in sent if flow_of(f) not in flows_0]
    on_1 = guest.received(timeout=5, want=len(rest), pair=1)
    assert on_1 == rest, "queue 1's flows not all relayed, in order, once it drained " \
        "(%d of %d)" % (len(on_1), len(rest))
    r = d.relay(0)["vf_to_vm"]
    assert r["tx_pkts"] == len(sent) and r["drop_full_pkts"] == 0, r
    guest.close()
    d.wait_relay(0, vm_gone_and_pool_full, what="guest gone, every mbuf back")
    assert d.stop() == 0


def udp_frame(flow, seq):
    """An IPv4/UDP frame of flow `flow` (its source port): the relay's flow
    hash spreads such flows over the guest's RX queues."""
    payload = struct.pack("!HH", flow, seq) + bytes((flow + seq + k) & 0xff for k in range(60))
    udp = struct.pack("!HHHH", 1024 + flow, 4789, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]))
    return bytes.fromhex("020000000002" "020000000001" "0800") + ip + udp


def flow_of(f):
    """The flow of a udp_frame."""
    return struct.unpack("!H", f[42:44])[0]


def guest_with_rx_queue_1_stuck(workdir, procs, veths, vf_queues, flows, rounds):
    """A relay on an af_packet VF of vf_queues queue pairs (--vf-queues) and
    a guest of 2 queue pairs that drains RX queue 0 and never posts a
    buffer on queue 1, as if that queue's vCPU hung; `rounds` rounds of one
    frame per flow sent from the wire. Returns the daemon, wire, guest and
    the frames sent."""
    vf_if, far_if = veths[0]
    d = start_daemon(workdir, procs, [
        "--vf-queues", str(vf_queues), "-P",
        "net_af_packet0,iface=%s,qpairs=%d,framecnt=2048=0" % (vf_if, vf_queues)])
    wire = Wire(far_if)
    guest = Frontend(sock(workdir, 0), pairs=2).start()
    d.wait_relay(0, lambda r: r["guest_rx_queues"] == r["guest_tx_queues"] == 2 and
                 r["vf_to_vm"]["active"], what="2 queue pairs enabled")
    guest.offer_rx_buffers(RING - 1, pair=0)
    sent = []
    for s in range(rounds):
        batch = [udp_frame(f, s) for f in range(flows)]
        wire.send(batch)
        sent += batch
        time.sleep(0.1)
    return d, wire, guest, sent


def test_32_queue_pairs_every_queue_both_ways(workdir, procs, veths):
    """The most queue pairs a relay takes, with a vhost-user frontend of
    ours (virtio_user stops at 8): every TX queue's frames reach the VF in
    the order of their queue, and VF frames of 512 flows are spread over
    all 32 RX queues, each flow on one queue, in order. Byte for byte, both
    ways: af_packet VF, raw socket on the far veth."""
    pairs, flows, per_flow = 32, 512, 2
    vf_if, far_if = veths[0]
    # A ring for every frame sent back at once (af_packet's default holds
    # 512): the kernel drops what finds it full, however fast the relay.
    d = start_daemon(workdir, procs, ["-P", "net_af_packet0,iface=%s,framecnt=2048=0" % vf_if])
    wire = Wire(far_if)
    guest = Frontend(sock(workdir, 0), pairs=pairs).start()
    d.wait_relay(0, lambda r: r["guest_rx_queues"] == pairs and
                   r["guest_tx_queues"] == pairs and r["vf_to_vm"]["active"] and
                   r["vm_to_vf"]["active"], what="%d queue pairs enabled" % pairs)

    sent = {p: [frame(p * 100 + i, 60 + 30 * i, p) for i in range(4)] for p in range(pairs)}
    for p in range(pairs):
        guest.transmit(sent[p], pair=p)
    got = wire.receive(4 * pairs)
    assert sorted(got) == sorted(f for fs in sent.values() for f in fs), \
        "guest -> VF frames not relayed exactly"
    for p in range(pairs):
        assert [f for f in got if f in sent[p]] == sent[p], "TX queue %d reordered" % p

    for p in range(pairs):
        guest.offer_rx_buffers(RING - 1, pair=p)
    back = [udp_frame(f, s) for s in range(per_flow) for f in range(flows)]
    wire.send(back)
    per_queue, total, deadline = {p: [] for p in range(pairs)}, 0, time.time() + 10
    while total < len(back) and time.time() < deadline:
        for p in range(pairs):
            new = guest.received(timeout=0, want=0, pair=p)
            per_queue[p] += new
            total += len(new)
        time.sleep(0.05)
    assert sorted(f for fs in per_queue.values() for f in fs) == sorted(back), \
        "VF -> guest frames not relayed exactly (%d of %d)" % (total, len(back))
    assert all(per_queue[p] for p in range(pairs)), \
        "RX queues without traffic: %s" % [p for p in range(pairs) if not per_queue[p]]
    for p, fs in per_queue.items():
        for f in {struct.unpack("!H", x[42:44])[0] for x in fs}:
            mine = [x for x in fs if struct.unpack("!H", x[42:44])[0] == f]
            assert mine == [udp_frame(f, s) for s in range(per_flow)], \
                "flow %d split or reordered on RX queue %d" % (f, p)
    guest.close()
    d.wait_relay(0, vm_gone_and_pool_full, what="guest gone, every mbuf back")
    assert d.stop() == 0


def test_a_stuck_guest_rx_queue_loses_only_its_own_flows(workdir, procs, veths):
    """A guest of 2 queue pairs drains RX queue 0 and never posts a buffer
    on queue 1, as if that queue's vCPU hung. Of the VF's frames, queue
    0's flows all arrive, in order, byte for byte; queue 1's are dropped,
    counted as "destination full", once it has refused for a millisecond.
    Held instead, they kept the relay from reading the VF, and queue 0 got
    nothing more either. Queue 1 posts buffers again: its flows arrive."""
    flows, rounds = 64, 3
    d, wire, guest, sent = guest_with_rx_queue_1_stuck(workdir, procs, veths, 1, flows,
                                                       rounds)

    def all_accounted(n):
        def check(r):
            c = r["vf_to_vm"]
            return c["rx_pkts"] == n and c["tx_pkts"] + c["drop_full_pkts"] == n
        return check

    r = d.wait_relay(0, all_accounted(len(sent)), timeout=10,
                     what="every frame delivered or dropped, none held")["vf_to_vm"]
    on_0 = guest.received(timeout=2, want=r["tx_pkts"], pair=0)
    assert len(on_0) == r["tx_pkts"], (len(on_0), r)
    flows_0 = {flow_of(f) for f in on_0}
    assert 0 < len(flows_0) < flows, "the flows did not spread over both queues"
    assert on_0 == [f for f in sent if flow_of(f) in flows_0], \
        "queue 0's flows not relayed exactly and in order"
    assert r["drop_full_pkts"] == len(sent) - len(on_0) > 0, r
    assert guest.received(timeout=0, want=0, pair=1) == []

    # Queue 1 is back.
    guest.offer_rx_buffers(RING - 1, pair=1)
    batch = [udp_frame(f, rounds) for f in range(flows)]
    wire.send(batch)
    d.wait_relay(0, all_accounted(len(sent) + flows), timeout=10, what="the last round")
    on_0 = guest.received(timeout=2, want=0, pair=0)
    on_1 = guest.received(timeout=2, want=flows - len(on_0), pair=1)
    assert on_0 == [f for f in batch if flow_of(f) in flows_0]
    assert on_1 == [f for f in batch if flow_of(f) not in flows_0]
    guest.close()
    d.wait_relay(0, vm_gone_and_pool_full, what="guest gone, every mbuf back")
    assert d.stop() == 0


def test_a_guest_asking_for_33_queue_pairs_is_refused_clearly(workdir, procs):
    d = start_daemon(workdir, procs, [])
    guest = Frontend(sock(workdir, 0), pairs=33).start()
    want = "the VM asks for 33 queue pairs; at most 32 are supported"
    d.wait_log(want)
    assert not d.relay(0)["vm_connected"]
    time.sleep(0.5)
    assert d.log().count(want) == 1, "the refusal is said once per connection"
    guest.close()
    # The daemon serves the next guest on that socket, with its own queues
    # only. Once the refused one is gone, the next takes its vid: what the
    # refused guest enabled must not carry over (it once did, and the
    # relay polled 64 rings of a guest that had 4).
    d.wait_log("vhost peer closed")
    good = Frontend(sock(workdir, 0), pairs=2).start()
    # rte_vhost reports a guest connected once its first pair is ready;
    # the second follows.
    d.wait_relay(0, lambda r: r["vm_connected"] and r["guest_rx_queues"] ==
                 r["guest_tx_queues"] == 2, what="the next guest served with its 2 pairs")
    time.sleep(0.3)
    r = d.relay(0)
    assert r["guest_rx_queues"] == r["guest_tx_queues"] == 2, r
    assert "invalid virtqueue" not in d.log()
    good.close()
    assert d.stop() == 0
