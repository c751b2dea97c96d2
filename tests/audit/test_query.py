"""Reading the trail: `audit log` filters, the auditor's export, deliveries in the integration log."""

from __future__ import annotations

import csv
import hashlib
import json

from finlib.audit.access import read
from finlib.cli import main
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch


def _seed(wh):
    init_db(wh)
    with write_batch(wh, action="ingest", target="departments", actor="ana") as b:
        b.execute("INSERT INTO departments VALUES ('d1', 'Sales')")
    with write_batch(wh, action="alert", target="alerts", actor="bob"):
        pass


def test_log_filters_by_actor_action_and_table(duckdb_url, capsys):
    wh = get_warehouse()
    _seed(wh)
    assert main(["audit", "log", "--actor", "ana", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["actor"], r["action"]) for r in rows] == [("ana", "ingest")]
    assert rows[0]["digests"]["departments"]["written"][0] == 1
    assert main(["audit", "log", "--table", "departments", "--json"]) == 0
    assert [json.loads(line)["actor"] for line in capsys.readouterr().out.splitlines()] == ["ana"]
    assert main(["audit", "log", "--action", "alert", "--since", "2000-01-01", "--json"]) == 0
    assert [json.loads(line)["actor"] for line in capsys.readouterr().out.splitlines()] == ["bob"]
    assert main(["audit", "log", "--since", "2999-01-01", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_export_writes_jsonl_csv_and_a_verification_summary(duckdb_url, tmp_path):
    wh = get_warehouse()
    _seed(wh)
    out = tmp_path / "export"
    assert main(["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31", "--out", str(out)]) == 0
    summary = json.loads((out / "verification.json").read_text())
    lines = (out / "audit_log.jsonl").read_text().splitlines()
    with open(out / "audit_log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert summary["verification"]["ok"] is True and summary["entries"] == len(lines) == len(rows) >= 3
    assert [json.loads(x)["seq"] for x in lines] == [int(r["seq"]) for r in rows] == list(range(1, len(rows) + 1))
    for name in ("audit_log.jsonl", "audit_log.csv"):
        assert summary["files"][name] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    # the export itself is an access: who took which entries where
    (rec,) = [r for r in read(wh, kind="access") if r["action"] == "export"]
    assert rec["target"] == "audit_log" and rec["outcome"] == "ok"
    assert rec["details"]["entries"] == len(lines) and rec["details"]["out"] == str(out)


def test_every_delivery_is_an_integration_record(duckdb_url, tmp_path):
    from finlib.alerts.channels import JsonlConfig, make_channel

    wh = get_warehouse()
    init_db(wh)
    ok = make_channel("log", JsonlConfig(path=str(tmp_path / "alerts.jsonl")))
    assert ok.send([{"id": "a1"}, {"id": "a2"}]) == {"a1": None, "a2": None}
    (tmp_path / "blocked").mkdir()
    bad = make_channel("broken", JsonlConfig(path=str(tmp_path / "blocked")))  # a directory: cannot append
    assert bad.send([{"id": "a3"}])["a3"]
    recs = read(wh, kind="integration")
    assert [(r["target"], r["action"], r["outcome"], r["details"]["rows"]) for r in recs] == [
        ("jsonl:log", "deliver", "ok", 2), ("jsonl:broken", "deliver", "failed", 1)]
    assert "cannot write" in recs[1]["details"]["error"] and recs[0]["details"]["duration_s"] >= 0
