"""``finlib.alerts.evaluate``: the read-only twin of ``check`` (nothing stored or sent).

Hand-computed fixture (``feature_overruns``): features f1, f2, f3 with budget 100 each and
dev costs to 2024-05 of 200, 300 and 50. ``product_development`` fires when cost >
(1 + 0.25) × 100 = 125: f1 (200) and f2 (300), not f3 (50). A budget line of zero with an
actual of 40 is a ``budget_variance`` data issue.
"""

from __future__ import annotations

import pytest

from finlib.alerts import acknowledge, check, evaluate, list_alerts, rule_settings
from finlib.alerts.store import alert_id
from finlib.errors import AlertError, WarehouseError
from finlib.warehouse.load import write_batch
from finlib.warehouse.status import fingerprint
from tests.alerts.conftest import d, put
from tests.alerts.test_store import config, feature_overruns, lines

SYSTEM = ("alerts", "alert_deliveries", "audit_log")


def counts(wh) -> dict[str, int]:
    with wh.connect(read_only=True) as conn:
        return {t: int(conn.scalar(f"SELECT count(*) FROM {t}")) for t in SYSTEM}


def with_zero_budget(wh):
    feature_overruns(wh)  # departments d1 (Sales), accounts a1 (opex)
    put(wh, "budgets", [{"period": d("2024-05-01"), "department_id": "d1", "account_id": "a1",
                         "amount": 0}])
    put(wh, "gl_entries", [{"period": d("2024-05-01"), "department_id": "d1", "account_id": "a1",
                            "amount": 40}])


def test_evaluate_stores_and_sends_nothing_and_gives_the_stable_ids(wh, tmp_path):
    with_zero_budget(wh)
    cfg = config(tmp_path)
    before, fp = counts(wh), fingerprint(wh)
    got = evaluate(wh, "2024-05", config=cfg)
    assert counts(wh) == before and fingerprint(wh) == fp
    assert lines(tmp_path) == []  # the jsonl channel was not used
    assert [(a["rule"], a["entity"], a["state"], a["new"], a["data_issue"]) for a in got] == [
        ("budget_variance", {"department_id": "d1", "account_id": "a1"}, "new", True, True),
        ("product_development", {"feature_id": "f1"}, "new", True, False),
        ("product_development", {"feature_id": "f2"}, "new", True, False)]
    f1 = got[1]
    assert f1["id"] == alert_id("product_development", {"feature_id": "f1"}, d("2024-05-01"))
    assert f1["value"] == 200 and f1["threshold"] == 125 and f1["severity"] == "critical"
    assert f1["period"] == "2024-05-01" and f1["first_seen"] is None and f1["deliveries"] == {}
    assert got[0]["value"] is None and got[0]["severity"] == "info"  # data issue severity


def test_evaluate_matches_check_item_for_item(wh, tmp_path):
    with_zero_budget(wh)
    cfg = config(tmp_path)
    preview = evaluate(wh, "2024-05", config=cfg)
    first = check(wh, "2024-05", config=cfg)
    assert [a["id"] for a in preview] == [a["id"] for a in first]
    assert {a["id"]: a["data_issue"] for a in preview} == {a["id"]: a["data_issue"] for a in first}
    second = check(wh, "2024-05", config=cfg)
    before = counts(wh)
    again = evaluate(wh, "2024-05", config=cfg)
    assert again == second  # same keys, figures, states, timestamps and deliveries
    assert counts(wh) == before
    assert set(preview[0]) == set(first[0])


def test_evaluate_reports_stored_states(wh, tmp_path):
    feature_overruns(wh)
    cfg = config(tmp_path)
    f1, f2 = check(wh, "2024-05", config=cfg)
    acknowledge(wh, f1["id"], user="ana")
    with write_batch(wh, action="test", target="dev_costs") as b:  # f2 stops firing
        b.update("dev_costs", "cost = 100", "feature_id = 'f2'")
    check(wh, "2024-05", config=cfg)
    assert {a["id"]: a["state"] for a in list_alerts(wh)}[f2["id"]] == "resolved"
    with write_batch(wh, action="test", target="dev_costs") as b:  # and fires again
        b.update("dev_costs", "cost = 400", "feature_id = 'f2'")
    got = {a["id"]: a for a in evaluate(wh, "2024-05", config=cfg)}
    assert got[f1["id"]]["state"] == "acknowledged" and got[f1["id"]]["acknowledged_by"] == "ana"
    assert got[f2["id"]]["state"] == "open" and got[f2["id"]]["value"] == 400  # check re-opens
    assert not got[f2["id"]]["new"]
    # still resolved in the store: evaluate changed nothing
    assert {a["id"]: a["state"] for a in list_alerts(wh)}[f2["id"]] == "resolved"


def test_evaluate_works_on_a_read_only_duckdb_connection(duck, tmp_path):
    feature_overruns(duck)
    cfg = config(tmp_path)
    fp = fingerprint(duck)
    with duck.connect(read_only=True) as conn:
        got = evaluate(conn, "2024-05", config=cfg)
        with pytest.raises(WarehouseError, match="read-only"):  # really a read-only connection
            conn.execute("DELETE FROM alerts")
    assert [a["entity"]["feature_id"] for a in got] == ["f1", "f2"]
    assert fingerprint(duck) == fp and counts(duck)["alerts"] == 0


def test_overrides_and_rule_selection(wh, tmp_path):
    with_zero_budget(wh)
    cfg = config(tmp_path)
    # threshold 1.5: alert above (1 + 1.5) x 100 = 250, so only f2 (300)
    got = evaluate(wh, "2024-05", rules=["product_development"],
                   overrides={"product_development": {"threshold": 1.5}}, config=cfg)
    assert [(a["entity"], a["threshold"]) for a in got] == [({"feature_id": "f2"}, 250.0)]
    # the stable id does not depend on the threshold
    assert got[0]["id"] == alert_id("product_development", {"feature_id": "f2"}, d("2024-05-01"))
    assert [a["rule"] for a in evaluate(wh, "2024-05", rules="budget_variance", config=cfg)] == [
        "budget_variance"]
    # a rule disabled in the file runs only when the override enables it
    off = config(tmp_path, budget_variance={"enabled": False})
    assert {a["rule"] for a in evaluate(wh, "2024-05", config=off)} == {"product_development"}
    on = evaluate(wh, "2024-05", rules=["budget_variance"],
                  overrides={"budget_variance": {"enabled": True}}, config=off)
    assert [a["rule"] for a in on] == ["budget_variance"]
    with pytest.raises(AlertError, match="unknown alert rule"):
        evaluate(wh, "2024-05", rules=["nps_drop"], config=cfg)
    with pytest.raises(AlertError, match="treshold"):
        evaluate(wh, "2024-05", overrides={"cac": {"treshold": 0.3}}, config=cfg)
    with pytest.raises(AlertError, match="threshold"):
        evaluate(wh, "2024-05", overrides={"cac": {"threshold": -1}}, config=cfg)


def test_rule_settings_reads_the_configured_thresholds(tmp_path):
    s = rule_settings(config(tmp_path, budget_variance={"threshold": 0.12}))
    assert s["budget_variance"]["threshold"] == 0.12 and s["product_development"]["severity"] == "critical"
    assert s["cac"]["threshold"] == 0.20 and s["cac"]["enabled"] is True
