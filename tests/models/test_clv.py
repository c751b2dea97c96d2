"""CLV: the simple formula and the shifted-beta-geometric model against published answers.

Published figures used
----------------------
* ChartMogul, "Customer Lifetime Value": ARPA 100 a month at 5 % monthly churn, margin
  100 % -> LTV 2,000.
* Fader & Hardie (2007), "How to Project Customer Retention", J. Interactive Marketing 21(1),
  Table 1 survivors (first 7 years) and the ML estimates in the text and Appendix B:
  High End  [1000, 869, 743, 653, 593, 551, 517, 491] -> alpha = 0.668, beta = 3.806,
            LL = -1.611 per customer (Appendix B; LL(1, 1) = -2.115 per customer);
  Regular   [1000, 631, 468, 382, 326, 289, 262, 241] -> alpha = 0.704, beta = 1.182.
  (Checked via the public code search: jdmaturen/shifted_beta_geometric_py `sbg.py`'s test
  asserts 0.668 / 3.806 and LL(1,1) = -2.115 on the High End data; several independent
  re-implementations list both segments' values.) Tolerance: 0.0015 absolute (the paper
  prints three decimals, so +/- 0.0005 rounding plus optimiser slack).
* DERL: jdmaturen/shifted_beta_geometric_py README, High End, d = 10 %, 7 renewals -> 7.530
  (Fader & Hardie 2010, eq. 6); we also check the 2F1 closed form against a direct sum.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finlib.errors import ModelError, UndefinedMetricError
from finlib.metrics.clv import (
    SBGModel,
    clv_by_segment,
    clv_initiative_value,
    fit_sbg,
    fit_sbg_cohorts,
    simple_clv,
)

HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
TOL = 0.0015


# ---- simple CLV ------------------------------------------------------------------------
def test_simple_clv_reproduces_chartmogul_example():
    assert simple_clv(100, 0.05, 1.0) == pytest.approx(2000.0, abs=1e-9)


def test_simple_clv_applies_gross_margin():
    assert simple_clv(100, 0.05, 0.8) == pytest.approx(1600.0, abs=1e-9)


def test_simple_clv_is_undefined_at_zero_churn_with_a_reason():
    with pytest.raises(UndefinedMetricError, match="zero churn"):
        simple_clv(100, 0.0)


@pytest.mark.parametrize("churn", [-0.1, 1.5, float("nan")])
def test_simple_clv_rejects_impossible_churn(churn):
    with pytest.raises(UndefinedMetricError):
        simple_clv(100, churn)


# ---- sBG: published estimates ------------------------------------------------------------
def test_sbg_reproduces_fader_hardie_high_end_estimates():
    m = fit_sbg(HIGH_END)
    assert m.alpha == pytest.approx(0.668, abs=TOL)
    assert m.beta == pytest.approx(3.806, abs=TOL)
    assert m.log_likelihood / 1000 == pytest.approx(-1.611, abs=0.0005)


def test_sbg_reproduces_fader_hardie_regular_estimates():
    m = fit_sbg(REGULAR)
    assert m.alpha == pytest.approx(0.704, abs=TOL)
    assert m.beta == pytest.approx(1.182, abs=TOL)


def test_sbg_accepts_proportions_and_gives_per_customer_log_likelihood():
    m = fit_sbg([c / 1000 for c in HIGH_END])
    assert m.alpha == pytest.approx(0.668, abs=TOL)
    assert m.log_likelihood == pytest.approx(-1.611, abs=0.0005)


def test_sbg_log_likelihood_at_one_one_matches_published_value():
    from finlib.metrics.clv import _neg_ll

    ll = -_neg_ll(np.log([1.0, 1.0]), [np.array(HIGH_END, dtype=float) / 1000])
    assert ll == pytest.approx(-2.115, abs=0.001)  # -2.11555: printed truncated to 3 decimals


def test_sbg_curves_follow_the_paper_formulas():
    m = fit_sbg(HIGH_END)
    a, b = m.alpha, m.beta
    # S(t) = B(a, b+t)/B(a, b); r(t) = (b+t-1)/(a+b+t-1); P(T=1) = a/(a+b)
    assert m.survival(0) == pytest.approx(1.0)
    assert m.churn_probability(1) == pytest.approx(a / (a + b))
    assert m.retention(1) == pytest.approx(b / (a + b))
    for t in range(1, 15):
        assert m.retention(t) == pytest.approx((b + t - 1) / (a + b + t - 1))
        assert m.survival(t) == pytest.approx(m.survival(t - 1) * m.retention(t))
        assert m.churn_probability(t) == pytest.approx(m.survival(t - 1) - m.survival(t))
    # the model fits the 7 observed years within 2 percentage points (largest gap: year 1)
    fitted = m.survival(np.arange(8))
    assert np.max(np.abs(fitted - np.array(HIGH_END) / 1000)) < 0.02


def test_derl_matches_published_implementation_and_direct_sum():
    m = fit_sbg(HIGH_END)
    derl = m.discounted_expected_residual_lifetime(0.10, periods_survived=7)
    assert derl == pytest.approx(7.530, abs=0.001)
    n = 8  # the paper's n: n - 1 = 7 renewals
    direct = sum(m.survival(t) / m.survival(n - 1) / 1.1 ** (t - n) for t in range(n, 4000))
    assert derl == pytest.approx(direct, rel=1e-8)
    # DEL of a new customer = sum_t S(t-1)/(1+d)^(t-1)
    direct_del = sum(m.survival(t - 1) / 1.1 ** (t - 1) for t in range(1, 4000))
    assert m.discounted_expected_lifetime(0.10) == pytest.approx(direct_del, rel=1e-8)


def test_projection_extends_the_cohort():
    m = fit_sbg(HIGH_END)
    p = m.project(12)
    assert list(p["t"]) == list(range(13))
    assert p["expected_alive"].iloc[0] == pytest.approx(1000)
    # years 8-12 as projected by the public implementation (jdmaturen README):
    # 0.460, 0.436, 0.414, 0.395, 0.378
    assert list(p["survival"].iloc[8:13]) == pytest.approx([0.460, 0.436, 0.414, 0.395, 0.378], abs=0.0015)
    # paper, Table 1 holdout: 394 High End customers alive after 12 years; the projection
    # from the first 7 years is within 5 % of it
    assert p["expected_alive"].iloc[12] == pytest.approx(394, rel=0.05)


# ---- sBG: bad input ----------------------------------------------------------------------
@pytest.mark.parametrize("series, message", [
    ([1000, 900], "at least two periods"),
    ([1000], "at least two periods"),
    ([1000, 900, 950], "rises"),
    ([1000, 900, -5], ">= 0"),
    ([1000, 900, float("nan")], "NaN"),
    ([1000, 1000, 1000], "nobody churned"),
])
def test_unfittable_series_raise_a_clear_model_error(series, message):
    with pytest.raises(ModelError, match=message):
        fit_sbg(series)


# ---- sBG: recovery of known parameters ------------------------------------------------------
def test_sbg_recovers_simulated_parameters_within_two_standard_errors():
    rng = np.random.default_rng(3)
    alpha, beta, n = 1.2, 4.0, 20_000
    theta = rng.beta(alpha, beta, n)
    T = rng.geometric(theta)  # churn period, 1, 2, ...
    survivors = [n] + [int((T > t).sum()) for t in range(1, 9)]
    m = fit_sbg(survivors)
    assert abs(m.alpha - alpha) < 2 * m.std_err[0] + 1e-9
    assert abs(m.beta - beta) < 2 * m.std_err[1] + 1e-9


def test_pooled_cohorts_equal_the_single_cohort_fit_when_there_is_one():
    a = fit_sbg(REGULAR)
    b = fit_sbg_cohorts([REGULAR])
    assert (a.alpha, a.beta) == pytest.approx((b.alpha, b.beta), rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.1, 20), beta=st.floats(0.1, 50), t=st.integers(1, 60))
def test_sbg_survival_falls_and_retention_rises(alpha, beta, t):
    m = SBGModel(alpha=alpha, beta=beta, log_likelihood=math.nan, n_customers=1, n_periods=1)
    assert m.survival(t) <= m.survival(t - 1) + 1e-15
    assert m.retention(t + 1) >= m.retention(t) - 1e-15
    assert sum(m.churn_probability(k) for k in range(1, t + 1)) == pytest.approx(1 - m.survival(t), abs=1e-9)


# ---- CLV optimisation ----------------------------------------------------------------------------
def test_initiative_value_is_delta_clv_times_customers():
    # churn 5 % -> 4 %: CLV 100*0.8/0.05 = 1600 -> 100*0.8/0.04 = 2000; x 250 customers
    v = clv_initiative_value(arpa=100, gross_margin=0.8, churn_before=0.05, churn_after=0.04, customers=250)
    assert v["delta_clv"] == pytest.approx(400.0)
    assert v["value"] == pytest.approx(100_000.0)


def test_initiative_value_with_sbg_is_positive_when_churn_falls():
    m = fit_sbg(REGULAR)
    v = clv_initiative_value(100, 1.0, 0.05, 0.04, 10, model=m, discount=0.01)
    assert v["delta_clv"] > 0 and v["value"] == pytest.approx(10 * v["delta_clv"])


# ---- from the warehouse ------------------------------------------------------------------------------
def test_clv_by_segment_from_the_warehouse(synth_wh):
    r = clv_by_segment(synth_wh, "2024-12-01", months=12)
    t = r.table.set_index("segment")
    assert set(t.index) == {"SMB", "Mid-Market", "Enterprise"}
    assert r.gross_margin == 1.0  # no ledger revenue in the synthetic warehouse
    for seg, row in t.iterrows():
        assert row["simple_clv"] == pytest.approx(row["arpa"] / row["churn_rate"])
        assert row["alpha"] > 0 and row["beta"] > 0, (seg, row["sbg_note"])
        assert row["sbg_clv"] > row["arpa"]  # at least the first month
    # larger customers are worth more (planted prices 100 / 500 / 2000 a month)
    assert t.loc["Enterprise", "sbg_clv"] > t.loc["Mid-Market", "sbg_clv"] > t.loc["SMB", "sbg_clv"]
