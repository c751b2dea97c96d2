"""``finlib db status`` and the data fingerprint, on both backends."""

from __future__ import annotations

import json

import pytest

from finlib.errors import WarehouseError
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.status import fingerprint, warehouse_status


def _seed(wh):
    init_db(wh)
    with write_batch(wh, action="test", target="departments") as b:
        b.execute("INSERT INTO departments VALUES ('d1', 'Sales'), ('d2', 'Marketing')")
        b.execute("INSERT INTO accounts VALUES ('a1', 'Rev', 'revenue', 'subscription')")


def test_fingerprint_changes_whenever_any_row_changes_and_only_then(any_db_url):
    wh = get_warehouse()
    _seed(wh)
    fp0 = fingerprint(wh)
    assert fingerprint(wh) == fp0 and len(fp0) == 32
    with wh.transaction() as c:
        c.execute("UPDATE departments SET name = 'Sales ' WHERE department_id = 'd1'")
    fp1 = fingerprint(wh)
    assert fp1 != fp0
    with wh.transaction() as c:
        c.execute("UPDATE departments SET name = 'Sales' WHERE department_id = 'd1'")
    assert fingerprint(wh) == fp0  # content, not history
    dup = "INSERT INTO kpi_targets VALUES (DATE '2024-01-01', 'revenue', NULL, 1.0)"
    with wh.transaction() as c:
        c.execute(dup)
    fp2 = fingerprint(wh)
    if wh.backend == "postgresql":  # the natural key (NULL as a value) is a constraint there
        with pytest.raises(WarehouseError, match="unique"), wh.transaction() as c:
            c.execute(dup)
        with wh.transaction() as c:
            c.execute("INSERT INTO kpi_targets VALUES (DATE '2024-01-01', 'revenue', 'SMB', 1.0)")
    else:  # DuckDB: the loader enforces it; a duplicate row written directly still counts
        with wh.transaction() as c:
            c.execute(dup)
    assert len({fp0, fp2, fingerprint(wh)}) == 3
    with wh.transaction() as c:  # system tables are not data
        c.execute("INSERT INTO runs (run_id, job, status, started_at) VALUES ('r', 'j', 'ok', TIMESTAMP '2024-01-01 00:00:00')")
    assert len({fp0, fp2, fingerprint(wh)}) == 3


@pytest.mark.parametrize("change", [
    "UPDATE gl_entries SET amount = amount + 0.01 WHERE entry_id = 'e1'",          # a cent
    "UPDATE gl_entries SET amount = -amount WHERE entry_id = 'e1'",               # a sign
    "UPDATE gl_entries SET approved_by = 'cfo' WHERE entry_id = 'e1'",           # NULL -> value
    "UPDATE gl_entries SET vendor = NULL WHERE entry_id = 'e1'",                  # value -> NULL
    "UPDATE gl_entries SET posted_at = posted_at + INTERVAL '1 second' WHERE entry_id = 'e1'",
    "UPDATE gl_entries SET period = DATE '2024-02-01' WHERE entry_id = 'e1'",
    "UPDATE gl_entries SET is_manual = TRUE WHERE entry_id = 'e1'",
    "UPDATE gl_entries SET memo = 'b', vendor = 'a' WHERE entry_id = 'e1'",       # swapped values
    "DELETE FROM gl_entries WHERE entry_id = 'e2'",
])
def test_fingerprint_sees_a_one_cent_null_or_timestamp_change(any_db_url, change):
    wh = get_warehouse()
    _seed(wh)
    with write_batch(wh, action="test", target="gl_entries") as b:
        for eid in ("e1", "e2"):
            b.execute("INSERT INTO gl_entries (entry_id, posted_at, period, account_id, department_id, "
                      "amount, currency, vendor, memo, is_manual) VALUES (:e, TIMESTAMP '2024-01-15 10:00:00', "
                      "DATE '2024-01-01', 'a1', 'd1', 100.00, 'USD', 'b', 'a', FALSE)", {"e": eid})
    before = fingerprint(wh)
    with wh.transaction() as c:  # a change made outside finlib's write path
        c.execute(change)
    assert fingerprint(wh) != before


def test_status_lists_tables_counts_last_ingest_and_fingerprint(any_db_url, tmp_path):
    from finlib.ingest.loader import ingest_file

    wh = get_warehouse()
    _seed(wh)
    p = tmp_path / "d.csv"
    p.write_text("department_id,name\nd3,Product\n")
    ingest_file(wh, "departments", p, user="ana")
    st = warehouse_status(wh)
    rows = {t["table"]: t["rows"] for t in st["tables"]}
    assert rows["departments"] == 3 and rows["accounts"] == 1 and rows["ingest_batches"] == 1
    assert st["last_ingest"]["file"] == "d.csv" and st["last_ingest"]["outcome"] == "accepted"
    assert st["last_ingest"]["user"] == "ana"
    assert st["fingerprint"] == fingerprint(wh)


def test_status_cli_json_and_missing_warehouse_message(duckdb_url, capsys, tmp_path, monkeypatch):
    from finlib.cli import main

    assert main(["db", "status"]) == 1
    err = capsys.readouterr().err
    assert "No warehouse at" in err and "finlib db init" in err and "Traceback" not in err
    _seed(get_warehouse())
    assert main(["db", "status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["backend"] == "duckdb" and st["last_ingest"] is None
    assert {"table": "departments", "rows": 2, "system": False} in st["tables"]
    assert main(["db", "status"]) == 0
    out = capsys.readouterr().out
    assert "fingerprint" in out and st["fingerprint"] in out


def test_status_on_an_empty_database_says_to_init(any_db_url):
    wh = get_warehouse()
    if wh.backend == "duckdb":
        with wh.transaction() as c:
            c.execute("SELECT 1")
    with pytest.raises(WarehouseError, match="not initialised.*finlib db init"):
        warehouse_status(wh)


def test_status_of_a_demo_warehouse_names_the_demo_and_the_ledger_window(duckdb_url, capsys):
    from finlib.cli import main
    from finlib.demo import generate

    generate(get_warehouse(), "small", 3, "2024-06")
    st = warehouse_status(get_warehouse())
    assert st["ledger_periods"] == {"first": "2021-07-01", "last": "2024-06-01"}
    assert (st["demo"]["scale"], st["demo"]["seed"], st["demo"]["last_closed_month"]) == ("small", 3, "2024-06-01")
    assert main(["db", "status"]) == 0
    out = capsys.readouterr().out
    assert "ledger      2021-07 .. 2024-06" in out and "scale small, seed 3" in out
    assert "last ingest none (no file loaded" in out
