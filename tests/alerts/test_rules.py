"""Every rule on a tiny hand-built warehouse, on DuckDB and PostgreSQL, with answers worked
out by hand in the comments (just inside / just outside each threshold, zero budgets)."""

from __future__ import annotations

import pytest

from finlib.alerts.rules import RULES
from tests.alerts.conftest import base_dims, d, put


def run(wh, rule: str, period: str, **cfg):
    spec = RULES[rule]
    with wh.connect(read_only=True) as conn:
        return spec.evaluate(conn, d(period), spec.config_model(**cfg))


def by_entity(findings, key):
    return {f.entity[key]: f for f in findings}


# ---- budget_variance --------------------------------------------------------------------

def test_budget_variance_fires_only_beyond_ten_percent_and_reports_zero_budgets(wh):
    accounts = [(f"a{i}", "opex", "software") for i in range(1, 8)]
    accounts.append(("r1", "revenue", "subscription"))
    base_dims(wh, accounts=accounts)
    may, apr = d("2024-05-01"), d("2024-04-01")
    put(wh, "budgets", [
        {"period": may, "department_id": "d1", "account_id": a, "amount": amt}
        for a, amt in [("a1", 100), ("a2", 100), ("a3", 200), ("a4", 200), ("a5", 0),
                       ("a6", 0), ("a7", 100), ("r1", 1000)]])
    put(wh, "gl_entries", [
        {"period": may, "department_id": "d1", "account_id": a, "amount": amt}
        for a, amt in [("a1", 110), ("a2", 100), ("a2", 10.01), ("a3", 179.99), ("a4", 180),
                       ("a5", 50), ("r1", 1100.01)]]
        + [{"period": apr, "department_id": "d1", "account_id": "a1", "amount": 1000}])
    got = by_entity(run(wh, "budget_variance", "2024-05-01"), "account_id")
    # a1: |110-100|/100 = 0.10, not > 0.10.  a4: |180-200|/200 = 0.10.  a6: 0 budget, 0 actual.
    assert set(got) == {"a2", "a3", "a5", "a7", "r1"}
    a2 = got["a2"]
    assert a2.value == pytest.approx(0.1001) and a2.threshold == 0.10
    assert a2.entity == {"department_id": "d1", "account_id": "a2"}
    assert a2.details["actual"] == pytest.approx(110.01) and a2.details["budget"] == 100
    assert a2.details["favourable"] is False  # cost above plan
    assert got["a3"].value == pytest.approx(20.01 / 200)  # 0.10005
    assert got["a3"].details["favourable"] is True  # cost below plan
    assert got["a3"].details["variance_pct"] == pytest.approx(-0.10005)
    assert got["a7"].value == pytest.approx(1.0)  # budget 100, no entries: actual 0
    assert got["r1"].details["favourable"] is True  # revenue above plan
    # zero budget: reported as a data issue, never divided by
    a5 = got["a5"]
    assert a5.data_issue and a5.value is None and "zero" in a5.details["issue"]
    assert a5.details["variance_pct"] is None
    # a custom threshold is honoured: 0.0001 below 0.1001 -> still fires; 0.11 -> a2 quiet
    assert "a2" not in by_entity(run(wh, "budget_variance", "2024-05-01", threshold=0.11),
                                 "account_id")


def test_budget_variance_says_no_budget_for_unbudgeted_spend_above_the_floor(wh):
    accounts = [("a1", "opex", "rent"), ("a2", "opex", "rent"), ("a3", "cogs", "hosting"),
                ("r1", "revenue", "subscription")]
    base_dims(wh, accounts=accounts)
    may = d("2024-05-01")
    put(wh, "gl_entries", [
        {"period": may, "department_id": "d1", "account_id": a, "amount": amt}
        for a, amt in [("a1", 600), ("a1", 400.01), ("a2", 1000), ("a3", 999.99), ("r1", 50000)]])
    # a1: 1,000.01 > 1,000 fires; a2: exactly 1,000 does not; a3 under the floor; r1 is revenue
    [f] = run(wh, "budget_variance", "2024-05-01")
    assert f.entity == {"department_id": "d1", "account_id": "a1"} and not f.data_issue
    assert "no budget" in f.message and f.details["unbudgeted"] is True
    assert f.value == pytest.approx(1000.01) and f.threshold == 1000.0
    assert f.details["budget"] is None and f.details["issue"] == "no budget"
    # the floor is a setting: 500 catches a2 and a3 too, 2,000 none
    got = by_entity(run(wh, "budget_variance", "2024-05-01", min_amount=500), "account_id")
    assert set(got) == {"a1", "a2", "a3"}
    assert run(wh, "budget_variance", "2024-05-01", min_amount=2000) == []


# ---- revenue_target ---------------------------------------------------------------------

def test_revenue_target_fires_just_below_ninety_five_percent(wh):
    base_dims(wh)
    put(wh, "customers", [{"customer_id": c, "signup_date": d("2023-01-01")} for c in ("c1", "c2")])
    may, jun, jul = d("2024-05-01"), d("2024-06-01"), d("2024-07-01")
    put(wh, "kpi_targets", [
        {"period": may, "kpi": "revenue", "target": 1000.0},
        {"period": jun, "kpi": "revenue", "target": 1000.0},
        {"period": jun, "kpi": "revenue", "dimension": "SMB", "target": 99999.0},
        {"period": jun, "kpi": "cac", "target": 99999.0}])
    put(wh, "revenue_recognized", [
        {"period": may, "customer_id": "c1", "amount": 900},
        {"period": may, "customer_id": "c2", "amount": 50},        # May: 950.00 = 95 %
        {"period": jun, "customer_id": "c1", "amount": 949.99},    # June: just below
        {"period": jul, "customer_id": "c1", "amount": 1}])        # July: no target
    assert run(wh, "revenue_target", "2024-05-01") == []
    [f] = run(wh, "revenue_target", "2024-06-01")
    assert f.entity == {} and f.value == pytest.approx(949.99)
    assert f.threshold == pytest.approx(950.0)
    assert f.details["target"] == 1000 and f.details["shortfall"] == pytest.approx(50.01)
    assert run(wh, "revenue_target", "2024-07-01") == []


# ---- cost_control -----------------------------------------------------------------------

def test_cost_control_needs_both_a_fifteen_percent_rise_and_an_overrun(wh):
    accounts = [("a1", "opex", "software"), ("a2", "opex", "software"), ("a3", "opex", "travel"),
                ("a4", "opex", "contractors"), ("a5", "cogs", "hosting"),
                ("r1", "revenue", "subscription")]
    base_dims(wh, accounts=accounts)
    feb, mar, apr, may = (d(f"2024-0{m}-01") for m in (2, 3, 4, 5))
    hist = {"a1": (100, 100, 100), "a2": (100, 100, 100), "a3": (100, 100, 100),
            "a4": (90, 100, 110), "a5": (0, 300, 0), "r1": (100, 100, 100)}
    now = {"a1": 115, "a2": 115.01, "a3": 130, "a4": 130, "a5": 116, "r1": 200}
    rows = []
    for acct, amounts in hist.items():
        for per, amt in zip((feb, mar, apr), amounts, strict=True):
            if amt:
                rows.append({"period": per, "department_id": "d1", "account_id": acct,
                             "amount": amt})
        rows.append({"period": may, "department_id": "d1", "account_id": acct,
                     "amount": now[acct]})
    put(wh, "gl_entries", rows)
    put(wh, "budgets", [{"period": may, "department_id": "d1", "account_id": a, "amount": b}
                        for a, b in [("a1", 50), ("a2", 100), ("a3", 130), ("a5", 100),
                                     ("r1", 0)]])
    got = by_entity(run(wh, "cost_control", "2024-05-01"), "account_id")
    # a1: 115 = 1.15 x 100, not above.  a3: over the mean but 130 is not above budget 130.
    # r1: revenue accounts are not cost lines.  a4: no budget row counts as budget 0.
    # a5: months without entries count as 0, so the mean is 100.
    assert set(got) == {"a2", "a4", "a5"}
    a2 = got["a2"]
    assert a2.value == pytest.approx(115.01) and a2.threshold == pytest.approx(115.0)
    assert a2.details["trailing_mean"] == pytest.approx(100.0)
    assert a2.details["budget"] == 100
    assert got["a4"].details["budget_missing"] is True
    assert got["a4"].threshold == pytest.approx(115.0)
    assert got["a5"].details["trailing_mean"] == pytest.approx(100.0)
    # a stricter threshold keeps a2 quiet: 115.01 < 1.2 x 100
    assert "a2" not in by_entity(run(wh, "cost_control", "2024-05-01", threshold=0.2), "account_id")


def test_cost_control_is_silent_without_three_months_of_history(wh):
    base_dims(wh)
    put(wh, "gl_entries", [{"period": d("2024-03-01"), "department_id": "d1", "account_id": "a1",
                            "amount": 10},
                           {"period": d("2024-05-01"), "department_id": "d1", "account_id": "a1",
                            "amount": 1000}])
    assert run(wh, "cost_control", "2024-05-01") == []  # ledger starts 2024-03, needs 2024-02


# ---- campaign_roi -----------------------------------------------------------------------

def test_campaign_roi_uses_twelve_times_signup_month_mrr_against_spend(wh):
    base_dims(wh)
    put(wh, "products", [{"product_id": "p1"}])
    camps = [  # id, ended_on, spend
        ("c1", "2024-06-30", 1000), ("c2", "2023-07-01", 1000), ("c3", "2023-06-30", 1000),
        ("c4", "2024-07-01", 1000), ("c5", None, 1000), ("c6", "2024-05-01", 0),
        ("c7", "2024-01-10", 1000)]
    put(wh, "marketing_campaigns", [
        {"campaign_id": c, "channel": "paid_search", "ended_on": d(e) if e else None,
         "spend": s} for c, e, s in camps])
    custs = [("u1", "c1", "2024-03-15"), ("u2", "c2", "2023-05-02"), ("u7", "c7", "2024-01-31"),
             ("u8", "c7", "2024-01-05")]
    put(wh, "customers", [{"customer_id": u, "acquisition_campaign_id": c, "signup_date": d(s)}
                          for u, c, s in custs])
    subs = [  # id, customer, start, end (exclusive), mrr
        ("s1", "u1", "2024-03-15", None, 100),       # active on 2024-03-31
        ("s1b", "u1", "2024-04-01", None, 50),       # starts after the signup month
        ("s2", "u2", "2023-05-02", None, 250),       # c2: ARR 3000 -> ROI exactly 2.0
        ("s7", "u7", "2024-01-31", "2024-02-01", 249.99),  # active on Jan 31 (end exclusive)
        ("s8", "u8", "2024-01-05", "2024-01-31", 1000)]    # ended on Jan 31: not active
    put(wh, "subscriptions", [{"subscription_id": s, "customer_id": c, "start_date": d(a),
                               "end_date": d(e) if e else None, "mrr": m}
                              for s, c, a, e, m in subs])
    got = by_entity(run(wh, "campaign_roi", "2024-06-01"), "campaign_id")
    # c1: (1200-1000)/1000 = 0.2.  c7: (2999.88-1000)/1000 = 1.99988.  c2: exactly 2.0.
    # c3 ended before the 12-month window, c4 after P, c5 never ended, c6 has no spend.
    assert set(got) == {"c1", "c7"}
    assert got["c1"].value == pytest.approx(0.2) and got["c1"].threshold == 2.0
    assert got["c1"].details["new_arr"] == pytest.approx(1200.0)
    assert got["c1"].details["roas"] == pytest.approx(1.2)
    assert got["c7"].value == pytest.approx(1.99988)
    assert got["c7"].details["customers"] == 2
    # c1 (ended 2024-06-30) stays in the window through P = 2025-05 (2024-06..2025-05);
    # c4 (ended 2024-07-01, no customers: ROI -100 %) through 2025-06
    assert set(by_entity(run(wh, "campaign_roi", "2025-05-01"), "campaign_id")) == {"c1", "c4"}
    assert set(by_entity(run(wh, "campaign_roi", "2025-06-01"), "campaign_id")) == {"c4"}
    assert by_entity(run(wh, "campaign_roi", "2025-06-01"), "campaign_id")["c4"].value == -1.0
    assert run(wh, "campaign_roi", "2025-07-01") == []


# ---- cac ---------------------------------------------------------------------------------

def test_cac_blended_and_by_channel(wh):
    base_dims(wh, departments=[("ds", "Sales"), ("dm", "Marketing"), ("dp", "Product")],
              accounts=[("sal", "opex", "salaries"), ("adv", "opex", "advertising"),
                        ("hst", "cogs", "hosting")])
    may, apr = d("2024-05-01"), d("2024-04-01")
    put(wh, "marketing_campaigns", [
        {"campaign_id": c, "channel": ch, "ended_on": None, "spend": 0}
        for c, ch in [("web", "paid_search"), ("evt", "events"), ("soc", "social")]])
    gl = [("ds", "sal", None, 600), ("dm", "adv", "web", 300), ("dm", "adv", "evt", 100),
          ("dp", "sal", None, 10000), ("ds", "hst", None, 500)]
    put(wh, "gl_entries",
        [{"period": may, "department_id": dep, "account_id": a, "campaign_id": c, "amount": amt}
         for dep, a, c, amt in gl]
        + [{"period": apr, "department_id": "ds", "account_id": "sal", "amount": 999},
           {"period": may, "department_id": "dp", "account_id": "adv", "campaign_id": "soc",
            "amount": 80}])
    custs = [("u1", "web", "2024-05-01"), ("u2", "web", "2024-05-31"), ("u3", "evt", "2024-05-10"),
             ("u4", None, "2024-05-20"), ("u5", "web", "2024-04-30"), ("u6", "web", "2024-06-01")]
    put(wh, "customers", [{"customer_id": u, "acquisition_campaign_id": c, "signup_date": d(s)}
                          for u, c, s in custs]
        # a May trial through the web campaign that never pays: not a new customer
        + [{"customer_id": "t1", "acquisition_campaign_id": "web", "signup_date": d("2024-05-02")}])
    # everyone but the trial pays from the signup day (a `new` MRR movement in that month)
    put(wh, "products", [{"product_id": "p1"}])
    put(wh, "subscriptions", [{"subscription_id": f"s{u}", "customer_id": u, "start_date": d(s),
                               "mrr": 10} for u, _, s in custs])
    put(wh, "kpi_targets", [
        {"period": may, "kpi": "cac", "target": 200.0},
        {"period": may, "kpi": "cac", "dimension": "paid_search", "target": 120.0},
        {"period": may, "kpi": "cac", "dimension": "events", "target": 100.0},
        {"period": may, "kpi": "cac", "dimension": "social", "target": 50.0},
        {"period": may, "kpi": "cac", "dimension": "tv", "target": 10.0}])
    got = {f.entity.get("channel", "blended"): f for f in run(wh, "cac", "2024-05-01")}
    # blended: Sales + Marketing opex 600 + 400 = 1000 over 4 new paying customers in May
    # (u1..u4; the trial t1 signed up in May but pays nothing) = 250 > 240
    # paid_search: 300 / 2 (u1, u2; not t1) = 150 > 144; events: 100 / 1 = 100 <= 120;
    # social: 80 spent, nobody acquired: data issue; tv: no spend, no customers: nothing.
    assert set(got) == {"blended", "paid_search", "social"}
    assert got["blended"].entity == {}
    assert got["blended"].value == pytest.approx(250.0)
    assert got["blended"].threshold == pytest.approx(240.0)
    assert got["blended"].details["new_customers"] == 4
    assert got["paid_search"].value == pytest.approx(150.0)
    assert got["paid_search"].threshold == pytest.approx(144.0)
    assert got["social"].data_issue and got["social"].value is None
    # exactly on the line: with a 25 % tolerance the blended line is 200 x 1.25 = 250 and
    # paid_search's 120 x 1.25 = 150, and neither CAC is above its line
    got = {f.entity.get("channel", "blended") for f in run(wh, "cac", "2024-05-01",
                                                              threshold=0.25)}
    assert got == {"social"}
    assert {f.entity.get("channel", "blended")
            for f in run(wh, "cac", "2024-05-01", by_channel=False)} == {"blended"}


# ---- product_development ---------------------------------------------------------------

def test_product_development_compares_cost_to_date_with_budget(wh):
    base_dims(wh)
    put(wh, "products", [{"product_id": "p1"}])
    put(wh, "features", [{"feature_id": f, "budget": b}
                         for f, b in [("f1", 1000), ("f2", 1000), ("f3", 1000), ("f4", 0)]])
    costs = [("f1", "2024-03-01", 600), ("f1", "2024-05-01", 650),       # 1250: exactly 125 %
             ("f2", "2024-03-01", 600), ("f2", "2024-05-01", 650.01),    # 1250.01
             ("f3", "2024-05-01", 100), ("f3", "2024-06-01", 2000),      # overrun after P
             ("f4", "2024-04-01", 10)]                                   # zero budget
    put(wh, "dev_costs", [{"feature_id": f, "period": d(p), "cost": c} for f, p, c in costs])
    got = by_entity(run(wh, "product_development", "2024-05-01"), "feature_id")
    assert set(got) == {"f2", "f4"}
    assert got["f2"].value == pytest.approx(1250.01) and got["f2"].threshold == pytest.approx(1250)
    assert got["f2"].details["cost_in_period"] == pytest.approx(650.01)
    assert got["f2"].details["overrun_pct"] == pytest.approx(0.25001)
    assert got["f4"].value == 10 and got["f4"].threshold == 0
    assert got["f4"].details["overrun_pct"] is None
    assert set(by_entity(run(wh, "product_development", "2024-06-01"), "feature_id")) == {
        "f2", "f3", "f4"}


def test_registry_holds_the_six_default_rules_and_the_opt_in_nrr_rule():
    assert set(RULES) == {"budget_variance", "revenue_target", "cost_control", "campaign_roi",
                          "cac", "product_development", "nrr_target"}
    assert RULES["nrr_target"].config_model().enabled is False
    assert all(RULES[n].config_model.model_fields["enabled"].default for n in RULES if n != "nrr_target")
    for rule in RULES.values():
        assert rule.evaluate.__doc__ and ".. math::" in rule.evaluate.__doc__


# ---- nrr_target (opt-in) ------------------------------------------------------------------

def test_nrr_target_fires_below_target_times_ninety_five_percent(wh):
    # cohort: customers paying on 2023-05-31 (12 months before May 2024):
    #   k1 100 -> 120 (price rise 2024-03), k2 100 -> 0 (churned 2023-09),
    #   k3 200 -> 180 (s3a 200 ended 2024-01-01, s3b 180 from 2024-01-01).
    # k4 joined 2024-02 (not in the cohort), k5 ended exactly 2023-05-31 (end_date exclusive:
    # not paying on 2023-05-31, not in the cohort).
    # NRR = (120 + 0 + 180) / (100 + 100 + 200) = 300 / 400 = 0.75
    put(wh, "products", [{"product_id": "p1"}])
    put(wh, "customers", [{"customer_id": c, "signup_date": d("2023-01-01")}
                          for c in ("k1", "k2", "k3", "k4", "k5")])
    put(wh, "subscriptions", [
        {"subscription_id": "s1a", "customer_id": "k1", "start_date": d("2023-01-01"),
         "end_date": d("2024-03-01"), "mrr": 100},
        {"subscription_id": "s1b", "customer_id": "k1", "start_date": d("2024-03-01"), "mrr": 120},
        {"subscription_id": "s2", "customer_id": "k2", "start_date": d("2023-01-01"),
         "end_date": d("2023-09-15"), "mrr": 100},
        {"subscription_id": "s3a", "customer_id": "k3", "start_date": d("2023-01-01"),
         "end_date": d("2024-01-01"), "mrr": 200},
        {"subscription_id": "s3b", "customer_id": "k3", "start_date": d("2024-01-01"), "mrr": 180},
        {"subscription_id": "s4", "customer_id": "k4", "start_date": d("2024-02-01"), "mrr": 999},
        {"subscription_id": "s5", "customer_id": "k5", "start_date": d("2023-01-01"),
         "end_date": d("2023-05-31"), "mrr": 999},
    ])
    # May: target 0.80 -> line 0.80 x 0.95 = 0.76 > 0.75: fires.
    # June: target 0.789 -> line 0.74955 < 0.75: inside (cohort of 2023-06-30 is the same,
    # k1..k3 at June 2024 unchanged). July: no target, no alert.
    put(wh, "kpi_targets", [{"period": d("2024-05-01"), "kpi": "nrr", "target": 0.80},
                            {"period": d("2024-06-01"), "kpi": "nrr", "target": 0.789},
                            {"period": d("2024-05-01"), "kpi": "nrr", "dimension": "SMB",
                             "target": 5.0}])
    [f] = run(wh, "nrr_target", "2024-05-01")
    assert f.entity == {} and f.value == 0.75 and f.threshold == pytest.approx(0.76)
    assert f.details["mrr_then"] == 400 and f.details["mrr_now"] == 300
    assert f.details["customers"] == 3 and f.details["target"] == 0.8
    assert run(wh, "nrr_target", "2024-06-01") == []
    assert run(wh, "nrr_target", "2024-07-01") == []
    # a looser tolerance (10 %: line 0.72) keeps May inside
    assert run(wh, "nrr_target", "2024-05-01", threshold=0.10) == []
    # no customer paying 12 months before: nothing to compare, no alert
    assert run(wh, "nrr_target", "2023-03-01") == []
