"""Benchmark: `finlib controls run` for one period, and the closed-period write hook.

    .venv/bin/python bench/bench_controls.py [--scale large] [--repeat 3]

Builds (or reuses) the demo warehouse of ``bench/bench_metrics.py`` under ``data/bench/``
(``demo-<scale>.duckdb``; the large one holds about 10 million ledger rows and takes a few
minutes and ~2 GB to build once). Prints:

* the wall time of ``finlib controls run --period P --no-deliver`` as a fresh process (the
  command a controller types: start-up, every control, storing results and alerts), median
  of ``--repeat`` runs, with the archive empty and then with one archived report of P (so
  ``roi_reproducible`` recomputes its figures);
* each control's own time (in-process, evaluation only);
* closing P (fingerprinting its rows in every period-bearing table) and the overhead the
  write hook adds to a small load into an open month while P is closed.

The large demo holds about 2 million ledger lines (plus 1.8 M revenue rows, 1.3 M invoices,
12 M usage rows). ``--ledger-rows 10000000`` (the default) also measures a copy padded to
10 million ledger lines (``demo-large-10m.duckdb``): every line repeated with a new id, an
amount of 0.00 and ``is_manual`` false, so every sum, tie and finding is unchanged while
every scan reads five times the rows.

Figures, not a timed test. The bench leaves P reopened ("bench"), so it can run again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cli(url: str, reports: str, period: str) -> tuple[float, int, int]:
    env = {**os.environ, "FINLIB_DB_URL": url, "FINLIB_REPORTS": reports, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "finlib", "controls", "run", "--period", period, "--no-deliver",
                          "--json"], capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t
    if out.returncode not in (0, 3):
        raise SystemExit(out.stderr)
    results = json.loads(out.stdout)
    return secs, len(results), sum(1 for r in results if r["status"] == "fail")


def pad_ledger(wh, rows: int):
    """A copy of ``wh`` (a DuckDB file) whose ledger is padded to ``rows`` lines with zero-amount,
    non-manual repeats (built once, cached beside it)."""
    import shutil

    from finlib.warehouse.db import get_warehouse
    from finlib.warehouse.load import write_batch

    path = wh.path.with_name(wh.path.stem + f"-{rows // 1_000_000}m.duckdb")
    out = get_warehouse(f"duckdb://{path}")
    if path.exists():
        from finlib.governance.periods_close import refresh_fingerprints

        refresh_fingerprints(out)
        return out
    t = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    shutil.copyfile(wh.path, tmp)
    part = get_warehouse(f"duckdb://{tmp}")
    with part.connect(read_only=True) as c:
        n = c.scalar("SELECT count(*) FROM gl_entries")
    cols = ("posted_at, period, account_id, department_id, 0.00, currency, feature_id, campaign_id, vendor, memo, "
            "source_system, created_by, approved_by, FALSE")
    copies = -(-rows // n) - 1  # ceil(rows / n) - 1 repeats of the original lines
    for k in range(1, copies + 1):
        with write_batch(part, action="bench-pad", target="gl_entries") as b:
            b.execute(f"INSERT INTO gl_entries SELECT entry_id || '-pad{k}', {cols} FROM gl_entries "
                      f"WHERE entry_id NOT LIKE '%-pad%'")
            b._count("gl_entries", n)
    tmp.rename(path)
    print(f"(padded the ledger to {rows:,}+ lines in {time.perf_counter() - t:.0f} s: {path})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="large")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ledger-rows", type=int, default=10_000_000,
                    help="also measure a copy padded to this many ledger lines (0: skip)")
    a = ap.parse_args()

    import finlib.governance.controls  # noqa: F401  - registers the controls
    from bench.bench_metrics import build
    from finlib.governance.periods_close import (
        close_period,
        closed_state,
        refresh_fingerprints,
        reopen_period,
    )
    from finlib.governance.registry import CONTROLS
    from finlib.governance.runner import evaluate_controls
    from finlib.warehouse.create import init_db
    from finlib.warehouse.db import get_warehouse
    from finlib.warehouse.load import write_batch

    t0 = time.perf_counter()
    url, period, used = build(a.scale, "demo")
    month = period[:7]
    wh = get_warehouse(url)
    init_db(wh)  # the governance tables on a warehouse built before they existed
    refresh_fingerprints(wh)  # closed-period fingerprints taken by an older build, if any
    with wh.connect(read_only=True) as c:
        gl = c.scalar("SELECT count(*) FROM gl_entries")
    print(f"warehouse {url} ({used}, {a.scale}, {gl:,} ledger rows), period {month}, ready in "
          f"{time.perf_counter() - t0:.1f} s")
    if a.ledger_rows and gl < a.ledger_rows:
        padded = pad_ledger(wh, a.ledger_rows)
        with tempfile.TemporaryDirectory() as reports:
            runs = [_cli(padded.url, reports, month) for _ in range(a.repeat)]
        with padded.connect(read_only=True) as c:
            n = c.scalar("SELECT count(*) FROM gl_entries")
        print(f"finlib controls run --period {month} on {n:,} ledger rows (padded copy): median "
              f"{statistics.median(r[0] for r in runs):.2f} s of {[round(r[0], 2) for r in runs]}; "
              f"{runs[0][1]} results, {runs[0][2]} failing")

    with tempfile.TemporaryDirectory() as reports:
        runs = [_cli(url, reports, month) for _ in range(a.repeat)]
        secs = statistics.median(r[0] for r in runs)
        print(f"finlib controls run --period {month} (no archived report): median {secs:.2f} s of "
              f"{[round(r[0], 2) for r in runs]}; {runs[0][1]} results, {runs[0][2]} failing")
        from finlib.demo.controls_plant import plant_report

        t = time.perf_counter()
        plant_report(wh, Path(reports), month)
        print(f"(planting one archived executive report took {time.perf_counter() - t:.1f} s)")
        runs = [_cli(url, reports, month) for _ in range(a.repeat)]
        secs = statistics.median(r[0] for r in runs)
        print(f"finlib controls run --period {month} (one archived report): median {secs:.2f} s of "
              f"{[round(r[0], 2) for r in runs]}; {runs[0][1]} results, {runs[0][2]} failing")

        print("\nper control (in-process, evaluation only):")
        for name in CONTROLS:
            t = time.perf_counter()
            out = evaluate_controls(wh, month, [name], reports=Path(reports))
            print(f"  {name:<24} {time.perf_counter() - t:6.2f} s  "
                  f"{sum(1 for r in out if r['status'] == 'fail')} failing")

    import pandas as pd

    def small_load() -> float:
        nxt = f"{int(month[:4]) + (month[5:] == '12')}-{int(month[5:]) % 12 + 1:02d}-01"
        row = pd.DataFrame([{"entry_id": "BENCH-1", "posted_at": pd.Timestamp(nxt), "period": pd.Timestamp(nxt).date(),
                             "account_id": "6100", "department_id": "D50", "amount": 1, "currency": "USD",
                             "is_manual": False}]).astype(object)
        t = time.perf_counter()
        with write_batch(wh, action="bench", target="gl_entries") as b:
            b.append("gl_entries", row)
            b.delete("gl_entries", "entry_id = 'BENCH-1'")
        return time.perf_counter() - t

    with wh.connect(read_only=True) as c:
        state = closed_state(c)
    from finlib.periods import parse_period

    open_load = small_load() if state.get(parse_period(month)) != "close" else float("nan")
    t = time.perf_counter()
    if state.get(parse_period(month)) != "close":
        close_period(wh, month, actor="bench")
    closing = time.perf_counter() - t
    guarded = small_load()
    reopen_period(wh, month, "bench", actor="bench")
    print(f"\nclose {month} (fingerprint every period-bearing table): {closing:.2f} s")
    print(f"one-row load into the next month: {open_load:.2f} s before the close, {guarded:.2f} s while "
          f"{month} is closed (the hook fingerprints the ledger rows of every closed period)")


if __name__ == "__main__":
    main()
