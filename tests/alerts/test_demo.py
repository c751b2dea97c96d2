"""On the demo data, every planted breach fires and no planted near miss does.

The demo generator (``finlib.demo.generate`` / ``load_truth``) is built in parallel with
the alerts; until it exists this test is skipped, and it runs as soon as it does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from finlib.alerts import check
from finlib.alerts.config import load_config
from finlib.alerts.store import canonical_entity
from finlib.periods import parse_period

ROOT = Path(__file__).resolve().parents[2]


def _key(item) -> tuple[str, str, str]:
    """(rule, period as YYYY-MM-DD, canonical entity): ids compare as strings."""
    period = parse_period(str(item["period"])[:10]).isoformat()
    return item["rule"], period, canonical_entity(item.get("entity") or {})


def test_planted_breaches_fire_and_near_misses_do_not(duckdb_url):
    demo = pytest.importorskip("finlib.demo")
    if not hasattr(demo, "generate") or not hasattr(demo, "load_truth"):
        pytest.skip("finlib.demo.generate is not written yet")
    from finlib.warehouse.create import init_db
    from finlib.warehouse.db import get_warehouse

    wh = get_warehouse()
    demo.generate(wh, "small", 42)
    init_db(wh)  # idempotent: makes sure the system tables exist
    truth = demo.load_truth(wh)["alerts"]
    breaches, near = truth["breaches"], truth["near_misses"]
    assert breaches, "the demo plants no breach"
    cfg = dataclasses.replace(load_config(ROOT / "parameters" / "alerts.yaml"), channels={})
    fired: set[tuple[str, str, str]] = set()
    for period in sorted({_key(x)[1] for x in breaches + near}):
        fired |= {_key(a) for a in check(wh, period, deliver=False, config=cfg)}
    missed = [b for b in breaches if _key(b) not in fired]
    false_alarms = [n for n in near if _key(n) in fired]
    assert not missed, f"planted breaches that did not fire: {missed}"
    assert not false_alarms, f"planted near misses that fired: {false_alarms}"


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """The small demo company (last closed month 2026-10) in a DuckDB file of its own."""
    from finlib.demo import generate, load_truth
    from finlib.warehouse.create import init_db
    from finlib.warehouse.db import get_warehouse

    wh = get_warehouse(f"duckdb://{tmp_path_factory.mktemp('demo') / 'warehouse.duckdb'}")
    generate(wh, "small", 42, end="2026-10")
    init_db(wh)
    return wh, load_truth(wh)


def test_unbudgeted_spend_fires_on_the_demo_eur_rent_in_g_and_a(small_demo):
    """G&A pays its Berlin rent in EUR on an account of its own with no budget line."""
    from datetime import date
    from decimal import Decimal

    from finlib.alerts import evaluate

    wh, truth = small_demo
    p = date.fromisoformat(truth["last_closed_month"])
    rent = {"department_id": "D50", "account_id": "6510"}
    assert {"currency": "EUR", **rent} in truth["conventions"]["foreign_currency_lines"]
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT COUNT(*) FROM budgets WHERE department_id = 'D50' "
                           "AND account_id = '6510'") == 0
        eur = conn.query("SELECT CAST(amount AS VARCHAR) FROM gl_entries WHERE department_id = 'D50' "
                         "AND account_id = '6510' AND period = :p", {"p": p})
        rate = conn.scalar("SELECT CAST(rate_to_reporting AS VARCHAR) FROM fx_rates WHERE currency = 'EUR' "
                           "AND rate_date = (SELECT MAX(rate_date) FROM fx_rates WHERE currency = 'EUR' "
                           "AND rate_date <= :p)", {"p": p})
    usd = sum(Decimal(a) for (a,) in eur) * Decimal(rate)  # by hand: EUR × the period's rate
    assert usd > 1000
    got = {(a["entity"]["department_id"], a["entity"]["account_id"]): a
           for a in evaluate(wh, p, rules=["budget_variance"])}
    hit = got[("D50", "6510")]
    assert "no budget" in hit["message"] and hit["details"]["unbudgeted"] is True
    assert hit["value"] == pytest.approx(float(usd), abs=1e-6) and hit["threshold"] == 1000.0
    assert hit["severity"] == "warning" and not hit["data_issue"]
    # under the floor: raised above the line's amount, the line no longer fires
    quiet = evaluate(wh, p, rules=["budget_variance"],
                     overrides={"budget_variance": {"min_amount": float(usd) + 1}})
    assert ("D50", "6510") not in {(a["entity"]["department_id"], a["entity"]["account_id"]) for a in quiet}


def test_alerts_and_metrics_give_the_same_variance_roi_and_cac_for_the_last_closed_month(small_demo):
    """One definition of each figure: what the alert rules compare is what the dashboards show
    (finlib.metrics.kpis.period_metrics), line for line."""
    from datetime import date

    from finlib.alerts import evaluate
    from finlib.metrics.kpis import period_metrics
    from finlib.metrics.monitoring import cost_variance

    wh, truth = small_demo
    p = date.fromisoformat(truth["last_closed_month"])
    m = period_metrics(wh, p)
    # budget variance: with a zero tolerance every line off its budget fires
    bva = m["budget_vs_actual"]
    cv = cost_variance(bva[bva["period"] == str(p)].astype({"department_id": str, "account_id": str}),
                       by=("department_id", "account_id"), account_types=None).set_index(
        ["department_id", "account_id"])
    alerts = evaluate(wh, p, rules=["budget_variance"], overrides={"budget_variance": {"threshold": 0.0}})
    budgeted = [a for a in alerts if a["details"]["budget"] is not None]
    assert len(budgeted) > 10
    for a in budgeted:
        line = cv.loc[(a["entity"]["department_id"], a["entity"]["account_id"])]
        assert a["details"]["actual"] == pytest.approx(line["actual"], abs=1e-9)
        assert a["details"]["budget"] == pytest.approx(line["budget"], abs=1e-9)
        assert a["details"]["variance_pct"] == pytest.approx(line["variance_pct"], abs=1e-12)
        assert a["value"] == pytest.approx(abs(line["variance_pct"]), abs=1e-12)
    # campaign ROI: with an unreachable minimum every campaign with spend fires
    camps = m["campaigns"].set_index("campaign_id")
    alerts = evaluate(wh, p, rules=["campaign_roi"], overrides={"campaign_roi": {"threshold": 1e9}})
    assert len(alerts) == int((camps["spend"] > 0).sum()) > 3
    for a in alerts:
        c = camps.loc[a["entity"]["campaign_id"]]
        assert a["value"] == pytest.approx(c["roi"], abs=1e-12)
        assert a["details"]["new_arr"] == pytest.approx(c["new_arr"], abs=1e-9)
    # CAC: the planted blended and channel breaches carry the dashboards' CAC
    cac = {a["entity"].get("channel", "blended"): a for a in evaluate(wh, p, rules=["cac"])}
    assert cac["blended"]["value"] == pytest.approx(m["headline"]["cac"], abs=0.005)
    assert cac["blended"]["details"]["new_customers"] == m["headline"]["new_customers"]
    by_channel = m["cac_by_channel"].set_index("channel")
    channels = [k for k in cac if k != "blended"]
    assert channels
    for ch in channels:
        assert cac[ch]["value"] == pytest.approx(by_channel.loc[ch, "cac"], abs=1e-9)
        assert cac[ch]["details"]["new_customers"] == by_channel.loc[ch, "new_customers"]
