import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
import vm  # noqa: E402


def pytest_configure(config):
    for exe in (harness.DAEMON, harness.PEER):
        if not os.path.exists(exe):
            raise pytest.UsageError("%s is missing: build first (scripts/build.sh)" % exe)
    if shutil.which(vm.QEMU) is None:
        raise pytest.UsageError("%s is missing: scripts/install-deps.sh installs it" % vm.QEMU)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.failed_call = rep.failed


@pytest.fixture(scope="session")
def image():
    """(kernel, initramfs) of the test guest, built once (and cached
    across runs)."""
    return vm.build_guest()


@pytest.fixture
def workdir(request):
    """Sockets, logs and serial consoles of one test; kept when it fails."""
    d = "/tmp/vfwd-t/%s" % harness.unique("vm")
    os.makedirs(d)
    yield d
    if getattr(request.node, "failed_call", False):
        print("\nlogs of the failed test kept in %s" % d)
    else:
        subprocess.run(["rm", "-rf", d])


@pytest.fixture
def procs():
    """Processes a test starts (daemon, QEMU, peers): whatever still runs at
    the end is killed, and its DPDK leftovers removed."""
    started = []
    yield started
    for p in reversed(started):
        if p.alive():
            p.kill()
        prefix = getattr(p, "prefix", None)
        if prefix:
            harness.cleanup_prefix(prefix)
