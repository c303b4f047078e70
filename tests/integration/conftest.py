from fixtures import procs, pytest_runtest_makereport, require_built, workdir  # noqa: F401


def pytest_configure(config):
    require_built()
