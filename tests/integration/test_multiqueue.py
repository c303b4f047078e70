"""Multiqueue virtio: VF->VM traffic spread over the guest's RX queues by
flow (each flow on one queue, in order), VM->VF taken from every TX queue.
virtio_user allows at most 8 queue pairs (DPDK's VIRTIO_MAX_VIRTQUEUE_PAIRS);
the VM suite covers QEMU guests."""
import json
import os

import pytest

from harness import Daemon, Peer, memif_peer, memif_vf

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
