"""Revenue forecast: intervals that cover a known process, year-end arithmetic, short series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finlib.errors import ModelError
from finlib.models.forecast import forecast_revenue, revenue_forecast, revenue_series


def linear_series(n=30, sigma=1500.0, seed=1):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2022-01-01", periods=n, freq="MS")
    return pd.Series(100_000 + 2_000 * np.arange(n) + rng.normal(0, sigma, n), index=idx)


def test_forecast_of_a_linear_trend_covers_the_truth_and_has_sensible_width():
    s = linear_series()
    f = forecast_revenue(s)
    assert f.method == "ETS(A,Ad,N)"
    me = f.month_end
    truth = 100_000 + 2_000 * 30
    assert me["period"] == pd.Timestamp("2024-07-01")
    assert me["pi_lower"] < truth < me["pi_upper"]
    # one-step 95 % interval about +/- 1.96 sigma (sigma = 1500): width within 30 % of 5880
    assert me["pi_upper"] - me["pi_lower"] == pytest.approx(2 * 1.96 * 1500, rel=0.3)


def test_year_end_is_actuals_to_date_plus_the_remaining_months():
    s = linear_series()
    f = forecast_revenue(s)
    ye = f.year_end
    assert ye["actual_to_date"] == pytest.approx(s[s.index.year == 2024].sum())
    assert ye["mean"] == pytest.approx(ye["actual_to_date"] + f.monthly["mean"].sum())
    assert ye["pi_lower"] < ye["mean"] < ye["pi_upper"]
    truth = s[s.index.year == 2024].sum() + sum(100_000 + 2_000 * k for k in range(30, 36))
    assert ye["pi_lower"] < truth < ye["pi_upper"]
    # the year-end interval is narrower than summing the monthly interval bounds
    assert ye["pi_upper"] - ye["pi_lower"] < (f.monthly["pi_upper"] - f.monthly["pi_lower"]).sum()


def test_forecast_is_reproducible():
    s = linear_series()
    assert forecast_revenue(s, seed=3).year_end == forecast_revenue(s, seed=3).year_end


def test_short_series_raise_a_clear_error_or_fall_back_and_say_so():
    s = linear_series(4)
    with pytest.raises(ModelError, match="at least 6 months"):
        forecast_revenue(s)
    f = forecast_revenue(s, fallback=True)
    assert f.method == "run-rate fallback" and "run-rate" in f.note
    assert f.month_end["mean"] == pytest.approx(s.iloc[-1])


def test_medium_series_use_simple_exponential_smoothing():
    assert forecast_revenue(linear_series(8)).method == "ETS(A,N,N)"


def test_gaps_and_past_periods_are_rejected():
    s = linear_series().drop(pd.Timestamp("2023-03-01"))
    with pytest.raises(ModelError, match="gaps"):
        forecast_revenue(s)
    with pytest.raises(ModelError, match="not after"):
        forecast_revenue(linear_series(), period="2023-01-01")


def test_forecast_from_the_warehouse(synth_wh):
    s = revenue_series(synth_wh, "2024-11-01")
    assert s.index.max() == pd.Timestamp("2024-11-01") and len(s) == 35
    f = revenue_forecast(synth_wh, "2024-11-01")
    actual_dec = revenue_series(synth_wh, "2024-12-01").iloc[-1]
    assert f.month_end["period"] == pd.Timestamp("2024-12-01")
    assert f.month_end["pi_lower"] < actual_dec < f.month_end["pi_upper"]
