"""Validated ingest throughput and peak memory for ledger CSVs (figures, not a test).

Generates a medium (1M rows) and a large (10M rows) ``gl_entries`` CSV in a temporary
folder, creates a DuckDB warehouse holding the accounts and departments they reference,
and runs ``finlib ingest gl_entries FILE`` (full validation) in a child process, reporting
wall time, rows/s and the child's peak RSS. Then times ``fingerprint`` on the loaded table.

    .venv/bin/python bench/bench_ingest.py [--rows 10000000] [--keep DIR]

Targets on a 2-core machine: >= 1,000,000 rows/s, < 2 GB peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_csv(path: Path, n: int) -> float:
    """Write ``n`` valid ledger lines (40 accounts, 5 departments, 36 months) with DuckDB."""
    import duckdb

    t = time.perf_counter()
    duckdb.sql(f"""COPY (SELECT 'E' || lpad(CAST(i AS VARCHAR), 9, '0') AS entry_id,
        strftime(TIMESTAMP '2022-01-01' + INTERVAL (i % 36) MONTH + INTERVAL (i % 600) HOUR,
                 '%Y-%m-%d %H:%M:%S') AS posted_at,
        strftime(DATE '2022-01-01' + INTERVAL (i % 36) MONTH, '%Y-%m-%d') AS period,
        CAST(6000 + (i % 40) AS VARCHAR) AS account_id, 'd' || (i % 5) AS department_id,
        CAST(round(((i * 7919) % 1000000) / 100.0 - 100, 2) AS DECIMAL(18,2)) AS amount,
        'USD' AS currency, NULL AS feature_id, NULL AS campaign_id, 'Vendor ' || (i % 300) AS vendor,
        'memo line ' || (i % 1000) AS memo, 'erp' AS source_system, 'ana' AS created_by,
        NULL AS approved_by, (i % 50 = 0) AS is_manual
      FROM range({n}) t(i)) TO '{path}' (HEADER, DELIMITER ',')""")
    return time.perf_counter() - t


def make_warehouse(path: Path) -> str:
    from finlib.warehouse.db import Warehouse
    from finlib.warehouse.init import init_db
    from finlib.warehouse.load import write_batch

    url = f"duckdb://{path}"
    wh = Warehouse.from_url(url)
    init_db(wh)
    with write_batch(wh, action="bench-seed", target="reference") as b:
        b.execute("INSERT INTO departments SELECT 'd' || i, ['Sales', 'Marketing', 'Product', "
                  "'Customer Success', 'G&A'][i + 1] FROM range(5) t(i)")
        b.execute("INSERT INTO accounts SELECT CAST(6000 + i AS VARCHAR), 'acct ' || i, 'opex', 'software' "
                  "FROM range(40) t(i)")
    return url


def run_ingest(url: str, csv: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB of the child, stdout) for one `finlib ingest`."""
    env = dict(os.environ, FINLIB_DB_URL=url, PYTHONPATH=str(ROOT))
    code = ("import resource, sys\nfrom finlib.cli import main\nrc = main(sys.argv[1:])\n"
            "sys.exit(rc)\n")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, "ingest", "gl_entries", str(csv)], env=env,
                          capture_output=True, text=True)
    secs = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"ingest failed ({proc.returncode}): {proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return secs, peak, proc.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the large file")
    ap.add_argument("--medium", type=int, default=1_000_000, help="rows of the medium file")
    ap.add_argument("--keep", help="work in this folder and keep the files")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="finlib-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"bench_ingest: {os.cpu_count()} CPUs, work dir {work}")
    for label, n in (("medium", args.medium), ("large", args.rows)):
        csv = work / f"gl_{label}.csv"
        gen = make_csv(csv, n)
        db = work / f"wh_{label}.duckdb"
        for f in (db, Path(str(db) + ".wal")):
            f.unlink(missing_ok=True)
        url = make_warehouse(db)
        secs, peak, out = run_ingest(url, csv)
        size = csv.stat().st_size / 2**20
        print(f"  {label:6s} {n:>11,} rows  {size:7.0f} MiB CSV (generated in {gen:.1f} s)  "
              f"ingest {secs:6.1f} s = {n / secs:>10,.0f} rows/s (process wall time incl. start-up)  "
              f"peak RSS {peak:,.0f} MiB (max over children so far)")
        print(f"         {out}")
        from finlib.warehouse.db import Warehouse
        from finlib.warehouse.status import fingerprint

        t = time.perf_counter()
        fp = fingerprint(Warehouse.from_url(url))
        print(f"         fingerprint {fp} in {time.perf_counter() - t:.2f} s")
        if not args.keep:
            csv.unlink()
            db.unlink()
    print("targets: >= 1,000,000 rows/s with validation, < 2,048 MiB peak")


if __name__ == "__main__":
    main()
