"""The daemon inside a QEMU guest with two NUMA nodes: a relay's mbuf pool
follows the memory of the VM that connects.

The guest (build-numa-guest.sh: the Debian kernel, busybox, our daemon and
vfwd-peer with their libraries; numa-guest.sh is its /init) has CPU 0 on
node 0 and CPU 1 on node 1. Inside it the daemon relays between a memif
peer (the VF's far side) and virtio_user peers (the VMs): relay 0's worker
is on CPU 1, so its pool starts on node 1; the first VM's memory is on
node 0, the second's on node 1. The guest prints the daemon's log, the
peers' reports and the kernel's per-node page counts on its serial console
(a file here) and powers off; this test reads them.

About 30 s:
    /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/vm/test_numa.py
"""
import json
import os
import re
import subprocess

import pytest

import harness
import vm
from test_control import assert_clean

HERE = os.path.dirname(os.path.abspath(__file__))
N = 2000                 # frames per peer per round (both ways)
PPS = 500
GUEST_TIMEOUT = 200      # the guest's own watchdog
QEMU_TIMEOUT = 240       # ours: QEMU is killed after this
# A relay's pool: 8191 mbufs of about 2.4 kB, 10 hugepages of 2 MB. Where
# the kernel counts at least this many more of the daemon's pages on one
# node than on the other, the pool is there.
POOL_PAGES = 8
SOCK = "/tmp/virtio-forwarder0.sock"


@pytest.fixture(scope="module")
def numa_image():
    """(kernel, initramfs): built once per daemon binary, then cached."""
    out = subprocess.run(["bash", os.path.join(HERE, "build-numa-guest.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    return out[-2], out[-1]


# ---- the guest ----

class NumaGuest(harness.Process):
    """QEMU: 2 CPUs in 2 sockets, 1 GB of RAM on each of 2 NUMA nodes, no
    NIC; the serial console is a file."""

    def __init__(self, workdir, image):
        kernel, initrd = image
        self.console_path = os.path.join(workdir, "console-numa.log")
        # vfwd.steps= only so that scripts/test.sh's clean-up of guests
        # left by an interrupted run (pkill -f "qemu... vfwd.steps=") finds
        # this one too; numa-guest.sh ignores it.
        append = " ".join(["console=ttyS0", "quiet", "panic=-1", "vfwd.steps=numa",
                           "vfwd.n=%d" % N, "vfwd.pps=%d" % PPS,
                           "vfwd.timeout=%d" % GUEST_TIMEOUT])
        argv = [vm.QEMU, "-accel", vm.accel(), "-cpu", "max", "-M", "pc",
                "-smp", "2,sockets=2,cores=1,threads=1", "-m", "2G",
                "-object", "memory-backend-ram,id=m0,size=1G",
                "-object", "memory-backend-ram,id=m1,size=1G",
                "-numa", "node,nodeid=0,cpus=0,memdev=m0",
                "-numa", "node,nodeid=1,cpus=1,memdev=m1",
                "-display", "none", "-nodefaults", "-no-user-config", "-no-reboot",
                "-kernel", kernel, "-initrd", initrd, "-append", append,
                "-chardev", "file,id=ser0,path=%s" % self.console_path,
                "-serial", "chardev:ser0"]
        super().__init__(argv, os.path.join(workdir, "qemu-numa.log"))

    def console(self):
        try:
            with open(self.console_path, "rb") as f:
                return f.read().decode(errors="replace").replace("\r", "")
        except FileNotFoundError:
            return ""

    def run(self, timeout):
        """Waits for the guest to power off (it does at the end and on
        failure); the console."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("guest still running after %ss; console:\n%s"
                                 % (timeout, self.console()[-6000:]))
        return self.console()


class Console:
    """What the guest printed: markers, logs between VFWD-BEGIN/END, reports."""

    def __init__(self, text):
        self.text = text
        self.markers = [(m.group(1), m.group(2).strip())
                        for m in re.finditer(r"^VFWD-([A-Z]+)(.*)$", text, re.M)]
        self.logs = {m.group(1): m.group(2) for m in
                     re.finditer(r"^VFWD-BEGIN (\S+)\n(.*?)^VFWD-END \1$", text, re.M | re.S)}
        self.reports = {}
        for name, rest in self.markers:
            if name == "REPORT":
                who, js = rest.split(" ", 1)
                self.reports[who] = json.loads(js)

    def fields(self, name):
        return [vm.parse_fields(rest) for n, rest in self.markers if n == name]

    def one(self, name):
        got = self.fields(name)
        assert len(got) == 1, (name, got)
        return got[0]

    def exits(self):
        return {f["name"]: f["rc"] for f in self.fields("EXIT")}

    def mem(self):
        return {f["when"]: f for f in self.fields("MEM")}


def first(pattern, log, start=0, what=None):
    """Offset of the first match of pattern in log from start; fails naming
    what was expected."""
    m = re.compile(pattern, re.M).search(log, start)
    assert m, "daemon log: nothing matches /%s/ after offset %d (expected: %s)" % (
        pattern, start, what)
    return m


def assert_pool_on(mem, node, what):
    other = 1 - node
    own = mem["daemon_n%d" % node] - mem["daemon_n%d" % other]
    assert own >= POOL_PAGES, (
        "%s: the kernel counts the daemon's hugepages on node %d %d, on node %d %d: "
        "its pool is not (only) on node %d" % (what, node, mem["daemon_n%d" % node], other,
                                               mem["daemon_n%d" % other], node))


def assert_vm_memory_on(mem, node, what):
    """The test's own premise: the VM peer's memory is where we put it."""
    assert mem["vm_n%d" % node] > 0 and mem["vm_n%d" % (1 - node)] == 0, (
        "%s: the VM peer's hugepages are not all on node %d: %s" % (what, node, mem))


def test_relay_buffers_follow_the_memory_node_of_each_vm(workdir, procs, numa_image):
    g = NumaGuest(workdir, numa_image)
    procs.append(g)
    text = g.run(QEMU_TIMEOUT)
    c = Console(text)
    dump = "\n--- console (end):\n" + text[-8000:]

    # The harness itself: a guest with two nodes, the scenario completed.
    fails = [rest for name, rest in c.markers if name == "FAIL"]
    assert not fails, "guest: %s%s" % (fails, dump)
    assert "DONE" in [n for n, _ in c.markers], "guest did not finish%s" % dump
    numa = c.one("NUMA")
    assert (numa["online"], numa["cpus0"], numa["cpus1"]) == ("0-1", 0, 1), numa
    assert "daemon" in c.logs, "no daemon log%s" % dump
    log = c.logs["daemon"]

    # Every peer finished, and got every frame intact, in order.
    assert c.exits() == {"vf1": 0, "vm1": 0, "vf2": 0, "vm2": 0, "daemon": 0}, \
        (c.exits(), dump)
    for who in ("vf1", "vm1", "vf2", "vm2"):
        assert who in c.reports, "no report of %s%s" % (who, dump)
        assert_clean(c.reports[who], N)

    # The kernel's view (/proc/PID/numa_maps): the VMs' memory is on the
    # node meant, and the daemon's pages follow it.
    mem = c.mem()
    assert set(mem) >= {"up", "vm1", "vm2"}, mem
    assert_vm_memory_on(mem["vm1"], 0, "VM 1")
    assert_vm_memory_on(mem["vm2"], 1, "VM 2")
    assert_pool_on(mem["up"], 1, "before any VM (its worker is on CPU 1, node 1)")

    # The daemon's word. Before any VM: the pool on its worker's node.
    gone = first(r"relay 0: VM gone", log, what="first VM leaving").start()
    pool = first(r"relay 0: \d+ mbufs on NUMA node (\d+)", log, what="relay 0's first pool")
    assert pool.group(1) == "1", pool.group(0)
    # VM 1, memory on node 0: connected there, and the buffers moved there.
    conn1 = first(r"relay 0: VM connected on %s \(vid \d+, NUMA node (\d+)," % re.escape(SOCK),
                  log, what="VM 1 connecting")
    assert conn1.start() < gone and conn1.group(1) == "0", conn1.group(0)
    conn2 = first(r"relay 0: VM connected on %s \(vid \d+, NUMA node (\d+)," % re.escape(SOCK),
                  log, gone, what="VM 2 connecting")
    assert conn2.group(1) == "1", conn2.group(0)
    move1 = first(r"relay 0: buffers moved from NUMA node 1 to node 0 \(the VM's memory's\)$",
                  log, what="the move to VM 1's node")
    assert move1.start() < gone, "moved only after VM 1 left"
    first(r"relay 0: every mbuf of its pool on NUMA node 1 is back; that pool is freed$",
          log, move1.start(), what="node 1's pool freed after the move")
    assert_pool_on(mem["vm1"], 0, "VM 1 connected (memory on node 0)")
    # VM 2, memory on node 1: the buffers move back.
    move2 = first(r"relay 0: buffers moved from NUMA node 0 to node 1 \(the VM's memory's\)$",
                  log, gone, what="the move back to VM 2's node")
    first(r"relay 0: every mbuf of its pool on NUMA node 0 is back; that pool is freed$",
          log, move2.start(), what="node 0's pool freed after the move back")
    assert_pool_on(mem["vm2"], 1, "VM 2 connected (memory on node 1)")

    # A clean stop: every buffer back, nothing leaked, nothing went wrong.
    stop = first(r"NOTICE: stopping$", log, what="the SIGTERM stop").start()
    first(r"relay 0: all \d+ mbufs back in the pool$", log, stop, what="the pool full at shutdown")
    assert not re.search(r"leak", log, re.I), re.findall(r"^.*leak.*$", log, re.M | re.I)
    bad = re.findall(r"^.*(?:ERROR|CRIT|ALERT|EMERG): .*$", log, re.M)
    assert not bad, bad
    # The buffers followed each VM: never the cross-node warning.
    assert "every packet is copied across nodes" not in log
