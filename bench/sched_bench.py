#!/usr/bin/env python3
"""Aggregate throughput before and after vio4wd_core_scheduler balances a
skewed load.

Topology (2 cores, no traffic process): the daemon alone, two workers,
lcore 1 on CPU 1 and lcore 2 on CPU 0, and RELAYS relays whose VFs are
net_null ports with no VM: each VF->VM direction takes bursts from its
source as fast as its worker polls and drops them as "VM not connected"
(what a stand-in VF does while its VM is away). Every direction is CPU
bound, so what a worker relays is what its CPU gives it; no generator
process competes for the cores, which on this machine would measure the
OS scheduler instead.

The skew: all relays pinned to lcore 1, lcore 2 idle. "before" is the
aggregate rate so; then the scheduler runs (pins may be overridden, as
the guide warns), and "after" is the rate once it has moved directions,
measured from the daemon's own counters. Repeated on fresh daemons;
medians and spreads; the ratio after/before is the figure to read.

Usage: sched_bench.py [--smoke] [--reps 3] [--seconds 5] [--relays 4]
Writes bench/results/sched-latest.md and .json (sched-smoke.* with --smoke)."""
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
from bench import med, save_report  # noqa: E402

WORK = "/tmp/vfwd-sched-bench"
SCHED = os.path.join(harness.BUILD, "scheduler", "vio4wd_core_scheduler")
LCORES = "0@0,1@1,2@0"


def config(nb_relays):
    ep = "ipc://%s/%%s" % WORK
    path = os.path.join(WORK, "virtioforwarder")
    with open(path, "w") as f:
        f.write("VIRTIOFWD_CPU_MASK=1,2\n"
                "VIRTIOFWD_MASTER_LCORE=0\n"
                "VIRTIOFWD_CPU_PINS=\"%s\"\n"
                "VIRTIOFWD_VHOST_CLIENT=false\n"
                "VIRTIOFWD_SOCKET_DIR=%s\n"
                "VIRTIOFWD_LOG_LEVEL=5\n"
                "VIRTIOFWD_ZMQ_STATS_EP=%s\n"
                "VIRTIOFWD_ZMQ_CORE_SCHED_EP=%s\n"
                "VIO4WD_CORE_SCHED_ENABLE=true\n"
                "VIO4WD_CORE_SCHED_POLL_INTERVAL=1\n"
                % (";".join("%d:1" % i for i in range(nb_relays)), WORK,
                   ep % "stats", ep % "core_sched"))
    return path


def taken(d, nb_relays):
    """Packets the VF->VM directions have taken from their VFs, and when."""
    return sum(d.relay(i)["vf_to_vm"]["rx_pkts"] for i in range(nb_relays)), time.time()


def rate(d, nb_relays, seconds):
    n0, t0 = taken(d, nb_relays)
    time.sleep(seconds)
    n1, t1 = taken(d, nb_relays)
    return (n1 - n0) / (t1 - t0) / 1e6


def cpus(d, nb_relays):
    return sorted(d.relay(i)["vf_to_vm"]["cpu"] for i in range(nb_relays))


def one_run(nb_relays, seconds):
    subprocess.run(["rm", "-rf", WORK])
    os.makedirs(WORK)
    cfg = config(nb_relays)
    args = ["--config=" + cfg]
    for i in range(nb_relays):
        args += ["-P", "net_null%d=%d" % (i, i)]
    d = harness.Daemon(WORK, args, lcores=LCORES, timeout=120)
    sched = None
    try:
        time.sleep(1)
        before = rate(d, nb_relays, seconds)
        placed_before = cpus(d, nb_relays)
        sched = harness.Process([SCHED, "--config=" + cfg], os.path.join(WORK, "sched.log"))
        deadline = time.time() + 30
        while "rebalancing" not in sched.log():
            if time.time() > deadline or not sched.alive():
                raise RuntimeError("the scheduler did not rebalance; log:\n" + sched.log()[-3000:])
            time.sleep(0.2)
        time.sleep(1.5)                  # the moves of that poll are applied
        after = rate(d, nb_relays, seconds)
        m = re.search(r"rebalancing: busiest CPU load ([0-9.]+) -> ([0-9.]+)", sched.log())
        return {"before_mpps": before, "after_mpps": after,
                "placement_before": placed_before, "placement_after": cpus(d, nb_relays),
                "moves": sched.log().count("moved relay"),
                "predicted_peak": [float(m.group(1)), float(m.group(2))]}
    finally:
        if sched:
            sched.stop()
        d.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="one short run")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--relays", type=int, default=4)
    a = ap.parse_args()
    reps, seconds = (1, 1.0) if a.smoke else (a.reps, a.seconds)
    runs = [one_run(a.relays, seconds) for _ in range(reps)]
    for r in runs:
        print(json.dumps(r), flush=True)
    row = {"relays": a.relays, "runs": runs}
    for k in ("before_mpps", "after_mpps"):
        row[k], row[k.replace("mpps", "spread")] = med(r[k] for r in runs)
    row["ratio"] = statistics.median(r["after_mpps"] / r["before_mpps"] for r in runs)
    write_report(row, a.smoke)
    return 0 if row["before_mpps"] > 0 and row["after_mpps"] > 0 else 1


def write_report(row, smoke):
    last = row["runs"][-1]
    lines = ["| relays | Mpps taken from the VFs, all on one worker | after balancing | after/before |",
             "|---|---|---|---|",
             "| %d | %.2f (±%.2f) | %.2f (±%.2f) | %.2fx |" % (
                 row["relays"], row["before_mpps"], row["before_spread"],
                 row["after_mpps"], row["after_spread"], row["ratio"]), "",
             "%d run(s), medians, ± half the spread. Last run: VF->VM directions on CPUs %s "
             "before, %s after (%d moves); the scheduler predicted the busiest CPU's load "
             "to go from %.2f to %.2f." % (
                 len(row["runs"]), last["placement_before"], last["placement_after"],
                 last["moves"], *last["predicted_peak"]),
             "",
             "Each relay's VF is a net_null port with no VM: every direction is CPU bound, "
             "so a worker's rate is its CPU's. lcore 2 shares CPU 0 with the daemon's "
             "main thread, which mostly sleeps."]
    save_report("sched-smoke" if smoke else "sched-latest", {"result": row},
                "vio4wd_core_scheduler: aggregate throughput on a skewed load", lines)


if __name__ == "__main__":
    sys.exit(main())
