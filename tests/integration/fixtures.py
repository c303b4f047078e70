"""Pytest fixtures shared by the integration and VM suites (each conftest
imports them, so either directory also runs on its own)."""
import os
import subprocess

import pytest

import harness


def require_built():
    for exe in (harness.DAEMON, harness.PEER):
        if not os.path.exists(exe):
            raise pytest.UsageError("%s is missing: build first (scripts/build.sh)" % exe)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.failed_call = rep.failed


@pytest.fixture
def workdir(request):
    """A directory for one test's sockets, logs, reports and consoles;
    short, because unix socket paths are limited to 107 bytes. Kept when
    the test fails."""
    d = "/tmp/vfwd-t/%s" % harness.unique("")
    os.makedirs(d)
    yield d
    if getattr(request.node, "failed_call", False):
        print("\nlogs of the failed test kept in %s" % d)
    else:
        subprocess.run(["rm", "-rf", d])


@pytest.fixture
def procs():
    """Processes a test starts (daemon, peers, QEMU); whatever is still
    running at the end is killed and its DPDK leftovers removed, so one
    failure does not starve the next test of cores or hugepages."""
    started = []
    yield started
    for p in reversed(started):
        if p.alive():
            p.kill()
        prefix = getattr(p, "prefix", None)
        if prefix:
            harness.cleanup_prefix(prefix)


@pytest.fixture
def veths():
    """Two veth pairs, up, without IPv6 (no kernel chatter in the
    traffic): [(member end, far end), ...], removed at the end."""
    base = harness.unique("vfb")
    pairs = [(base + "%da" % i, base + "%db" % i) for i in range(2)]
    try:
        for a, b in pairs:
            subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b],
                           check=True)
            for end in (a, b):
                subprocess.run(["sysctl", "-q", "net.ipv6.conf.%s.disable_ipv6=1" % end],
                               check=True)
                subprocess.run(["ip", "link", "set", end, "up"], check=True)
        yield pairs
    finally:
        for a, _ in pairs:
            subprocess.run(["ip", "link", "del", a], stderr=subprocess.DEVNULL)
