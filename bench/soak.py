#!/usr/bin/env python3
"""Soak: many relays carry checked traffic both ways for --minutes while
spare relays are added and removed through port control over and over.
Reports frames relayed and drops by cause, the peers' verdict (every frame
once, in order, intact), control cycles made and refused, and the daemon's
resident memory, open files, DPDK heap and mbufs in use before the traffic
and after it (both with the VMs connected and idle, every spare relay's
pool made). Not in CI: it takes
the machine for its whole run.

Usage: soak.py [--minutes 10] [--relays 60] [--pps 500]
Writes bench/results/soak-latest.md and .json."""
import argparse
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
from bench import save_report  # noqa: E402
from test_control import ADD, REMOVE, both_active, pb, raw, resources  # noqa: E402
from test_relay import vm_vdev  # noqa: E402

WORK = "/tmp/vfwd-soak"
SPARE_IDS = (60, 61, 62, 63)


def peer_opts(n, pps, seconds, tag, expect_tag, go):
    return ["--tx", n, "--expect", n, "--pps", pps, "--flows", 2, "--sizes", "64,1000",
            "--tag", tag, "--expect-tag", expect_tag, "--start-file", go, "--wait-link",
            "--idle-timeout", 30000, "--timeout", int(seconds) + 180, "--run-until-signal"]


def snapshot(d, relays):
    s = resources(d)
    s["mbufs_in_use"] = sum(d.relay(i)["pool_in_use"] for i in relays)
    return s


def totals(d, relays):
    t = {}
    for i in relays:
        r = d.relay(i)
        t["vf_rx_missed"] = t.get("vf_rx_missed", 0) + r["vf_rx_missed"]
        for direction in ("vf_to_vm", "vm_to_vf"):
            for k in ("rx_pkts", "tx_pkts", "drop_full_pkts", "drop_unconnected_pkts"):
                key = "%s_%s" % (direction, k)
                t[key] = t.get(key, 0) + r[direction][k]
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--relays", type=int, default=60)
    ap.add_argument("--pps", type=int, default=500, help="per relay and direction")
    a = ap.parse_args()
    assert 1 <= a.relays <= min(SPARE_IDS), "at most %d relays carry traffic" % min(SPARE_IDS)
    seconds = a.minutes * 60
    n = int(a.pps * seconds)
    subprocess.run(["rm", "-rf", WORK])
    os.makedirs(WORK)
    veth = harness.unique("vfs")
    subprocess.run(["ip", "link", "add", veth + "a", "type", "veth", "peer", "name",
                    veth + "b"], check=True)
    for end in ("a", "b"):
        subprocess.run(["ip", "link", "set", veth + end, "up"], check=True)
    relays = range(a.relays)
    procs = []
    try:
        ep = "ipc://%s/zmq/port_control" % WORK
        args = ["-C", "1", "-M", "0", "--server", "-V", WORK, "--zmq-port-control-ep=" + ep]
        for i in relays:
            args += ["-P", "%s=%d" % (harness.memif_vf(WORK, i, rsize=10), i)]
        d = harness.Daemon(WORK, args, timeout=120)
        procs.append(d)
        go = os.path.join(WORK, "go")
        vf = harness.Peer(WORK, [harness.memif_peer(WORK, i, rsize=10) for i in relays],
                          peer_opts(n, a.pps, seconds, 1, 2, go))
        vm = harness.Peer(WORK, [vm_vdev(WORK, i, i, queue_size=256) for i in relays],
                          peer_opts(n, a.pps, seconds, 2, 1, go))
        procs += [vf, vm]
        for i in relays:
            d.wait_relay(i, both_active, timeout=120, what="relay %d active" % i)
        vdev = "net_af_packet9,iface=%sa" % veth
        cycles = refused = 0

        def churn():
            nonlocal cycles, refused
            rid = SPARE_IDS[cycles % len(SPARE_IDS)]
            for req in (pb((1, ADD), (3, rid), (100, vdev)), pb((1, REMOVE), (3, rid), (100, vdev))):
                refused += raw(ep, req)[4] != [1]
            cycles += 1

        # Each spare relay once first: its mbuf pool is made on first use
        # and kept for it.
        for _ in SPARE_IDS:
            churn()
        before = snapshot(d, relays)
        open(go, "w").close()
        started = time.time()
        deadline = started + seconds + 120
        t = totals(d, relays)
        while time.time() < deadline and not (t["vf_to_vm_tx_pkts"] == t["vm_to_vf_tx_pkts"]
                                               == n * a.relays):
            for _ in range(10):
                churn()
            t = totals(d, relays)
        elapsed = time.time() - started
        # The peers are still connected, as before the traffic.
        after = snapshot(d, relays)
        for p in (vf, vm):
            p.signal(signal.SIGTERM)
        reports = {"vm_to_vf": vf.report(60), "vf_to_vm": vm.report(60)}
        for i in relays:
            d.wait_relay(i, lambda r: not r["vm_connected"], what="VM %d gone" % i)
        gone = snapshot(d, relays)
        assert d.stop(120) == 0
        leak = "leak" in d.log()
    finally:
        for p in procs:
            if p.alive():
                p.kill()
        subprocess.run(["ip", "link", "del", veth + "a"], stderr=subprocess.DEVNULL)

    verdict = {k: {f: sum(p[f] for p in rep["ports"])
                   for f in ("rx_ok", "lost", "rx_corrupt", "reordered_or_dup")}
               for k, rep in reports.items()}
    data = {"minutes": round(elapsed / 60, 2), "relays": a.relays, "pps": a.pps,
            "expected_per_direction": n * a.relays, "peers": verdict, "daemon": t,
            "control_cycles": cycles, "control_refused": refused, "before": before,
            "after": after, "vms_gone": gone, "leak_logged": leak}
    lines = ["%d relays, %d frames/s each way each, %.1f minutes; %d add/remove cycles of "
             "relays %s through port control meanwhile (%d refused)."
             % (a.relays, a.pps, elapsed / 60, cycles, "-".join(map(str, SPARE_IDS[::3])),
                refused), "",
             "| direction | expected | delivered intact | lost | corrupt | reordered or dup "
             "| relay dropped: queue full | not connected |", "|---|---|---|---|---|---|---|---|"]
    for k in ("vf_to_vm", "vm_to_vf"):
        v = verdict[k]
        lines.append("| %s | %d | %d | %d | %d | %d | %d | %d |" % (
            k, n * a.relays, v["rx_ok"], v["lost"], v["rx_corrupt"], v["reordered_or_dup"],
            t[k + "_drop_full_pkts"], t[k + "_drop_unconnected_pkts"]))
    lines += ["", "| daemon | before | after | after, VMs gone |", "|---|---|---|---|"]
    for k in ("rss_kb", "fds", "heap", "mbufs_in_use"):
        lines.append("| %s | %d | %d | %d |" % (k, before[k], after[k], gone[k]))
    lines += ["", "Before and after: the VMs connected and idle. RSS after the traffic "
              "includes the guest memory the daemon has touched (it maps each VM's "
              "memory); once the VMs are gone it is unmapped."]
    lines += ["", "VFs' RX missed (NIC drops under backpressure): %d. Leak logged at "
              "shutdown: %s." % (t["vf_rx_missed"], "yes" if leak else "no")]
    save_report("soak-latest", data, "virtio-forwarder soak", lines)


if __name__ == "__main__":
    main()
