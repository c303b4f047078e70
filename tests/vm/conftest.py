import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import vm  # noqa: E402
from fixtures import procs, pytest_runtest_makereport, require_built, workdir  # noqa: E402,F401


def pytest_configure(config):
    require_built()
    if shutil.which(vm.QEMU) is None:
        raise pytest.UsageError("%s is missing: scripts/install-deps.sh installs it" % vm.QEMU)


@pytest.fixture(scope="session")
def image():
    """(kernel, initramfs) of the test guest, built once (and cached
    across runs)."""
    return vm.build_guest()
