"""virtioforwarder_exporter end to end: a daemon with a relay carrying
traffic (memif stand-in VF, virtio_user VM, the traffic peers of
test_control), scraped with curl; its counters against
virtioforwarder_stats once traffic is over, the exposition format, the
daemon going away and coming back, other paths and bad options."""
import json
import os
import re
import subprocess
import time

from harness import BUILD, Process, memif_vf
from test_control import assert_clean, eps, flowing, ok, start_daemon, tool

EXPORTER = os.path.join(BUILD, "virtioforwarder_exporter")
DIRS = {"vf_to_vm": ("vf", "vm"), "vm_to_vf": ("vm", "vf")}   # source, destination
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def start_exporter(workdir, procs, *args):
    """The exporter on a free loopback port; returns (process, port)."""
    e = eps(workdir)
    p = Process([EXPORTER, "--listen=127.0.0.1:0", "--stats-ep=" + e["stats"],
                 "--sched-ep=" + e["core_sched"]] + list(args),
                os.path.join(workdir, "exporter-%d.log" % len(procs)))
    procs.append(p)
    deadline = time.time() + 10
    while time.time() < deadline:
        m = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", p.log())
        if m:
            return p, int(m.group(1))
        assert p.alive(), p.log()
        time.sleep(0.05)
    raise AssertionError("exporter did not start: " + p.log())


def curl(port, path="/metrics"):
    """(HTTP status, content type, body) of a GET, through curl."""
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code} %{content_type}",
                        "http://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    body, _, trailer = r.stdout.rpartition("\n")
    status, _, ctype = trailer.partition(" ")
    return int(status), ctype, body


def parse(body):
    """{(name, frozenset(labels)): value}; checks that every sample's family
    has its HELP and TYPE lines before it, once, counters named *_total."""
    samples, types, helps = {}, {}, set()
    for line in body.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helps, "two HELP lines for " + name
            helps.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name not in types and name in helps, line
            assert kind in ("counter", "gauge"), line
            assert kind != "counter" or name.endswith("_total"), line
            types[name] = kind
        else:
            m = SAMPLE.match(line)
            assert m, "not a sample: %r" % line
            name, labels, v = m.groups()
            assert name in types, "%s has no TYPE line before it" % name
            key = (name, frozenset(LABEL.findall(labels or "")))
            assert key not in samples, "repeated series " + line
            samples[key] = int(v) if re.fullmatch(r"-?\d+", v) else float(v)
    assert body.endswith("\n")
    return samples, types


def series(samples, name, **labels):
    """{labels: value} of one family, filtered by labels."""
    out = {}
    for (n, ls), v in samples.items():
        d = dict(ls)
        if n == "virtioforwarder_" + name and all(d.get(k) == w for k, w in labels.items()):
            out[frozenset(d.items())] = v
    return out


def one(samples, name, **labels):
    s = series(samples, name, **labels)
    assert len(s) == 1, (name, labels, s)
    return next(iter(s.values()))


def scrape(port):
    status, ctype, body = curl(port)
    assert status == 200, (status, body)
    assert ctype == "text/plain; version=0.0.4; charset=utf-8", ctype
    return parse(body)[0]


def test_exporter_matches_stats_and_follows_the_daemon(workdir, procs):
    d = start_daemon(workdir, procs, ["-P", memif_vf(workdir, 0) + "=0"])
    exp, port = start_exporter(workdir, procs, "--window=500")

    n, pps = 10000, 2000
    vf, vm = flowing(workdir, procs, d, 0, n, pps, 1000)

    # Under traffic: forwarding, rates near pps, busy worker 1.
    s = scrape(port)
    assert one(s, "up") == 1
    assert one(s, "relay_active", relay="0") == 1
    for dname in DIRS:
        assert one(s, "relay_direction_active", relay="0", direction=dname) == 1
        assert one(s, "relay_direction_cpu", relay="0", direction=dname) == 1
        for key in ("relay_received_packets_per_second", "relay_sent_packets_per_second"):
            assert 0.5 * pps < one(s, key, relay="0", direction=dname) < 1.5 * pps, s
    assert one(s, "relay_info", relay="0", vf=memif_vf(workdir, 0),
               vhost_socket="%s/virtio-forwarder0.sock" % workdir) == 1
    assert one(s, "tsc_hz") > 0
    assert 0 < one(s, "worker_load", cpu="1") <= 1
    assert set(series(s, "worker_load")) == {frozenset({("cpu", "1")})}
    reports = vf.report(), vm.report()

    # Traffic over: every counter of every relay equals the stats tool's.
    s = scrape(port)
    st = json.loads(ok(tool("stats", "--stats-ep=" + eps(workdir)["stats"], "--json",
                            "--delay=0", "--include-inactive")))
    assert {dict(k)["relay"] for k in series(s, "relay_active")} == \
        {str(r["id"]) for r in st["relay"]}
    assert one(s, "tsc_hz") == st["tsc_hz"]
    for r in st["relay"]:
        rid = str(r["id"])
        assert one(s, "relay_active", relay=rid) == int(r["active"])
        assert one(s, "relay_numa_node", relay=rid) == r["socket_id"]
        for dname, (src, dst) in DIRS.items():
            j, lab = r[dname], dict(relay=rid, direction=dname)
            assert one(s, "relay_direction_active", **lab) == int(j["active"])
            assert one(s, "relay_received_packets_total", **lab) == j["pkts_rx_from_" + src]
            assert one(s, "relay_received_bytes_total", **lab) == j["bytes_rx_from_" + src]
            assert one(s, "relay_sent_packets_total", **lab) == j["pkts_tx_to_" + dst]
            assert one(s, "relay_sent_bytes_total", **lab) == j["bytes_tx_to_" + dst]
            assert one(s, "relay_busy_cycles_total", **lab) == j["busy_cycles"]
            for cause in ("queue_full", "not_connected", "oversize"):
                for unit in ("packets", "bytes"):
                    field = "%s_dropped_%s" % ("pkts" if unit == "packets" else "bytes",
                                               cause if cause == "oversize" else
                                               dst + "_" + cause)
                    assert one(s, "relay_dropped_%s_total" % unit, cause=cause, **lab) == \
                        j[field]
            if rid == "0":
                assert j["pkts_tx_to_" + dst] == n, r
                assert one(s, "relay_sent_packets_per_second", **lab) == 0
    for report in reports:
        assert_clean(report, n)
    assert one(s, "relay_active", relay="0") == 0
    assert one(s, "worker_load", cpu="1") == 0

    # Other paths and methods.
    assert curl(port, "/")[0] == 404
    assert curl(port, "/metrics/x")[0] == 404
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        "http://127.0.0.1:%d/metrics" % port], capture_output=True, text=True)
    assert r.stdout == "405"

    # The daemon gone: up 0 and nothing else, at once (its socket is gone).
    assert d.stop() == 0
    t0 = time.monotonic()
    status, _, body = curl(port)
    assert status == 200 and time.monotonic() - t0 < 5
    samples, types = parse(body)
    assert samples == {("virtioforwarder_up", frozenset()): 0}, body
    assert types == {"virtioforwarder_up": "gauge"}

    # A daemon again at the same endpoints: seen at the next scrape, its
    # counters from zero.
    d2 = start_daemon(workdir, procs, ["-P", memif_vf(workdir, 0) + "=0"])
    s = scrape(port)
    assert one(s, "up") == 1
    assert one(s, "relay_received_packets_total", relay="0", direction="vm_to_vf") == 0
    assert exp.alive()
    assert d2.stop() == 0
    exp.signal(15)
    assert exp.wait(10) == 0


def test_exporter_options_and_an_endpoint_that_does_not_answer(workdir, procs):
    for args, words in ((["--listen=9590"], "--listen=9590: ADDR:PORT"),
                        (["--listen=localhost:9590"], "'localhost' is not an IPv4 address"),
                        (["--listen=127.0.0.1:65536"], "port 0-65535"),
                        (["--listen=::1:9590"], "bracketed IPv6"),
                        (["--window=10001"], "--window=10001: milliseconds"),
                        (["--timeout=0"], "--timeout=0"),
                        (["--no-such-option"], "usage:"),
                        (["extra"], "usage:")):
        p = subprocess.run([EXPORTER] + args, capture_output=True, text=True, timeout=10)
        assert p.returncode == 2 and words in p.stderr, (args, p)
    p = subprocess.run([EXPORTER, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and p.stdout.startswith("usage: virtioforwarder_exporter")

    # A TCP endpoint nobody answers on: up 0 within the timeouts, no hang;
    # the port taken: another exporter says so and exits 1.
    exp, port = start_exporter(workdir, procs, "--stats-ep=tcp://127.0.0.1:9",
                               "--timeout=300", "--window=200")
    t0 = time.monotonic()
    samples, _ = parse(curl(port)[2])
    assert samples == {("virtioforwarder_up", frozenset()): 0}
    assert time.monotonic() - t0 < 3
    p = subprocess.run([EXPORTER, "--listen=127.0.0.1:%d" % port], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 1 and "cannot listen on 127.0.0.1:%d" % port in p.stderr, p
    exp.signal(2)
    assert exp.wait(10) == 0
