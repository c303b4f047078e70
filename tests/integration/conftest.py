from fixtures import procs, pytest_runtest_makereport, require_built, veths, workdir  # noqa: F401


def pytest_configure(config):
    require_built()
