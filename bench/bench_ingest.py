"""Validated ingest throughput and peak memory for ledger CSVs (figures, not a test).

Generates a medium (1M rows) and a large (10M rows) ``gl_entries`` CSV in a temporary
folder, creates a DuckDB warehouse holding the accounts and departments they reference,
and runs ``finlib ingest gl_entries FILE`` (full validation) in a child process, reporting
wall time, rows/s and the child's peak RSS. Then times ``fingerprint`` on the loaded table.
``--floor`` also times, for the large file, the bare floor no validation can beat: one
``INSERT INTO gl_entries SELECT * FROM read_csv(...)`` plus commit into a fresh warehouse
(same schema, PRIMARY KEY included), in a child process of its own.

    .venv/bin/python bench/bench_ingest.py [--rows 10000000] [--keep DIR] [--floor]

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
    from finlib.warehouse.create import init_db
    from finlib.warehouse.db import Warehouse
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


def run_ingest(url: str, csv: Path) -> tuple[float, float, str, float]:
    """(seconds, peak RSS MiB of the child, stdout, CPU seconds of the child) for one
    `finlib ingest`. CPU seconds matter on a shared machine, where wall time follows the load."""
    env = dict(os.environ, FINLIB_DB_URL=url, PYTHONPATH=str(ROOT))
    code = ("import resource, sys\nfrom finlib.cli import main\nrc = main(sys.argv[1:])\n"
            "sys.exit(rc)\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, "ingest", "gl_entries", str(csv)], env=env,
                          capture_output=True, text=True)
    secs = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"ingest failed ({proc.returncode}): {proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = after.ru_maxrss / 1024  # KiB -> MiB (Linux)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return secs, peak, proc.stdout.strip(), cpu


_FLOOR = """
import os, resource, sys, time
import duckdb
db, csv = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
t = time.perf_counter()
con.execute("BEGIN")
con.execute(f"INSERT INTO gl_entries SELECT * FROM read_csv('{csv}', header=true)")
t1 = time.perf_counter()
con.execute("COMMIT")
con.close()
t2 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(f"{t2 - t:.2f} {t1 - t:.2f} {t2 - t1:.2f} {ru.ru_maxrss / 1024:.0f} {ru.ru_utime + ru.ru_stime:.1f}")
"""


def run_floor(work: Path, csv: Path, n: int) -> None:
    """Time the bare PRIMARY KEY insert of ``csv`` (no validation) into a fresh warehouse."""
    db = work / "wh_floor.duckdb"
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    make_warehouse(db)
    load = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, "-c", _FLOOR, str(db), str(csv)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"floor failed: {proc.stderr}")
    total, ins, commit, peak, cpu = proc.stdout.strip().splitlines()[-1].split()
    print(f"  floor  {n:>11,} rows  bare INSERT INTO gl_entries SELECT * FROM read_csv(...) + COMMIT "
          f"(PRIMARY KEY, no validation): {float(total):.1f} s = {n / float(total):>10,.0f} rows/s "
          f"(insert {float(ins):.1f} s, commit {float(commit):.1f} s; CPU {float(cpu):.1f} s)  peak RSS {float(peak):,.0f} MiB  "
          f"load {load:.2f}")
    db.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the large file")
    ap.add_argument("--medium", type=int, default=1_000_000, help="rows of the medium file")
    ap.add_argument("--keep", help="work in this folder and keep the files")
    ap.add_argument("--floor", action="store_true",
                    help="also time a bare PRIMARY KEY insert of the large file (no validation)")
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
        load = os.getloadavg()[0]
        secs, peak, out, cpu = run_ingest(url, csv)
        size = csv.stat().st_size / 2**20
        print(f"  {label:6s} {n:>11,} rows  {size:7.0f} MiB CSV (generated in {gen:.1f} s)  "
              f"ingest {secs:6.1f} s = {n / secs:>10,.0f} rows/s (process wall time incl. start-up)  "
              f"CPU {cpu:.1f} s  peak RSS {peak:,.0f} MiB (max over children so far)  load {load:.2f}")
        print(f"         {out}")
        from finlib.warehouse.db import Warehouse
        from finlib.warehouse.status import fingerprint

        t = time.perf_counter()
        fp = fingerprint(Warehouse.from_url(url))
        print(f"         fingerprint {fp} in {time.perf_counter() - t:.2f} s")
        if args.floor and label == "large":
            run_floor(work, csv, n)
        if not args.keep:
            csv.unlink()
            db.unlink()
    print("targets: >= 1,000,000 rows/s with validation, < 2,048 MiB peak")


if __name__ == "__main__":
    main()
