"""The benchmarks still run (short smoke runs; figures are not asserted:
speed is reported by bench/, not tested)."""
import os
import re
import subprocess

import pytest

import harness


@pytest.mark.parametrize("script, args, report, rows", [
    # ours vs testpmd: rates, and instructions per packet under callgrind
    ("bench.py", [], "smoke.md", ["| 64 | 1 | VF->VM |", "| 64 | VF->VM |"]),
    # ours vs a build of ours (here the same one): how a change is measured
    ("bench.py", ["--against", harness.DAEMON], "against-smoke.md", ["| 64 |"]),
    # one row of any size (the full smoke has 64 B): jumbo frames, ours with -J
    ("bench.py", ["--quick", "vm2vf", "--size", "9000"], "quick-smoke.md",
     ["| 9000 | 1 | VM->VF |"]),
    ("sched_bench.py", [], "sched-smoke.md", ["| 4 |"]),   # before/after balancing
])
def test_benchmark_smoke_runs_and_reports(script, args, report, rows):
    bench = os.path.join(harness.REPO, "bench", script)
    r = subprocess.run(["/usr/bin/python3", bench, "--smoke"] + args, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    text = open(os.path.join(harness.REPO, "bench", "results", report)).read()
    # a row of each table, and a ratio ("1.02x", "**1.02x** ±0.05")
    assert all(row in text for row in rows), text
    assert re.search(r"\| (\*\*)?\d+\.\d\dx", text), text
