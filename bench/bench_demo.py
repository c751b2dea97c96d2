"""Benchmark: demo-data generation time and peak memory for medium and large.

Each run happens in a fresh child process (``finlib demo-data``) writing a throw-away
DuckDB file; peak memory is the child's peak RSS (from ``os.wait4``),
one run at a time).

    .venv/bin/python bench/bench_demo.py [medium large] [--seed 42] [--end 2026-10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(scale: str, seed: int, end: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        db = Path(tmp) / "warehouse.duckdb"
        env = dict(os.environ, FINLIB_DB_URL=f"duckdb://{db}")
        code = ("import sys; from finlib.cli import main; "
                f"sys.exit(main(['demo-data', '--scale', {scale!r}, '--seed', '{seed}', '--end', {end!r}, '--quiet']))")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, _, ru = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        _out, err = proc.communicate()
        if proc.returncode not in (0, None):
            raise SystemExit(f"{scale}: failed\n{err}")
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("customers", "gl_entries", "feature_usage", "invoices", "revenue_recognized",
                            "health_scores")}
        con.close()
        size_mb = db.stat().st_size / 2**20
    return {"scale": scale, "seconds": seconds, "peak_rss_mb": ru.ru_maxrss / 1024, "db_mb": size_mb, **counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scales", nargs="*", default=["medium", "large"])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--end", default="2026-10")
    a = ap.parse_args()
    print(f"{'scale':<7} {'time s':>8} {'peak RSS MB':>12} {'db MB':>7} {'customers':>10} {'gl_entries':>11} "
          f"{'feature_usage':>14} {'ledger+usage':>13}")
    for s in a.scales:
        r = run(s, a.seed, a.end)
        print(f"{r['scale']:<7} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.0f} {r['db_mb']:>7.0f} "
              f"{r['customers']:>10,} {r['gl_entries']:>11,} {r['feature_usage']:>14,} "
              f"{r['gl_entries'] + r['feature_usage']:>13,}", flush=True)


if __name__ == "__main__":
    main()
