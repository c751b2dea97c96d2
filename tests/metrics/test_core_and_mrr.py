"""ROI, ROAS, variance and MRR rules: hand-computed answers, ChartMogul's published
examples and hypothesis properties."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finlib.metrics import core, mrr

money = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False).map(float)
pos_money = st.decimals(min_value="0.01", max_value=100_000, places=2).map(float)


# -- ChartMogul's published examples ---------------------------------------------------

def test_chartmogul_mrr_churn_example_gross_20_net_10():
    r = mrr.mrr_churn_rates(100, churn=10, contraction=10, expansion=10)
    assert r.gross == pytest.approx(0.20)
    assert r.net == pytest.approx(0.10)


def test_chartmogul_annual_plan_of_2000_is_166_67_new_mrr():
    assert mrr.monthly_mrr(2000, "annual") == 166.67
    assert mrr.classify_movement(0, mrr.monthly_mrr(2000, "annual"), paid_before=False)["new"] == 166.67


def test_net_mrr_churn_offsets_reactivation_too():
    # ChartMogul's standard formula: (churn + contraction − expansion − reactivation) / start
    assert mrr.mrr_churn_rates(200, churn=20, contraction=10, expansion=5, reactivation=5).net == pytest.approx(0.10)
    assert math.isnan(mrr.mrr_churn_rates(0, 0, 0, 0).gross)


def test_arr_is_twelve_times_mrr():
    assert mrr.arr(616.67) == pytest.approx(7400.04)


# -- movement rules ------------------------------------------------------------------

@pytest.mark.parametrize("s,e,before,kind,amount", [
    (0, 100, False, "new", 100), (0, 100, True, "reactivation", 100), (100, 0, True, "churn", 100),
    (100, 150, True, "expansion", 50), (100, 60, True, "contraction", 40)])
def test_each_movement_is_classified(s, e, before, kind, amount):
    m = mrr.classify_movement(s, e, before)
    assert m[kind] == amount
    assert sum(v for k, v in m.items() if k != kind) == 0


def test_customer_movements_on_a_tiny_panel():
    panel = pd.DataFrame({
        "period": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01", "2024-03-01", "2024-02-01",
                                  "2024-02-01"]),
        "customer_id": ["a", "a", "b", "b", "c", "c"], "mrr": [100.0, 120.0, 50.0, 70.0, 10.0, 5.0]})
    mv = mrr.customer_movements(panel).set_index(["period", "customer_id"])
    assert mv.loc[(pd.Timestamp("2024-02-01"), "a"), "expansion"] == 20.0
    assert mv.loc[(pd.Timestamp("2024-02-01"), "b"), "churn"] == 50.0
    assert mv.loc[(pd.Timestamp("2024-02-01"), "c"), "new"] == 15.0  # two products summed
    assert mv.loc[(pd.Timestamp("2024-03-01"), "b"), "reactivation"] == 70.0
    assert mv.loc[(pd.Timestamp("2024-03-01"), "c"), "churn"] == 15.0
    assert mv.loc[(pd.Timestamp("2024-03-01"), "a"), "churn"] == 120.0
    tot = mrr.movement_totals(mv.reset_index())
    assert tot["net_new"].tolist() == [20.0 + 15.0 - 50.0, 70.0 - 135.0]  # 150 → 135 → 70


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from("abcd"), money), min_size=1, max_size=40))
def test_mrr_movements_add_up_to_the_change_in_mrr(rows):
    panel = pd.DataFrame({"period": [pd.Timestamp(2024, 1 + m, 1) for m, _, _ in rows],
                          "customer_id": [c for _, c, _ in rows], "mrr": [x for _, _, x in rows]})
    panel = pd.concat([panel, pd.DataFrame({"period": [pd.Timestamp(2024, 1, 1), pd.Timestamp(2024, 6, 1)],
                                            "customer_id": ["z", "z"], "mrr": [0.0, 0.0]})])
    mv = mrr.customer_movements(panel)
    if mv.empty:
        return
    lhs = mv["mrr_start"] + mv["new"] + mv["expansion"] + mv["reactivation"] - mv["contraction"] - mv["churn"]
    assert (lhs - mv["mrr_end"]).abs().max() < 1e-6
    assert (mv[list(mrr.MOVEMENTS)] >= 0).all().all()
    assert ((mv[list(mrr.MOVEMENTS)] > 0).sum(axis=1) <= 1).all()  # one movement per customer-month
    totals = mrr.movement_totals(mv)
    wide = panel.groupby("period")["mrr"].apply(lambda s: s[s > 0].sum())
    for r in totals.itertuples():
        prev = r.period - pd.DateOffset(months=1)
        assert r.mrr_end - wide.get(prev, 0.0) == pytest.approx(r.net_new, abs=1e-6)


# -- ROI, ROAS, variance -------------------------------------------------------------

def test_roi_and_roas_hand_computed():
    assert core.roi(300, 100) == 2.0  # 200 %: return three times cost
    assert core.roas(300, 100) == 3.0  # ROAS 300 % is ROI 200 %
    assert core.roi(0, 100) == -1.0
    assert math.isnan(core.roi(100, 0))
    assert math.isnan(core.roas(100, 0))


@given(pos_money)
def test_roi_of_zero_return_is_minus_100_percent(cost):
    assert core.roi(0.0, cost) == -1.0
    s = core.roi_series(pd.Series([0.0]), pd.Series([cost]))
    assert s.iloc[0] == -1.0


@given(money, pos_money)
def test_roas_is_roi_plus_one(ret, cost):
    assert core.roas(ret, cost) == pytest.approx(core.roi(ret, cost) + 1.0)


def test_variance_hand_computed():
    v = core.variance(110, 100, "revenue")
    assert (v.variance, v.variance_pct, v.favourable) == (10.0, 0.1, True)
    v = core.variance(110, 100, "cost")
    assert (v.variance, v.variance_pct, v.favourable) == (10.0, 0.1, False)
    v = core.variance(50, 0, "cost")
    assert v.variance == 50 and math.isnan(v.variance_pct) and v.favourable is None
    assert "zero or negative" in v.data_issue
    assert core.variance(50, -10, "revenue").data_issue


@given(money, pos_money, st.sampled_from(core.KINDS))
def test_variance_signs_follow_the_favourable_convention(actual, plan, kind):
    v = core.variance(actual, plan, kind)
    assert v.variance == pytest.approx(actual - plan)
    assert math.copysign(1, v.variance_pct) == math.copysign(1, v.variance) or v.variance == 0
    if kind == "revenue":
        assert v.favourable == (actual >= plan)
    else:
        assert v.favourable == (actual <= plan)
    assert v.data_issue is None


@given(money, st.decimals(min_value=-1000, max_value=0, places=2).map(float), st.sampled_from(core.KINDS))
def test_a_plan_of_zero_or_less_is_a_data_issue_never_divided(actual, plan, kind):
    v = core.variance(actual, plan, kind)
    assert v.data_issue and v.favourable is None and math.isnan(v.variance_pct)


def test_variance_frame_matches_the_scalar_rule():
    df = pd.DataFrame({"actual": [90.0, 110.0, 5.0, 7.0], "plan": [100.0, 100.0, 0.0, None],
                       "k": ["cost", "revenue", "cost", "revenue"]})
    out = core.variance_frame(df, kind_column="k")
    assert out["favourable"].tolist()[:2] == [True, True]
    assert out["favourable"].isna().tolist() == [False, False, True, True]
    assert out["data_issue"].tolist()[2:] == ["plan is zero or negative", "no plan"]
    assert out["variance_pct"].round(6).tolist()[:2] == [-0.1, 0.1]
