"""Figures the data cannot show are flagged (``data_issue``), never divided by a
non-positive cost or plan, and never shown as −100 %.

Every expected value below is worked out by hand from the small frames in each test.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from finlib.metrics import departments as dep
from finlib.metrics import product as prod
from finlib.metrics.core import roi_issue

D = pd.Timestamp


def _milestones():
    # F01 started 2021 (before the data, which start 2023-01); F10 started 2023-03.
    ms = pd.DataFrame({
        "milestone_id": ["F01-1", "F01-2", "F01-3", "F10-1", "F10-2"],
        "feature_id": ["F01", "F01", "F01", "F10", "F10"],
        "planned_on": [D("2021-03-01"), D("2022-12-01"), D("2023-04-01"), D("2023-03-20"), D("2023-05-01")],
        "completed_on": [D("2021-03-10"), D("2023-02-15"), D("2023-04-20"), D("2023-03-25"), pd.NaT],
        "budget": [100.0, 200.0, 100.0, 0.0, 100.0]})
    costs = pd.DataFrame({
        "milestone_id": ["F01-2", "F01-3", "F10-1", "F10-2"],
        "period": [D("2023-01-01"), D("2023-03-01"), D("2023-03-01"), D("2023-04-01")],
        "cost": [80.0, 120.0, 50.0, 30.0]})
    feats = pd.DataFrame({"feature_id": ["F01", "F10"],
                          "started_on": [D("2021-01-01"), D("2023-03-01")]})
    return ms, costs, feats


@pytest.mark.parametrize("with_features", [True, False])
def test_milestone_costs_before_the_data_are_unknown_not_zero(with_features):
    ms, costs, feats = _milestones()
    t = prod.milestone_efficiency(ms, costs, as_of=D("2023-06-30"),
                                  features=feats if with_features else None).set_index("milestone_id")
    # F01-1: finished 2021, nothing recorded -> unknown cost, no variance (was -100 %)
    # F01-2: work from 2021-03-10 (F01-1 done) < 2023-01: 80 recorded, but incomplete
    for m, recorded in (("F01-1", 0.0), ("F01-2", 80.0)):
        r = t.loc[m]
        assert math.isnan(r["cost"]) and r["cost_recorded"] == recorded and not r["cost_complete"]
        assert math.isnan(r["variance"]) and math.isnan(r["variance_pct"]) and pd.isna(r["favourable"])
        assert "before the cost data starts (2023-01)" in r["data_issue"]
    # F01-3: work from 2023-02-15: 120 vs 100 -> +20, +20 %, unfavourable
    r = t.loc["F01-3"]
    assert (r["cost"], r["variance"], r["variance_pct"], r["favourable"]) == (120.0, 20.0, 0.2, False)
    assert r["cost_complete"] and pd.isna(r["data_issue"])
    # F10-1: budget 0 -> data issue, not divided by; F10-2: 30 vs 100 -> -70, -70 %, favourable
    assert math.isnan(t.loc["F10-1", "variance_pct"]) and "zero or negative" in t.loc["F10-1", "data_issue"]
    r = t.loc["F10-2"]
    assert (r["variance"], r["variance_pct"], r["favourable"]) == (-70.0, -0.7, True)
    # cost per completed milestone: only known costs, F01-3 (120) and F10-1 (50)
    assert prod.cost_per_completed_milestone(t.reset_index()) == 85.0


def test_an_explicit_data_start_overrides_the_first_cost_month():
    ms, costs, feats = _milestones()
    t = prod.milestone_efficiency(ms, costs, D("2023-06-30"), data_start="2020-01",
                                  features=feats).set_index("milestone_id")
    assert t["cost_complete"].all()
    assert t.loc["F01-1", "variance_pct"] == -1.0  # the data claim to start in 2020: 0 is real


def _launch_inputs():
    products = pd.DataFrame({"product_id": ["OLD", "NEW", "RUN", "FREE"],
                             "launched_on": [D("2018-05-01"), D("2023-02-10"), D("2023-10-01"),
                                             D("2023-03-01")]})
    pm = pd.DataFrame({"period": [D(x) for x in ("2023-01-01", "2023-02-01", "2023-04-01", "2023-08-01",
                                                 "2023-10-01", "2023-03-01")],
                       "product_id": ["OLD", "NEW", "NEW", "NEW", "RUN", "FREE"],
                       "new_mrr": [100.0, 50.0, 25.0, 999.0, 40.0, 10.0]})
    features = pd.DataFrame({"feature_id": ["fa", "fb"], "product_id": ["NEW", "RUN"]})
    costs = pd.DataFrame({"feature_id": ["fa", "fa", "fb"],
                          "period": [D("2023-01-01"), D("2023-03-01"), D("2023-09-01")],
                          "cost": [300.0, 300.0, 100.0]})
    campaigns = pd.DataFrame({"product_id": ["NEW", "RUN"], "spend": [400.0, 0.0]})
    return products, pm, features, costs, campaigns


def test_launch_roi_flags_launches_the_data_do_not_cover():
    t = prod.launch_roi(*_launch_inputs(), months=6, data_start="2023-01",
                        as_of="2023-12").set_index("product_id")
    # NEW: window 2023-02..2023-07: new MRR 50 + 25 = 75 (the 999 of 2023-08 is outside),
    # new ARR 900; cost 600 dev + 400 launch = 1,000; ROI (900 - 1000) / 1000 = -0.1
    r = t.loc["NEW"]
    assert (r["new_arr"], r["cost"], r["roi"], r["window_complete"]) == (900.0, 1000.0, -0.1, True)
    assert pd.isna(r["data_issue"]) and math.isnan(r["roi_to_date"])
    # OLD: launched 2018, data from 2023-01: flagged, no ROI (was -100 %)
    r = t.loc["OLD"]
    assert math.isnan(r["roi"]) and not r["window_complete"]
    assert r["data_issue"].startswith("launched before the data starts (2023-01)")
    # RUN: window 2023-10..2024-03 runs past 2023-12: no ROI, ROI to date (480 - 100) / 100
    r = t.loc["RUN"]
    assert math.isnan(r["roi"]) and r["roi_to_date"] == pytest.approx(3.8) and not r["window_complete"]
    assert "still running" in r["data_issue"]
    # FREE: covered window but no cost: ROI undefined, reported
    r = t.loc["FREE"]
    assert math.isnan(r["roi"]) and r["window_complete"] and r["data_issue"] == roi_issue(0.0)


def test_launch_roi_defaults_to_the_months_of_product_new_mrr():
    t = prod.launch_roi(*_launch_inputs(), months=6).set_index("product_id")
    assert t.loc["OLD", "data_issue"].startswith("launched before the data starts (2023-01)")
    assert t.loc["NEW", "roi"] == -0.1


def test_feature_roi_flags_unknown_and_zero_costs():
    features = pd.DataFrame({"feature_id": ["fa", "fb", "fc"], "team": ["T", "T", "U"],
                             "product_id": ["P"] * 3, "budget": [1000.0, 500.0, 0.0],
                             "started_on": [D("2023-01-15"), D("2022-06-01"), D("2023-05-01")]})
    costs = pd.DataFrame({"feature_id": ["fa", "fb"], "cost": [600.0, 200.0]})
    attributed = pd.DataFrame({"feature_id": ["fa", "fb", "fc"], "attributed_arr": [1200.0, 900.0, 50.0]})
    t = prod.feature_roi(features, costs, attributed, data_start="2023-01").set_index("feature_id")
    assert t.loc["fa", "roi"] == 1.0 and pd.isna(t.loc["fa", "data_issue"])  # (1200 - 600) / 600
    assert math.isnan(t.loc["fb", "roi"]) and not t.loc["fb", "cost_complete"]
    assert t.loc["fb", "data_issue"] == "cost incomplete: feature started before the cost data starts (2023-01)"
    assert math.isnan(t.loc["fc", "roi"]) and t.loc["fc", "data_issue"] == roi_issue(0.0)
    assert math.isnan(t.loc["fc", "budget_used"])
    team = prod.team_roi(t.reset_index()).set_index("team")
    # team T: only fa counts (fb's cost is incomplete): (1200 - 600) / 600
    assert (team.loc["T", "cost"], team.loc["T", "roi"], team.loc["T", "features_incomplete"]) == (600.0, 1.0, 1)
    assert math.isnan(team.loc["U", "roi"]) and team.loc["U", "data_issue"] == roi_issue(0.0)


def test_roi_functions_report_non_positive_costs():
    assert roi_issue(0.0) == "cost is 0 (zero or negative): ROI undefined"
    assert roi_issue(-5.0, "spend") == "spend is -5 (zero or negative): ROI undefined"
    assert roi_issue(None) == "no cost" and roi_issue(float("nan")) == "no cost" and roi_issue(1.0) is None
    camp = dep.campaign_roi(pd.DataFrame({"campaign_id": ["a", "b"], "spend": [100.0, 0.0],
                                          "new_mrr": [25.0, 10.0]})).set_index("campaign_id")
    assert camp.loc["a", "roi"] == 2.0 and pd.isna(camp.loc["a", "data_issue"])  # (300 - 100) / 100
    assert math.isnan(camp.loc["b", "roi"]) and math.isnan(camp.loc["b", "roas"])
    assert camp.loc["b", "data_issue"] == "spend is 0 (zero or negative): ROI undefined"
    x = dep.cross_domain_roi([{"domain": "A", "return_": 30.0, "cost": 10.0},
                              {"domain": "B", "return_": 5.0, "cost": 0.0}]).set_index("domain")
    assert x.loc["A", "roi"] == 2.0 and math.isnan(x.loc["B", "roi"]) and x.loc["B", "data_issue"] == roi_issue(0.0)
    s = dep.sales_efficiency(pd.DataFrame({"kind": ["new"], "stage": ["won"], "opportunities": [1],
                                           "arr": [100.0]}), 0.0)
    assert math.isnan(s.roi) and s.data_issue == "sales cost is 0 (zero or negative): ROI undefined"
    from finlib.metrics.retention import cs_investment_roi

    cohort = pd.DataFrame({"mrr_then": [100.0, 100.0], "mrr_now": [100.0, 50.0], "covered": [True, False]})
    cs = cs_investment_roi(cohort, 0.0)
    # covered GRR 1.0, baseline 0.5: 0.5 x 100 = 50 MRR, 600 ARR retained above baseline
    assert cs.retained_arr_above_baseline == 600.0 and math.isnan(cs.roi) and "CS cost is 0" in cs.data_issue
    assert cs_investment_roi(cohort, 300.0).roi == 1.0 and cs_investment_roi(cohort, 300.0).data_issue is None
