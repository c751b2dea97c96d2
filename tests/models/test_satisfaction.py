"""Customer-satisfaction ROI: outcomes by hand, NRR by band by hand, the Logit on data with a
known slope, the marginal effect against statsmodels and the revenue per point against a
finite difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finlib.errors import ModelError
from finlib.models.satisfaction import (
    fit_satisfaction_churn,
    nrr_by_band,
    revenue_per_point,
    score_band,
    survey_outcomes,
)


def _m(cid, values, first="2024-01"):
    p = pd.date_range(first, periods=len(values), freq="MS")
    return [{"period": d, "customer_id": cid, "mrr": v} for d, v in zip(p, values, strict=True) if v]


def test_outcomes_follow_the_definition_month_by_month():
    mrr = pd.DataFrame(
        _m("C1", [100] * 8)                                  # pays Jan..Aug
        + _m("C2", [200, 200, 200, 200, 0, 0, 0, 0])         # last pays in April
        + _m("C3", [0, 0, 80, 80, 80, 80, 80, 80])           # new in March
        + _m("C4", [50, 50, 0, 50, 50, 50, 50, 50]))         # misses March, comes back
    surveys = pd.DataFrame({
        "response_id": ["R1", "R2", "R3", "R4", "R5"],
        "customer_id": ["C1", "C2", "C3", "C4", "C1"],
        "responded_on": pd.to_datetime(["2024-03-10", "2024-03-20", "2024-03-05", "2024-02-14", "2024-07-01"]),
        "kind": ["nps", "nps", "csat", "nps", "csat"], "score": [9, 3, 5, 7, 4]})
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"],
                              "segment": ["SMB", "Enterprise", "SMB", "Mid-Market"],
                              "signup_date": pd.to_datetime(["2023-01-15", "2023-12-01", "2024-03-01", "2022-02-01"])})
    o = survey_outcomes(surveys, mrr, customers, horizon_months=3, as_of="2024-08").set_index("response_id")
    # R3: C3 paid nothing at the end of February -> not at risk, left out
    assert sorted(o.index) == ["R1", "R2", "R4", "R5"]
    # R1: March..May all paid; after = May
    assert (o.loc["R1", "mrr_before"], o.loc["R1", "mrr_after"], o.loc["R1", "churned"]) == (100, 100, 0)
    # R2: no payment at the end of May (inside March..May)
    assert (o.loc["R2", "mrr_before"], o.loc["R2", "mrr_after"], o.loc["R2", "churned"]) == (200, 0, 1)
    # R4: February..April, nothing at the end of March: churned although paying again in April
    assert (o.loc["R4", "mrr_after"], o.loc["R4", "churned"]) == (50, 1)
    # R5: July + 2 months = September is after the data: not labelled
    assert not o.loc["R5", "labelled"] and np.isnan(o.loc["R5", "churned"])
    assert o.loc["R1", "band"] == "promoter" and o.loc["R2", "band"] == "detractor"
    assert o.loc["R4", "band"] == "passive" and o.loc["R5", "band"] == "satisfied"
    assert o.loc["R1", "tenure_months"] == 14 and o.loc["R2", "segment"] == "Enterprise"


def test_bands_follow_reichheld_and_top_two_box():
    assert list(score_band("nps", [0, 6, 7, 8, 9, 10])) == ["detractor"] * 2 + ["passive"] * 2 + ["promoter"] * 2
    assert list(score_band("csat", [1, 2, 3, 4, 5])) == ["dissatisfied"] * 2 + ["neutral", "satisfied", "satisfied"]


def test_nrr_by_band_by_hand():
    o = pd.DataFrame({
        "customer_id": ["A", "B", "C", "D", "A"],
        "kind": "nps", "score": [3, 5, 9, 10, 10], "band": ["detractor", "detractor", "promoter", "promoter", "promoter"],
        "period": pd.to_datetime(["2024-05-01", "2024-05-01", "2024-05-01", "2024-05-01", "2024-01-01"]),
        "mrr_before": [100.0, 100.0, 100.0, 300.0, 999.0], "mrr_after": [0.0, 120.0, 110.0, 330.0, 5.0],
        "churned": [1.0, 0.0, 0.0, 0.0, 0.0], "labelled": True})
    t = nrr_by_band(o, "nps").set_index("band")
    # A's older response (January) is ignored: each customer's latest one counts
    assert t.loc["detractor", "nrr"] == pytest.approx(120 / 200)
    assert t.loc["promoter", "nrr"] == pytest.approx(440 / 400)
    assert t.loc["detractor", "churn_rate"] == 0.5 and t.loc["passive", "customers"] == 0
    assert np.isnan(t.loc["passive", "nrr"])
    # linearisation: residuals -60, +60; n/(n-1) = 2; se = sqrt(2 x 7200) / 200 = 0.6
    assert t.loc["detractor", "ci_high"] - 0.6 == pytest.approx(1.959964 * 0.6, rel=1e-5)
    assert t.loc["promoter", "ci_low"] == pytest.approx(1.1)  # proportional: no residual


def _simulated(beta=-0.3, n_customers=2_500, seed=3):
    rng = np.random.default_rng(seed)
    cid = np.repeat(np.arange(n_customers), 2)
    n = len(cid)
    seg = np.array(["SMB", "Mid-Market", "Enterprise"])[rng.integers(0, 3, n_customers)][cid]
    mrr = np.exp(rng.normal(6.5, 0.8, n_customers))[cid]
    tenure = rng.integers(1, 60, n)
    score = rng.integers(0, 11, n).astype(float)
    eta = 0.8 + beta * score - 0.5 * (seg == "Enterprise") + 0.1 * (np.log(mrr) - 6.5) - 0.2 * np.log1p(tenure)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    df = pd.DataFrame({"response_id": np.arange(n), "customer_id": [f"C{i}" for i in cid], "kind": "nps",
                       "score": score, "segment": seg, "mrr_before": mrr, "tenure_months": tenure.astype(float),
                       "churned": y, "labelled": True})
    df.attrs["horizon_months"] = 12
    return df


def test_logit_recovers_a_known_slope_within_its_interval():
    m = fit_satisfaction_churn(_simulated(), "nps")
    assert m.ci_[0] < -0.3 < m.ci_[1] and m.ci_[1] < 0
    assert m.coefficients_.loc["score", "odds_ratio"] == pytest.approx(np.exp(m.coef_))
    # the score alone: still the same slope (the score is independent of the controls here)
    alone = fit_satisfaction_churn(_simulated(), "nps", controls=False)
    assert list(alone.coefficients_.index) == ["const", "score"]
    assert alone.ci_[0] < -0.3 < alone.ci_[1]


def test_average_marginal_effect_matches_statsmodels_get_margeff():
    m = fit_satisfaction_churn(_simulated(), "nps")
    me = m.result_.get_margeff(at="overall", method="dydx")
    k = list(m.result_.params.index).index("score") - 1  # get_margeff drops the constant
    assert m.ame_ == pytest.approx(me.margeff[k], rel=1e-9)
    lo, hi = me.conf_int()[k]
    assert m.ame_ci_[0] == pytest.approx(lo, rel=1e-6) and m.ame_ci_[1] == pytest.approx(hi, rel=1e-6)


def test_revenue_per_point_is_minus_the_arr_weighted_slope_of_churn():
    df = _simulated()
    m = fit_satisfaction_churn(df, "nps")
    now = df.drop_duplicates("customer_id").head(400)
    r = revenue_per_point(m, now)
    h = 1e-4
    up, down = now.assign(score=now["score"] + h), now.assign(score=now["score"] - h)
    arr = 12 * now["mrr_before"].to_numpy()
    fd = -(arr * (m.predict(up) - m.predict(down))).sum() / (2 * h)
    assert r["revenue_per_point"] == pytest.approx(fd, rel=1e-6)
    assert r["revenue_per_point"] > 0 and r["ci_low"] < r["revenue_per_point"] < r["ci_high"]
    assert r["per_customer"] == pytest.approx(r["revenue_per_point"] / 400)
    assert r["arr"] == pytest.approx(arr.sum())


def test_too_few_responses_are_refused_with_the_counts():
    df = _simulated().head(20)
    with pytest.raises(ModelError, match="at least 30"):
        fit_satisfaction_churn(df, "nps")
    with pytest.raises(ModelError, match="unknown survey kind"):
        fit_satisfaction_churn(df, "ces")
