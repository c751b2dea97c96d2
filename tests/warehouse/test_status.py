"""``finlib db status`` and the data fingerprint, on both backends."""

from __future__ import annotations

import json

import pytest

from finlib.errors import WarehouseError
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.init import init_db
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
    with wh.transaction() as c:  # a duplicate row in a table without a key still counts
        c.execute("INSERT INTO kpi_targets VALUES (DATE '2024-01-01', 'revenue', NULL, 1.0)")
    fp2 = fingerprint(wh)
    with wh.transaction() as c:
        c.execute("INSERT INTO kpi_targets VALUES (DATE '2024-01-01', 'revenue', NULL, 1.0)")
    assert len({fp0, fp2, fingerprint(wh)}) == 3
    with wh.transaction() as c:  # system tables are not data
        c.execute("INSERT INTO runs (run_id, job, status, started_at) VALUES ('r', 'j', 'ok', TIMESTAMP '2024-01-01 00:00:00')")
    assert len({fp0, fp2, fingerprint(wh)}) == 3


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
    assert "No warehouse at" in capsys.readouterr().err and "finlib db init" in capsys.readouterr().err + "finlib db init"
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
