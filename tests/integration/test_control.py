"""The ZeroMQ control plane end to end: the daemon's four services driven
by our C tools and by hand-built wire messages (vfwd-zmq-raw), with real
traffic through relays (memif stand-in VFs, virtio_user VMs) to show that
nothing the control plane does disturbs a relay it does not touch.

Requests and replies are encoded and decoded here with a few lines of
protobuf wire format, independently of protobuf-c: the field numbers are
checked against PROTOCOL.md, not against our own .proto."""
import json
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import threading
import time

import pytest

from harness import (BUILD, Daemon, Peer, Telemetry, cleanup_prefix, memif_peer, memif_vf,
                     open_gate)

RAW = os.path.join(BUILD, "vfwd-zmq-raw")
TOOLS = {t: os.path.join(BUILD, "virtioforwarder_" + t)
         for t in ("port_control", "stats", "core_pinner", "monitor_load")}


# ---- wire format ----

def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb(*fields):
    """(number, value) pairs: ints and bools as varints, str/bytes
    length-delimited, lists of ints packed."""
    out = b""
    for num, v in fields:
        if isinstance(v, (bool, int)):
            out += _varint(num << 3) + _varint(int(v))
        else:
            if isinstance(v, str):
                v = v.encode()
            elif isinstance(v, list):
                v = b"".join(_varint(x) for x in v)
            out += _varint(num << 3 | 2) + _varint(len(v)) + v
    return out


def unpb(buf):
    """{number: [values]}: varints as ints, fixed32 as floats,
    length-delimited as bytes."""
    fields, i = {}, 0

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < len(buf):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            v = varint()
        elif wt == 2:
            n = varint()
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = struct.unpack("<f", buf[i:i + 4])[0], i + 4
        elif wt == 1:
            v, i = struct.unpack("<d", buf[i:i + 8])[0], i + 8
        else:
            raise AssertionError("wire type %d in %r" % (wt, buf))
        fields.setdefault(num, []).append(v)
    return fields


def int32(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def pci(d, b, s, f):
    return pb((1, d), (2, b), (3, s), (4, f))


ADD, REMOVE, ADD_SOCK, REMOVE_SOCK, QUERY_PCI = range(5)
UPDATE, GET_EAL_CORES = range(2)


# ---- endpoints, tools, traffic ----

def eps(workdir):
    z = os.path.join(workdir, "zmq")
    return {s: "ipc://%s/%s" % (z, s) for s in ("port_control", "stats", "core_sched", "config")}


def zmq_args(workdir):
    e = eps(workdir)
    return ["--zmq-port-control-ep=" + e["port_control"], "--zmq-stats-ep=" + e["stats"],
            "--zmq-core-sched-ep=" + e["core_sched"], "--zmq-config-ep=" + e["config"]]


def start_daemon(workdir, procs, extra=(), lcores=None, eal=()):
    d = Daemon(workdir, ["-C", "1,2" if lcores else "1", "-M", "0", "--server", "-V", workdir]
               + zmq_args(workdir) + list(extra), lcores=lcores, eal=eal)
    procs.append(d)
    return d


def tool(name, *args, timeout=60):
    return subprocess.run([TOOLS[name]] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def port(workdir, op, *args):
    return tool("port_control", op, "--zmq_ep=" + eps(workdir)["port_control"], *args)


def ok(p):
    assert p.returncode == 0, (p.args, p.returncode, p.stdout, p.stderr)
    return p.stdout


def refused(p, *words):
    """The tool failed with status 1 and a message holding words."""
    assert p.returncode == 1, (p.args, p.returncode, p.stdout, p.stderr)
    for w in words:
        assert w in p.stderr, (w, p.stderr)


def raw(ep, data, timeout_ms=5000):
    p = subprocess.run([RAW, ep, str(timeout_ms)], input=data, capture_output=True,
                       timeout=timeout_ms / 1000 + 10)
    assert p.returncode == 0, p.stderr
    return unpb(p.stdout)


def sock(workdir, rid):
    return "%s/virtio-forwarder%d.sock" % (workdir, rid)


def vm_vdev(workdir, rid, n=0):
    return "net_virtio_user%d,path=%s,queue_size=4096" % (n, sock(workdir, rid))


def traffic(workdir, procs, rid, n, pps, go):
    """Peers on both sides of relay rid sending n frames each way at pps
    once go exists (open_gate), checking every one."""
    opts = ["--tx", n, "--expect", n, "--flows", 4, "--pps", pps, "--wait-link",
            "--sizes", "64,512,1518,60,1000", "--idle-timeout", 20000, "--timeout", 120,
            "--start-file", go]
    vf = Peer(workdir, [memif_peer(workdir, rid)], opts + ["--tag", 1, "--expect-tag", 2])
    procs.append(vf)
    vm = Peer(workdir, [vm_vdev(workdir, rid, rid)], opts + ["--tag", 2, "--expect-tag", 1])
    procs.append(vm)
    return vf, vm


def flowing(workdir, procs, d, rid, n, pps, min_tx):
    """traffic() on relay rid, released once both its directions are
    active; returns the peers once more than min_tx frames have crossed
    VF->VM."""
    go = os.path.join(workdir, "go-%d-%d" % (rid, time.monotonic_ns()))
    vf, vm = traffic(workdir, procs, rid, n, pps, go)
    d.wait_relay(rid, both_active, what="both directions active")
    open_gate(go, vf, vm)
    d.wait_relay(rid, lambda r: r["vf_to_vm"]["tx_pkts"] > min_tx,
                 what="traffic on relay %d" % rid)
    return vf, vm


def both_active(r):
    return r["vf_to_vm"]["active"] and r["vm_to_vf"]["active"]


def assert_clean(report, n):
    for p in report["ports"]:
        assert p["rx_ok"] == n, p
        assert p["rx_corrupt"] == 0 and p["lost"] == 0 and p["reordered_or_dup"] == 0, p


def round_trip(workdir, procs, d, rid, n=3000, pps=5000):
    go = os.path.join(workdir, "go-%d-%d" % (rid, time.monotonic_ns()))
    vf, vm = traffic(workdir, procs, rid, n, pps, go)
    d.wait_relay(rid, both_active, what="both directions active")
    open_gate(go, vf, vm)
    assert_clean(vf.report(), n)
    assert_clean(vm.report(), n)
    # Many rounds must not fill the hugepages with the peers' files.
    for p in (vf, vm):
        cleanup_prefix(p.prefix)


class Sampler:
    """Samples a relay's counters in the background: they must rise in
    every window, whatever the control plane does meanwhile."""

    def __init__(self, prefix, rid, period=0.25):
        self.tel = Telemetry(prefix)
        self.rid, self.period = rid, period
        self.samples, self.stop_ev = [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                r = self.tel.query("/virtio_forwarder/relay,%d" % self.rid)
            except OSError:       # the daemon is gone: a failed test's teardown
                return
            self.samples.append((r["vf_to_vm"]["tx_pkts"], r["vm_to_vf"]["tx_pkts"]))
            time.sleep(self.period)

    def stop(self, min_samples=4):
        """Stops sampling, once there are at least min_samples: the
        windows then also cover the time after the last operation."""
        deadline = time.time() + 10
        while len(self.samples) < min_samples and time.time() < deadline:
            time.sleep(self.period)
        self.stop_ev.set()
        self.thread.join()
        self.tel.close()
        return self.samples


def assert_rising(samples):
    assert len(samples) >= 4, samples
    for a, b in zip(samples, samples[1:]):
        assert b[0] > a[0] and b[1] > a[1], ("a window without traffic", samples)


# ---- tests ----

def test_add_remove_vf_at_run_time_under_traffic_of_another_relay(workdir, procs):
    d = start_daemon(workdir, procs, ["-P", memif_vf(workdir, 0) + "=0"])
    vf0, vm0 = flowing(workdir, procs, d, 0, 36000, 2000, 500)
    sampler = Sampler(d.prefix, 0)

    # Relay 1 gets a VF at run time, carries traffic, and loses it again.
    vdev1 = memif_vf(workdir, 1)
    ok(port(workdir, "add", "--virtio-id=1", "--pci-addr=" + vdev1))
    assert d.relay(1)["vf_attached"]
    assert ok(port(workdir, "query_pci", "--vhost-path=" + sock(workdir, 1))) == vdev1 + "\n"
    round_trip(workdir, procs, d, 1, n=2000, pps=2000)

    # conditional: an existing pairing again, a missing one away
    refused(port(workdir, "add", "--virtio-id=1", "--pci-addr=" + vdev1),
            "relay 1 already has VF net_memif1", "not conditional")
    ok(port(workdir, "add", "--virtio-id=1", "--pci-addr=" + vdev1, "--conditional"))
    refused(port(workdir, "add", "--virtio-id=1", "--pci-addr=0000:05:08.1", "--conditional"),
            "relay 1 already has VF", "remove it first")
    refused(port(workdir, "add", "--virtio-id=2", "--pci-addr=net_memif1"),
            "already attached to relay 1")
    refused(port(workdir, "remove", "--virtio-id=1", "--pci-addr=net_memif0"),
            "relay 1 has VF net_memif1", "not net_memif0")
    ok(port(workdir, "remove", "--virtio-id=1", "--pci-addr=" + vdev1))
    assert not d.relay(1)["vf_attached"]
    refused(port(workdir, "remove", "--virtio-id=1"), "relay 1 has no VF", "not conditional")
    ok(port(workdir, "remove", "--virtio-id=1", "--conditional"))
    refused(port(workdir, "query_pci", "--vhost-path=" + sock(workdir, 1)), "has no VF")
    refused(port(workdir, "query_pci", "--vhost-path=/tmp/nowhere.sock"),
            "no relay has socket /tmp/nowhere.sock")
    # the same VF again: the relay works as before
    ok(port(workdir, "add", "--virtio-id=1", "--pci-addr=" + vdev1))
    round_trip(workdir, procs, d, 1, n=1000, pps=2000)
    ok(port(workdir, "remove", "--virtio-id=1"))

    assert_rising(sampler.stop())
    assert_clean(vf0.report(), 36000)
    assert_clean(vm0.report(), 36000)
    r0 = d.relay(0)
    assert r0["vf_to_vm"]["drop_full_pkts"] == 0 and r0["vm_to_vf"]["drop_full_pkts"] == 0
    assert d.stop() == 0
    assert "leak" not in d.log()
    assert "port control: relay 1: VF %s added" % vdev1 in d.log()


def test_dynamic_sockets_from_add_sock_to_remove_sock(workdir, procs):
    d = start_daemon(workdir, procs, ["-d"])
    assert not os.path.exists(sock(workdir, 0))
    vdev0 = memif_vf(workdir, 0)
    # no relay in use yet: the lowest free id, 0, takes the pair
    ok(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0), "--pci-addr=" + vdev0))
    assert stat.S_ISSOCK(os.stat(sock(workdir, 0)).st_mode)
    r = d.relay(0)
    assert r["vf_attached"] and r["socket"] == sock(workdir, 0)
    assert ok(port(workdir, "query_pci", "--vhost-path=" + sock(workdir, 0))) == vdev0 + "\n"
    # a second pair goes to relay 1
    vdev1 = memif_vf(workdir, 1)
    ok(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 1), "--pci-addr=" + vdev1))
    assert d.relay(1)["socket"] == sock(workdir, 1)

    round_trip(workdir, procs, d, 0)
    round_trip(workdir, procs, d, 1, n=1000)

    refused(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0), "--pci-addr=" + vdev0),
            "already paired", "not conditional")
    ok(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0), "--pci-addr=" + vdev0,
            "--conditional"))
    refused(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0), "--pci-addr=net_memif1"),
            "already used by relay 0")
    refused(port(workdir, "remove_sock", "--vhost-path=" + sock(workdir, 0),
                 "--pci-addr=net_memif1"), "paired with net_memif0")

    ok(port(workdir, "remove_sock", "--vhost-path=" + sock(workdir, 0), "--pci-addr=" + vdev0))
    assert not os.path.exists(sock(workdir, 0))
    r = d.relay(0)
    assert not r["in_use"] and not r["vf_attached"] and r["socket"] == ""
    refused(port(workdir, "remove_sock", "--vhost-path=" + sock(workdir, 0)),
            "no relay has socket", "not conditional")
    ok(port(workdir, "remove_sock", "--vhost-path=" + sock(workdir, 0), "--conditional"))
    # The freed relay is reused; relay 1 was not disturbed.
    ok(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0), "--pci-addr=" + vdev0))
    assert d.relay(0)["vf_attached"]
    round_trip(workdir, procs, d, 1, n=1000)
    for rid in (0, 1):
        ok(port(workdir, "remove_sock", "--vhost-path=" + sock(workdir, rid)))
    assert d.stop() == 0
    assert "leak" not in d.log()


def test_stats_equal_telemetry_rates_over_delay_and_no_blocking(workdir, procs):
    d = start_daemon(workdir, procs, ["-P", memif_vf(workdir, 0) + "=0"])
    stats_ep = eps(workdir)["stats"]
    n, pps = 12000, 2000
    vf, vm = flowing(workdir, procs, d, 0, n, pps, 1000)

    # Two clients with long windows at once: each gets its own rates, and
    # port control answers meanwhile.
    clients = [subprocess.Popen([TOOLS["stats"], "--stats-ep=" + stats_ep, "--json",
                                 "--delay=%d" % delay], stdout=subprocess.PIPE, text=True)
               for delay in (2000, 1000)]
    time.sleep(0.3)
    t0 = time.monotonic()
    ok(port(workdir, "query_pci", "--vhost-path=" + sock(workdir, 0)))
    ok(tool("core_pinner", "--zmq-ep=" + eps(workdir)["core_sched"],
            "--config-ep=" + eps(workdir)["config"]))
    assert time.monotonic() - t0 < 1.5, "port control waited for a stats request"
    for c in clients:
        out, _ = c.communicate(timeout=30)
        assert c.returncode == 0
        rs = json.loads(out)["relay"]
        assert [r["id"] for r in rs] == [0]
        for key in ("pkt_rate_rx_from_vf", "pkt_rate_tx_to_vm"):
            assert 0.6 * pps < rs[0]["vf_to_vm"][key] < 1.4 * pps, rs[0]
        for key in ("pkt_rate_rx_from_vm", "pkt_rate_tx_to_vf"):
            assert 0.6 * pps < rs[0]["vm_to_vf"][key] < 1.4 * pps, rs[0]
        assert rs[0]["vf_to_vm"]["byte_rate_rx_from_vf"] > 60 * 0.6 * pps
    # The pinner's map from the stats service when the config service is
    # not there (as the established tool read it): relays forwarding now.
    out = ok(tool("core_pinner", "--zmq-ep=" + eps(workdir)["core_sched"],
                  "--config-ep=ipc://%s/none" % workdir, "--stats-ep=" + stats_ep))
    assert out == "worker CPUs: 1\nrelay  VF->VM  VM->VF\n    0       1       1\n", out
    assert_clean(vf.report(), n)
    assert_clean(vm.report(), n)

    # Traffic over: every counter as telemetry has it, rates without a
    # window are zero.
    out = ok(tool("stats", "--stats-ep=" + stats_ep, "--json", "--delay=0", "--relay=0",
                  "--include-inactive"))
    r = json.loads(out)["relay"][0]
    t = d.relay(0)
    names = {"vf_to_vm": ("vf", "vm"), "vm_to_vf": ("vm", "vf")}
    for dname, (src, dst) in names.items():
        s, c = r[dname], t[dname]
        assert s["pkts_rx_from_" + src] == c["rx_pkts"] == n
        assert s["bytes_rx_from_" + src] == c["rx_bytes"]
        assert s["pkts_tx_to_" + dst] == c["tx_pkts"] == n
        assert s["bytes_tx_to_" + dst] == c["tx_bytes"]
        assert s["pkts_dropped_%s_queue_full" % dst] == c["drop_full_pkts"]
        assert s["bytes_dropped_%s_queue_full" % dst] == c["drop_full_bytes"]
        assert s["pkts_dropped_%s_not_connected" % dst] == c["drop_unconnected_pkts"]
        assert s["bytes_dropped_%s_not_connected" % dst] == c["drop_unconnected_bytes"]
        assert s["pkts_dropped_oversize"] == c["drop_oversize_pkts"] == 0
        assert s["bytes_dropped_oversize"] == c["drop_oversize_bytes"] == 0
        assert s["busy_cycles"] == c["busy_cycles"] > 0
        assert s["pkt_rate_rx_from_" + src] == 0
        assert s["active"] is False and s["internal_state"] == "waiting for the VM"
    assert r["cpu"] == {"vf_to_vm": 1, "vm_to_vf": 1}
    assert r["vhost"]["vhost_socket_name"] == sock(workdir, 0)
    assert r["vf"]["pci_addr_str"] == memif_vf(workdir, 0)
    assert json.loads(out)["tsc_hz"] > 0

    # Flat output: relay_<id>.<group>.<counter>=<value>, zeros left out on request.
    flat = ok(tool("stats", "--stats-ep=" + stats_ep, "--include-inactive", "--delay=0",
                   "--output-format=flat"))
    lines = dict(line.split("=", 1) for line in flat.splitlines())
    assert lines["relay_0.vf_to_vm.pkts_rx_from_vf"] == str(n)
    assert lines["relay_0.vm_to_vf.pkts_tx_to_vf"] == str(n)
    assert lines["relay_0.vf_to_vm.pkts_dropped_vm_not_connected"] == "0"
    assert lines["relay_0.vhost.vhost_socket_name"] == sock(workdir, 0)
    assert lines["relay_0.active"] == "False"
    assert any(k.startswith("relay_63.") for k in lines)   # inactive relays too
    assert all(re.match(r"relay_\d+\.[a-z_.0-9]+$", k) for k in lines), lines
    flat = ok(tool("stats", "--stats-ep=" + stats_ep, "--include-inactive", "-z",
                   "--relay=0", "--delay=0"))
    assert "relay_0.vf_to_vm.pkts_rx_from_vf=%d" % n in flat
    assert "=0\n" not in flat and "relay_63" not in flat
    # Without --include-inactive only relays forwarding both ways are listed.
    assert ok(tool("stats", "--stats-ep=" + stats_ep, "--delay=0")) == ""

    # --watch prints again every period until interrupted.
    w = subprocess.Popen([TOOLS["stats"], "--stats-ep=" + stats_ep, "--include-inactive",
                          "--relay=0", "--delay=0", "--watch=1"], stdout=subprocess.PIPE,
                         text=True)
    time.sleep(2.5)
    w.send_signal(2)
    out, _ = w.communicate(timeout=10)
    assert w.returncode == 0
    assert len(re.findall(r"^# \d{4}-", out, re.M)) >= 2, out
    assert out.count("relay_0.vf_to_vm.pkts_rx_from_vf=%d" % n) >= 2
    assert d.stop() == 0


def test_core_sched_get_eal_cores_update_under_traffic_and_monitor(workdir, procs):
    # Dynamic sockets: relay 0 is the only one in use (the static VF gets
    # its socket through ADD_SOCK, which finds it by its device).
    d = start_daemon(workdir, procs, ["-d", "-P", memif_vf(workdir, 0) + "=0",
                                      "--virtio-cpu=0:1,1"], lcores="0@0,1@1,2@1")
    e = eps(workdir)
    ok(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0), "--pci-addr=net_memif0"))
    pin = ["--zmq-ep=" + e["core_sched"], "--config-ep=" + e["config"]]
    out = ok(tool("core_pinner", *pin))
    assert out == "worker CPUs: 1 2\nrelay  VF->VM  VM->VF\n    0       1       1\n", out
    reply = raw(e["core_sched"], pb((1, GET_EAL_CORES)))
    assert reply[4] == [1] and reply[7] == [1, 2], reply

    n = 16000
    vf, vm = flowing(workdir, procs, d, 0, n, 2000, 1000)

    # The load monitor in a real terminal: a bar per worker CPU.
    session = "vfwd-mon-%s" % d.prefix
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "20",
                    "%s --poll-interval=0.5 --stats-ep=%s --sched-ep=%s" % (
                        TOOLS["monitor_load"], e["stats"], e["core_sched"])], check=True)
    try:
        time.sleep(2)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session])
    assert "virtio-forwarder worker load, every 0.5 s" in screen, screen
    assert re.search(r"^CPU  1 \[#*\.*\s*\]\s+\d+\.\d%  relays: 0$", screen, re.M), screen
    assert re.search(r"^CPU  2 \[ {50}\]\s+0\.0%  relays: none$", screen, re.M), screen

    # Move the relay's directions between the workers, under traffic, back
    # and forth: nothing lost, nothing reordered (the peers check).
    for vf2vm, vm2vf in ((2, 1), (2, 2), (1, 2), (1, 1)):
        out = ok(tool("core_pinner", *pin, "--virtio-cpu=0:%d,%d" % (vf2vm, vm2vf)))
        assert "relay 0: VF->VM on CPU %d, VM->VF on CPU %d\nOK\n" % (vf2vm, vm2vf) in out
        assert "    0  %6d  %6d\n" % (vf2vm, vm2vf) in out
        r = d.relay(0)
        assert (r["vf_to_vm"]["cpu"], r["vm_to_vf"]["cpu"]) == (vf2vm, vm2vf)
        time.sleep(0.7)
    # UPDATE through the wire, with -1 leaving a direction where it is
    reply = raw(e["core_sched"], pb((1, UPDATE), (2, pb((1, 0), (2, 2), (3, -1)))))
    assert reply[4] == [1], reply
    assert (d.relay(0)["vf_to_vm"]["cpu"], d.relay(0)["vm_to_vf"]["cpu"]) == (2, 1)
    # A CPU that is not a worker refuses the whole request, nothing moves.
    refused(tool("core_pinner", *pin, "--virtio-cpu=0:0,1"),
            "CPU 0 is not a worker CPU", "worker CPUs are 1,2")
    refused(tool("core_pinner", *pin, "--virtio-cpu=0:1", "--virtio-cpu=1:3"), "CPU 3")
    assert (d.relay(0)["vf_to_vm"]["cpu"], d.relay(0)["vm_to_vf"]["cpu"]) == (2, 1)
    assert_clean(vf.report(), n)
    assert_clean(vm.report(), n)
    assert d.stop() == 0
    assert "core sched: relay 0 pinned: VF->VM CPU 2, VM->VF CPU 1" in d.log()


def resources(d):
    """What a leak would grow: the daemon's open files, its resident memory
    (kB) and the bytes allocated in DPDK's heap (hugepages)."""
    pid = d.proc.pid
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))
    return {"fds": len(os.listdir("/proc/%d/fd" % pid)), "rss_kb": rss,
            "heap": d.tel.query("/eal/heap_info,0")["Alloc_size"]}


def test_clients_that_connect_and_never_read_block_nobody(workdir, procs):
    """On every endpoint, clients that connect and then say nothing or stop
    halfway through the ZeroMQ greeting, and stay: the services keep
    answering others at once, the relay keeps forwarding."""
    d = start_daemon(workdir, procs, ["-P", memif_vf(workdir, 0) + "=0"])
    e = eps(workdir)
    n = 6000
    vf, vm = flowing(workdir, procs, d, 0, n, 2000, 500)
    stuck = []
    for ep in e.values():
        for greeting in (b"", b"\xff\x00\x00\x00\x00"):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(ep[len("ipc://"):])
            c.sendall(greeting)
            stuck.append(c)
    for _ in range(3):
        t0 = time.monotonic()
        ok(tool("stats", "--stats-ep=" + e["stats"], "--delay=0"))
        ok(port(workdir, "query_pci", "--vhost-path=" + sock(workdir, 0)))
        ok(tool("core_pinner", "--zmq-ep=" + e["core_sched"], "--config-ep=" + e["config"]))
        assert time.monotonic() - t0 < 2, "a silent client held a service up"
    assert_clean(vf.report(), n)
    assert_clean(vm.report(), n)
    for c in stuck:
        c.close()
    assert d.stop() == 0


def test_1000_add_remove_cycles_under_traffic_leave_nothing_behind(workdir, procs, veths):
    """A relay (VF and socket) added and removed 1000 times through port
    control while relay 0 forwards round after round, a new VM-side peer
    each time: every request succeeds, every frame of relay 0 arrives, and
    open files, DPDK heap and resident memory come back to where they were."""
    cycles = 1000
    d = start_daemon(workdir, procs, ["-d"])
    e = eps(workdir)
    ok(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0),
            "--pci-addr=" + memif_vf(workdir, 0)))
    # af_packet on a veth: DPDK 22.11's net_null and net_memif leak some
    # heap at each probe and removal themselves (a queue's dummy packet;
    # about 27 KB), which would hide ours.
    vdev = "net_af_packet9,iface=%s" % veths[0][0]
    add = pb((1, ADD_SOCK), (7, sock(workdir, 9)), (100, vdev))
    remove = pb((1, REMOVE_SOCK), (7, sock(workdir, 9)))

    def cycle():
        for req in (add, remove):
            f = raw(e["port_control"], req)
            assert f[4] == [1], f

    def vm_gone(r):
        return not r["vm_connected"]

    # First use: lazily made pools and buffers, on both relays.
    round_trip(workdir, procs, d, 0)
    for _ in range(20):
        cycle()
    d.wait_relay(0, vm_gone, what="VM gone")
    before = resources(d)
    failed = []

    def churn():
        try:
            for _ in range(cycles - 20):
                cycle()
        except BaseException as ex:   # noqa: B902 - reported by the test's thread
            failed.append(ex)

    started = time.time()
    t = threading.Thread(target=churn)
    t.start()
    rounds = 0
    while t.is_alive():
        round_trip(workdir, procs, d, 0, n=2000)
        rounds += 1
    t.join()
    assert not failed, failed
    d.wait_relay(0, vm_gone, what="VM gone")
    after = resources(d)
    print("%d cycles and %d rounds of traffic in %.0f s; before %s, after %s"
          % (cycles - 20, rounds, time.time() - started, before, after))
    assert after["fds"] == before["fds"] and after["heap"] == before["heap"], (before, after)
    assert after["rss_kb"] - before["rss_kb"] < 4096, (before, after)
    r1 = d.relay(1)
    assert not r1["vf_attached"] and not r1["socket"] and r1["pool_in_use"] == 0, r1
    assert d.stop() == 0
    assert "leak" not in d.log()


def test_hugepages_exhausted_when_a_relay_is_added(workdir, procs):
    """DPDK may take only so much memory (EAL --socket-limit): the relay
    whose mbuf pool does not fit is refused with the fix in the message and
    leaves nothing half made, the relay already forwarding is undisturbed,
    and once a relay is removed, its memory serves the next one."""
    d = start_daemon(workdir, procs, ["-d"], eal=["--socket-limit=96"])
    e = eps(workdir)
    ok(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0),
            "--pci-addr=" + memif_vf(workdir, 0)))
    n = 10000
    vf, vm = flowing(workdir, procs, d, 0, n, 2000, 200)

    def add(i):
        vdev = "net_memif%d,role=client,socket=%s/spare%d.sock,id=0" % (i, workdir, i)
        return raw(e["port_control"], pb((1, ADD_SOCK), (7, sock(workdir, i)), (100, vdev)))

    added = []
    for i in range(1, 10):
        f = add(i)
        if f[4] != [1]:
            break
        added.append(i)
    assert added and len(added) < 9, added
    assert int32(f[5][0]) == -12, f                                # ENOMEM
    msg = f[6][0].decode()
    assert "no memory for its mbuf pool" in msg and "nr_hugepages" in msg, msg
    # Nothing half made: no relay has the refused VF or socket.
    refused_id = len(added) + 1
    r = d.relay(refused_id)
    assert not r["vf_attached"] and not r["socket"] and not r["in_use"], r
    assert not os.path.exists(sock(workdir, i))
    assert "relay %d: no memory for its mbuf pool" % refused_id in d.log()
    # A relay removed: its pool serves the next add.
    f = raw(e["port_control"], pb((1, REMOVE_SOCK), (7, sock(workdir, added[-1]))))
    assert f[4] == [1], f
    assert add(added[-1])[4] == [1]
    assert_clean(vf.report(), n)
    assert_clean(vm.report(), n)
    assert d.stop() == 0
    assert "leak" not in d.log()


def test_bad_input_to_every_endpoint_while_a_relay_forwards(workdir, procs):
    d = start_daemon(workdir, procs, ["-d"])
    e = eps(workdir)
    ok(port(workdir, "add_sock", "--vhost-path=" + sock(workdir, 0),
            "--pci-addr=" + memif_vf(workdir, 0)))
    n = 20000
    vf, vm = flowing(workdir, procs, d, 0, n, 2000, 500)
    sampler = Sampler(d.prefix, 0)

    garbage = "garbag\xc3\xa9".encode("latin-1")
    oversized = b"\x00" * 70000
    vpath = sock(workdir, 0)
    add_sock = pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, "/tmp/x.sock"))
    notsock = os.path.join(workdir, "regular-file")
    open(notsock, "w").close()

    def port_refused(req, code, *words):
        f = raw(e["port_control"], req)
        assert f[4] == [0], f                              # ERROR
        assert int32(f[5][0]) == code, (f, code)
        for w in words:
            assert w in f[6][0].decode(), (w, f)

    port_refused(garbage, -74, "not a valid virtioforwarder.PortControlRequest")  # EBADMSG
    port_refused(b"", -74, "required field missing")
    port_refused(add_sock[:-3], -74)                              # truncated
    port_refused(oversized, -7, "70000 bytes long")                # E2BIG
    port_refused(pb((3, 1)), -74)                                 # op missing
    port_refused(pb((1, 9)), -22, "unknown op 9")
    port_refused(pb((1, ADD), (2, pci(0, 5, 8, 1))), -22, "ADD needs virtio_id")
    port_refused(pb((1, ADD), (3, 1)), -22, "needs the VF's PCI address")
    port_refused(pb((1, ADD), (2, pci(0, 5, 8, 1)), (3, 64)), -34, "virtio_id 64 is out of range")
    port_refused(pb((1, ADD), (2, pci(0, 5, 8, 1)), (3, 4294967295)), -34, "4294967295")
    port_refused(pb((1, REMOVE), (3, 64)), -34)
    port_refused(pb((1, ADD), (2, pci(0, 5, 0x20, 1)), (3, 1)), -22, "slot=32")
    port_refused(pb((1, ADD), (2, pci(0x10000, 5, 8, 1)), (3, 1)), -22, "domain=65536")
    port_refused(pb((1, ADD), (2, pb((1, 0), (2, 5), (3, 8))), (3, 1)), -74)  # no function
    port_refused(pb((1, ADD), (2, pci(0, 0x7f, 0x1f, 7)), (3, 1)), -19, "no such PCI device")
    port_refused(pb((1, ADD), (2, pci(0, 5, 8, 1)), (2, pci(0, 5, 8, 2)), (3, 1)), -22,
                 "without a bond name")
    port_refused(pb((1, ADD), (2, pci(0, 5, 8, 1)), (2, pci(0, 5, 8, 2)), (3, 1), (5, "b0")),
                 -19, "VF 0000:05:08.1: no such PCI device")        # a bond's member
    port_refused(pb((1, ADD), (2, pci(0, 5, 8, 1)), (3, 1), (5, "b0")), -22, "at least two")
    port_refused(pb((1, ADD), (2, pci(0, 5, 8, 1)), (2, pci(0, 5, 8, 2)), (3, 1), (5, "b,0")),
                 -22, "bond name 'b,0' may hold only")
    port_refused(pb((1, ADD), (2, pci(0, 5, 8, 1)), (2, pci(0, 5, 8, 2)), (3, 1), (5, "b0"),
                    (6, 4)), -95, "802.3ad")                         # EOPNOTSUPP
    port_refused(pb((1, ADD), (3, 1), (5, "b0"), (100, "net_tap0"), (100, "net_tap0")), -22,
                 "net_tap0 given twice")
    port_refused(pb((1, ADD), (3, 1), (100, "eth0")), -22, "not DPDK vdev devargs")
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1))), -22, "ADD_SOCK needs vhost_path")
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, "")), -22, "empty")
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, "x.sock")), -22, "relative")
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, "/tmp/../x.sock")), -22, "'..'")
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, "/" + "a" * 107)), -36,
                 "at most 107")
    # Only in the socket directory: a client must not make the daemon
    # replace or shadow a socket elsewhere.
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, "/run/x.sock")), -13,
                 "not in the socket directory " + workdir, "VIRTIOFWD_SOCKET_DIR")
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, workdir + "x/y.sock")), -13)
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, notsock)), -88,
                 "exists and is not a socket")                      # ENOTSOCK
    port_refused(pb((1, ADD_SOCK), (2, pci(0, 5, 8, 1)), (7, vpath)), -16,
                 "already used by relay 0")
    port_refused(pb((1, QUERY_PCI)), -22, "QUERY_PCI needs vhost_path")
    port_refused(pb((1, QUERY_PCI), (7, "/tmp/%n%s%n.sock")), -2, "/tmp/%n%s%n.sock")

    def stats_refused(req, status, code, *words):
        f = raw(e["stats"], req)
        assert f[1] == [status] and 2 not in f, f
        assert int32(f[100][0]) == code, f
        for w in words:
            assert w in f[101][0].decode(), (w, f)

    stats_refused(garbage, 400, -74, "StatsRequest")
    stats_refused(oversized, 413, -7)
    stats_refused(pb((1, [64])), 400, -34, "relay 64 is out of range")
    stats_refused(pb((1, [0, 4294967295])), 400, -34, "relay 4294967295")
    stats_refused(pb((1, list(range(64)) + [0])), 413, -7, "65 relay ids")
    stats_refused(pb((3, 10001)), 400, -22, "10000 ms maximum")
    stats_refused(pb((1, [0]))[:-1], 400, -74)                       # truncated
    f = raw(e["stats"], b"")            # all fields optional: all relays
    assert f[1] == [0] and len(f[2]) == 1 and unpb(f[2][0])[1] == [0], f

    def sched_refused(req, code, *words):
        f = raw(e["core_sched"], req)
        assert f[4] == [0] and 7 not in f, f
        assert int32(f[5][0]) == code, f
        for w in words:
            assert w in f[6][0].decode(), (w, f)

    def relay_cpu(r, c1, c2):
        return pb((1, r), (2, c1), (3, c2))

    sched_refused(garbage, -74, "CoreSchedRequest")
    sched_refused(b"", -74)
    sched_refused(oversized, -7)
    sched_refused(pb((1, 7)), -22, "unknown op 7")
    sched_refused(pb((1, UPDATE), (2, relay_cpu(64, 1, 1))), -34, "relay_number 64")
    sched_refused(pb((1, UPDATE), (2, relay_cpu(4294967295, 1, 1))), -34, "relay_number -1")
    sched_refused(pb((1, UPDATE), (2, relay_cpu(0, 0, 1))), -22, "CPU 0 is not a worker")
    sched_refused(pb((1, UPDATE), (2, relay_cpu(0, 1, 99))), -22, "CPU 99 is not a worker")
    sched_refused(pb((1, UPDATE), (2, pb((1, 0), (2, 1)))), -74)     # virtio2vf_cpu missing

    def config_refused(req, code):
        f = raw(e["config"], req)
        assert f[1] == [400] and 5 not in f, f
        assert int32(f[100][0]) == code and f[101][0], f

    config_refused(garbage, -74)
    config_refused(oversized, -7)
    f = raw(e["config"], b"")
    assert f[1] == [0] and [unpb(m) for m in f[5]] == [{1: [0], 2: [1], 3: [1]}], f

    # still serving, and the relay was never disturbed
    assert ok(port(workdir, "query_pci", "--vhost-path=" + vpath)) == memif_vf(workdir, 0) + "\n"
    assert_rising(sampler.stop())
    assert_clean(vf.report(), n)
    assert_clean(vm.report(), n)
    assert d.stop() == 0
    log = d.log()
    assert "port control: request refused: virtio_id 64 is out of range" in log
    assert "/tmp/%n%s%n.sock" in log


def test_services_off_by_default_and_socket_operations_need_dynamic_sockets(workdir, procs):
    e = eps(workdir)
    d = Daemon(workdir, ["-C", "1", "-M", "0", "--server", "-V", workdir,
                         "--zmq-port-control-ep=" + e["port_control"]])
    procs.append(d)
    # only the configured service runs, in a directory of ours: 0750
    zdir = os.path.dirname(e["port_control"][len("ipc://"):])
    st = os.stat(zdir)
    assert stat.S_IMODE(st.st_mode) == 0o750, oct(st.st_mode)
    assert sorted(os.listdir(zdir)) == ["port_control"]
    refused(port(workdir, "add_sock", "--vhost-path=/tmp/vm.sock", "--pci-addr=05:08.1"),
            "ADD_SOCK needs dynamic sockets", "VIRTIOFWD_DYNAMIC_SOCKETS")
    # query_pci works with the static sockets
    refused(port(workdir, "query_pci", "--vhost-path=" + sock(workdir, 3)), "relay 3", "has no VF")
    p = tool("stats", "--stats-ep=" + e["stats"])
    assert p.returncode == 3 and "cannot reach %s" % e["stats"] in p.stderr, p
    assert d.stop() == 0
    assert not os.path.exists(e["port_control"][len("ipc://"):])


def test_tools_usage_and_unreachable_daemon(workdir):
    """No daemon needed: the tools' own checks and their exit statuses."""
    ep = "ipc://%s/none" % workdir
    for name in TOOLS:
        p = tool(name, "--help")
        assert p.returncode == 0 and p.stdout.startswith("usage: virtioforwarder_" + name)
        p = tool(name, "--no-such-option")
        assert p.returncode == 2 and "usage:" in p.stderr
    p = tool("port_control", "frobnicate")
    assert p.returncode == 2 and "unknown operation 'frobnicate'" in p.stderr
    p = tool("port_control", "add", "--pci-addr=05:08.9")
    assert p.returncode == 2 and "not a PCI address" in p.stderr
    p = tool("stats", "--delay=10001")
    assert p.returncode == 2 and "--delay=10001" in p.stderr
    p = tool("core_pinner", "--virtio-cpu=0")
    assert p.returncode == 2 and "--virtio-cpu=0" in p.stderr
    p = tool("port_control", "add", "--virtio-id=1", "--pci-addr=05:08.1", "--zmq_ep=" + ep)
    assert p.returncode == 3 and "cannot reach %s" % ep in p.stderr
    p = tool("monitor_load", "--stats-ep=" + ep)
    assert p.returncode == 3
    # A socket nobody answers on: the timeout, not a hang.
    p = tool("stats", "--stats-ep=tcp://127.0.0.1:9", "--timeout=300", "--delay=0")
    assert p.returncode == 3 and "no reply from tcp://127.0.0.1:9 within 300 ms" in p.stderr


def test_install_layout(tmp_path):
    """Tools under lib/virtio-forwarder with the guide's .py names as links,
    and on PATH."""
    if not shutil.which("meson"):
        pytest.skip("meson not installed")
    dest = str(tmp_path / "root")
    subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
                    "--destdir", dest], check=True, capture_output=True)
    prefix = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                            capture_output=True, text=True, check=True).stdout
    prefix = [o["value"] for o in json.loads(prefix) if o["name"] == "prefix"][0]
    libdir = dest + prefix + "/lib/virtio-forwarder"
    for name in TOOLS:
        exe = os.path.join(libdir, "virtioforwarder_" + name)
        assert os.access(exe, os.X_OK)
        assert os.readlink(exe + ".py") == "virtioforwarder_" + name
        link = dest + prefix + "/bin/virtioforwarder_" + name
        assert os.readlink(link) == prefix + "/lib/virtio-forwarder/virtioforwarder_" + name
