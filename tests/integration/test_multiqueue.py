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
