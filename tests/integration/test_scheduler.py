"""vio4wd_core_scheduler end to end: the scheduler against a real daemon
(relays with memif stand-in VFs and virtio_user VMs, numbered traffic both
ways checked by the peers), and against stand-in endpoints that answer
garbage.

The daemon runs two worker lcores on one core (lcores 1 and 2 both on CPU
1): each gets half of it. The workers leave the time they were
descheduled out of the busy cycles they charge (a poll that took longer
than a poll can is charged as that direction's mean busy poll), so the
loads compared are what the directions cost; the algorithm's handling of
exact loads is unit-tested (tests/unit/test_assign.c)."""
import os
import re
import signal
import subprocess
import time

from harness import BUILD, Daemon, Peer, Process, memif_peer, memif_vf, open_gate
from test_control import assert_clean, both_active, eps, ok, pb, port, vm_vdev
from test_control import traffic as relay_traffic

SCHED = os.path.join(BUILD, "scheduler", "vio4wd_core_scheduler")
REPLY = os.path.join(BUILD, "vfwd-zmq-reply")
LCORES = "0@0,1@1,2@1"
POLL = 0.5
HOLD = 4
REPLY_TIMEOUT = 5    # VC_TIMEOUT_MS in tools/vfwd_client.h
MOVED = re.compile(r"T(\d+):(\d+):([0-9.]+) NOTICE: moved relay (\d+) (VF->VM|VM->VF) "
                   r"\(load [0-9.]+\) from CPU (\d+) to CPU (\d+): ([^;(]+)")
DIRS = {"VF->VM": "vf_to_vm", "VM->VF": "vm_to_vf"}


def config(workdir, pins):
    """One file for both daemons, as /etc/default/virtioforwarder is."""
    e = eps(workdir)
    path = os.path.join(workdir, "virtioforwarder")
    with open(path, "w") as f:
        f.write("VIRTIOFWD_CPU_MASK=1,2\n"
                "VIRTIOFWD_MASTER_LCORE=0\n"
                "VIRTIOFWD_CPU_PINS=\"%s\"\n"
                "VIRTIOFWD_VHOST_CLIENT=false\n"
                "VIRTIOFWD_SOCKET_DIR=%s\n"
                "VIRTIOFWD_ZMQ_STATS_EP=%s\n"
                "VIRTIOFWD_ZMQ_CORE_SCHED_EP=%s\n"
                "VIRTIOFWD_ZMQ_PORT_CONTROL_EP=%s\n"
                "VIO4WD_CORE_SCHED_ENABLE=true\n"
                "VIO4WD_CORE_SCHED_POLL_INTERVAL=%s\n"
                "VIO4WD_CORE_SCHED_LOG_LEVEL=7\n"
                % (";".join("%d:%d" % p for p in enumerate(pins)), workdir,
                   e["stats"], e["core_sched"], e["port_control"], POLL))
    return path


def start_scheduler(workdir, procs, cfg):
    s = Process([SCHED, "--config=" + cfg, "--hold=%d" % HOLD],
                os.path.join(workdir, "scheduler.log"))
    procs.append(s)
    return s


def start_daemon(workdir, procs, cfg, nb_relays, extra=()):
    args = ["--config=" + cfg] + list(extra)
    for rid in range(nb_relays):
        args += ["-P", memif_vf(workdir, rid) + "=%d" % rid]
    d = Daemon(workdir, args, lcores=LCORES)
    procs.append(d)
    return d


def traffic(workdir, procs, d, rates, seconds):
    """Both ways through relay i at rates[i] frames/s for about `seconds`,
    every frame checked in order by the peers; returns them and the frame
    count of each relay, once the traffic has started. The peers stay
    until finish() (see there)."""
    go = os.path.join(workdir, "go-%d" % time.monotonic_ns())
    peers, counts = [], []
    for rid, pps in enumerate(rates):
        n = int(pps * seconds)
        opts = ["--tx", n, "--expect", n, "--flows", 4, "--pps", pps, "--wait-link",
                "--sizes", "64,512,1518,60,1000", "--timeout", 120, "--run-until-signal",
                "--start-file", go]
        for vdev, tag, peer_tag in ((memif_peer(workdir, rid), 1, 2),
                                    (vm_vdev(workdir, rid, rid), 2, 1)):
            p = Peer(workdir, [vdev], opts + ["--tag", tag, "--expect-tag", peer_tag])
            procs.append(p)
            peers.append((p, n))
        counts.append(n)
    for rid in range(len(rates)):
        d.wait_relay(rid, both_active, what="both directions active")
    open_gate(go, *(p for p, _ in peers))
    return peers, counts


def finish(d, peers, counts, timeout):
    """Once the daemon has passed on every frame, or timeout seconds: the
    daemon stops, then the peers, whose reports must show every frame
    once and in order. The daemon goes first because DPDK 22.11's memif
    unmaps a ring when its peer disconnects while a worker may be
    reading it: peers leaving under a running daemon can crash it, which
    is not what these tests are about."""
    deadline = time.time() + timeout
    while time.time() < deadline and not all(
            d.relay(rid)[dname]["tx_pkts"] >= n for rid, n in enumerate(counts)
            for dname in ("vf_to_vm", "vm_to_vf")):
        time.sleep(0.2)
    time.sleep(0.5)    # what the daemon passed on reaches the peers
    assert d.stop() == 0
    for p, _n in peers:
        p.signal(signal.SIGTERM)
    for p, n in peers:
        assert_clean(p.report(), n)


def placement(d, nb_relays):
    return {(rid, dname): d.relay(rid)[dname]["cpu"]
            for rid in range(nb_relays) for dname in ("vf_to_vm", "vm_to_vf")}


def test_unequal_relays_on_one_worker_are_spread_without_loss(workdir, procs):
    cfg = config(workdir, [1, 1, 1, 1])
    # Started first: no daemon yet, it waits for one.
    s = start_scheduler(workdir, procs, cfg)
    s.wait_log("cannot reach", 5)
    d = start_daemon(workdir, procs, cfg, 4)
    s.wait_log("connected to virtio-forwarder", 5)
    initial = placement(d, 4)
    assert set(initial.values()) == {1}
    # Enough traffic that a move gains more than the scheduler's floor of a
    # hundredth of a core (at a quarter of these rates CPU 1 measured about
    # 0.015 and nothing moved); with backpressure no frame is lost to it.
    peers, counts = traffic(workdir, procs, d, [24000, 12000, 6000, 3000], 8)
    started = time.time()

    # Spread within a few polls: both workers serve directions.
    while set(placement(d, 4).values()) != {1, 2}:
        assert time.time() - started < 10 * POLL, (placement(d, 4), s.log()[-3000:])
        time.sleep(0.1)
    # The traffic runs its course, with the moves that follow, if any.
    time.sleep(max(0, started + 8 - time.time()))
    assert s.alive()
    s.signal(signal.SIGTERM)
    assert s.wait(10) == 0
    log = s.log()

    moves = MOVED.findall(log)
    assert moves, log
    m = re.search(r"rebalancing: busiest CPU load ([0-9.]+) -> ([0-9.]+) \(-(\d+)%, "
                  r"sensitivity 25%\); (\d+) move", log)
    assert m and float(m.group(2)) < float(m.group(1)) and int(m.group(3)) > 25, log
    assert re.search(r"CPU loads before: CPU 1 [0-9.]+, CPU 2 0\.000; after: CPU 1 [0-9.]+, "
                     r"CPU 2 [0-9.]+", log), log
    # Each move logged was made, and is where the daemon has the direction
    # now unless a later one moved it again, never within the hold time.
    expect, last = dict(initial), {}
    for hh, mm, ss, rid, dname, src, dst, why in moves:
        key, t = (int(rid), DIRS[dname]), (int(hh) * 60 + int(mm)) * 60 + float(ss)
        assert why.strip() == "balance" and int(src) == expect[key], log
        assert key not in last or t - last[key] > (HOLD - 0.5) * POLL, log
        expect[key], last[key] = int(dst), t
        assert "core sched: relay %s pinned" % rid in d.log()
    assert placement(d, 4) == expect, log
    assert "(overrides its VIRTIOFWD_CPU_PINS pin)" in log
    finish(d, peers, counts, 10)


def test_balanced_relays_stay_and_a_restarted_daemon_is_found_again(workdir, procs):
    cfg = config(workdir, [1, 1, 2, 2])
    d = start_daemon(workdir, procs, cfg, 4)
    s = start_scheduler(workdir, procs, cfg)
    s.wait_log("connected to virtio-forwarder", 5)
    before = placement(d, 4)
    peers, counts = traffic(workdir, procs, d, [2000] * 4, 6)
    time.sleep(6)
    log = s.log()
    assert "moved relay" not in log and "rebalancing" not in log, log
    # it did measure: loads on both workers
    assert re.search(r"DEBUG: 8 directions on workers; CPU loads: CPU 1 0\.[0-9]*[1-9]"
                     r"[0-9]*, CPU 2 0\.[0-9]*[1-9]", log), log
    assert placement(d, 4) == before

    # The daemon goes away and comes back: the scheduler says so, waits,
    # and carries on with the new one. A request that reached the daemon
    # as it stopped is answered by nobody: then the first word is "no
    # reply" after the client's 5 s timeout, and "cannot reach" follows.
    finish(d, peers, counts, 10)
    s.wait_log("cannot reach", 5 + REPLY_TIMEOUT)
    d2 = start_daemon(workdir, procs, cfg, 4)
    s.wait_log("connected to virtio-forwarder", 5, count=2)
    time.sleep(3 * POLL)
    assert s.alive()
    s.signal(signal.SIGTERM)
    assert s.wait(10) == 0
    # Said once per distinct problem, not once per poll.
    assert s.log().count("cannot reach") == 1, s.log()
    assert s.log().count("trying again") <= 2, s.log()
    assert d2.stop() == 0


def test_a_new_relay_goes_to_the_least_busy_worker_not_the_one_with_fewest_relays(
        workdir, procs):
    """Two nearly idle relays pinned to lcore 2, one busy relay pinned to
    lcore 1: by counts of directions a new unpinned relay would go to
    lcore 1; by measured load it goes to lcore 2."""
    d = start_daemon(workdir, procs, config(workdir, [2, 2, 1]), 3, ["-l", "7"])
    go = os.path.join(workdir, "go")
    # Relay 2 is busy enough to matter: a frame that arrives alone, into
    # cold caches, costs tens of times what one in a steady stream does,
    # so 100 frames/s on relays 0 and 1 weigh about as much as a 10000/s
    # relay 2 would (1% of a core each) and which worker relay 3 gets
    # would be a coin toss. And it stays busy for 8 s, long enough to
    # outlast the start of relay 3's peers (two DPDK processes, seconds on
    # a loaded machine).
    busy_pps = 50000
    busy_frames = 8 * busy_pps
    flows = [relay_traffic(workdir, procs, rid, n, pps, go)
             for rid, n, pps in ((0, 1000, 100), (1, 1000, 100), (2, busy_frames, busy_pps))]
    for rid in range(3):
        d.wait_relay(rid, both_active, what="both directions active")
    open_gate(go, *(p for pair in flows for p in pair))
    # The daemon samples worker loads once a second: wait for two samples
    # of relay 2 busy.
    d.wait_relay(2, lambda r: r["vf_to_vm"]["tx_pkts"] > 2 * busy_pps, what="traffic on relay 2")
    # Relay 3 is placed when it first has something to poll: once its
    # peers are there.
    ok(port(workdir, "add", "--virtio-id=3", "--pci-addr=" + memif_vf(workdir, 3)))
    go3 = os.path.join(workdir, "go-new")
    vf3, vm3 = relay_traffic(workdir, procs, 3, 1000, 2000, go3)
    d.wait_relay(3, both_active, what="both directions active")
    assert d.relay(2)["vf_to_vm"]["tx_pkts"] < busy_frames, \
        "relay 2's traffic ended before relay 3 was placed: there was no load to weigh"
    assert {dname: d.relay(3)[dname]["cpu"] for dname in DIRS.values()} == \
        {"vf_to_vm": 2, "vm_to_vf": 2}, \
        "\n".join(l for l in d.log().splitlines() if "placed on lcore" in l)
    open_gate(go3, vf3, vm3)
    assert_clean(vf3.report(), 1000)
    assert_clean(vm3.report(), 1000)
    for (vf, vm), n in zip(flows, (1000, 1000, busy_frames)):
        assert_clean(vf.report(), n)
        assert_clean(vm.report(), n)
    assert d.stop() == 0


def stats_reply(relays, tsc_hz):
    """A StatsResponse: relays are (id, cpu, busy cycles, NUMA node), both
    directions forwarding on that CPU with those busy cycles each."""
    zero_rates = b"".join(bytes([k << 3 | 5]) + bytes(4) for k in (11, 12, 13, 14))
    fields = [(1, 0)]
    for rid, cpu, busy, node in relays:
        direction = pb((1, True), (2, "forwarding"), (100, busy)) + zero_rates
        fields.append((2, pb((1, rid), (2, True), (4, pb((1, cpu), (2, cpu))),
                             (5, pb((1, "/tmp/x.sock"))), (7, direction), (8, direction),
                             (9, node))))
    if tsc_hz:
        fields.append((102, tsc_hz))
    return pb(*fields)


def test_garbage_from_the_endpoints_and_bad_usage(workdir, procs):
    """No daemon: stand-in endpoints answer garbage, refusals, the wrong
    message and nonsense values; the scheduler logs them and keeps polling."""
    e = {k: "ipc://%s/%s" % (workdir, k) for k in ("stats", "core_sched")}
    files = {}

    def write(name, data):
        files[name] = os.path.join(workdir, name)
        with open(files[name], "wb") as f:
            f.write(data)
        return files[name]

    garbage = write("garbage", "garbag\xc3\xa9".encode("latin-1") * 7)
    cores = write("cores", pb((4, 1), (7, 1), (7, 2), (7, 4000000000)))
    refused = write("refused", pb((4, 0), (5, -22), (6, "no, and %n%s%n")))
    empty = write("empty", pb((4, 1)))
    big = 10 ** 15
    stats = [write("stats%d" % i, stats_reply(r, tsc_hz))
             for i, (r, tsc_hz) in enumerate([
                 ([(0, 1, 10 ** 9, 0), (1, 1, 10 ** 9, 0)], 10 ** 9),
                 # more busy cycles than a whole core, an id out of range,
                 # a repeated one
                 ([(0, 1, big, 0), (1, 1, big, 0), (64, 1, 5, 0), (0, 2, 1, 0)], 10 ** 9),
                 # a new relay on a CPU that is no worker, on a huge node
                 ([(0, 1, big, 0), (1, 1, big, 0), (2, 99, 1, 2 ** 32 - 1)], 10 ** 9),
                 ([(0, 1, big, 0), (1, 1, big, 0), (2, 99, big, 2 ** 32 - 1)], 10 ** 9),
                 ([(0, 1, 5, 0)], 10 ** 9),            # counters went down: a restart
                 ([(0, 1, 5, 0)], None),               # no tsc_hz: not our daemon
                 ([(0, -7, 5, 0)], 10 ** 9)])]
    stubs = [Process([REPLY, e["core_sched"]] + [cores] * 8 + [garbage, refused, empty],
                     os.path.join(workdir, "stub-sched.log")),
             Process([REPLY, e["stats"]] + stats + [garbage, refused],
                     os.path.join(workdir, "stub-stats.log"))]
    procs.extend(stubs)
    for stub in stubs:
        stub.wait_log("ready", 5)
    s = Process([SCHED, "--zmq-stats-ep=" + e["stats"], "--zmq-core-sched-ep=" + e["core_sched"],
                 "--poll-interval=0.05", "-l", "7"], os.path.join(workdir, "scheduler.log"))
    procs.append(s)
    time.sleep(3)
    assert s.alive(), s.log()
    s.signal(signal.SIGTERM)
    assert s.wait(10) == 0
    log = s.log()
    for text in ("is not a virtioforwarder.CoreSchedResponse message",
                 "is not a virtioforwarder.StatsResponse message",
                 "the daemon answered ERROR (Invalid argument): no, and %n%s%n",
                 "lists no worker CPU",
                 "reports no busy cycles",
                 "connected to virtio-forwarder",
                 "worker CPUs 1 (node 0), 2 (node 0)",
                 # loads clamped to a core each, the nonsense left out
                 "DEBUG: 4 directions on workers; CPU loads: CPU 1 4.000, CPU 2 0.000",
                 "moved relay 2 VF->VM (load 1.000) from CPU 99 to CPU 1: its CPU is not "
                 "a worker",
                 "virtio-forwarder restarted",
                 "moves not applied: the reply from"):
        assert text in log, (text, log)
    for stub in stubs:
        stub.kill()

    # Usage and configuration errors are refused at once, with their status.
    def run(*args):
        return subprocess.run([SCHED] + list(args), capture_output=True, text=True, timeout=10)

    r = run("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: vio4wd_core_scheduler")
    r = run("--no-such-option")
    assert r.returncode == 2 and "usage:" in r.stderr
    r = run("--hold=x")
    assert r.returncode == 2 and "--hold=x" in r.stderr
    r = run("--sensitivity=-1", "--zmq-core-sched-ep=" + e["core_sched"])
    assert r.returncode == 1 and "--sensitivity: VIO4WD_CORE_SCHED_SENSITIVITY=-1" in r.stderr
    off = os.path.join(workdir, "off.conf")
    with open(off, "w") as f:
        f.write("VIO4WD_CORE_SCHED_ENABLE=false\n")
    r = run("--config=" + off)
    assert r.returncode == 0 and "CPU load balancing is off" in r.stderr, r.stderr
    r = run("--config=" + os.path.join(workdir, "missing.conf"))
    assert r.returncode == 1 and "cannot read" in r.stderr, r.stderr
