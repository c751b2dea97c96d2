"""Revenue forecast to month end and year end, with prediction intervals.

Recognised revenue per month (``revenue_recognized``, summed in SQL) is modelled with an
exponential-smoothing state-space model (statsmodels ``ETSModel``; Hyndman, Koehler, Ord &
Snyder 2008, *Forecasting with Exponential Smoothing: The State Space Approach*;
Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., ch. 8):

* 6-11 months of history: ETS(A,N,N), simple exponential smoothing (level only);
* 12-35 months: ETS(A,Ad,N), additive damped trend;
* 36+ months: ETS(A,Ad,N) or ETS(A,Ad,A) with a 12-month season, whichever has the lower AICc.

Fewer than 6 months raise :class:`~finlib.errors.ModelError` (or, with
``fallback=True``, a run-rate forecast that says so in ``method`` and ``note``).

"Month end" is the forecast of the month being forecast (the open month: revenue_recognized
is monthly, so the forecast is for the whole month). "Year end" is the calendar-year total:
recognised months of that year already closed plus the simulated sum of the remaining
months; its interval comes from ``repetitions`` simulated sample paths (the sum of
per-month interval bounds would be too wide). Units: reporting currency (USD).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lazy_loader as lazy
import numpy as np
import pandas as pd

from finlib.errors import ModelError
from finlib.metrics import facts

scipy = lazy.load("scipy")  # scipy.stats and statsmodels load on first use
sm = lazy.load("statsmodels.api", suppress_warning=True)

__all__ = ["MIN_MONTHS", "RevenueForecast", "forecast_revenue", "revenue_forecast", "revenue_series"]

MIN_MONTHS = 6


@dataclass(frozen=True)
class RevenueForecast:
    """Result of :func:`forecast_revenue`.

    Attributes
    ----------
    method : str
        The model used, e.g. ``"ETS(A,Ad,N)"`` or ``"run-rate fallback"``.
    monthly : DataFrame
        One row per forecast month: ``period``, ``mean``, ``pi_lower``, ``pi_upper``.
    month_end : dict
        ``{"period", "mean", "pi_lower", "pi_upper"}`` for the forecast month.
    year_end : dict
        ``{"year", "actual_to_date", "mean", "pi_lower", "pi_upper"}``: the calendar-year
        total (actual closed months + forecast of the rest).
    level : float
        Coverage of the prediction intervals (0.95).
    note : str
        Caveats (short history, fallback).
    result : statsmodels ETSResults or None
    """

    method: str
    monthly: Any
    month_end: dict
    year_end: dict
    level: float
    note: str = ""
    result: Any = field(default=None, repr=False)


def _as_monthly_series(series):
    s = pd.Series(series, dtype=float).copy()
    s.index = pd.DatetimeIndex(pd.to_datetime(s.index)).to_period("M").to_timestamp()
    s = s.groupby(level=0).sum().sort_index()
    full = pd.date_range(s.index.min(), s.index.max(), freq="MS")
    s = s.reindex(full)
    if s.isna().any():
        missing = [d.strftime("%Y-%m") for d in s.index[s.isna()]][:6]
        raise ModelError(f"the revenue series has gaps (months {missing}); fill them (0 if truly no revenue)")
    s.index.freq = "MS"
    return s


def forecast_revenue(series, period=None, alpha: float = 0.05, repetitions: int = 2000,
                     seed: int = 0, fallback: bool = False) -> RevenueForecast:
    """Forecast monthly recognised revenue to the end of ``period``'s month and year.

    Parameters
    ----------
    series : pandas.Series
        Recognised revenue per month (index: any date in the month), closed months only,
        without gaps, in the reporting currency.
    period : date-like, optional
        The month to forecast (default: the month after the last observed one). Must be
        after the last observed month.
    alpha : float, default 0.05
        1 - coverage of the prediction intervals.
    repetitions : int, default 2000
        Simulated paths for the year-end interval.
    seed : int, default 0
        Seed of the simulation (results are reproducible).
    fallback : bool, default False
        With fewer than :data:`MIN_MONTHS` months, return a run-rate forecast (last month
        repeated, interval from the observed month-over-month changes) instead of raising.

    Raises
    ------
    ModelError
        Too short a series (without ``fallback``), gaps, or ``period`` not in the future.
    """
    s = _as_monthly_series(series)
    last = s.index.max()
    period = last + pd.DateOffset(months=1) if period is None else pd.Timestamp(period).to_period("M").to_timestamp()
    if period <= last:
        raise ModelError(f"period {period.date()} is not after the last observed month {last.date()}")
    year_end_month = pd.Timestamp(year=period.year, month=12, day=1)
    h = (year_end_month.year - last.year) * 12 + year_end_month.month - last.month
    future = pd.date_range(last + pd.DateOffset(months=1), periods=h, freq="MS")
    actual_ytd = float(s[s.index.year == period.year].sum())
    level = 1 - alpha

    n = len(s)
    if n < MIN_MONTHS:
        if not fallback:
            raise ModelError(
                f"the revenue forecast needs at least {MIN_MONTHS} months of recognised revenue; "
                f"found {n} ({s.index.min():%Y-%m} to {last:%Y-%m}). Pass fallback=True for a "
                "run-rate estimate, or wait for more history"
            )
        return _run_rate(s, period, future, actual_ytd, alpha, seed, repetitions)

    candidates = []
    if n < 12:
        candidates.append(("ETS(A,N,N)", {"trend": None}))
    else:
        candidates.append(("ETS(A,Ad,N)", {"trend": "add", "damped_trend": True}))
        if n >= 36:
            candidates.append(("ETS(A,Ad,A)", {"trend": "add", "damped_trend": True,
                                                   "seasonal": "add", "seasonal_periods": 12}))
    best = None
    for name, kw in candidates:
        try:
            res = sm.tsa.ETSModel(s, error="add", **kw).fit(disp=False)
        except Exception as exc:  # numerical failure of one candidate
            if best is None and name == candidates[-1][0]:
                raise ModelError(f"{name} could not be fitted: {exc}") from exc
            continue
        if best is None or res.aicc < best[1].aicc:
            best = (name, res)
    if best is None:
        raise ModelError("no exponential-smoothing model could be fitted to the revenue series")
    method, res = best
    pred = res.get_prediction(start=future[0], end=future[-1]).summary_frame(alpha=alpha)
    monthly = pd.DataFrame({"period": future, "mean": pred["mean"].to_numpy(),
                            "pi_lower": pred["pi_lower"].to_numpy(), "pi_upper": pred["pi_upper"].to_numpy()})
    sims = np.asarray(res.simulate(h, anchor="end", repetitions=repetitions,
                                   rng=np.random.default_rng(seed)))
    sims = sims.reshape(h, -1)
    in_year = np.asarray(future.year == period.year)
    totals = actual_ytd + sims[in_year].sum(axis=0)
    row = monthly[monthly["period"] == period].iloc[0]
    note = "" if n >= 24 else f"only {n} months of history: intervals are wide and the trend uncertain"
    return RevenueForecast(
        method=method, monthly=monthly,
        month_end={"period": period, "mean": float(row["mean"]), "pi_lower": float(row["pi_lower"]),
                   "pi_upper": float(row["pi_upper"])},
        year_end={"year": period.year, "actual_to_date": actual_ytd,
                  "mean": actual_ytd + float(monthly.loc[in_year, "mean"].sum()),
                  "pi_lower": float(np.quantile(totals, alpha / 2)),
                  "pi_upper": float(np.quantile(totals, 1 - alpha / 2))},
        level=level, note=note, result=res)


def _run_rate(s, period, future, actual_ytd, alpha, seed, repetitions) -> RevenueForecast:
    """Run-rate fallback: the last month repeated; intervals from a random walk whose step
    spread is the observed month-over-month change (or 10 % of the level if unknown)."""
    last_value = float(s.iloc[-1])
    diffs = np.diff(s.to_numpy())
    sigma = float(np.std(diffs, ddof=1)) if len(diffs) >= 2 else 0.10 * abs(last_value)
    k = np.arange(1, len(future) + 1)
    z = scipy.stats.norm.ppf(1 - alpha / 2)
    monthly = pd.DataFrame({"period": future, "mean": last_value,
                            "pi_lower": last_value - z * sigma * np.sqrt(k),
                            "pi_upper": last_value + z * sigma * np.sqrt(k)})
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, sigma, size=(len(future), repetitions)).cumsum(axis=0) + last_value
    in_year = np.asarray(future.year == period.year)
    totals = actual_ytd + steps[in_year].sum(axis=0)
    row = monthly[monthly["period"] == period].iloc[0]
    return RevenueForecast(
        method="run-rate fallback", monthly=monthly,
        month_end={"period": period, "mean": last_value, "pi_lower": float(row["pi_lower"]),
                   "pi_upper": float(row["pi_upper"])},
        year_end={"year": period.year, "actual_to_date": actual_ytd,
                  "mean": actual_ytd + last_value * int(in_year.sum()),
                  "pi_lower": float(np.quantile(totals, alpha / 2)),
                  "pi_upper": float(np.quantile(totals, 1 - alpha / 2))},
        level=1 - alpha,
        note=(f"only {len(s)} months of history (< {MIN_MONTHS}): run-rate estimate, not a fitted "
              "model; treat the interval as indicative"))


def revenue_series(wh, end, start=None):
    """Recognised revenue per month in the reporting currency, months ``start``..``end``
    inclusive (``start`` defaults to the first month with recognised revenue), as a pandas
    Series (float, for modelling) indexed by month.

    The figures are :func:`finlib.metrics.facts.recognised_revenue`'s (each row in its
    subscription's currency, converted at the period's rate: docs/CURRENCY.md), so the
    forecast models the same series the executive chart shows. A month without any
    ``revenue_recognized`` row is left out rather than read as 0, so :func:`forecast_revenue`
    reports the gap instead of forecasting from a month that was never loaded.
    """
    end = pd.Timestamp(end).to_period("M").to_timestamp()
    with wh.connect(read_only=True) as conn:
        if start is None:
            first = conn.scalar("SELECT MIN(period) FROM revenue_recognized WHERE period <= CAST(:end AS DATE)",
                                {"end": str(end.date())})
            if first is None:
                raise ModelError(f"no recognised revenue up to {end.date()}")
            start = first
        df = facts.recognised_revenue(conn, pd.Timestamp(start).date(), end.date())
    df = df[df["rows"] > 0]
    if df.empty:
        raise ModelError(f"no recognised revenue up to {end.date()}")
    return pd.Series(df["revenue"].astype(float).to_numpy(), index=pd.to_datetime(df["period"]), name="revenue")


def revenue_forecast(wh, last_closed_month, period=None, **kwargs) -> RevenueForecast:
    """:func:`forecast_revenue` on the warehouse's recognised revenue up to
    ``last_closed_month`` (the forecast month defaults to the month after it)."""
    return forecast_revenue(revenue_series(wh, last_closed_month), period, **kwargs)
