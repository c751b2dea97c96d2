"""MRR, ARR, MRR movements and MRR churn rates (ChartMogul definitions).

The warehouse path is :mod:`finlib.metrics.facts` (SQL); the functions here are the same
rules as pure functions over small DataFrames, plus the rates computed from movements.

References: ChartMogul Help Center, "Data Table and MRR Movements", "Metric: MRR Churn
Rate" (gross = (churn + contraction) / MRR at start; net = (churn + contraction -
expansion - reactivation) / MRR at start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


def monthly_mrr(amount: float, billing_period: str = "monthly") -> float:
    """Normalise a recurring charge to a month: annual plans count 1/12.

    Formula: ``amount`` (monthly) or ``amount / 12`` (annual). Units: USD per month,
    rounded to cents. Reference: ChartMogul (a 2,000 annual plan is 166.67 of new MRR).

    >>> monthly_mrr(2000, "annual")
    166.67
    """
    if billing_period == "monthly":
        return round(float(amount), 2)
    if billing_period == "annual":
        return round(float(amount) / 12.0, 2)
    raise ValueError(f"billing_period must be 'monthly' or 'annual', not {billing_period!r}")


def arr(mrr: float) -> float:
    """Annual recurring revenue: ``12 × MRR`` (USD per year)."""
    return 12.0 * float(mrr)


def classify_movement(mrr_start: float, mrr_end: float, paid_before: bool) -> dict[str, float]:
    """One customer's MRR movement between two month ends.

    Parameters
    ----------
    mrr_start, mrr_end : float
        The customer's MRR at the previous and the current month end (USD/month, >= 0).
    paid_before : bool
        Whether the customer paid in any month before the current one (decides new vs
        reactivation when ``mrr_start`` is 0).

    Returns
    -------
    dict
        ``new``, ``expansion``, ``contraction``, ``churn``, ``reactivation`` (all >= 0, at
        most one non-zero) with ``mrr_end = mrr_start + new + expansion + reactivation -
        contraction - churn``.
    """
    out = dict.fromkeys(MOVEMENTS, 0.0)
    s, e = float(mrr_start), float(mrr_end)
    if s <= 0 and e > 0:
        out["reactivation" if paid_before else "new"] = e
    elif s > 0 and e <= 0:
        out["churn"] = s
    elif s > 0 and e > s:
        out["expansion"] = e - s
    elif s > 0 and e < s:
        out["contraction"] = s - e
    return out


def customer_movements(panel):
    """MRR movements per customer and month from a customer-month MRR panel.

    Parameters
    ----------
    panel : DataFrame
        Columns ``period`` (first of month), ``customer_id``, ``mrr`` (USD/month at the
        month end). Missing customer-months mean MRR 0. Several rows for one customer and
        month (e.g. one per product) are summed.

    Returns
    -------
    DataFrame
        One row per customer and month from the panel's first month + 1 to its last:
        ``period``, ``customer_id``, ``mrr_start``, ``mrr_end`` and the five movements (see
        :func:`classify_movement`; a customer paying in the panel's first month counts as
        paid before). Rows where nothing changed and both are 0 are dropped.
    """
    df = panel.assign(period=pd.to_datetime(panel["period"]))
    cm = df.groupby(["customer_id", "period"], as_index=False)["mrr"].sum()
    cm = cm[cm["mrr"] > 0]
    periods = pd.date_range(df["period"].min(), df["period"].max(), freq="MS")
    if len(periods) < 2:
        return pd.DataFrame(columns=["period", "customer_id", "mrr_start", "mrr_end", *MOVEMENTS])
    wide = cm.pivot(index="customer_id", columns="period", values="mrr").reindex(columns=periods).fillna(0.0)
    vals = wide.to_numpy()
    paid = vals > 0
    ever = np.cumsum(paid, axis=1) > 0  # paid at or before month j
    rows = []
    for j in range(1, len(periods)):
        s, e = vals[:, j - 1], vals[:, j]
        before = ever[:, j - 1]
        keep = (s > 0) | (e > 0)
        new = np.where((s <= 0) & (e > 0) & ~before, e, 0.0)
        react = np.where((s <= 0) & (e > 0) & before, e, 0.0)
        churn = np.where((s > 0) & (e <= 0), s, 0.0)
        exp = np.where((s > 0) & (e > s), e - s, 0.0)
        con = np.where((s > 0) & (e > 0) & (e < s), s - e, 0.0)
        rows.append(pd.DataFrame({
            "period": periods[j], "customer_id": wide.index, "mrr_start": s, "mrr_end": e,
            "new": new, "expansion": exp, "contraction": con, "churn": churn, "reactivation": react,
        })[keep])
    return pd.concat(rows, ignore_index=True)


def movement_totals(customer_moves):
    """Company totals per month of :func:`customer_movements` (or the SQL per-customer fact).

    Returns ``period``, ``mrr_start``, the five movements, ``mrr_end``, ``net_new``
    (``new + expansion + reactivation - contraction - churn``), ``customers_start``,
    ``churned_customers``.
    """
    cols = ["mrr_start", *MOVEMENTS, "mrr_end"]
    g = customer_moves.groupby("period")
    out = g[cols].sum()
    out["net_new"] = out["new"] + out["expansion"] + out["reactivation"] - out["contraction"] - out["churn"]
    out["customers_start"] = g["mrr_start"].apply(lambda s: int((s > 0).sum()))
    out["churned_customers"] = g["churn"].apply(lambda s: int((s > 0).sum()))
    return out.reset_index()


@dataclass(frozen=True)
class MrrChurnRates:
    """Gross and net MRR churn rates of one period (ratios; 0.2 = 20 %).

    ``gross = (churn + contraction) / mrr_start`` (>= 0);
    ``net = (churn + contraction - expansion - reactivation) / mrr_start`` (negative when
    expansion and reactivation outweigh losses: "negative churn").
    """

    mrr_start: float
    gross: float
    net: float


def mrr_churn_rates(mrr_start: float, churn: float, contraction: float, expansion: float,
                    reactivation: float = 0.0) -> MrrChurnRates:
    """Gross and net MRR churn rates (ChartMogul standard B2B formula).

    Formula: gross = (churn + contraction) / MRR_start; net = (churn + contraction −
    expansion − reactivation) / MRR_start. Units: ratio per period. Sign: a loss is
    positive. NaN when MRR_start <= 0. Reference: ChartMogul, "Metric: MRR Churn Rate"
    (start 100, churn 10, contraction 10, expansion 10 → gross 20 %, net 10 %).

    >>> r = mrr_churn_rates(100, churn=10, contraction=10, expansion=10)
    >>> (r.gross, r.net)
    (0.2, 0.1)
    """
    s = float(mrr_start)
    if not s > 0:
        return MrrChurnRates(s, math.nan, math.nan)
    lost = float(churn) + float(contraction)
    return MrrChurnRates(s, lost / s, (lost - float(expansion) - float(reactivation)) / s)


def mrr_summary(movements):
    """Per-month MRR summary from the movements fact (:func:`finlib.metrics.facts.mrr_movements`).

    Adds ``arr`` (12 × ``mrr_end``), ``net_new_mrr``, ``gross_mrr_churn`` and
    ``net_mrr_churn`` (ratios, see :func:`mrr_churn_rates`) and ``logo_churn``
    (``churned_customers / customers_start``) to a copy of ``movements``.
    """
    out = movements.copy()
    start = out["mrr_start"].astype(float)
    ok = start > 0
    out["arr"] = 12.0 * out["mrr_end"]
    out["net_new_mrr"] = out["new"] + out["expansion"] + out["reactivation"] - out["contraction"] - out["churn"]
    out["gross_mrr_churn"] = np.where(ok, (out["churn"] + out["contraction"]) / start.where(ok), np.nan)
    out["net_mrr_churn"] = np.where(
        ok, (out["churn"] + out["contraction"] - out["expansion"] - out["reactivation"]) / start.where(ok), np.nan)
    if "customers_start" in out.columns and "churned_customers" in out.columns:
        cs = out["customers_start"].astype(float)
        out["logo_churn"] = np.where(cs > 0, out["churned_customers"] / cs.where(cs > 0), np.nan)
    return out
