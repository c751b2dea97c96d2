"""Benchmark: a full run of every job in parameters/jobs/, serial against 2 workers.

Prints figures (not a timed test): wall time per mode and the speed-up, a per-run
breakdown from the manifests (kernel start, execution, HTML conversion) and report sizes.
Runs go to a throw-away archive (``bench/results/reports-*``), never the real ``reports/``.

    .venv/bin/python bench/bench_jobs.py [--period YYYY-MM] [--workers 2] [--jobs a,b] [--repeat 1]

Targets (issue 4): warm full run under 60 s, >= 1.6x faster with 2 workers, median report
under 1 MB. Meaningful once the domain notebooks exist; works on whatever jobs exist now.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results"


def run_mode(workers: int, jobs: list[str], period: str | None, tag: str) -> tuple[float, list[dict], int]:
    reports = OUT / f"reports-{tag}"
    shutil.rmtree(reports, ignore_errors=True)
    env = {**os.environ, "FINLIB_REPORTS": str(reports)}
    cmd = [sys.executable, "-m", "finlib", "run", *(jobs or ["--all"]), "--workers", str(workers), "--quiet"]
    if period:
        cmd += ["--period", period]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - t
    manifests = [json.loads(p.read_text()) for p in reports.glob("*/*/*/manifest.json")]
    if proc.returncode not in (0, 1):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return wall, manifests, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--period", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--jobs", default="", help="comma-separated job names (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="repeat each mode, report the median")
    args = ap.parse_args()
    jobs = [j for j in args.jobs.split(",") if j]

    sys.path.insert(0, str(ROOT))
    from finlib.jobs.spec import load_jobs

    specs = load_jobs(jobs or None, include_disabled=bool(jobs))
    if not specs:
        print("no jobs in parameters/jobs/: nothing to measure (add job specs with their notebooks)")
        return 0
    n_runs = sum(len(j.variants()) for j in specs)
    print(f"{len(specs)} job(s), {n_runs} run(s) per full run; machine: {os.cpu_count()} CPU(s)")
    OUT.mkdir(parents=True, exist_ok=True)

    results = {}
    for workers in (1, args.workers):
        walls, last = [], []
        for i in range(args.repeat):
            wall, manifests, rc = run_mode(workers, jobs, args.period, f"w{workers}")
            walls.append(wall)
            last = manifests
            failed = sum(m["status"] != "succeeded" for m in manifests)
            print(f"  workers={workers} #{i + 1}: {wall:6.1f}s wall, {len(manifests)} run(s), {failed} failed (rc {rc})")
        results[workers] = (statistics.median(walls), last)

    serial, parallel = results[1][0], results[args.workers][0]
    print(f"\nfull run: serial {serial:.1f}s, {args.workers} workers {parallel:.1f}s, "
          f"speed-up {serial / parallel:.2f}x (target >= 1.6x; warm target < 60 s)")

    print("\nper run (serial mode):")
    print(f"  {'job':<22}{'variant':<26}{'status':<11}{'kernel':>8}{'exec':>8}{'html':>7}{'total':>8}"
          f"{'report KB':>11}{'nb KB':>8}")
    sizes = []
    for m in sorted(results[1][1], key=lambda m: (m["job"], m.get("variant_label", ""))):
        tm = m["timings"]
        rep = m["outputs"].get("report.html", {}).get("bytes", 0)
        nb = m["outputs"].get("notebook.ipynb", {}).get("bytes", 0)
        sizes.append(rep)
        print(f"  {m['job']:<22}{m.get('variant_label', ''):<26}{m['status']:<11}{tm.get('kernel_start_s', 0):8.2f}"
              f"{tm.get('execution_s', 0):8.2f}{tm.get('html_s', 0):7.2f}{m['duration_s']:8.2f}"
              f"{rep / 1024:11.0f}{nb / 1024:8.0f}")
    if sizes:
        print(f"\nreport size: median {statistics.median(sizes) / 1024:.0f} KB, max {max(sizes) / 1024:.0f} KB "
              f"(target: median < 1 MB); plotly.js shared once in _static/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
