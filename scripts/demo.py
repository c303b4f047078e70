#!/usr/bin/env python3
"""The demo topology: one relay, a stand-in VF and a stand-in VM as separate
processes, packets flowing both ways, the relay's counters shown live.

  VF peer (memif server) --memif--> virtio-forwarder --vhost-user--> VM peer
        ^                                                          (echo: swaps
        +----------------- the same packets, back ----------------  MACs, returns)

The VF peer numbers every frame and checks each one that comes back, byte
for byte and in order. Usage: demo.py [SECONDS]"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import harness  # noqa: E402


def rate(now, before, key, dt):
    return (now[key] - before[key]) / dt


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    workdir = "/tmp/vfwd-demo"
    os.makedirs(workdir, exist_ok=True)
    procs = []
    # The VF peer sends once the VM peer is up and the relay active both
    # ways: frames sent before would be drained as "no VM", and some that
    # reach the VM peer before its port has started are flushed by it.
    go = os.path.join(workdir, "go-%d" % time.monotonic_ns())
    try:
        vf = harness.Peer(workdir, [harness.memif_peer(workdir)],
                          ["--tx", 10**12, "--pps", 20000, "--tag", 1, "--expect-tag", 1,
                           "--sizes", "64,512,1518", "--flows", 8, "--wait-link",
                           "--start-file", go, "--run-until-signal",
                           "--timeout", int(seconds) + 60])
        procs.append(vf)
        daemon = harness.Daemon(workdir, ["-C", "1", "-M", "0", "--server", "-V", workdir,
                                          "-P", harness.memif_vf(workdir) + "=0"])
        procs.append(daemon)
        vm = harness.Peer(workdir, ["net_virtio_user0,path=%s/virtio-forwarder0.sock,"
                                    "queue_size=4096" % workdir], ["--echo"])
        procs.append(vm)
        print("virtio-forwarder demo: relay 0 = VF %s <-> vhost-user %s/virtio-forwarder0.sock"
              % (harness.memif_vf(workdir), workdir))
        print("daemon log: %s" % daemon.log_path)
        daemon.wait_relay(0, lambda r: r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"],
                          timeout=30, what="both directions active")
        harness.open_gate(go, vf, vm)
        print("%6s %14s %14s %12s %12s %10s" % ("time", "VF->VM pkt/s", "VM->VF pkt/s",
                                                  "VF->VM total", "VM->VF total", "drops"))
        prev, t_prev, t0 = daemon.relay(0), time.time(), time.time()
        while time.time() - t0 < seconds:
            time.sleep(2)
            cur, t = daemon.relay(0), time.time()
            dt = t - t_prev
            drops = sum(cur[d]["drop_full_pkts"] + cur[d]["drop_unconnected_pkts"]
                        for d in ("vf_to_vm", "vm_to_vf"))
            print("%5.0fs %14.0f %14.0f %12d %12d %10d" % (
                t - t0, rate(cur["vf_to_vm"], prev["vf_to_vm"], "tx_pkts", dt),
                rate(cur["vm_to_vf"], prev["vm_to_vf"], "tx_pkts", dt),
                cur["vf_to_vm"]["tx_pkts"], cur["vm_to_vf"]["tx_pkts"], drops))
            prev, t_prev = cur, t
        vf.stop()
        port = vf.report()["ports"][0]
        print("VF peer: sent %d frames, %d came back byte-identical and in order, "
              "%d corrupt, %d lost" % (port["tx"], port["rx_ok"], port["rx_corrupt"],
                                        port["lost"]))
        vm.stop()
        daemon.wait_relay(0, lambda r: not r["vm_connected"] and r["pool_in_use"] == 0)
        daemon.stop()
        print("relay 0 after the VM left: every mbuf back in its pool")
        return 0 if port["rx_corrupt"] == port["lost"] == 0 and port["rx_ok"] > 0 else 1
    finally:
        for p in procs:
            if p.alive():
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
