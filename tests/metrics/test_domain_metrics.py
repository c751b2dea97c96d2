"""Retention, product, monitoring and department metrics on hand-computed fixtures."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from finlib.metrics import departments as dep
from finlib.metrics import monitoring as mon
from finlib.metrics import product as prod
from finlib.metrics import retention as ret

D = pd.Timestamp


# -- retention ------------------------------------------------------------------------

COHORT = pd.DataFrame({"customer_id": ["c1", "c2", "c4"], "mrr_then": [100.0, 200.0, 300.0],
                       "mrr_now": [150.0, 80.0, 250.0], "segment": ["SMB", "SMB", "Enterprise"],
                       "cs_tier": ["dedicated", "tech-touch", "dedicated"]})


def test_nrr_and_grr_of_a_cohort():
    r = ret.revenue_retention(COHORT)
    assert r.nrr == pytest.approx(480 / 600)  # (150 + 80 + 250) / 600
    assert r.grr == pytest.approx(430 / 600)  # (100 + 80 + 250) / 600: capped at the earlier MRR
    grow = ret.revenue_retention(pd.DataFrame({"mrr_then": [100.0], "mrr_now": [130.0]}))
    assert (grow.nrr, grow.grr) == (1.3, 1.0)  # NRR can exceed 100 %, GRR cannot


def test_logo_churn():
    assert ret.logo_churn(3, 1) == pytest.approx(1 / 3)
    assert math.isnan(ret.logo_churn(0, 0))


def test_revenue_at_risk_by_health_band_and_expected_arr_lost():
    cust = pd.DataFrame({"customer_id": ["c1", "c3", "c4", "c9"], "arr": [1800.0, 2600.04, 3000.0, 100.0],
                         "score": [80.0, 50.0, 20.0, None], "churn_probability": [0.05, 0.2, 0.5, 0.0]})
    r = ret.revenue_at_risk(cust).set_index("band")
    assert r.loc["red", "arr"] == 3000.0 and r.loc["amber", "arr"] == 2600.04 and r.loc["green", "arr"] == 1800.0
    assert r.loc["unscored", "customers"] == 1
    assert r.loc["red", "expected_arr_lost"] == pytest.approx(1500.0)
    assert ret.expected_arr_lost(cust) == pytest.approx(90 + 520.008 + 1500)
    assert ret.health_band(40.0) == "amber" and ret.health_band(39.99) == "red" and ret.health_band(70) == "green"
    with pytest.raises(ValueError):
        ret.expected_arr_lost(cust.assign(churn_probability=[1.5, 0, 0, 0]))


def test_expansion_split_allocates_net_expansion():
    comp = pd.DataFrame({"customer_id": ["c1", "c3", "c7"], "expansion": [50.0, 50.0, 50.0],
                         "upsell_gross": [50.0, 0.0, 0.0], "cross_sell_gross": [0.0, 50.0, 150.0]})
    out = ret.split_expansion(comp)
    assert out["upsell"].tolist() == [50.0, 0.0, 0.0]
    assert out["cross_sell"].tolist() == [0.0, 50.0, 50.0]  # A 100 → B 150 is 50 of cross-sell


def test_expansion_attribution_to_cs_coverage_and_pipeline():
    exp = pd.DataFrame({"customer_id": ["c1", "c3"], "expansion": [50.0, 50.0], "upsell": [50.0, 0.0],
                        "cross_sell": [0.0, 50.0]})
    cust = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"],
                         "cs_tier": ["dedicated", "tech-touch", "pooled", "dedicated"]})
    out = ret.expansion_attribution(exp, cust, pd.DataFrame({"customer_id": ["c1"]}))
    t = out.set_index(["cs_tier", "in_pipeline"])
    assert t.loc[("dedicated", True), "expansion"] == 50.0
    assert t.loc[("dedicated", False), "customers"] == 1
    assert t.loc[("pooled", False), "share_of_expansion"] == 0.5


def test_cs_investment_roi_against_the_tech_touch_baseline():
    cohort = COHORT.assign(covered=COHORT["cs_tier"] != "tech-touch")
    r = ret.cs_investment_roi(cohort, cs_cost=1000.0)
    assert r.grr_covered == pytest.approx(350 / 400)  # c1 min(150,100) + c4 250, over 400
    assert r.grr_baseline == pytest.approx(0.4)  # c2: 80 / 200
    assert r.retained_mrr_above_baseline == pytest.approx(190.0)  # (0.875 − 0.4) × 400
    assert r.retained_arr_above_baseline == pytest.approx(2280.0)
    assert r.roi == pytest.approx(1.28)
    # by segment: SMB (1.0 − 0.4) × 100 = 60; Enterprise has no tech-touch customer, so the
    # pooled baseline applies: (250/300 − 0.4) × 300 = 130; total 190 MRR
    assert ret.cs_investment_roi(cohort, 1000.0, by="segment").retained_mrr_above_baseline == pytest.approx(190.0)
    assert ret.cs_investment_roi(cohort, 0.0).roi != ret.cs_investment_roi(cohort, 0.0).roi  # NaN


# -- product ---------------------------------------------------------------------------

FEATURES = pd.DataFrame({"feature_id": ["f1", "f2"], "product_id": ["p2", "p1"], "team": ["Growth", "Core"],
                         "budget": [1000.0, 500.0]})
COSTS = pd.DataFrame({"feature_id": ["f1", "f1", "f2"], "milestone_id": ["ms1", "ms2", "ms3"],
                      "period": [D("2024-01-01"), D("2024-02-01"), D("2024-03-01")], "cost": [500.0, 450.0, 400.0]})
ADOPTION = pd.DataFrame({"customer_id": ["c1", "c1", "c3"], "feature_id": ["f1", "f2", "f1"],
                         "first_period": [D("2024-03-01")] * 3})
EXPANSION = pd.DataFrame({"period": [D("2024-02-01"), D("2024-03-01"), D("2024-03-01")],
                          "customer_id": ["c1", "c1", "c3"], "expansion": [30.0, 50.0, 50.0]})


def test_expansion_is_attributed_to_adopted_features_shared_equally():
    a = prod.attribute_expansion_to_features(ADOPTION, EXPANSION).set_index("feature_id")
    assert a.loc["f1", "attributed_mrr"] == 75.0  # c1's 50 split with f2, plus c3's 50
    assert a.loc["f2", "attributed_mrr"] == 25.0  # February's 30 came before adoption
    assert a.loc["f1", "attributed_arr"] == 900.0


def test_feature_roi_per_feature_and_team():
    a = prod.attribute_expansion_to_features(ADOPTION, EXPANSION)
    fr = prod.feature_roi(FEATURES, COSTS, a).set_index("feature_id")
    assert fr.loc["f1", "roi"] == pytest.approx((900 - 950) / 950)
    assert fr.loc["f2", "roi"] == pytest.approx(-0.25)
    assert fr.loc["f1", "budget_used"] == 0.95
    none = prod.feature_roi(FEATURES, COSTS, a.iloc[0:0])
    assert none["roi"].tolist() == [-1.0, -1.0]  # zero return is −100 %
    tr = prod.team_roi(fr.reset_index()).set_index("team")
    assert tr.loc["Growth", "roi"] == pytest.approx(-50 / 950)


def test_launch_roi_new_arr_against_features_and_launch_campaigns():
    products = pd.DataFrame({"product_id": ["p2"], "launched_on": [dt.date(2024, 2, 1)]})
    pnm = pd.DataFrame({"period": [D("2024-01-01"), D("2024-03-01"), D("2024-06-01")],
                        "product_id": ["p1", "p2", "p2"], "new_mrr": [10.0, 50.0, 40.0]})
    camps = pd.DataFrame({"product_id": ["p2", None], "spend": [200.0, 999.0]})
    r = prod.launch_roi(products, pnm, FEATURES, COSTS, camps, months=3).iloc[0]
    assert r["new_arr"] == 600.0  # only March falls in Feb..Apr
    assert r["cost"] == 950.0 + 200.0
    assert r["roi"] == pytest.approx((600 - 1150) / 1150)
    assert r["window_complete"]
    late = prod.launch_roi(products, pnm[pnm["period"] > D("2024-02-01")], FEATURES, COSTS, camps, months=3)
    assert not late["window_complete"].iloc[0]  # data start after the launch: incomplete


def test_customer_development_cost_shares_feature_cost_across_requesters():
    req = pd.DataFrame({"customer_id": ["c1", "c4", "c3", "c1", "c5"], "feature_id": ["f2", "f2", "f1", "f2", None]})
    costs = pd.DataFrame({"feature_id": ["f1", "f2"], "cost": [950.0, 400.0]})
    arr = pd.DataFrame({"customer_id": ["c1", "c3", "c4"], "arr": [1800.0, 2600.0, 3000.0]})
    out = prod.customer_development_cost(req, costs, arr).set_index("customer_id")
    assert out.loc["c1", "dev_cost_share"] == 200.0  # 400 / 2 requesters (c1 asked twice)
    assert out.loc["c3", "cost_to_arr"] == pytest.approx(950 / 2600)
    assert "c5" not in out.index


def test_milestone_efficiency_cost_variance_and_slip():
    ms = pd.DataFrame({"milestone_id": ["ms1", "ms2", "ms3"], "feature_id": ["f1", "f1", "f2"],
                       "planned_on": [D("2024-01-31"), D("2024-02-28"), D("2024-03-15")],
                       "completed_on": [D("2024-02-10"), D("2024-02-28"), pd.NaT], "budget": [600.0, 400.0, 500.0]})
    m = prod.milestone_efficiency(ms, COSTS, dt.date(2024, 3, 31)).set_index("milestone_id")
    assert m["variance"].tolist() == [-100.0, 50.0, -100.0]
    assert m["favourable"].tolist() == [True, False, True]
    assert m["slip_days"].tolist() == [10, 0, 16]
    assert prod.cost_per_completed_milestone(m) == 475.0


# -- monitoring ------------------------------------------------------------------------

def test_revenue_vs_target_month_to_date_run_rate():
    r = mon.revenue_vs_target("2024-03", actual=400.0, target=650.0, as_of=dt.date(2024, 3, 10))
    assert r.projection == pytest.approx(400 * 31 / 10)  # 1,240
    assert r.projection_method == "run-rate" and r.favourable is True
    closed = mon.revenue_vs_target("2024-03", 616.67, 650.0, prior_months_actual=566.67)
    assert closed.projection == 616.67 and closed.favourable is False
    assert closed.variance == pytest.approx(-33.33)
    assert closed.year_end_projection == pytest.approx(566.67 + 616.67 * 10)
    fc = mon.revenue_vs_target("2024-03", 400.0, 650.0, as_of=dt.date(2024, 3, 10), forecast=600.0)
    assert fc.projection_method == "forecast" and fc.favourable is False
    assert mon.revenue_vs_target("2024-03", 10.0, 0.0).data_issue


def _bva():
    return pd.DataFrame({
        "period": [D("2024-02-01"), D("2024-03-01"), D("2024-03-01"), D("2024-03-01"), D("2024-03-01")],
        "department": ["Sales", "Sales", "Marketing", "Product", "G&A"],
        "account_type": ["opex", "opex", "opex", "opex", "revenue"],
        "category": ["salaries", "salaries", "advertising", "contractors", "subscription"],
        "actual": [900.0, 1000.0, 500.0, 400.0, 600.0], "budget": [1000.0, 1100.0, 400.0, 0.0, None]})


def test_cost_variance_flags_favourable_and_data_issues():
    cv = mon.cost_variance(_bva())
    mar = cv[cv["period"] == D("2024-03-01")].set_index("department")
    assert mar.loc["Sales", "favourable"] and not mar.loc["Marketing", "favourable"]
    assert mar.loc["Marketing", "variance_pct"] == pytest.approx(0.25)
    assert pd.isna(mar.loc["Product", "favourable"]) and mar.loc["Product", "data_issue"]
    assert mar.loc["Sales", "mom_change"] == 100.0
    assert "G&A" not in mar.index  # revenue lines are not costs


def test_budget_utilisation_year_to_date():
    u = mon.budget_utilisation(_bva(), "2024-03").set_index("department")
    assert u.loc["Sales", "utilisation"] == pytest.approx(1900 / 2100)
    assert u.loc["Marketing", "utilisation"] == 1.25
    assert pd.isna(u.loc["Product", "utilisation"])


# -- departments ------------------------------------------------------------------------

def test_sales_efficiency_win_rate_and_magic_number():
    opp = pd.DataFrame({"kind": ["expansion", "new", "new"], "stage": ["won", "lost", "won"],
                        "opportunities": [1, 1, 1], "arr": [600.0, 5000.0, 1000.0]})
    s = dep.sales_efficiency(opp, 1000.0)
    assert (s.new_arr_won, s.arr_per_cost, s.roi, s.win_rate) == (1000.0, 1.0, 0.0, 0.5)
    assert dep.magic_number(150_000, 200_000) == 0.75


def test_campaign_roi_and_roas_are_separate_fields():
    c = dep.campaign_roi(pd.DataFrame({"campaign_id": ["m1", "m2"], "spend": [1100.0, 200.0],
                                       "new_mrr": [166.67, 0.0]}))
    assert c["new_arr"].tolist() == [2000.04, 0.0]
    assert c["roi"].iloc[0] == pytest.approx((2000.04 - 1100) / 1100)
    assert c["roas"].iloc[0] == pytest.approx(2000.04 / 1100)
    assert (c["roi"].iloc[1], c["roas"].iloc[1]) == (-1.0, 0.0)


def test_cac_blended_by_channel_and_payback():
    assert dep.cac(1500.0, 1) == 1500.0
    assert math.isnan(dep.cac(1500.0, 0))
    ch = dep.cac_by_channel(pd.DataFrame({"channel": ["search", "search", "events"], "spend": [600.0, 500.0, 200.0],
                                          "new_customers": [1, 1, 0], "new_mrr": [166.67, 0.0, 0.0]}))
    t = ch.set_index("channel")
    assert t.loc["search", "cac"] == 550.0 and pd.isna(t.loc["events", "cac"])
    assert dep.gross_margin(600.0, 120.0) == pytest.approx(0.8)
    assert dep.cac_payback_months(1200.0, 100.0, 0.8) == pytest.approx(15.0)
    assert math.isnan(dep.cac_payback_months(1200.0, 0.0, 0.8))


def test_cross_domain_roi_table():
    t = dep.cross_domain_roi([{"domain": "Sales", "return_": 300.0, "cost": 100.0},
                              {"domain": "Product", "return_": 0.0, "cost": 50.0},
                              {"domain": "CS", "return_": 10.0, "cost": 0.0}])
    assert t["domain"].tolist() == ["Sales", "Product", "CS"]
    assert t["roi"].tolist()[:2] == [2.0, -1.0] and pd.isna(t["roi"].iloc[2])
