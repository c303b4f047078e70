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

from harness import Daemon, Peer, memif_peer, memif_vf
from test_control import sock, start_daemon
from test_hostile_guest import Wire, frame
from test_relay import vm_gone_and_pool_full
from vhost_front import RING, Frontend

N = 4000


@pytest.mark.parametrize("queues", [4, 8])
def test_multiqueue_every_queue_carries_traffic_flows_in_order(workdir, procs, queues):
    d = Daemon(workdir, ["-C", "1", "-M", "0", "--server", "-V", workdir,
                         "-P", memif_vf(workdir) + "=0"])
    procs.append(d)
    go = os.path.join(workdir, "go")
    common = ["--tx", N, "--expect", N, "--flows", 32, "--sizes", "64,700,1400",
              "--pps", 5000, "--start-file", go, "--wait-link"]
    vf = Peer(workdir, [memif_peer(workdir)], common + ["--tag", 1, "--expect-tag", 2])
    procs.append(vf)
    vm = Peer(workdir, ["net_virtio_user0,path=%s/virtio-forwarder0.sock,queues=%d,cq=1,"
                        "queue_size=1024" % (workdir, queues)],
              common + ["--tag", 2, "--expect-tag", 1, "--queues", queues])
    procs.append(vm)
    r = d.wait_relay(0, lambda r: r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"]
                     and r["guest_rx_queues"] == queues and r["guest_tx_queues"] == queues,
                     what="%d queue pairs enabled" % queues)
    open(go, "w").close()
    vm_port, vf_port = vm.report()["ports"][0], vf.report()["ports"][0]
    r = d.relay(0)
    for p in (vm_port, vf_port):
        ok = (p["rx_ok"] == N and p["lost"] == 0 and p["reordered_or_dup"] == 0
              and p["rx_corrupt"] == 0)
        assert ok, "%s\n%s" % (json.dumps(p), json.dumps(r))
    # Every guest RX queue got a share of the 32 flows.
    assert all(n > 0 for n in vm_port["rx_per_queue"]), vm_port["rx_per_queue"]
    assert len(vm_port["rx_per_queue"]) == queues
    assert r["vm_to_vf"]["tx_pkts"] == N and r["vf_to_vm"]["tx_pkts"] == N
    vm.stop()
    d.wait_relay(0, lambda r: not r["vm_connected"] and r["pool_in_use"] == 0)
    assert d.stop() == 0


def udp_frame(flow, seq):
    """An IPv4/UDP frame of flow `flow` (its source port): the relay's flow
    hash spreads such flows over the guest's RX queues."""
    payload = struct.pack("!HH", flow, seq) + bytes((flow + seq + k) & 0xff for k in range(60))
    udp = struct.pack("!HHHH", 1024 + flow, 4789, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]))
    return bytes.fromhex("020000000002" "020000000001" "0800") + ip + udp


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
    vf_if, far_if = veths[0]
    flows, rounds = 64, 3
    d = start_daemon(workdir, procs, ["-P", "net_af_packet0,iface=%s,framecnt=2048=0" % vf_if])
    wire = Wire(far_if)
    guest = Frontend(sock(workdir, 0), pairs=2).start()
    d.wait_relay(0, lambda r: r["guest_rx_queues"] == r["guest_tx_queues"] == 2 and
                 r["vf_to_vm"]["active"], what="2 queue pairs enabled")
    guest.offer_rx_buffers(RING - 1, pair=0)

    def flow_of(f):
        return struct.unpack("!H", f[42:44])[0]

    def all_accounted(n):
        def check(r):
            c = r["vf_to_vm"]
            return c["rx_pkts"] == n and c["tx_pkts"] + c["drop_full_pkts"] == n
        return check

    sent = []
    for s in range(rounds):
        batch = [udp_frame(f, s) for f in range(flows)]
        wire.send(batch)
        sent += batch
        time.sleep(0.1)
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
