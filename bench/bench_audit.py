"""What the audit trail costs an ingest (figures, not a test).

Builds a DuckDB warehouse with the ledger's reference rows, then, in this process, times
three ``finlib ingest gl_entries`` batches and, inside each, the time spent in the audit
trail (``finlib.audit.trail``: seq reservation, history copies, row digests, the entry):

1. the first load of ``--rows`` lines into the empty ledger (the table's baseline: one pass
   over the table gives both the written digest and the fingerprint);
2. an append of ``--rows / 10`` new lines (digest of the written rows only, their row
   hashes into ``audit_added``);
3. a ``--replace keys`` of those ``--rows / 10`` lines (the old rows copied to
   ``gl_entries_history``).

    .venv/bin/python bench/bench_audit.py [--rows 10000000] [--keep DIR]

Target: the trail costs under 10 % of the ingest's time.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_ingest import make_csv, make_warehouse  # noqa: E402


def _timed(module, name: str, acc: dict) -> None:
    fn = getattr(module, name)

    @functools.wraps(fn)
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            acc["s"] += time.perf_counter() - t

    setattr(module, name, wrapper)


def _shifted_csv(src: Path, dst: Path, n: int, bump: bool) -> None:
    """``n`` lines of ``src`` with new entry ids (``N…``), or (``bump``) the same ids with
    amounts + 1."""
    import duckdb

    amount = "CAST(amount AS DECIMAL(18,2)) + 1" if bump else "amount"
    ident = "entry_id" if bump else "'N' || substr(entry_id, 2)"
    duckdb.sql(f"COPY (SELECT {ident} AS entry_id, posted_at, period, account_id, department_id, {amount} AS amount, "
               f"currency, feature_id, campaign_id, vendor, memo, source_system, created_by, approved_by, is_manual "
               f"FROM read_csv('{src}', all_varchar=true) LIMIT {n}) TO '{dst}' (HEADER, DELIMITER ',')")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--keep", help="work in this folder and keep the files")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="finlib-bench-audit-"))
    work.mkdir(parents=True, exist_ok=True)
    n, part = args.rows, max(1, args.rows // 10)
    big = work / "gl.csv"
    make_csv(big, n)
    new, repl = work / "gl_new.csv", work / "gl_repl.csv"
    _shifted_csv(big, new, part, bump=False)
    _shifted_csv(new, repl, part, bump=True)
    db = work / "wh.duckdb"
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    url = make_warehouse(db)
    os.environ["FINLIB_DB_URL"] = url

    from finlib.audit import trail
    from finlib.ingest.loader import ingest_file
    from finlib.warehouse.db import Warehouse

    acc = {"s": 0.0}
    for name in ("on_begin", "on_delete", "on_write"):
        _timed(trail, name, acc)
    wh = Warehouse.from_url(url)
    print(f"bench_audit: {os.cpu_count()} CPUs, DuckDB, work dir {work}")
    for label, path, replace, rows in (("first load", big, None, n), ("append", new, None, part),
                                       ("replace keys", repl, "keys", part)):
        acc["s"] = 0.0
        load = os.getloadavg()[0]
        t = time.perf_counter()
        ingest_file(wh, "gl_entries", path, replace=replace)
        total = time.perf_counter() - t
        print(f"  {label:<13} {rows:>11,} rows  ingest {total:7.2f} s  of which audit trail {acc['s']:6.2f} s "
              f"= {100 * acc['s'] / total:5.1f} %  (load {load:.2f})")
    from finlib.warehouse.load import write_batch

    acc["s"] = 0.0
    t = time.perf_counter()
    with write_batch(wh, action="bench-empty", target="alerts"):
        pass  # what every other batch (alerts, runs) pays on a warehouse this size
    total = time.perf_counter() - t
    print(f"  empty batch   {'':>11}       batch  {total:7.2f} s  of which audit trail {acc['s']:6.2f} s")
    from finlib.audit.verify import verify

    t = time.perf_counter()
    rep = verify(wh)
    print(f"  verify: {'intact' if rep.ok else rep.problems} ({rep.entries} entries) in {time.perf_counter() - t:.2f} s")
    if not args.keep:
        for f in (big, new, repl, db):
            f.unlink(missing_ok=True)
    print("target: the audit trail < 10 % of ingest time")


if __name__ == "__main__":
    main()
