"""Department views and the cross-domain ROI table.

Sales: new ARR won ÷ sales cost, win rate, magic number. Marketing: campaign ROI and ROAS
(separate fields ``roi`` and ``roas``), CAC blended and by channel, CAC payback.
Product and Customer Success reuse :mod:`finlib.metrics.product` and
:mod:`finlib.metrics.retention`. :func:`cross_domain_roi` puts every domain's ROI side by
side. ROI = (return − cost) / cost; ROAS = revenue / spend (:mod:`finlib.metrics.core`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from finlib.metrics.core import roas_series, roi, roi_issue, roi_issue_series, roi_series


@dataclass(frozen=True)
class SalesEfficiency:
    """Sales figures of a period.

    ``new_arr_won`` (USD/year, won ``new`` opportunities closed in the period),
    ``sales_cost`` (USD), ``arr_per_cost`` = new_arr_won / sales_cost (ratio; the Sales
    "return multiple", ROI = that − 1), ``roi``, ``won``, ``lost``, ``win_rate`` = won /
    (won + lost) by count, ``data_issue`` (why ``roi`` is NaN: a Sales cost <= 0).
    """

    new_arr_won: float
    sales_cost: float
    arr_per_cost: float
    roi: float
    won: int
    lost: int
    win_rate: float
    data_issue: str | None = None


def sales_efficiency(opportunities, sales_cost: float, kinds=("new",)) -> SalesEfficiency:
    """Sales efficiency from the opportunities closed in a period.

    Parameters
    ----------
    opportunities : DataFrame
        :func:`finlib.metrics.facts.opportunities_closed` rows for the period (``kind``,
        ``stage``, ``opportunities``, ``arr``).
    sales_cost : float
        Sales department opex of the period (USD).
    kinds : tuple
        Opportunity kinds counted as new business (default ``("new",)``; add
        ``"expansion"`` for all bookings).

    Formula: ``arr_per_cost = Σ arr(won) / sales_cost``; ``roi = (Σ arr(won) − sales_cost) /
    sales_cost``; ``win_rate = n(won) / (n(won) + n(lost))``. NaN on zero denominators.
    """
    o = opportunities[opportunities["kind"].isin(kinds)]
    won = o[o["stage"] == "won"]
    lost = o[o["stage"] == "lost"]
    arr_won = float(won["arr"].sum())
    n_won, n_lost = int(won["opportunities"].sum()), int(lost["opportunities"].sum())
    cost = float(sales_cost)
    return SalesEfficiency(arr_won, cost, arr_won / cost if cost > 0 else math.nan, roi(arr_won, cost),
                           n_won, n_lost, n_won / (n_won + n_lost) if n_won + n_lost else math.nan,
                           roi_issue(cost, "sales cost"))


def magic_number(arr_change: float, prior_sm_cost: float) -> float:
    """SaaS magic number: net new ARR of a quarter ÷ Sales & Marketing cost of the previous quarter.

    Formula: ``(ARR_end(q) − ARR_end(q−1)) / S&M cost(q−1)`` (equivalently the quarter's
    change in MRR × 12). Units: ratio; above ~0.75 is commonly read as efficient. NaN when
    the cost is <= 0. Reference: Scale Venture Partners' "magic number" (revenue-based
    variant, with ARR).

    >>> magic_number(150_000, 200_000)
    0.75
    """
    return float(arr_change) / prior_sm_cost if prior_sm_cost > 0 else math.nan


def campaign_roi(campaigns):
    """Marketing campaign ROI and ROAS.

    Parameters
    ----------
    campaigns : DataFrame
        :func:`finlib.metrics.facts.campaign_results` (``spend``, ``new_mrr``: MRR at the end
        of their signup month of the customers the campaign acquired; reporting currency).

    Formula: ``new_arr = 12 × new_mrr`` (the campaign's return, reporting currency per
    year); ``roi = (new_arr − spend) / spend``; ``roas = new_arr / spend`` (so ``roas = roi
    + 1``). Both NaN when spend <= 0, with ``data_issue`` saying so (never divided by). The
    ``campaign_roi`` alert rule calls this function, so its ROI is the dashboard's.

    Reference: docs/METRICS.md, *ROI* and *ROAS* conventions; docs/ALERTS.md, ``campaign_roi``.
    """
    out = campaigns.copy()
    out["new_arr"] = 12.0 * out["new_mrr"]
    out["roi"] = roi_series(out["new_arr"], out["spend"])
    out["roas"] = roas_series(out["new_arr"], out["spend"])
    out["data_issue"] = roi_issue_series(out["spend"], "spend")
    return out


def cac(sales_marketing_cost: float, new_customers: int) -> float:
    """Customer acquisition cost (blended).

    Formula: ``(Sales + Marketing opex of the period) / new paying customers of the period``
    (customers with a ``new`` MRR movement in the period,
    :func:`finlib.metrics.facts.acquisition`; a signup that never pays, such as a trial, is
    not one). Units: reporting currency per customer. NaN when there are no new paying
    customers. The ``cac`` alert rule calls this function.

    >>> cac(1500.0, 3)
    500.0

    Reference: docs/METRICS.md, *CAC*.
    """
    return float(sales_marketing_cost) / new_customers if new_customers > 0 else math.nan


def cac_by_channel(channels):
    """CAC per acquisition channel: ``spend / new_customers`` (reporting currency per customer).

    ``channels``: :func:`finlib.metrics.facts.acquisition_by_channel` (``channel``, ``spend``,
    ``new_customers``: new paying customers acquired through the channel's campaigns,
    ``new_mrr``: their new MRR), possibly several months (summed per channel). Adds ``cac``
    (NaN with no new paying customer) and ``new_mrr_per_customer`` (for CAC payback). The
    ``cac`` alert rule calls this function for its channel checks.

    Reference: docs/METRICS.md, *CAC* (blended and by channel); docs/ALERTS.md, ``cac``.
    Sign: >= 0.
    """
    g = channels.groupby("channel", as_index=False)[["spend", "new_customers", "new_mrr"]].sum()
    n = g["new_customers"].astype(float)
    g["cac"] = g["spend"] / n.where(n > 0)
    g["new_mrr_per_customer"] = g["new_mrr"] / n.where(n > 0)
    return g


def gross_margin(revenue: float, cogs: float) -> float:
    """Gross margin: ``(revenue − cogs) / revenue`` (ratio; NaN when revenue <= 0).

    Reference: docs/METRICS.md, Departments (CAC payback uses it). Sign: positive when revenue exceeds cost of revenue.
    """
    return (float(revenue) - float(cogs)) / float(revenue) if revenue > 0 else math.nan


def cac_payback_months(cac_value: float, new_mrr_per_customer: float, gross_margin_ratio: float) -> float:
    """CAC payback period in months.

    Formula: ``CAC / (new MRR per new customer × gross margin)``, where the new customers
    are the new *paying* customers CAC divides by and their new MRR is their ``new`` MRR
    movement (:func:`finlib.metrics.facts.acquisition` ``new_mrr / new_customers``). Units:
    months. NaN when the monthly gross profit per new customer is <= 0 (never pays back).

    >>> cac_payback_months(1200.0, 100.0, 0.8)
    15.0

    Reference: docs/METRICS.md, Departments; ChartMogul, "CAC Payback Period" (SaaS metrics glossary).
    """
    denom = float(new_mrr_per_customer) * float(gross_margin_ratio)
    if not (denom > 0) or cac_value is None or math.isnan(cac_value):
        return math.nan
    return float(cac_value) / denom


def cross_domain_roi(rows):
    """Every domain's ROI side by side.

    Parameters
    ----------
    rows : iterable of dict
        Each with ``domain`` (Sales, Marketing, Product, Customer Success …), ``measure``
        (what the return is, in words), ``return_`` and ``cost`` (USD).

    Returns a DataFrame ``domain``, ``measure``, ``return``, ``cost``, ``roi`` (ratio,
    = (return − cost) / cost; −1.0 for zero return; NaN for a cost <= 0) and ``data_issue``
    (why a ROI is missing), sorted by ROI.

    Reference: docs/METRICS.md, *Cross-domain ROI*; ROI convention of :mod:`finlib.metrics.core`.
    """
    df = pd.DataFrame([{"domain": r["domain"], "measure": r.get("measure", ""),
                        "return": float(r["return_"]), "cost": float(r["cost"])} for r in rows])
    if df.empty:
        return pd.DataFrame(columns=["domain", "measure", "return", "cost", "roi", "data_issue"])
    df["roi"] = roi_series(df["return"], df["cost"])
    df["data_issue"] = roi_issue_series(df["cost"])
    return df.sort_values("roi", ascending=False, na_position="last").reset_index(drop=True)
