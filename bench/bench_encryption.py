"""Benchmark: an encrypted warehouse against the same data in plaintext.

Builds the demo once (medium by default), copies it, encrypts the copy (``finlib db
encrypt``), then times, as fresh processes on each copy, alternating, and reports the
median of N runs and the overhead (acceptance: within 15 %):

* ``finlib kpis --period P`` (``--runs``, default 5);
* ``finlib run --all --workers W --period P``: what ``make run`` runs, every enabled domain
  job (papermill, nbconvert, the report archive) on the demo data (``--run-runs``, default
  2, as each run takes tens of seconds). Each variant writes its reports to its own
  temporary archive; the first run of each is a warm-up and is not counted.

    .venv/bin/python bench/bench_encryption.py [--scale medium] [--runs 5] [--run-runs 2]
        [--workers 2] [--period 2026-06] [--only kpis|run]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key-not-a-secret"


def finlib(env: dict, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "finlib", *args], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def compare(label: str, runs: int, env_p: dict, env_e: dict, args: tuple[str, ...]) -> tuple[float, float]:
    """Warm both once, then ``runs`` alternating timings each; print and return the medians."""
    finlib(env_p, *args)
    finlib(env_e, *args)
    tp, te = [], []
    for _ in range(runs):
        tp.append(finlib(env_p, *args))
        te.append(finlib(env_e, *args))
    mp, me = statistics.median(tp), statistics.median(te)
    print(f"{label}, median of {runs}")
    print(f"  plaintext  {mp:7.3f} s   {[round(x, 3) for x in tp]}")
    print(f"  encrypted  {me:7.3f} s   {[round(x, 3) for x in te]}")
    print(f"  overhead   {100 * (me - mp) / mp:+.1f} %  (limit +15 %)")
    return mp, me


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="medium")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of finlib kpis per variant")
    ap.add_argument("--run-runs", type=int, default=2, help="timed runs of finlib run --all per variant")
    ap.add_argument("--workers", type=int, default=2, help="finlib run --workers (the Makefile's WORKERS)")
    ap.add_argument("--period", default="2026-06")
    ap.add_argument("--end", default="2026-10")
    ap.add_argument("--only", choices=("kpis", "run"), help="time one command only")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-enc-") as tmp:
        plain, enc = Path(tmp) / "plain.duckdb", Path(tmp) / "enc.duckdb"
        base = {k: v for k, v in os.environ.items() if k != "FINLIB_DB_KEY"}
        env_p = dict(base, FINLIB_DB_URL=f"duckdb://{plain}", FINLIB_REPORTS=str(Path(tmp) / "reports-plain"))
        env_e = dict(base, FINLIB_DB_URL=f"duckdb://{enc}", FINLIB_DB_KEY=KEY,
                     FINLIB_REPORTS=str(Path(tmp) / "reports-enc"))
        finlib(env_p, "demo-data", "--scale", a.scale, "--end", a.end, "--quiet")
        shutil.copyfile(plain, enc)
        finlib(env_e, "db", "encrypt", "--delete-original")
        print(f"{a.scale} demo (to {a.end}); load average before: {os.getloadavg()[0]:.2f}")
        if a.only in (None, "kpis"):
            compare(f"finlib kpis --period {a.period}", a.runs, env_p, env_e, ("kpis", "--period", a.period))
        if a.only in (None, "run"):
            compare(f"finlib run --all --workers {a.workers} --period {a.period} (make run)", a.run_runs,
                    env_p, env_e, ("run", "--all", "--workers", str(a.workers), "--period", a.period, "--quiet"))
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
