"""A memif stand-in VF whose peer is killed (SIGKILL) and restarted over
and over while the daemon polls it with traffic flowing both ways.

DPDK 22.11's memif tears a connection down on the EAL interrupt thread
when the peer hangs up: it unmaps the shared memory while a worker may be
inside eth_memif_rx/tx, past its "connected" check (a segfault about one
CI run in 80). patches/dpdk/0002 makes the disconnect wait for bursts in
flight. Here the daemon must survive every kill, carry traffic again after
every restart, and end with every mbuf back in its pool.

A zero-copy memif VF lends the peer its own mbufs, in EAL's hugepage
memory. 22.11 closed EAL's fds for that memory once connected
(patches/dpdk/0004), so the next connection sent the peer a closed or
reused fd; and it never freed the mbufs lent to its rings when a
connection went down (0005), so the next one could not post its rx ring
and received nothing."""
import os
import re
import time

from harness import Daemon, Peer, memif_peer, memif_vf
from test_control import vm_vdev
from test_relay import vm_gone_and_pool_full

CYCLES = 30
BUDGET_S = 60      # cycles stop here even if fewer than CYCLES ran
MIN_CYCLES = 10    # a restart costs ~2 s (the daemon restarts a memif VF after 2 s down)
WORKER_CPU = 1     # -C 1
FLOOD = ["--tx", 10**9, "--pps", 20000, "--flows", 4, "--sizes", "64,512,1000",
         "--wait-link", "--run-until-signal", "--timeout", 300]


def pin_intr_thread(pid, cpu):
    """Moves the daemon's EAL interrupt thread (it runs memif's disconnect)
    onto the worker's CPU. Woken by the peer's hang-up, it preempts the
    worker wherever it is, often inside a memif burst, and finishes the
    disconnect before the worker resumes: the CI flake's race within a few
    kills instead of one in hundreds (CI maps several lcores on one CPU)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().startswith("eal-intr"):
                os.sched_setaffinity(int(tid), {cpu})
                return
    raise AssertionError("daemon %d has no eal-intr-thread" % pid)


def assert_alive(d, what):
    assert d.alive(), "daemon died (status %s) %s; log:\n%s" % (
        d.proc.returncode, what, d.log()[-3000:])


def wait_relay_alive(d, pred, what, timeout=20):
    try:
        return d.wait_relay(0, pred, timeout=timeout, what=what)
    except (OSError, ValueError):      # telemetry gone: the daemon crashed
        assert_alive(d, what)
        raise


def test_memif_peer_killed_and_restarted_while_polled(workdir, procs):
    d = Daemon(workdir, ["-C", str(WORKER_CPU), "-M", "0", "--server", "-V", workdir,
                         "-P", memif_vf(workdir) + "=0"])
    procs.append(d)
    pin_intr_thread(d.proc.pid, WORKER_CPU)
    vm = Peer(workdir, [vm_vdev(workdir, 0)], FLOOD + ["--tag", 2])
    procs.append(vm)
    deadline = time.monotonic() + BUDGET_S
    cycles = 0
    while cycles < CYCLES and time.monotonic() < deadline:
        vf = Peer(workdir, [memif_peer(workdir)], FLOOD + ["--tag", 1])
        procs.append(vf)
        base = d.relay(0)

        def carried(r, b=base):
            return all(r[k]["tx_pkts"] > b[k]["tx_pkts"] + 500 for k in ("vf_to_vm", "vm_to_vf"))
        wait_relay_alive(d, carried, "traffic both ways after restart %d" % cycles)
        vf.kill()                      # SIGKILL: no goodbye, the daemon sees a hang-up
        time.sleep(0.2)                # the disconnect runs now, under the worker's feet
        assert_alive(d, "after kill %d" % cycles)
        cycles += 1
    print("%d kill/restart cycles" % cycles)
    assert cycles >= MIN_CYCLES, "only %d kill/restart cycles in %d s" % (cycles, BUDGET_S)

    # Every mbuf is back once the VM side leaves too (the VF is gone).
    assert vm.stop() == 0
    wait_relay_alive(d, vm_gone_and_pool_full, "VM gone, pool full")
    assert d.stop() == 0
    log = d.log()
    assert re.search(r"relay 0: all \d+ mbufs back in the pool", log), log[-3000:]
    assert "leak" not in log


def test_zero_copy_memif_vf_carries_traffic_again_after_its_peer_restarts(workdir, procs):
    """The daemon's memif is the zero-copy client (its buffers are its own
    mbufs, in one EAL memory segment list); the peer is killed and
    restarted: each new connection must carry traffic both ways."""
    d = Daemon(workdir, ["-C", str(WORKER_CPU), "-M", "0", "--server", "-V", workdir,
                         "-P", memif_vf(workdir) + ",zero-copy=yes=0"],
               eal=["--single-file-segments"])
    procs.append(d)
    vm = Peer(workdir, [vm_vdev(workdir, 0)], FLOOD + ["--tag", 2])
    procs.append(vm)
    for cycle in range(3):
        vf = Peer(workdir, [memif_peer(workdir)], FLOOD + ["--tag", 1])
        procs.append(vf)
        base = d.relay(0)

        def carried(r, b=base):
            return all(r[k]["tx_pkts"] > b[k]["tx_pkts"] + 500 for k in ("vf_to_vm", "vm_to_vf"))
        wait_relay_alive(d, carried, "traffic both ways over connection %d" % (cycle + 1),
                         timeout=30)
        vf.kill()
        assert_alive(d, "after kill %d" % cycle)
    assert vm.stop() == 0
    wait_relay_alive(d, vm_gone_and_pool_full, "VM gone, pool full")
    assert d.stop() == 0
