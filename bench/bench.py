#!/usr/bin/env python3
"""Relay performance, ours against dpdk-testpmd, measured in the same run.

Topology (2 cores): the relay polls CPU 1; on CPU 0 one vfwd-gen process
(bench/vfwd_gen.c) is both the traffic generator and the sink, with a
memif port facing the relay's VF side (a zero-copy client: see
VFWD_BENCH_ZC below) and a net_virtio_user port on the relay's
vhost-user socket. It sends fresh
frames one way (VF->VM or VM->VF) or both ways at once and counts what
arrives at the other port: nothing the relay relays feeds back into what
it is offered. The relay is either virtio-forwarder or, as the
reference, `dpdk-testpmd --forward-mode=io` between a net_vhost port and
a memif port.

The two are measured in pairs, run by run: both topologies are set up
side by side (a generator each), and the one not being measured is
stopped whole (SIGSTOP: it polls nothing, its connections stay up). A
run of testpmd and a run of ours are then seconds apart on the same
cores, and the ratio is taken per pair. This machine's speed drifts by
several times over tens of seconds (docs/benchmark.md); pairs see the
same machine, medians of separate sessions did not.

Figures:
- Mpps at the sink per direction and frame size, the ratio ours/testpmd;
  besides the sizes asked for, 9000-byte frames (ours with -J; testpmd
  as it is: its memif refuses --max-pkt-len above 1518 but takes and
  sends chains of any length; the generator's mbufs hold a frame whole,
  the relays' are 2 KB: a frame is a chain in either relay) and 64-byte
  frames over 4 queue pairs (both relays: 4 queues on both ports, queue i
  to queue i; ours with --vf-queues 4);
- the relay's busy cycles per relayed packet (ours: its telemetry;
  testpmd: --record-core-cycles; both count only polls that moved
  packets) and its busy share of the core. A relay with a busy share well
  below 1 had time to spare: the generator was the limit there, and the
  cycle ratio says more than the rate ratio;
- latency p50/p99 at 10% of the slower relay's rate (TSC stamps in the
  payload, same process);
- scaling (ours): 8 and 64 relays on one worker against 1, in pairs as
  above; only relay 0 has traffic, the others have their VM connected and
  their VF up, idle;
- instructions per relayed packet, each relay under callgrind (perf
  counters are not available on this machine: `perf stat -e instructions
  true` says "not supported"); cycles are the relays' own TSC counts.

Usage: bench.py [--smoke] [--sizes 64,512,1518] [--reps 3] [--seconds 4]
                [--against BINARY] [--quick DIRECTION [--pairs 30] [--queues 1]
                [--size 64]]
--quick DIRECTION [--pairs 30] [--queues 1] [--size 64] measures one row
only (that frame size, that many queue pairs, that direction) in many
short pairs of one pair of sessions:
bench/results/quick.*; with --against too, it is the quickest way to see
whether a change to the data path pays (a minute or two).
--against BINARY measures ours against another build of ours (a
virtio-forwarder binary, e.g. of the commit before a change) instead of
testpmd, in pairs the same way: how an optimisation shows. No scaling
rows then; results go to bench/results/against.* (against-smoke.*), not
to the docs.
The generator's VM side (the guest) is the same for both relays, and so
are the virtio features it negotiates: no mergeable RX buffers (ours does
not offer them by default, testpmd's net_vhost does) and no IN_ORDER,
which lets the guest take in frames on virtio's vectorized RX path, its
cheapest: the sink is then less of the limit. VFWD_BENCH_GUEST replaces
these net_virtio_user options ("" for the PMD's defaults).
VFWD_BENCH_ARGS adds daemon options. VFWD_BENCH_ZC says which end of
the VF-side memif lends its own mbufs (zero-copy; DPDK's memif lends only
a client's, so that end is the client), the same for both relays:
"gen" (the default): the generator's; the relay copies on both sides, the
generator on neither, so that it out-runs one relay core and the rate is
the relay's. "relay": the relay's; the generator copies into and out of
the relay's buffers, as a PCI VF's DMA would, and the relay copies only on
its vhost side. "none": both copy, the relay's memif is the client.
Writes bench/results/latest.{md,json,png} (smoke.* with --smoke); a full
run also copies the table and plot to docs/benchmark.md and .png."""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

WORK = "/tmp/vfwd-bench"
GEN = os.path.join(harness.BUILD, "vfwd-gen")
CPU_RTT = os.path.join(harness.BUILD, "vfwd-cpu-rtt")
DIRS = ("vf2vm", "vm2vf", "both")
DIR_KEYS = {"vf2vm": ("vf_to_vm",), "vm2vf": ("vm_to_vf",), "both": ("vf_to_vm", "vm_to_vf")}
LATENCY_LOAD = 0.10
# A run where a polling thread waited this share of its time for a CPU,
# or a CPU was stolen this share, was disturbed from outside: flagged.
CPU_WAIT_WARN = 0.02


# The end of the VF-side memif in zero-copy mode: "gen", "relay" or "none".
ZERO_COPY = os.environ.get("VFWD_BENCH_ZC", "gen")
if ZERO_COPY not in ("gen", "relay", "none"):
    raise SystemExit("VFWD_BENCH_ZC=%s: say gen, relay or none" % ZERO_COPY)
# Zero-copy lends a client's mbufs to the peer: EAL's memory in one piece.
RELAY_EAL = ["--single-file-segments"] if ZERO_COPY == "relay" else []


def memif(work, n, end):
    """The memif port of relay n's VF side at one end, "relay" or "gen".
    The zero-copy end is the client; with none, the relay is, as in the
    tests. The idle relays' (n > 0) carry no traffic: no zero-copy, and
    the relay is the client, which retries until its peer is up (a
    generator's client tries once, at start)."""
    zero_copy = ZERO_COPY if n == 0 else "none"
    client = "relay" if zero_copy == "none" else zero_copy
    return "net_memif%d,role=%s,socket=%s/memif%d.sock,socket-abstract=no,id=0,rsize=12%s" % (
        n, "client" if end == client else "server", work, n,
        ",zero-copy=yes" if end == zero_copy else "")


# A memif client needs its server up when it starts: the generator's
# server is up before the relay starts, a relay's before the generator
# attaches its client.
GEN_LISTENS = ZERO_COPY == "relay" or ZERO_COPY == "none"


def vhost_sock(work, n):
    return "%s/virtio-forwarder%d.sock" % (work, n)


def gen_eal(prefix, vdevs):
    return [GEN, "--lcores=0@0", "--file-prefix=" + prefix, "--no-pci",
            "--single-file-segments", "--huge-dir=" + harness.HUGE_DIR] + \
        ["--vdev=" + v for v in vdevs]


GUEST = os.environ.get("VFWD_BENCH_GUEST", "mrg_rxbuf=0,in_order=0,vectorized=1")


def vm_vdev(work, n, queue_size, queues=1, guest=GUEST):
    return "net_virtio_user%d,path=%s,queue_size=%d,queues=%d%s" % (
        n, vhost_sock(work, n), queue_size, queues, "," + guest if guest else "")


class Gen:
    """vfwd-gen for relay 0, up for a whole session. Started before the
    relay, with its memif if that is the server; then attach() adds, once
    the relay is up, its memif if that is the client, and its VM side."""

    def __init__(self, case, work):
        self.prefix = harness.unique("gen")
        self.queues, self.guest, self.work = case["queues"], case["guest"], work
        argv = gen_eal(self.prefix, [memif(work, 0, "gen")] if GEN_LISTENS else []) + [
            "--", "--mbuf-size", "10240" if case["jumbo"] else "2176",
            "--vf-queues", str(case["vf_queues"]), "--vm-queues", str(case["queues"])]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(work, "gen.log"), "wb"),
                                     text=True, start_new_session=True)
        if GEN_LISTENS:
            wait_listening("%s/memif0.sock" % work, self.proc, "gen.log")

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("vfwd-gen exited; see %s/gen.log" % self.work)
        r = json.loads(reply)
        if "error" in r:
            raise RuntimeError("vfwd-gen: " + r["error"])
        return r

    def attach(self):
        """The ports that need the relay up: port 0 faces its VF side,
        port 1 its VM side."""
        if not GEN_LISTENS:
            wait_listening("%s/memif0.sock" % self.work, self.proc, "gen.log")
            self.command("attach " + memif(self.work, 0, "gen"))
        wait_listening(vhost_sock(self.work, 0), self.proc, "gen.log")
        self.command("attach " + vm_vdev(self.work, 0, 1024, self.queues, self.guest))

    def run(self, direction, size, seconds, pps=0):
        return self.command("%s %d %g %d" % (direction, size, seconds, pps))

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        harness.cleanup_prefix(self.prefix)


def listening(path):
    """Whether a unix socket is listening at path (/proc/net/unix: the
    flag __SO_ACCEPTCON), without connecting to it."""
    with open("/proc/net/unix") as f:
        next(f)
        return any(w[-1] == path and int(w[3], 16) & 0x10000
                   for w in (line.split() for line in f) if len(w) == 8)


def wait_listening(path, proc, log):
    """Until the server at path listens. The socket file appears at
    bind(), before listen(): a peer that connects once (memif's and
    virtio_user's clients) and comes in between is refused for good, a
    window that a relay under valgrind holds open for a long while."""
    deadline = time.time() + 60
    while not listening(path):
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError("nothing listens at %s; see %s" % (
                path, os.path.join(os.path.dirname(path), log)))
        time.sleep(0.05)


class IdlePeers:
    """VMs and VF peers of relays 1..n-1: connected, never sending."""

    def __init__(self, n, work):
        self.prefix = harness.unique("idle")
        vdevs = []
        for i in range(1, n):
            vdevs += [memif(work, i, "gen"), vm_vdev(work, i, 256)]
        argv = gen_eal(self.prefix, vdevs) + ["--", "--idle"]
        self.proc = harness.Process(argv, os.path.join(work, "idle.log"))

    def close(self):
        self.proc.stop()
        harness.cleanup_prefix(self.prefix)


class Ours:
    name = "ours"
    binary = harness.DAEMON

    def __init__(self, case, work, n_relays=1, wrap=()):
        args = ["-C", "1", "-M", "0", "--server", "-V", work, "-l", "5"] + \
            (["-J"] if case["jumbo"] else []) + \
            (["--vf-queues", str(case["vf_queues"])] if case["vf_queues"] > 1 else []) + \
            os.environ.get("VFWD_BENCH_ARGS", "").split()
        for i in range(n_relays):
            args += ["-P", "%s=%d" % (memif(work, i, "relay"), i)]
        self.d = harness.Daemon(work, args, timeout=120, eal=RELAY_EAL, binary=self.binary,
                                wrap=wrap)
        self.proc = self.d.proc

    def wait_connected(self, n=1):
        for rid in range(n):
            self.d.wait_relay(rid, lambda r: r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"],
                              timeout=60, what="idle VM and VF connected")

    def counters(self):
        r = self.d.relay(0)
        w = self.d.tel.query("/virtio_forwarder/workers")["1"]
        return {"rx": r["vf_to_vm"]["rx_pkts"] + r["vm_to_vf"]["rx_pkts"],
                "busy": r["vf_to_vm"]["busy_cycles"] + r["vm_to_vf"]["busy_cycles"],
                "worker_busy": w["busy_cycles"], "worker_total": w["total_cycles"],
                "at": time.monotonic()}

    @staticmethod
    def cost(before, after):
        """Busy cycles, packets taken in, seconds the worker was busy (its
        TSC rate from its total cycles over the wall time between)."""
        hz = (after["worker_total"] - before["worker_total"]) / (after["at"] - before["at"])
        return (after["busy"] - before["busy"], after["rx"] - before["rx"],
                (after["worker_busy"] - before["worker_busy"]) / max(hz, 1))

    def close(self):
        self.d.stop()


def against(binary):
    """Ours as built elsewhere: the reference of an A/B run."""
    if not os.access(binary, os.X_OK):
        raise SystemExit("--against %s: not an executable virtio-forwarder" % binary)
    path = os.path.abspath(binary)
    return type("Base", (Ours,), {"name": "base", "binary": path, "title": path + " (base)",
                                  "legend": "base build"})


class Testpmd:
    """testpmd io-forwarding between net_vhost and memif, interactive so
    that its forwarding cycle counts can be cleared and read per run."""
    name = "testpmd"
    title, legend = "dpdk-testpmd (io) as the relay", "testpmd io"
    CYCLES = re.compile(r"CPU cycles/packet=([0-9.]+) \(total cycles=(\d+) / total \w+ "
                        r"packets=(\d+)\) at (\d+) MHz")

    def __init__(self, case, work, n_relays=1, wrap=()):
        assert n_relays == 1, "testpmd relays one pair"
        self.prefix = harness.unique("ref")
        q = case["queues"]
        argv = ["stdbuf", "-oL"] + list(wrap) + [
                "dpdk-testpmd", "--lcores=0@0,1@1", "--file-prefix=" + self.prefix, "--no-pci",
                "--huge-dir=" + harness.HUGE_DIR] + RELAY_EAL + [
                "--vdev=net_vhost0,iface=%s,queues=%d" % (vhost_sock(work, 0), q),
                "--vdev=" + memif(work, 0, "relay"), "--", "-i", "--forward-mode=io",
                "--record-core-cycles", "--total-num-mbufs=16384", "--rxq=%d" % q,
                "--txq=%d" % q]
        self.log_path = os.path.join(work, "testpmd.log")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=open(self.log_path, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_listening(vhost_sock(work, 0), self.proc, "testpmd.log")
        self.cmd("start")

    def wait_connected(self, n=1):
        """testpmd says nothing we could wait on; the generator waits for
        its links before each run."""

    def cmd(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def counters(self):
        """Cycles since the last call (testpmd's are cleared each time).
        testpmd prints its cycles only when it forwarded something, so the
        echo of the clear that follows the show says the answer is
        complete."""
        cleared = "testpmd> clear fwd stats all"
        seen = open(self.log_path, errors="replace").read().count(cleared)
        self.cmd("show fwd stats all")
        self.cmd("clear fwd stats all")
        deadline = time.time() + 10
        while True:
            log = open(self.log_path, errors="replace").read()
            if log.count(cleared) > seen:
                break
            if time.time() > deadline:
                raise RuntimeError("testpmd does not answer; see " + self.log_path)
            time.sleep(0.02)
        answer = log[:log.rindex(cleared)].rsplit("testpmd> show fwd stats all", 1)[-1]
        found = self.CYCLES.findall(answer)
        if not found:       # nothing forwarded since the last clear
            return {"rx": 0, "busy": 0, "mhz": 1}
        _, cycles, pkts, mhz = found[-1]
        return {"rx": int(pkts), "busy": int(cycles), "mhz": int(mhz)}

    @staticmethod
    def cost(before, after):
        """As Ours.cost; testpmd's counts start from its last clear."""
        return (after["busy"], after["rx"], after["busy"] / (after["mhz"] * 1e6))

    def close(self):
        try:
            self.cmd("quit")
            self.proc.wait(timeout=15)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        harness.cleanup_prefix(self.prefix)


def fresh_workdir(work):
    """An empty directory; the last session's files are kept in work.last."""
    subprocess.run(["rm", "-rf", work + ".last"])
    if os.path.exists(work):
        os.rename(work, work + ".last")
    os.makedirs(work)


def waited(pids):
    """Per thread of the processes pids: (ns on a CPU, ns runnable but
    waiting for one), from /proc/PID/task/TID/schedstat; and per CPU,
    (jiffies stolen by the hypervisor, jiffies in all) from /proc/stat."""
    out = {"at": time.monotonic_ns()}
    with open("/proc/stat") as f:
        for line in f:
            w = line.split()
            if w[0].startswith("cpu") and w[0] != "cpu":
                out[w[0]] = (int(w[8]), sum(int(v) for v in w[1:9]))
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except FileNotFoundError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    ran, wait = f.read().split()[:2]
            except (FileNotFoundError, ProcessLookupError):
                continue
            out[tid] = (int(ran), int(wait))
    return out


def worst_wait(before, after):
    """The largest share of the time a polling thread (runnable most of
    the window) spent waiting for a CPU (another process on our cores), or
    a CPU was stolen by the hypervisor (other guests on the host's). Either
    makes a run's figures say little about the relay, so it is reported."""
    window = after["at"] - before["at"]
    worst = 0.0
    for key, now in after.items():
        if key == "at" or key not in before:
            continue
        a, b = now[0] - before[key][0], now[1] - before[key][1]
        if key.startswith("cpu"):
            worst = max(worst, a / max(b, 1))           # stolen / all jiffies
        elif a + b > window / 2:
            worst = max(worst, b / (a + b))             # waited / (ran + waited)
    return worst


def measured(gen, relay, direction, size, seconds, pps=0):
    """Generator report plus the relay's busy cycles per packet delivered
    (testpmd's own figure divides by packets received, dropped ones
    included), the share of what it took in that it dropped, its busy
    share of the core while frames were offered (warm-up included: the
    idle drain after would dilute it), and how long the relay's or the
    generator's busiest thread waited for a CPU (contention from outside
    the benchmark)."""
    before = relay.counters()
    pids = (gen.proc.pid, relay.proc.pid)
    sched0 = waited(pids)
    g = gen.run(direction, size, seconds, pps)
    g["cpu_wait"] = worst_wait(sched0, waited(pids))
    after = relay.counters()
    busy, taken, busy_seconds = relay.cost(before, after)
    g["busy_share"] = busy_seconds / g["traffic_seconds"]
    delivered = sum(g[k]["total_received"] for k in DIR_KEYS[direction])
    g["cycles_per_pkt"] = busy / max(delivered, 1)
    g["dropped_share"] = max(taken - delivered, 0) / max(taken, 1)
    return g


def mpps(run, direction):
    """A measured() run's Mpps at the sink; both ways: the sum."""
    return sum(run[k]["mpps"] for k in DIR_KEYS[direction])


# What a session sets up: frame sizes measured, the guest's queue pairs,
# jumbo frames, the guest's net_virtio_user options. Each relay's memif
# has as many queues as the guest (testpmd gives every port the same
# number; ours is told with --vf-queues), and so has the generator's.
def case(sizes, queues=1, jumbo=False, guest=GUEST):
    return {"sizes": sizes, "queues": queues, "jumbo": jumbo, "guest": guest}


STANDARD = case([64, 512, 1518])


class Session:
    """A fresh directory WORK/<relay>, the generator (and idle peers), then
    the relay; all stopped at the end, whatever happened. Entered paused:
    its processes run only inside running(), so that two sessions can be
    up at once and measured in turns."""

    def __init__(self, kind, setup=STANDARD, n_relays=1, wrap=()):
        self.kind, self.n, self.wrap = kind, n_relays, wrap
        self.case = dict(setup, vf_queues=setup["queues"])
        self.work = os.path.join(WORK, kind.name + ("-%d" % n_relays if n_relays > 1 else ""))

    def __enter__(self):
        fresh_workdir(self.work)
        self.gen, self.idle, self.relay = Gen(self.case, self.work), None, None
        try:
            self.relay = self.kind(self.case, self.work, self.n, self.wrap)
            self.gen.attach()
            if self.n > 1:
                self.idle = IdlePeers(self.n, self.work)
            self.relay.wait_connected(self.n)
            self.gen.run("both", 64, 0.5)      # warms pools and caches
            self.signal(signal.SIGSTOP)
        except BaseException:
            self.__exit__()
            raise
        return self

    def signal(self, sig):
        """To every process of the session, threads and all."""
        for p in (self.gen.proc, self.relay and self.relay.proc, self.idle and self.idle.proc.proc):
            if p and p.poll() is None:
                os.killpg(p.pid, sig)

    @contextlib.contextmanager
    def running(self):
        self.signal(signal.SIGCONT)
        try:
            yield self
        finally:
            self.signal(signal.SIGSTOP)

    def __exit__(self, *exc):
        self.signal(signal.SIGCONT)         # to a running process: nothing
        if self.relay:
            self.relay.close()
        self.gen.close()
        if self.idle:
            self.idle.close()


def cpu_rtt():
    """The cache line round trip between the two CPUs, in ns, while every
    session is stopped: the price of each handoff between relay and
    generator, which this machine changes by several times from one
    minute to the next (bench/cpu_rtt.c)."""
    return int(subprocess.run([CPU_RTT, "0", "1"], capture_output=True, text=True,
                              check=True).stdout)


def paired(a, b, rep, measure):
    """measure(session) of sessions a and b back to back, a first on even
    reps, b on odd ones: (a's result, b's), each with the CPU round trip
    measured just before the pair."""
    first, second = (a, b) if rep % 2 == 0 else (b, a)
    rtt = cpu_rtt()
    with first.running():
        one = dict(measure(first), cpu_rtt_ns=rtt)
    with second.running():
        other = dict(measure(second), cpu_rtt_ns=rtt)
    return (one, other) if first is a else (other, one)


def measure_pair(runs, ref, ours, rep, direction, size, seconds):
    """One pair of measured() runs, appended to runs["ref"] and runs["ours"]."""
    t, o = paired(ref, ours, rep, lambda s: measured(s.gen, s.relay, direction, size, seconds))
    runs["ref"].append(t)
    runs["ours"].append(o)


def throughput(ref_kind, cases, reps, seconds):
    """rows[(size, queues)][direction]["ours" | "ref"] = lists of measured()
    results; element i of both lists is a pair, measured back to back.
    Fresh sessions each repetition."""
    rows = {(size, c["queues"]): {d: {"ours": [], "ref": []} for d in DIRS}
            for c in cases for size in c["sizes"]}
    for rep in range(reps):
        for c in cases:
            with Session(ref_kind, c) as ref, Session(Ours, c) as ours:
                for size in c["sizes"]:
                    for d in DIRS:
                        measure_pair(rows[(size, c["queues"])][d], ref, ours, rep, d, size,
                                     seconds)
    return rows


def quick(ref_kind, direction, pairs, seconds, queues, size):
    """One row, frames of size over that many queue pairs in one
    direction, many short pairs in one pair of sessions (no fresh sessions
    between them, as throughput() makes): the most pairs per minute, for a
    change that one row shows. The same shape as throughput()'s rows."""
    runs = {"ours": [], "ref": []}
    setup = case([size], queues=queues, jumbo=size > 1518)
    with Session(ref_kind, setup) as ref, Session(Ours, setup) as ours:
        for rep in range(pairs):
            measure_pair(runs, ref, ours, rep, direction, size, seconds)
    return {(size, queues): {direction: runs}}


def latency(ref_kind, rows, seconds):
    """p50/p99 at LATENCY_LOAD of the slower relay's one-way rate, 64 B."""
    out = {}
    size = min(rows)[0]
    for d in ("vf2vm", "vm2vf"):
        peak = min(statistics.median(mpps(r, d) for r in rows[(size, 1)][d][k])
                   for k in ("ours", "ref"))
        out[d] = {"pps": max(int(peak * 1e6 * LATENCY_LOAD), 1000)}
    for kind, key in ((ref_kind, "ref"), (Ours, "ours")):
        with Session(kind) as s, s.running():
            for d in ("vf2vm", "vm2vf"):
                out[d][key] = s.gen.run(d, size, seconds, out[d]["pps"])[DIR_KEYS[d][0]]
    return out


def scaling(counts, reps, seconds):
    """out[n] = pairs {"one", "many"} of measured() runs back to back: a
    session of n relays beside a session of one, as ours beside testpmd."""
    out = {}
    for n in counts:
        out[n] = []
        for rep in range(reps):
            with Session(Ours) as one, Session(Ours, n_relays=n) as many:
                a, b = paired(one, many, rep,
                              lambda s: measured(s.gen, s.relay, "both", 64, seconds))
                out[n].append({"one": a, "many": b})
    return out


# Instructions per relayed packet. perf's counters are not available on
# this machine (`perf stat -e instructions true`: "not supported"), so each
# relay runs under callgrind, valgrind's instruction counter, which counts
# only while the relay is saturated: the generator offers frames at its
# full rate, far above what a relay does under valgrind, so every poll
# finds full bursts, as in the throughput runs. --fair-sched: valgrind runs
# one thread at a time, and without it a polling thread keeps the others
# (memif's and vhost-user's handshakes) waiting for tens of seconds.
CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
             "--fair-sched=yes"]
INSTR_SETTLE = 2.0       # s of traffic before counting starts
INSTR_WINDOW = 3.0       # s counted
INSTR_SLACK = 8.0        # s of traffic after, for callgrind_control's round trips


def callgrind_control(pid, *args):
    return subprocess.run(["callgrind_control"] + list(args) + [str(pid)], capture_output=True,
                          text=True, check=True, timeout=120).stdout


def polling_thread(out_base, pid, dump):
    """Instructions the busiest thread of dump number `dump` executed:
    the relay's polling thread (its control and telemetry threads left
    out), and its callgrind file (callgrind_annotate reads it)."""
    best = (0, None)
    prefix = "%s.%d.%d-" % (os.path.basename(out_base), pid, dump)
    for name in os.listdir(os.path.dirname(out_base)):
        if name.startswith(prefix):
            path = os.path.join(os.path.dirname(out_base), name)
            with open(path) as f:
                total = next((int(line.split()[1]) for line in f
                              if line.startswith("totals:")), 0)
            best = max(best, (total, path), key=lambda b: b[0])
    return best


def instructions(ref_kind, cases):
    """out[(size, direction)][kind] = {"ir_per_pkt", "packets", "file"}:
    per relay, one session under callgrind; per row, counting switched on
    for INSTR_WINDOW s amid INSTR_SETTLE + INSTR_WINDOW + INSTR_SLACK s of
    traffic, over the packets the sink received meanwhile: the generator
    marks its counts (SIGUSR1) right after each switch, so that both
    windows shift alike; a relay's own counters answer late under
    valgrind, testpmd's by whole printouts. Per packet delivered, as the
    cycles of the throughput table are."""
    out = {}
    os.makedirs(WORK, exist_ok=True)
    for kind, key in ((ref_kind, "ref"), (Ours, "ours")):
        base = os.path.join(WORK, "callgrind-" + kind.name)
        for stale in os.listdir(WORK):
            if stale.startswith(os.path.basename(base) + "."):
                os.unlink(os.path.join(WORK, stale))
        with Session(kind, wrap=CALLGRIND + ["--callgrind-out-file=%s.%%p" % base]) as s, \
                s.running():
            pid = s.relay.proc.pid
            for dump, (size, d) in enumerate(cases, start=1):
                report = {}
                traffic = threading.Thread(target=lambda: report.update(s.gen.run(
                    d, size, INSTR_SETTLE + INSTR_WINDOW + INSTR_SLACK)))
                traffic.start()
                time.sleep(INSTR_SETTLE)
                callgrind_control(pid, "--zero")
                callgrind_control(pid, "--instr=on")
                s.gen.proc.send_signal(signal.SIGUSR1)
                time.sleep(INSTR_WINDOW)
                callgrind_control(pid, "--instr=off")
                s.gen.proc.send_signal(signal.SIGUSR1)
                callgrind_control(pid, "--dump")
                traffic.join()
                marks = [report[k]["marks"] for k in DIR_KEYS[d]]
                if any(len(m) != 2 for m in marks):
                    raise RuntimeError("%s %d B %s: the traffic ended inside the counted "
                                       "window; raise INSTR_SLACK" % (kind.name, size, d))
                delivered = sum(m[1] - m[0] for m in marks)
                ir, path = polling_thread(base, pid, dump)
                out.setdefault((size, d), {})[key] = {
                    "ir_per_pkt": ir / max(delivered, 1), "packets": delivered, "file": path}
    return out


def med(vals):
    vals = list(vals)
    return statistics.median(vals), (max(vals) - min(vals)) / 2


def summarize(rows):
    """Per row, for "ours" and "ref": medians ± half spreads, and the
    best run (interference from outside only ever slows a run down, so
    the best is the nearest to what a relay can do: timeit's reasoning
    for its minimum); then the ratios, of pairs (median) and of bests."""
    table = []
    for (size, queues), by_dir in rows.items():
        for d, by_kind in by_dir.items():
            row = {"size": size, "queues": queues, "dir": d}
            for kind, runs in by_kind.items():
                row[kind + "_mpps"] = med(mpps(r, d) for r in runs)
                row[kind + "_cycles"] = med(r["cycles_per_pkt"] for r in runs)
                row[kind + "_busy"] = med(r["busy_share"] for r in runs)
                row[kind + "_dropped"] = med(r["dropped_share"] for r in runs)
                row[kind + "_cpu_wait"] = max(r["cpu_wait"] for r in runs)
                row[kind + "_best_mpps"] = max(mpps(r, d) for r in runs)
                row[kind + "_best_cycles"] = min(r["cycles_per_pkt"] for r in runs)
            pairs = list(zip(by_kind["ours"], by_kind["ref"]))
            row["cpu_rtt"] = (statistics.median(o["cpu_rtt_ns"] for o, _ in pairs),
                              min(o["cpu_rtt_ns"] for o, _ in pairs),
                              max(o["cpu_rtt_ns"] for o, _ in pairs))
            row["ratio"] = med(mpps(o, d) / max(mpps(t, d), 1e-9) for o, t in pairs)
            row["cycle_ratio"] = med(t["cycles_per_pkt"] / max(o["cycles_per_pkt"], 1e-9)
                                     for o, t in pairs)
            row["best_ratio"] = row["ours_best_mpps"] / max(row["ref_best_mpps"], 1e-9)
            row["best_cycle_ratio"] = row["ref_best_cycles"] / max(row["ours_best_cycles"], 1e-9)
            table.append(row)
    return table


LABEL = {"vf2vm": "VF->VM", "vm2vf": "VM->VF", "both": "both ways"}


def throughput_lines(table, ref, reps, seconds):
    lines = ["## Throughput", "",
             "| frame | queue pairs | direction | ours Mpps | {0} Mpps | ratio "
             "| ours cycles/pkt | {0} cycles/pkt | {0}/ours cycles "
             "| busy share ours / {0} | dropped by the relay ours / {0} "
             "| CPU round trip ns |".format(ref),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append("| %d | %d | %s | %.2f ±%.2f | %.2f ±%.2f | **%.2fx** ±%.2f | %.0f ±%.0f "
                     "| %.0f ±%.0f | **%.2fx** ±%.2f | %.2f / %.2f | %.1f%% / %.1f%% "
                     "| %d (%d-%d) |" % (
                         r["size"], r["queues"], LABEL[r["dir"]], *r["ours_mpps"],
                         *r["ref_mpps"], *r["ratio"], *r["ours_cycles"], *r["ref_cycles"],
                         *r["cycle_ratio"], r["ours_busy"][0], r["ref_busy"][0],
                         100 * r["ours_dropped"][0], 100 * r["ref_dropped"][0], *r["cpu_rtt"]))
    waits = [(r["size"], r["queues"], r["dir"], k, r[k + "_cpu_wait"]) for r in table
             for k in ("ours", "ref") if r[k + "_cpu_wait"] > CPU_WAIT_WARN]
    lines += ["", "Medians of %d runs of %g s, ± half the spread. Ratios: the median of "
              "the ratios of pairs, a run of each relay back to back. Mpps at the sink (both "
              "ways: the sum). Cycles: the relay's busy cycles per packet delivered; "
              "%s/ours above 1 means ours spends less. A busy share well below 1 means "
              "the relay waited for traffic: the generator set the rate there. CPU round "
              "trip: how long a cache line took from one CPU to the other and back just "
              "before each pair, median (range): every packet crosses between relay and "
              "generator in such lines, and this machine's figure swings between about "
              "100 and 450 ns from one minute to the next, taking both relays' rates with "
              "it; ratios taken at different round trips differ too." % (
                  reps, seconds, ref),
              "", ("**Contended:** in these rows a polling thread of the relay or the "
                   "generator waited for a CPU (another process on this machine's cores), or "
                   "the hypervisor stole a CPU, so their figures say little about the relay: "
                   + "; ".join("%d B %dq %s %s %.0f%%" % (
                       sz, q, LABEL[d], "ours" if k == "ours" else ref, 100 * w)
                       for sz, q, d, k, w in waits)) if waits else
              "No run was contended: no polling thread waited, and no CPU was stolen, more "
              "than %.0f%% of the time." % (100 * CPU_WAIT_WARN),
              "", "### Best runs", "",
              "Interference from outside only slows a run down, so each relay's best run "
              "is the nearest to what it can do; the ratio of bests is a second estimate "
              "beside the median of pairs.", "",
              "| frame | queue pairs | direction | best Mpps ours / {0} | ratio "
              "| fewest cycles/pkt ours / {0} | {0}/ours cycles |".format(ref),
              "|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append("| %d | %d | %s | %.2f / %.2f | **%.2fx** | %.0f / %.0f | **%.2fx** |" % (
            r["size"], r["queues"], LABEL[r["dir"]], r["ours_best_mpps"], r["ref_best_mpps"],
            r["best_ratio"], r["ours_best_cycles"], r["ref_best_cycles"],
            r["best_cycle_ratio"]))
    return lines


def latency_lines(lat, ref, size):
    lines = ["## Latency at %d%% load, %d-byte frames" % (LATENCY_LOAD * 100, size), "",
             "| direction | offered pps | ours p50 / p99 us | %s p50 / p99 us |" % ref,
             "|---|---|---|---|"]
    for d, v in lat.items():
        lines.append("| %s | %d | %.1f / %.1f | %.1f / %.1f |" % (
            LABEL[d], v["pps"], v["ours"]["lat_p50_us"], v["ours"]["lat_p99_us"],
            v["ref"]["lat_p50_us"], v["ref"]["lat_p99_us"]))
    return lines


def scaling_lines(scale):
    lines = ["## Scaling: relays on one worker, only relay 0 with traffic (64 B, both ways)",
             "", "Each run of n relays is paired with a run of a 1-relay session beside it; "
             "the ratio is the median of the pairs'.", "",
             "| relays | Mpps | vs 1 relay | best run vs 1 relay's best | cycles/pkt "
             "| worker busy share |",
             "|---|---|---|---|---|---|"]
    ones = [p["one"] for pairs in scale.values() for p in pairs]
    rows = [(1, ones, (1.0, 0.0), 1.0)] + [
        (n, [p["many"] for p in pairs],
         med(mpps(p["many"], "both") / max(mpps(p["one"], "both"), 1e-9) for p in pairs),
         max(mpps(p["many"], "both") for p in pairs) /
         max(max(mpps(p["one"], "both") for p in pairs), 1e-9))
        for n, pairs in scale.items()]
    for n, runs, ratio, best in rows:
        lines.append("| %d | %.2f ±%.2f | **%.2fx** ±%.2f | %.2fx | %.0f | %.2f |" % (
            n, *med(mpps(r, "both") for r in runs), *ratio, best,
            statistics.median(r["cycles_per_pkt"] for r in runs),
            statistics.median(r["busy_share"] for r in runs)))
    return lines


def instruction_lines(instr, ref):
    lines = ["## Instructions per relayed packet (callgrind)", "",
             "| frame | direction | ours instructions/pkt | {0} instructions/pkt "
             "| {0}/ours |".format(ref), "|---|---|---|---|---|"]
    for (size, d), by_kind in instr.items():
        o, t = by_kind["ours"]["ir_per_pkt"], by_kind["ref"]["ir_per_pkt"]
        lines.append("| %d | %s | %.0f | %.0f | **%.2fx** |" % (size, LABEL[d], o, t, t / o))
    lines += ["", "Each relay under callgrind (no perf counters here), its polling thread's "
              "instructions over the packets delivered while it was saturated, %g s of it "
              "per row. "
              "Counts, unlike rates, do not drift with the machine. valgrind's CPU has no "
              "AVX-512: code that DPDK picks at run time by CPU features may differ from a "
              "native run's. Where they go: `callgrind_annotate` on the files named in the "
              "JSON." % INSTR_WINDOW]
    return lines


def report(name, ref_kind, table, lat, scale, seconds, reps, to_docs, instr=None):
    ref = ref_kind.name
    lines = throughput_lines(table, ref, reps, seconds) + [""] + \
        (instruction_lines(instr, ref) + [""] if instr else []) + \
        (latency_lines(lat, ref, min(r["size"] for r in table)) + [""] if lat else []) + \
        (scaling_lines(scale) + [""] if scale else []) + [
            "The machine is shared and noisy: compare the ratios, each taken from a run of "
            "ours and a run of %s seconds apart on the same cores, not the absolute "
            "rates." % ref]
    data = {"throughput": table, "latency": lat,
            "instructions": [dict(size=size, dir=d, **by_kind)
                             for (size, d), by_kind in (instr or {}).items()],
            "reference": ref_kind.title,
            "scaling": {str(n): runs for n, runs in scale.items()}}
    title = "virtio-forwarder vs %s, same run" % ref_kind.title
    md = save_report(name, data, title, lines)
    png = plot(table, ref_kind.legend, os.path.join(HERE, "results", name + ".png"))
    if to_docs:
        docs = os.path.join(HERE, "..", "docs")
        with open(os.path.join(docs, "benchmark.md"), "w") as f:
            f.write(md + ("\n![throughput and cycles](benchmark.png)\n" if png else ""))
        if png:
            shutil.copy(png, os.path.join(docs, "benchmark.png"))


def save_report(name, data, title, lines):
    """bench/results/NAME.json (data and the machine) and NAME.md; returns
    the Markdown, printed as well."""
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(dict(data, machine=machine(), date=time.strftime("%Y-%m-%d")), f, indent=1)
    md = "\n".join(["# " + title, "", "Machine: %s; run %s; `bench/%s`" % (
        machine(), time.strftime("%Y-%m-%d"), os.path.basename(sys.argv[0])), ""] + lines) + "\n"
    with open(os.path.join(out, name + ".md"), "w") as f:
        f.write(md)
    print(md)
    return md


def plot(table, ref_legend, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: apt-get install python3-matplotlib", file=sys.stderr)
        return None
    labels = ["%d B%s\n%s" % (r["size"], " %dq" % r["queues"] if r["queues"] > 1 else "",
                              r["dir"]) for r in table]
    x = range(len(table))
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    w = 0.4
    for sign, kind, label in ((-1, "ours", "virtio-forwarder"), (1, "ref", ref_legend)):
        a.bar([i + sign * w / 2 for i in x], [r[kind + "_mpps"][0] for r in table], w,
              yerr=[r[kind + "_mpps"][1] for r in table], label=label)
        b.bar([i + sign * w / 2 for i in x], [r[kind + "_cycles"][0] for r in table], w,
              label=label)
    a.set_ylabel("Mpps at the sink")
    a.legend()
    b.set_ylabel("relay busy cycles / packet")
    b.set_xticks(list(x))
    b.set_xticklabels(labels, fontsize=8)
    fig.suptitle("Relay on one core: ours vs %s, same run (%s)" % (ref_legend, machine()))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def machine():
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return "%s, %d CPUs" % (cpu, os.cpu_count())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true",
                    help="every measurement once, short, 64 B (and the 9000-byte and "
                    "4-queue sessions), scaling to 8 relays")
    ap.add_argument("--sizes", default="64,512,1518",
                    help="frame sizes of the standard session; 9000-byte and 4-queue "
                    "sessions are measured as well")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, help="run length (default 4; --quick: 0.5)")
    ap.add_argument("--against", metavar="BINARY",
                    help="the reference is this virtio-forwarder binary, not testpmd")
    ap.add_argument("--quick", choices=DIRS, metavar="DIRECTION",
                    help="only --size frames over --queues queue pairs in this direction (%s), in "
                    "--pairs pairs of --seconds (default 0.5) in one pair of sessions"
                    % ", ".join(DIRS))
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--queues", type=int, default=1, help="queue pairs of --quick's guest")
    ap.add_argument("--size", type=int, default=64,
                    help="--quick's frame size (over 1518: ours with -J, as in the full run)")
    a = ap.parse_args()
    ref_kind = against(a.against) if a.against else Testpmd
    if a.quick:
        pairs, seconds = (2, 0.5) if a.smoke else (a.pairs, a.seconds or 0.5)
        table = summarize(quick(ref_kind, a.quick, pairs, seconds, a.queues, a.size))
        report("quick-smoke" if a.smoke else "quick", ref_kind, table, None, {}, seconds, pairs,
               to_docs=False)
    else:
        sizes = [64] if a.smoke else [int(s) for s in a.sizes.split(",")]
        cases = [case(sizes), case([9000], jumbo=True), case([64], queues=4)]
        reps, seconds = (1, 1.0) if a.smoke else (a.reps, a.seconds or 4)
        rows = throughput(ref_kind, cases, reps, seconds)
        table = summarize(rows)
        lat = latency(ref_kind, rows, seconds)
        scale = {} if a.against else scaling([8] if a.smoke else [8, 64], reps, seconds)
        instr = None
        if shutil.which("valgrind"):
            instr = instructions(ref_kind, [(64, "vf2vm")] if a.smoke else
                                 [(size, d) for size in sizes for d in DIRS])
        else:
            print("no instruction counts: apt-get install valgrind", file=sys.stderr)
        name = {(False, False): "latest", (True, False): "smoke", (False, True): "against",
                (True, True): "against-smoke"}[(a.smoke, bool(a.against))]
        report(name, ref_kind, table, lat, scale, seconds, reps,
               to_docs=not (a.smoke or a.against), instr=instr)
    return 0 if all(r["ours_mpps"][0] > 0 and r["ref_mpps"][0] > 0 for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
