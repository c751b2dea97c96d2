"""A tiny, hand-computable warehouse (every figure in the tests is worked out by hand in
tests/metrics/FIXTURE.md style comments below) loaded into a real DuckDB file or a real
PostgreSQL database.

Customer MRR at month ends (USD/month):

    customer  2023-12  2024-01  2024-02  2024-03  2024-04
    c1        -        100      100      150      150     (s1 -> s2: upsell +50 in Mar)
    c2        -        200      0        0        80      (churn Feb, reactivation Apr)
    c3        -        -        166.67   216.67   216.67  (annual 2,000 -> 166.67; +p2 50 Mar)
    c4        300      300      300      250      250     (price cut: contraction 50 Mar)
    c5        -        -        -        -        -       (s9 lives inside Jan: never counts)
    total     300      600      566.67   616.67   696.67
"""

from __future__ import annotations

import pandas as pd
import pytest

from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch

D = pd.Timestamp


def _frames() -> dict[str, pd.DataFrame]:
    f: dict[str, pd.DataFrame] = {}
    f["departments"] = pd.DataFrame({"department_id": ["d1", "d2", "d3", "d4", "d5"],
                                     "name": ["Sales", "Marketing", "Product", "Customer Success", "G&A"]})
    f["accounts"] = pd.DataFrame({
        "account_id": ["a_rev", "a_cogs", "a_sal", "a_adv", "a_con"],
        "name": ["Subscription revenue", "Hosting", "Salaries", "Advertising", "Contractors"],
        "account_type": ["revenue", "cogs", "opex", "opex", "opex"],
        "category": ["subscription", "hosting", "salaries", "advertising", "contractors"]})
    f["products"] = pd.DataFrame({"product_id": ["p1", "p2"], "name": ["Core", "Addon"],
                                  "launched_on": [D("2023-01-01").date(), D("2024-02-01").date()]})
    f["marketing_campaigns"] = pd.DataFrame({
        "campaign_id": ["m1", "m2"], "name": ["Search Q1", "Addon launch"], "channel": ["paid_search", "events"],
        "started_on": [D("2024-01-01").date(), D("2024-02-01").date()],
        "ended_on": [D("2024-03-31").date(), D("2024-02-29").date()],
        "spend": [1100.0, 200.0], "product_id": [None, "p2"]})
    f["customers"] = pd.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4", "c5"], "name": ["A", "B", "C", "D", "E"],
        "segment": ["SMB", "SMB", "Mid-Market", "Enterprise", "SMB"], "region": ["EU"] * 5,
        "industry": ["SaaS"] * 5,
        "signup_date": [D(x).date() for x in ("2024-01-10", "2024-01-05", "2024-02-01", "2023-12-01", "2024-03-03")],
        "acquisition_channel": ["organic", "organic", "paid_search", "outbound", "paid_search"],
        "acquisition_campaign_id": [None, None, "m1", None, "m1"],
        "cs_tier": ["dedicated", "tech-touch", "pooled", "dedicated", "tech-touch"],
        "csm_owner": ["ann", None, "bob", "ann", None]})

    def sub(i, c, p, s, e, mrr, bp="monthly"):
        return {"subscription_id": i, "customer_id": c, "product_id": p, "start_date": D(s).date(),
                "end_date": D(e).date() if e else None, "mrr": mrr, "currency": "USD", "billing_period": bp}

    f["subscriptions"] = pd.DataFrame([
        sub("s1", "c1", "p1", "2024-01-10", "2024-03-01", 100.0),
        sub("s2", "c1", "p1", "2024-03-01", None, 150.0),
        sub("s3", "c2", "p1", "2024-01-05", "2024-02-15", 200.0),
        sub("s4", "c2", "p1", "2024-04-02", None, 80.0),
        sub("s5", "c3", "p1", "2024-02-01", None, 166.67, "annual"),
        sub("s6", "c3", "p2", "2024-03-20", None, 50.0),
        sub("s7", "c4", "p1", "2023-12-01", "2024-03-10", 300.0),
        sub("s8", "c4", "p1", "2024-03-10", None, 250.0),
        sub("s9", "c5", "p1", "2024-01-15", "2024-01-25", 999.0),
    ])
    rr = [("2024-02-01", "c1", 100.0), ("2024-02-01", "c3", 166.67), ("2024-02-01", "c4", 300.0),
          ("2024-03-01", "c1", 150.0), ("2024-03-01", "c3", 216.67), ("2024-03-01", "c4", 250.0)]
    f["revenue_recognized"] = pd.DataFrame([{"period": D(p).date(), "customer_id": c, "subscription_id": None,
                                             "amount": a} for p, c, a in rr])
    gl = [  # period, dept, account, amount, feature, campaign, posted
        ("2024-02-01", "d1", "a_sal", 900.0, None, None, "2024-02-28"),
        ("2024-02-01", "d2", "a_adv", 600.0, None, "m1", "2024-02-20"),
        ("2024-02-01", "d2", "a_adv", 200.0, None, "m2", "2024-02-21"),
        ("2024-02-01", "d5", "a_rev", 560.0, None, None, "2024-02-28"),
        ("2024-03-01", "d1", "a_sal", 1000.0, None, None, "2024-03-28"),
        ("2024-03-01", "d2", "a_adv", 500.0, None, "m1", "2024-03-15"),
        ("2024-03-01", "d3", "a_con", 400.0, "f2", None, "2024-03-20"),
        ("2024-03-01", "d4", "a_sal", 300.0, None, None, "2024-03-28"),
        ("2024-03-01", "d5", "a_rev", 400.0, None, None, "2024-03-10"),
        ("2024-03-01", "d5", "a_rev", 200.0, None, None, "2024-03-25"),
        ("2024-03-01", "d5", "a_cogs", 120.0, None, None, "2024-03-28"),
    ]
    f["gl_entries"] = pd.DataFrame([{
        "entry_id": f"e{i}", "posted_at": D(t), "period": D(p).date(), "account_id": a, "department_id": d,
        "amount": amt, "currency": "USD", "feature_id": fe, "campaign_id": ca, "is_manual": False}
        for i, (p, d, a, amt, fe, ca, t) in enumerate(gl)])
    f["budgets"] = pd.DataFrame([{"period": D("2024-03-01").date(), "department_id": d, "account_id": a, "amount": x}
                                 for d, a, x in [("d1", "a_sal", 1100.0), ("d2", "a_adv", 400.0),
                                                 ("d3", "a_con", 0.0), ("d4", "a_sal", 300.0)]]
                                + [{"period": D("2024-02-01").date(), "department_id": "d1", "account_id": "a_sal",
                                    "amount": 1000.0}])
    f["kpi_targets"] = pd.DataFrame([
        {"period": D("2024-03-01").date(), "kpi": "revenue", "dimension": None, "target": 650.0},
        {"period": D("2024-03-01").date(), "kpi": "cac", "dimension": None, "target": 1000.0}])
    f["features"] = pd.DataFrame({
        "feature_id": ["f1", "f2"], "product_id": ["p2", "p1"], "name": ["Addon core", "SSO"],
        "team": ["Growth", "Core"], "started_on": [D("2023-11-01").date(), D("2024-01-01").date()],
        "released_on": [D("2024-02-15").date(), None], "budget": [1000.0, 500.0]})
    f["milestones"] = pd.DataFrame({
        "milestone_id": ["ms1", "ms2", "ms3"], "feature_id": ["f1", "f1", "f2"], "name": ["alpha", "GA", "beta"],
        "planned_on": [D(x).date() for x in ("2024-01-31", "2024-02-28", "2024-03-15")],
        "completed_on": [D("2024-02-10").date(), D("2024-02-28").date(), None],
        "budget": [600.0, 400.0, 500.0]})
    f["dev_costs"] = pd.DataFrame({
        "feature_id": ["f1", "f1", "f2"], "milestone_id": ["ms1", "ms2", "ms3"],
        "period": [D(x).date() for x in ("2024-01-01", "2024-02-01", "2024-03-01")],
        "cost": [500.0, 450.0, 400.0], "hours": [10.0, 9.0, 8.0]})
    f["feature_requests"] = pd.DataFrame({
        "request_id": ["r1", "r2", "r3", "r4"], "customer_id": ["c1", "c4", "c3", "c1"],
        "feature_id": ["f2", "f2", "f1", "f2"],
        "requested_on": [D("2024-01-15").date()] * 4})
    f["feature_usage"] = pd.DataFrame({
        "period": [D(x).date() for x in ("2024-03-01", "2024-03-01", "2024-03-01", "2024-04-01")],
        "customer_id": ["c3", "c1", "c1", "c3"], "feature_id": ["f1", "f1", "f2", "f1"],
        "active_users": [3, 1, 2, 4], "events": [10, 5, 7, 12]})
    f["health_scores"] = pd.DataFrame({
        "customer_id": ["c1", "c3", "c4", "c4"],
        "scored_on": [D(x).date() for x in ("2024-03-25", "2024-03-25", "2024-02-25", "2024-03-25")],
        "score": [80.0, 50.0, 90.0, 20.0], "usage_score": [80.0, 50.0, 90.0, 20.0],
        "support_score": [80.0, 50.0, 90.0, 20.0], "sentiment_score": [80.0, 50.0, 90.0, 20.0],
        "payment_score": [80.0, 50.0, 90.0, 20.0]})
    f["opportunities"] = pd.DataFrame({
        "opportunity_id": ["o1", "o2", "o3", "o4"], "customer_id": ["c3", None, "c1", None],
        "owner": ["sam"] * 4, "kind": ["new", "new", "expansion", "new"],
        "created_on": [D("2024-01-10").date()] * 4,
        "closed_on": [D(x).date() for x in ("2024-02-01", "2024-03-05", "2024-03-02", "2024-03-20")],
        "stage": ["won", "lost", "won", "won"], "arr": [2000.0, 5000.0, 600.0, 1000.0]})
    return f


def load_tiny(wh) -> None:
    init_db(wh)
    from finlib.warehouse.schema import LOAD_ORDER

    frames = _frames()
    with write_batch(wh, action="test", target="tiny") as b:
        for name in LOAD_ORDER:
            if name in frames:
                b.append(name, frames[name])


@pytest.fixture
def tiny_wh(any_db_url):
    wh = get_warehouse()
    load_tiny(wh)
    return wh


@pytest.fixture
def tiny_duck(duckdb_url):
    wh = get_warehouse()
    load_tiny(wh)
    return wh
