"""The benchmarks still run (short smoke runs; figures are not asserted:
speed is reported by bench/, not tested)."""
import os
import subprocess

import harness


def test_benchmark_smoke_runs_and_reports():
    bench = os.path.join(harness.REPO, "bench", "bench.py")
    r = subprocess.run(["/usr/bin/python3", bench, "--smoke"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = open(os.path.join(harness.REPO, "bench", "results", "smoke.md")).read()
    assert "| 64 |" in report and "x |" in report


def test_scheduler_benchmark_smoke_runs_and_reports():
    bench = os.path.join(harness.REPO, "bench", "sched_bench.py")
    r = subprocess.run(["/usr/bin/python3", bench, "--smoke"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = open(os.path.join(harness.REPO, "bench", "results", "sched-smoke.md")).read()
    assert "| 4 |" in report and "x |" in report
