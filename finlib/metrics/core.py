"""The three conventions every metric shares: ROI, ROAS and variance (docs/METRICS.md, Conventions).

ROI
    ``roi = (return - cost) / cost``, a ratio: 2.0 means 200 %. A return of zero gives
    -1.0 (-100 %). A cost of zero or less has no ROI (``NaN``), never ``inf``.
ROAS
    ``roas = revenue / spend``. ROAS 2.0 (200 %) is ROI 1.0 (100 %). Fields are always
    named ``roi`` and ``roas``; the two are never mixed.
Variance
    ``variance = actual - plan``; ``variance_pct = (actual - plan) / |plan|``. *Favourable*
    means revenue above plan or cost below plan (``kind="revenue"`` or ``"cost"``) and is
    stored explicitly in a boolean column ``favourable``. A plan of zero or less is a data
    issue: ``variance_pct`` is ``NaN``, ``favourable`` is ``None`` and ``data_issue`` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("revenue", "cost")


def roi(return_: float, cost: float) -> float:
    """Return on investment as a ratio.

    Formula: ``(return_ - cost) / cost``. Units: ratio (1.0 = 100 %). Sign: positive
    when the return exceeds the cost; ``-1.0`` when the return is zero. ``NaN`` when
    ``cost <= 0`` (no investment, no ROI).

    >>> roi(300.0, 100.0)
    2.0
    >>> roi(0.0, 50.0)
    -1.0

    Reference: docs/METRICS.md, Conventions, *ROI* (ROI = (return − cost) / cost).
    """
    if cost is None or return_ is None:
        return math.nan
    cost = float(cost)
    if not cost > 0:
        return math.nan
    return (float(return_) - cost) / cost


def roas(revenue: float, spend: float) -> float:
    """Return on ad spend: ``revenue / spend`` (ratio; 2.0 = 200 %). ``NaN`` if spend <= 0.

    >>> roas(300.0, 100.0)
    3.0

    Reference: docs/METRICS.md, Conventions, *ROAS* (ROAS 200 % = ROI 100 %).
    """
    if spend is None or revenue is None:
        return math.nan
    spend = float(spend)
    return float(revenue) / spend if spend > 0 else math.nan


def roi_issue(cost, what: str = "cost") -> str | None:
    """Why no ROI can be computed for ``cost``, or ``None`` when it can.

    The data-issue text every ROI function reports instead of dividing by a cost of zero or
    less (docs/METRICS.md, Conventions: "a plan of zero or less is a data issue, reported, not divided by"):
    ``"no cost"`` (missing/NaN) or ``"cost is 0 (zero or negative): ROI undefined"``.

    >>> roi_issue(100.0) is None
    True
    >>> roi_issue(0.0)
    'cost is 0 (zero or negative): ROI undefined'
    """
    if cost is None or (isinstance(cost, float) and math.isnan(cost)):
        return f"no {what}"
    c = float(cost)
    if math.isnan(c):
        return f"no {what}"
    return None if c > 0 else f"{what} is {c:g} (zero or negative): ROI undefined"


def roi_issue_series(cost, what: str = "cost"):
    """Vectorised :func:`roi_issue`: an object Series of texts (``None`` where ROI is defined)."""
    c = cost.astype(float)
    out = pd.Series(None, index=c.index, dtype="object")
    out[c.isna()] = f"no {what}"
    bad = c.notna() & ~(c > 0)
    out[bad] = [f"{what} is {x:g} (zero or negative): ROI undefined" for x in c[bad]]
    return out


def roi_series(return_, cost):
    """Vectorised :func:`roi` over pandas Series (NaN where cost <= 0; pair it with
    :func:`roi_issue_series` for the ``data_issue`` column)."""
    cost = cost.astype(float)
    ok = cost > 0
    out = (return_.astype(float) - cost) / cost.where(ok)
    return out.where(ok, np.nan)


def roas_series(revenue, spend):
    """Vectorised :func:`roas` over pandas Series (NaN where spend <= 0)."""
    spend = spend.astype(float)
    return revenue.astype(float) / spend.where(spend > 0)


@dataclass(frozen=True)
class Variance:
    """One actual against one plan.

    Attributes
    ----------
    actual, plan : float
        In the units of the figure (USD for money).
    variance : float
        ``actual - plan`` (same units). Positive = above plan, for revenue and cost alike.
    variance_pct : float
        ``(actual - plan) / |plan|`` as a ratio, ``NaN`` when the plan is a data issue.
    favourable : bool | None
        Revenue: ``actual >= plan``; cost: ``actual <= plan``. ``None`` on a data issue.
    data_issue : str | None
        Why no percentage was computed (plan missing, zero or negative).
    """

    actual: float
    plan: float
    kind: str
    variance: float
    variance_pct: float
    favourable: bool | None
    data_issue: str | None = None


def variance(actual: float, plan: float, kind: str) -> Variance:
    """Compare an actual with its plan under the house sign convention.

    Formula: ``variance = actual - plan``; ``variance_pct = variance / |plan|``.
    Favourable: revenue at or above plan, cost at or below plan (``kind``).
    A plan of zero or less (or missing) is reported in ``data_issue`` and not divided by.

    >>> v = variance(90.0, 100.0, "cost")
    >>> (v.variance, v.variance_pct, v.favourable)
    (-10.0, -0.1, True)

    Reference: docs/METRICS.md, Conventions, *Variance* (favourable flag stored explicitly).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    a = float(actual)
    if plan is None or (isinstance(plan, float) and math.isnan(plan)):
        return Variance(a, math.nan, kind, math.nan, math.nan, None, "no plan")
    p = float(plan)
    var = a - p
    if p <= 0:
        return Variance(a, p, kind, var, math.nan, None, f"plan is {p:g} (zero or negative)")
    fav = a >= p if kind == "revenue" else a <= p
    return Variance(a, p, kind, var, var / abs(p), bool(fav), None)


def variance_frame(df, actual: str = "actual", plan: str = "plan", kind: str = "cost",
                   kind_column: str | None = None):
    """Add ``variance``, ``variance_pct``, ``favourable`` and ``data_issue`` columns.

    Vectorised :func:`variance` over a DataFrame; ``kind`` is ``"revenue"`` or ``"cost"``
    or the name of a column holding one of those per row. Returns a new DataFrame.
    """
    out = df.copy()
    a = out[actual].astype(float)
    p = out[plan].astype(float)
    kinds = out[kind_column] if kind_column else pd.Series(kind, index=out.index)
    bad = set(kinds.unique()) - set(KINDS)
    if bad:
        raise ValueError(f"kind must be one of {KINDS}, got {sorted(bad)}")
    ok = p > 0
    out["variance"] = a - p
    out["variance_pct"] = (a - p) / p.abs().where(ok)
    fav = np.where(kinds == "revenue", a >= p, a <= p)
    out["favourable"] = pd.Series(fav, index=out.index, dtype="boolean").where(ok, pd.NA)
    issue = pd.Series(None, index=out.index, dtype="object")
    issue[p.isna()] = "no plan"
    nonpos = p.notna() & ~ok
    issue[nonpos] = "plan is zero or negative"
    out["data_issue"] = issue
    return out


def finite_or_none(x):
    """``x`` as a float, ``None`` for missing, NaN or infinite values; non-numbers unchanged.

    For figures that leave finlib as plain JSON (``finlib kpis --json``, notebook scraps):
    an undefined figure is ``null``, never NaN.
    """
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return x
    return None if math.isnan(f) or math.isinf(f) else f

