"""Alert history: stable ids, no duplicates, resolve on correction, acknowledge."""

from __future__ import annotations

import json

import pytest

from finlib.alerts import acknowledge, check, list_alerts
from finlib.alerts.store import alert_id, canonical_entity
from finlib.errors import AlertError
from finlib.warehouse.load import write_batch
from tests.alerts.conftest import base_dims, d, put, write_config


def feature_overruns(wh):
    base_dims(wh)
    put(wh, "products", [{"product_id": "p1"}])
    put(wh, "features", [{"feature_id": f, "budget": 100} for f in ("f1", "f2", "f3")])
    put(wh, "dev_costs", [{"feature_id": f, "period": d("2024-05-01"), "cost": c}
                          for f, c in [("f1", 200), ("f2", 300), ("f3", 50)]])


def config(tmp_path, **rules):
    return write_config(tmp_path, rules={"product_development": {"severity": "critical"}, **rules},
                        channels={"log": {"type": "jsonl", "path": str(tmp_path / "a.jsonl")}})


def lines(tmp_path):
    p = tmp_path / "a.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def test_alert_id_is_a_hash_of_rule_entity_and_period():
    e1 = alert_id("campaign_roi", {"campaign_id": 7}, d("2024-05-01"))
    assert e1 == alert_id("campaign_roi", {"campaign_id": "7"}, d("2024-05-01"))
    assert len(e1) == 16 and int(e1, 16) >= 0
    assert e1 != alert_id("campaign_roi", {"campaign_id": "7"}, d("2024-06-01"))
    assert e1 != alert_id("cac", {"campaign_id": "7"}, d("2024-05-01"))
    assert canonical_entity({"b": 1, "a": "x"}) == '{"a":"x","b":"1"}'


def test_rerunning_a_check_neither_duplicates_alerts_nor_delivers_twice(wh, tmp_path):
    feature_overruns(wh)
    cfg = config(tmp_path)
    first = check(wh, "2024-05", config=cfg)
    assert [(a["entity"]["feature_id"], a["state"], a["new"]) for a in first] == [
        ("f1", "open", True), ("f2", "open", True)]
    a = first[0]
    assert a["period"] == "2024-05-01" and a["severity"] == "critical"
    assert a["value"] == 200 and a["threshold"] == 125
    assert a["deliveries"]["log"]["delivered_at"] is not None
    assert a["report_link"] is None
    second = check(wh, "2024-05", config=cfg)
    assert [x["id"] for x in second] == [x["id"] for x in first]
    assert not any(x["new"] for x in second)
    assert len(list_alerts(wh)) == 2
    assert len(lines(tmp_path)) == 2  # delivered once
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM alert_deliveries") == 2


def test_an_alert_that_stops_firing_is_resolved_and_reopens_without_redelivery(wh, tmp_path):
    feature_overruns(wh)
    cfg = config(tmp_path)
    [f1, f2] = check(wh, "2024-05", config=cfg)
    with write_batch(wh, action="test", target="dev_costs") as b:  # a correction
        b.update("dev_costs", "cost = 100", "feature_id = 'f1'")
    after = check(wh, "2024-05", config=cfg)
    assert [a["id"] for a in after] == [f2["id"]]
    states = {a["id"]: a["state"] for a in list_alerts(wh)}
    assert states == {f1["id"]: "resolved", f2["id"]: "open"}
    assert [a["id"] for a in list_alerts(wh, state="resolved")] == [f1["id"]]
    with write_batch(wh, action="test", target="dev_costs") as b:
        b.update("dev_costs", "cost = 500", "feature_id = 'f1'")
    again = check(wh, "2024-05", config=cfg)
    reopened = next(a for a in again if a["id"] == f1["id"])
    assert reopened["state"] == "open" and reopened["value"] == 500
    assert len(lines(tmp_path)) == 2  # never sent twice


def test_checking_another_period_leaves_this_periods_alerts_alone(wh, tmp_path):
    feature_overruns(wh)
    cfg = config(tmp_path)
    check(wh, "2024-05", config=cfg)
    june = check(wh, "2024-06", config=cfg)  # cost to date still overruns in June
    assert {a["period"] for a in june} == {"2024-06-01"}
    assert {a["state"] for a in list_alerts(wh, period="2024-05")} == {"open"}
    assert len(list_alerts(wh)) == 4


def test_acknowledge_records_who_and_survives_rechecks(wh, tmp_path):
    feature_overruns(wh)
    cfg = config(tmp_path)
    [f1, _] = check(wh, "2024-05", config=cfg)
    acked = acknowledge(wh, f1["id"][:8], "ana")  # a unique prefix is enough
    assert acked["id"] == f1["id"] and acked["state"] == "acknowledged"
    assert acked["acknowledged_by"] == "ana" and acked["acknowledged_at"]
    assert acknowledge(wh, f1["id"], "bob")["acknowledged_by"] == "ana"  # idempotent
    again = check(wh, "2024-05", config=cfg)
    assert {a["id"]: a["state"] for a in again}[f1["id"]] == "acknowledged"
    assert [a["id"] for a in list_alerts(wh, state="acknowledged")] == [f1["id"]]
    with pytest.raises(AlertError, match="no alert with id"):
        acknowledge(wh, "doesnotexist", "ana")


def test_a_resolved_alert_cannot_be_acknowledged(duck, tmp_path):
    feature_overruns(duck)
    cfg = config(tmp_path)
    [f1, _] = check(duck, "2024-05", config=cfg)
    with write_batch(duck, action="test", target="dev_costs") as b:
        b.delete("dev_costs", "feature_id = 'f1'")
    check(duck, "2024-05", config=cfg)
    with pytest.raises(AlertError, match="resolved"):
        acknowledge(duck, f1["id"], "ana")


def test_disabled_rules_are_not_evaluated_and_keep_their_alerts(duck, tmp_path):
    feature_overruns(duck)
    check(duck, "2024-05", config=config(tmp_path))
    out = check(duck, "2024-05", config=config(tmp_path, product_development={"enabled": False}))
    assert out == []
    assert {a["state"] for a in list_alerts(duck)} == {"open"}


def test_report_link_and_data_issue_severity_come_from_the_config(duck, tmp_path):
    feature_overruns(duck)
    put(duck, "budgets", [{"period": d("2024-05-01"), "department_id": "d1", "account_id": "a1",
                           "amount": 0}])
    put(duck, "gl_entries", [{"period": d("2024-05-01"), "department_id": "d1",
                              "account_id": "a1", "amount": 5}])
    cfg = write_config(tmp_path, report_base="https://reports.example/",
                       rules={"product_development": {
                           "link": "{base}/product/{month}#feature-{feature_id}"}},
                       channels={})
    out = {}
    for a in check(duck, "2024-05", config=cfg):
        out.setdefault(a["rule"], a)
    assert out["product_development"]["report_link"] == \
        "https://reports.example/product/2024-05#feature-f1"
    assert out["budget_variance"]["severity"] == "info"  # zero budget: a data issue
    assert out["budget_variance"]["value"] is None


def test_check_needs_the_system_tables(duckdb_url, tmp_path):
    from finlib.warehouse.db import get_warehouse

    wh = get_warehouse()
    with wh.transaction() as conn:
        conn.execute("CREATE TABLE x (i INTEGER)")
    with pytest.raises(AlertError, match="finlib db init"):
        check(wh, "2024-05", config=config(tmp_path))
