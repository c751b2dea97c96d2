"""Benchmark: ``finlib kpis`` on an encrypted warehouse against the same data in plaintext.

Builds the medium demo once, copies it, encrypts the copy (``finlib db encrypt``), then
times ``finlib kpis --period P`` as a fresh process on each, alternating, and reports the
median of N runs (default 5) and the overhead. Acceptance: within 15 %.

    .venv/bin/python bench/bench_encryption.py [--scale medium] [--runs 5] [--period 2026-06]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="medium")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--period", default="2026-06")
    ap.add_argument("--end", default="2026-10")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-enc-") as tmp:
        plain, enc = Path(tmp) / "plain.duckdb", Path(tmp) / "enc.duckdb"
        base = {k: v for k, v in os.environ.items() if k != "FINLIB_DB_KEY"}
        env_p = dict(base, FINLIB_DB_URL=f"duckdb://{plain}")
        env_e = dict(base, FINLIB_DB_URL=f"duckdb://{enc}", FINLIB_DB_KEY=KEY)
        finlib(env_p, "demo-data", "--scale", a.scale, "--end", a.end, "--quiet")
        shutil.copyfile(plain, enc)
        finlib(env_e, "db", "encrypt", "--delete-original")
        finlib(env_p, "kpis", "--period", a.period)  # warm the page cache for both files
        finlib(env_e, "kpis", "--period", a.period)
        tp, te = [], []
        for _ in range(a.runs):
            tp.append(finlib(env_p, "kpis", "--period", a.period))
            te.append(finlib(env_e, "kpis", "--period", a.period))
        mp, me = statistics.median(tp), statistics.median(te)
        print(f"finlib kpis --period {a.period}, {a.scale} demo, median of {a.runs}")
        print(f"  plaintext  {mp:6.3f} s   {[round(x, 3) for x in tp]}")
        print(f"  encrypted  {me:6.3f} s   {[round(x, 3) for x in te]}")
        print(f"  overhead   {100 * (me - mp) / mp:+.1f} %  (limit +15 %)")


if __name__ == "__main__":
    main()
