"""Cached reads shared by the views: one warehouse read per parameter set.

Each function returns what a metric or model function of finlib returns, memoised by
:func:`finlib.views.common.cached` (cleared by :func:`finlib.views.common.clear_cache`, e.g.
by the dashboards' Refresh button).
"""

from __future__ import annotations

import pandas as pd

from finlib.errors import FinlibError, NoDataError
from finlib.metrics import facts
from finlib.metrics.clv import clv_by_segment
from finlib.metrics.kpis import headline_kpis, period_metrics
from finlib.models.churn import churn_propensity
from finlib.models.forecast import revenue_forecast
from finlib.periods import parse_period
from finlib.views.common import cached, month_before, require_period_data, warehouse


def metrics(period: str) -> dict:
    """:func:`finlib.metrics.kpis.period_metrics` for ``period`` (``YYYY-MM``)."""

    def compute():
        require_period_data(period)
        return period_metrics(warehouse(), period)

    return cached(("period_metrics", period), compute)


def previous_metrics(period: str) -> dict | None:
    """:func:`metrics` of the month before ``period``, or ``None`` when the warehouse has no
    data for it (the first month of the books)."""
    try:
        return metrics(month_before(period))
    except FinlibError:  # no previous month in the warehouse
        return None


def headline(period: str) -> dict | None:
    """:func:`finlib.metrics.kpis.headline_kpis` (``None`` when the month has no data)."""

    def compute():
        try:
            return headline_kpis(warehouse(), period)
        except NoDataError:
            return None

    return cached(("headline", period), compute)


def targets(period: str) -> pd.DataFrame:
    """``kpi_targets`` rows of the month (``kpi``, ``dimension``, ``target``)."""

    def compute():
        with warehouse().connect(read_only=True) as conn:
            return facts.kpi_targets(conn, parse_period(period))

    return cached(("targets", period), compute)


def target(period: str, kpi: str, dimension: str | None = None) -> float | None:
    """One target (``None`` when none is set)."""
    return target_in(targets(period), kpi, dimension)


def target_in(t: pd.DataFrame, kpi: str, dimension: str | None = None) -> float | None:
    """One target from a ``kpi_targets`` frame (``None`` when none is set)."""
    rows = t[(t["kpi"] == kpi) & (t["dimension"].isna() if dimension is None else t["dimension"] == dimension)]
    return float(rows["target"].iloc[0]) if len(rows) else None


def churn_model(period: str):
    """:func:`finlib.models.churn.churn_propensity` at ``period`` (scores the next month)."""

    def compute():
        require_period_data(period)
        return churn_propensity(warehouse(), parse_period(period))

    return cached(("churn", period), compute)


def retention_metrics(period: str) -> dict:
    """``period_metrics`` with the churn model's probabilities (expected ARR lost by band)."""

    def compute():
        require_period_data(period)
        scores = churn_model(period).scores_[["customer_id", "churn_probability"]]
        return period_metrics(warehouse(), period, health_probability=scores)

    return cached(("retention_metrics", period), compute)


def clv(period: str):
    """:func:`finlib.metrics.clv.clv_by_segment` at ``period``."""

    def compute():
        require_period_data(period)
        return clv_by_segment(warehouse(), parse_period(period))

    return cached(("clv", period), compute)


def forecast(period: str):
    """:func:`finlib.models.forecast.revenue_forecast` at ``period``."""

    def compute():
        require_period_data(period)
        return revenue_forecast(warehouse(), parse_period(period))

    return cached(("forecast", period), compute)
