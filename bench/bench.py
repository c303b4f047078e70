#!/usr/bin/env python3
"""Relay throughput, ours against dpdk-testpmd, measured in the same run.

Topology (2 cores): ONE dpdk-testpmd "loop" process on CPU 0 with two
ports, a memif port facing the relay's VF side and a net_virtio_user port
on the relay's vhost-user socket, forwarding io between them. Seeded with
`start tx_first`, packets circulate loop -> relay -> loop -> relay, both
directions at once; the relay polls CPU 1. The relay is either
virtio-forwarder or, as the reference, dpdk-testpmd --forward-mode=io
between a net_vhost port and a memif port. Runs alternate, same cores.
The circulating rate is the relay's when the relay is the slower side.

Usage: bench.py [--smoke] [--sizes 64,512,1518] [--reps 3] [--seconds 5]
Writes bench/results/latest.md and latest.json (and latest.png when
matplotlib is installed)."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

WORK = "/tmp/vfwd-bench"


def memif(role, n=0):
    """The relay's memif is the server (it is up first); the loop's connects."""
    return "net_memif%d,role=%s,socket=%s/memif%d.sock,id=0" % (n, role, WORK, n)


class Loop(harness.Process):
    """The traffic loop: interactive testpmd driven through its stdin."""

    def __init__(self, size):
        self.prefix = harness.unique("loop")
        # stdbuf: testpmd's stdout to a file is block-buffered otherwise,
        # and the counters are read while it runs.
        argv = ["stdbuf", "-oL", "dpdk-testpmd", "--lcores=0@0,1@0", "--file-prefix=" + self.prefix,
                "--no-pci", "--single-file-segments", "--huge-dir=" + harness.HUGE_DIR,
                "--vdev=" + memif("client"),
                "--vdev=net_virtio_user0,path=%s/virtio-forwarder0.sock,queue_size=1024" % WORK,
                "--", "-i", "--total-num-mbufs=16384"]
        self.logf = open(os.path.join(WORK, "loop.log"), "wb")
        self.log_path = self.logf.name
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.size = size

    def cmd(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def measure(self, seconds, warmup=2.0):
        """Mpps each way over `seconds`, from testpmd's port counters."""
        self.cmd("set fwd io")
        self.cmd("set txpkts %d" % self.size)
        self.cmd("start tx_first 4")
        time.sleep(warmup)
        self.cmd("show port stats all")
        time.sleep(0.3)
        t0 = time.time()
        start = self._rx_packets()
        time.sleep(seconds)
        self.cmd("show port stats all")
        time.sleep(0.3)
        dt = time.time() - t0 - 0.3
        end = self._rx_packets()
        self.cmd("stop")
        # port 0 (memif) receives what crossed VM->VF, port 1 VF->VM
        return {"vm_to_vf": (end[0] - start[0]) / dt / 1e6,
                "vf_to_vm": (end[1] - start[1]) / dt / 1e6}

    def _rx_packets(self):
        self.logf.flush()
        text = open(self.log_path, errors="replace").read()
        blocks = re.findall(r"NIC statistics for port (\d+).*?RX-packets:\s+(\d+)", text, re.S)
        last = {}
        for port, n in blocks:
            last[int(port)] = int(n)
        return last[0], last[1]

    def quit(self):
        try:
            self.cmd("quit")
            self.proc.wait(timeout=10)
        except Exception:
            self.kill()
        harness.cleanup_prefix(self.prefix)


def start_ours(n_relays=1, idle_peer=None):
    args = ["-C", "1", "-M", "0", "--server", "-V", WORK, "-l", "5"]
    for i in range(n_relays):
        args += ["-P", "%s=%d" % (memif("server", i), i)]
    return harness.Daemon(WORK, args, timeout=120)


def start_testpmd_relay():
    prefix = harness.unique("ref")
    argv = ["dpdk-testpmd", "--lcores=0@0,1@1", "--file-prefix=" + prefix, "--no-pci",
            "--huge-dir=" + harness.HUGE_DIR,
            "--vdev=net_vhost0,iface=%s/virtio-forwarder0.sock,client=0" % WORK,
            "--vdev=" + memif("server"), "--", "--forward-mode=io", "--auto-start",
            "--stats-period=0", "--total-num-mbufs=16384"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=open(os.path.join(WORK, "ref.log"), "wb"),
                         stderr=subprocess.STDOUT, start_new_session=True)
    p.prefix = prefix
    deadline = time.time() + 20
    while not os.path.exists("%s/virtio-forwarder0.sock" % WORK):
        if time.time() > deadline:
            raise RuntimeError("testpmd relay did not create its socket")
        time.sleep(0.1)
    return p


def one_run(kind, size, seconds):
    subprocess.run(["rm", "-rf", WORK])
    os.makedirs(WORK)
    relay = start_ours() if kind == "ours" else start_testpmd_relay()
    loop = Loop(size)
    try:
        if kind == "ours":
            relay.wait_relay(0, lambda r: r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"],
                             timeout=30)
            w0 = relay.tel.query("/virtio_forwarder/workers")["1"]
        else:
            time.sleep(3)
        rates = loop.measure(seconds)
        if kind == "ours":
            w1 = relay.tel.query("/virtio_forwarder/workers")["1"]
            r = relay.relay(0)
            pkts = r["vf_to_vm"]["tx_pkts"] + r["vm_to_vf"]["tx_pkts"]
            rates["busy_cycles_per_pkt"] = r["vf_to_vm"]["busy_cycles"] and \
                (r["vf_to_vm"]["busy_cycles"] + r["vm_to_vf"]["busy_cycles"]) / max(pkts, 1)
            rates["worker_busy_share"] = (w1["busy_cycles"] - w0["busy_cycles"]) / max(
                w1["total_cycles"] - w0["total_cycles"], 1)
        return rates
    finally:
        loop.quit()
        if kind == "ours":
            relay.stop()
        else:
            relay.stdin.close()
            try:
                relay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                relay.kill()
            harness.cleanup_prefix(relay.prefix)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="one short run per kind, 64 B")
    ap.add_argument("--sizes", default="64,512,1518")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    sizes = [64] if a.smoke else [int(s) for s in a.sizes.split(",")]
    reps, seconds = (1, 1.0) if a.smoke else (a.reps, a.seconds)
    results = []
    for size in sizes:
        runs = {"ours": [], "testpmd": []}
        for _ in range(reps):
            for kind in ("testpmd", "ours"):     # alternate, same cores
                runs[kind].append(one_run(kind, size, seconds))
        row = {"size": size}
        for kind, rs in runs.items():
            for d in ("vf_to_vm", "vm_to_vf"):
                row["%s_%s_mpps" % (kind, d)], row["%s_%s_spread" % (kind, d)] = \
                    median_spread([r[d] for r in rs])
        row["ours_busy_cycles_per_pkt"] = statistics.median(
            r["busy_cycles_per_pkt"] for r in runs["ours"])
        for d in ("vf_to_vm", "vm_to_vf"):
            ref = row["testpmd_%s_mpps" % d]
            row["ratio_%s" % d] = row["ours_%s_mpps" % d] / ref if ref else 0
        results.append(row)
        print(json.dumps(row), flush=True)
    write_report(results, a.smoke)
    return 0 if all(r["ours_vf_to_vm_mpps"] > 0 and r["ours_vm_to_vf_mpps"] > 0
                    for r in results) else 1


def median_spread(vals):
    return statistics.median(vals), max(vals) - min(vals)


def save_report(name, data, title, lines):
    """bench/results/NAME.json (data and the machine) and NAME.md (the
    title, the machine, then lines), printed as well."""
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(dict(data, machine=machine()), f, indent=1)
    lines = ["# " + title, "", "Machine: %s" % machine(), ""] + lines
    with open(os.path.join(out, name + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def write_report(results, smoke):
    lines = ["| frame | ours VF->VM Mpps | testpmd VF->VM | ratio | ours VM->VF Mpps "
             "| testpmd VM->VF | ratio | ours busy cycles/pkt |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append("| %d | %.2f (±%.2f) | %.2f (±%.2f) | %.2fx | %.2f (±%.2f) | %.2f (±%.2f) | %.2fx | %.0f |" % (
            r["size"], r["ours_vf_to_vm_mpps"], r["ours_vf_to_vm_spread"] / 2,
            r["testpmd_vf_to_vm_mpps"], r["testpmd_vf_to_vm_spread"] / 2, r["ratio_vf_to_vm"],
            r["ours_vm_to_vf_mpps"], r["ours_vm_to_vf_spread"] / 2,
            r["testpmd_vm_to_vf_mpps"], r["testpmd_vm_to_vf_spread"] / 2, r["ratio_vm_to_vf"],
            r["ours_busy_cycles_per_pkt"]))
    lines += ["", "Both directions run at once (a testpmd loop feeds both sides); medians "
              "of the runs, ± half the spread. Rates are the relay's when it is the slower "
              "side of the loop. The machine is shared and noisy: compare ratios."]
    save_report("smoke" if smoke else "latest", {"results": results},
                "virtio-forwarder vs dpdk-testpmd (io) as the relay, same run", lines)


def machine():
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return "%s, %d CPUs" % (cpu, os.cpu_count())


if __name__ == "__main__":
    sys.exit(main())
