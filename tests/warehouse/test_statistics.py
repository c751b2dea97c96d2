"""Every load leaves PostgreSQL's planner statistics describing what it loaded.

On a real PostgreSQL server with autovacuum disabled on every table (so only the loader
can have analyzed them): after ``finlib ingest`` and after ``finlib demo-data``,
``pg_stat_user_tables.last_analyze`` is later than the load's start, and the statistics
(``pg_class.reltuples``, ``pg_stats``) describe the rows just committed, not the table's
previous contents.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import CANONICAL_TABLES, TABLES
from tests.ingest.conftest import gl_csv, seed

ROOT = Path(__file__).resolve().parents[2]


def _pg(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)


def _autovacuum_off(url: str) -> None:
    """Only the loader may analyze from here on (per table: autovacuum is not per database)."""
    with _pg(url) as c:
        for t in TABLES:
            c.execute(f"ALTER TABLE {t} SET (autovacuum_enabled = false)")


def _server_now(url: str):
    with _pg(url) as c:
        return c.execute("SELECT clock_timestamp()").fetchone()[0]


def _analyzed(url: str, tables: list[str], after, timeout: float = 10.0) -> dict[str, tuple]:
    """``{table: (last_analyze, last_autoanalyze, reltuples)}``, polled until every table's
    ``last_analyze`` is later than ``after`` or ``timeout`` passes (the statistics views are
    updated asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        with _pg(url) as c:
            c.execute("SELECT pg_stat_clear_snapshot()")
            rows = c.execute(
                "SELECT s.relname, s.last_analyze, s.last_autoanalyze, c.reltuples FROM pg_stat_user_tables s "
                "JOIN pg_class c ON c.oid = s.relid WHERE s.relname = ANY(%s)", (tables,)).fetchall()
        got = {r[0]: r[1:] for r in rows}
        if all(got.get(t, (None,))[0] is not None and got[t][0] > after for t in tables):
            return got
        if time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def _finlib(*args: str) -> subprocess.CompletedProcess:
    """The real command line, in a fresh process (FINLIB_DB_URL comes from the fixture)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "finlib", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _period_stats(url: str) -> str | None:
    with _pg(url) as c:
        row = c.execute("SELECT most_common_vals::text FROM pg_stats "
                        "WHERE tablename = 'gl_entries' AND attname = 'period'").fetchone()
    return row[0] if row else None


@pytest.mark.postgres
def test_ingest_analyzes_the_loaded_table_before_reporting_success(postgres_url, tmp_path):
    seed(get_warehouse())
    _autovacuum_off(postgres_url)
    first = tmp_path / "gl_january.csv"
    first.write_text(gl_csv(200, period="2024-01-01"))

    started = _server_now(postgres_url)
    done = _finlib("ingest", "gl_entries", str(first))
    assert done.returncode == 0, done.stderr
    last_analyze, last_autoanalyze, reltuples = _analyzed(postgres_url, ["gl_entries"], started)["gl_entries"]
    assert last_analyze is not None and last_analyze > started
    assert last_autoanalyze is None
    assert reltuples == 200  # the rows of the load, counted inside its own transaction
    assert _period_stats(postgres_url) == "{2024-01-01}"

    # a replace leaves statistics of the new contents, not of the rows it removed
    second = tmp_path / "gl_february.csv"
    second.write_text(gl_csv(50, start=1000, period="2024-02-01"))
    replaced_at = _server_now(postgres_url)
    done = _finlib("ingest", "gl_entries", str(second), "--replace", "all")
    assert done.returncode == 0, done.stderr
    last_analyze, last_autoanalyze, reltuples = _analyzed(postgres_url, ["gl_entries"], replaced_at)["gl_entries"]
    assert last_analyze > replaced_at
    assert last_autoanalyze is None
    assert reltuples == 50
    assert _period_stats(postgres_url) == "{2024-02-01}"


@pytest.mark.postgres
def test_a_rejected_file_leaves_the_statistics_alone(postgres_url, tmp_path):
    seed(get_warehouse())
    _autovacuum_off(postgres_url)
    bad = tmp_path / "gl_bad.csv"
    bad.write_text(gl_csv(20, amount="twelve"))
    started = _server_now(postgres_url)
    done = _finlib("ingest", "gl_entries", str(bad))
    assert done.returncode == 3, done.stderr
    last_analyze, _, _ = _analyzed(postgres_url, ["gl_entries"], started, timeout=1.0)["gl_entries"]
    assert last_analyze is None or last_analyze < started


@pytest.mark.postgres
def test_demo_build_analyzes_every_table_it_filled(postgres_url):
    assert _finlib("db", "init").returncode == 0
    _autovacuum_off(postgres_url)
    started = _server_now(postgres_url)
    done = _finlib("demo-data", "--scale", "small", "--seed", "42", "--end", "2026-10", "--quiet")
    assert done.returncode == 0, done.stderr
    with _pg(postgres_url) as c:
        counts = {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in CANONICAL_TABLES}
    filled = sorted(t for t, n in counts.items() if n)
    assert {"gl_entries", "subscriptions", "customers", "feature_usage", "health_scores"} <= set(filled)
    stats = _analyzed(postgres_url, filled, started)
    for t in filled:
        last_analyze, last_autoanalyze, reltuples = stats[t]
        assert last_analyze is not None and last_analyze > started, t
        assert last_autoanalyze is None, t
        # ANALYZE counts small tables exactly and estimates large ones from its sample
        assert abs(reltuples - counts[t]) <= 0.05 * counts[t], (t, reltuples, counts[t])


@pytest.mark.postgres
def test_canonical_tables_are_always_analyzed_busy_system_tables_only_on_a_large_change(postgres_url):
    wh = get_warehouse()
    init_db(wh)
    _autovacuum_off(postgres_url)
    meta = [{"key": f"k{i}", "value": "{}", "updated_at": "2026-01-01 00:00:00"} for i in range(100)]
    import pandas as pd

    with write_batch(wh, action="test", target="warehouse_meta") as b:
        b.append("warehouse_meta", pd.DataFrame(meta))
    assert b.analyzed == ["warehouse_meta"]  # never analyzed before: its first load is
    with write_batch(wh, action="test", target="two tables") as b:
        b.execute("INSERT INTO warehouse_meta (key, value, updated_at) VALUES ('one', '{}', TIMESTAMP '2026-01-02')")
        b.execute("INSERT INTO fx_rates (rate_date, currency, rate_to_reporting) VALUES (DATE '2026-01-01', 'EUR', 1.1)")
    assert b.tables_changed == ["fx_rates", "warehouse_meta"]
    assert b.analyzed == ["fx_rates"]  # one row of a table of a hundred is not worth it; data always is
    with write_batch(wh, action="test", target="warehouse_meta") as b:
        b.delete("warehouse_meta", "key LIKE 'k1%'")  # k1, k10..k19: 11 of 101 rows
    assert b.analyzed == ["warehouse_meta"]


def test_duckdb_batches_record_what_they_changed_and_analyze_nothing(duckdb_url):
    wh = get_warehouse()
    init_db(wh)
    with write_batch(wh, action="test", target="fx_rates") as b:
        b.execute("INSERT INTO fx_rates VALUES (DATE '2026-01-01', 'EUR', 1.1)")
    assert b.tables_changed == ["fx_rates"]
    assert b.analyzed == []
