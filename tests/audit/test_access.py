"""The access and integration log: its own chain, ingest and delivery records, simple rules."""

from __future__ import annotations

import json

from finlib.audit.access import read, record_access, unusual_access
from finlib.audit.verify import verify
from finlib.cli import main
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse


def test_access_records_chain_and_tampering_is_named(any_db_url, capsys):
    wh = get_warehouse()
    init_db(wh)
    for _ in range(6):
        record_access(wh, "eve", "login", "/login", address="10.0.0.9", outcome="denied")
    record_access(wh, "ana", "open", "department.ipynb", address="10.0.0.7", parameters={"department": "Sales"})
    rows = read(wh)
    assert [r["seq"] for r in rows] == list(range(1, 8))
    assert rows[-1]["details"] == {"parameters": {"department": "Sales"}}
    assert [u["rule"] for u in unusual_access(rows)] == ["failed_login"]
    assert verify(wh).ok
    assert main(["audit", "access", "--user", "ana", "--json"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["target"] for r in out] == ["department.ipynb"]
    with wh.transaction() as conn:
        conn.execute("UPDATE access_log SET user_name = 'nobody' WHERE seq = 3")
    rep = verify(wh)
    assert not rep.ok and rep.first.seq == 3 and "access_log" in rep.first.message


def test_every_ingest_is_an_integration_record(duckdb_url, tmp_path):
    from finlib.ingest.loader import ingest_file

    wh = get_warehouse()
    init_db(wh)
    good = tmp_path / "departments.csv"
    good.write_text("department_id,name\nd1,Sales\nd2,Marketing\n")
    ingest_file(wh, "departments", good)
    bad = tmp_path / "bad.csv"
    bad.write_text("department_id,name\nd3,\n")
    try:
        ingest_file(wh, "departments", bad)
    except Exception:  # noqa: BLE001 - a rejected file is what is being recorded
        pass
    recs = read(wh, kind="integration")
    assert [(r["target"], r["outcome"]) for r in recs] == [("file:departments.csv", "ok"), ("file:bad.csv", "failed")]
    assert recs[0]["details"]["rows"] == 2 and recs[0]["details"]["bytes"] == good.stat().st_size
    assert recs[0]["details"]["duration_s"] >= 0


def test_access_control_records_share_the_chain_and_verify(any_db_url):
    from finlib.access.log import record_access as access_control_record

    wh = get_warehouse()
    init_db(wh)
    access_control_record(wh, "eve", "login", "/login", address="10.0.0.9", outcome="denied")
    record_access(wh, "ana", "open", "executive.ipynb")
    access_control_record(wh, "ana", "open-report", "executive/2026-10/r1")
    assert [r["seq"] for r in read(wh)] == [1, 2, 3]
    assert verify(wh).ok, verify(wh).problems
    with wh.transaction() as conn:
        conn.execute("DELETE FROM access_log WHERE seq = 2")
    rep = verify(wh)
    assert not rep.ok and rep.first.seq == 2
