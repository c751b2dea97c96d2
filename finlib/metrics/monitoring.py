"""Financial performance monitoring: revenue vs target (month to date, run-rate, optional
forecast), cost variance against budget, month over month, and budget utilisation.

Variance convention (:mod:`finlib.metrics.core`): ``variance = actual − plan``,
``variance_pct = variance / |plan|``, ``favourable`` stored explicitly (revenue above
plan, cost below plan), and a plan <= 0 is a ``data_issue``, not divided by.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import math
from dataclasses import dataclass
from fractions import Fraction

import pandas as pd

from finlib.metrics.core import variance, variance_frame
from finlib.periods import month_of


@dataclass(frozen=True)
class RevenueVsTarget:
    """Recognised revenue of a month against its target.

    ``actual`` is month to date when ``as_of`` falls inside the month, else the full month.
    ``projection`` is the month-end figure used for the comparison: the supplied
    ``forecast`` if any, else the linear run-rate ``actual × days_in_month / days_elapsed``
    (equal to ``actual`` for a closed month). ``variance``, ``variance_pct``,
    ``favourable`` and ``data_issue`` compare ``projection`` with ``target``; the year-end
    figures add ``projection`` to the year's earlier actuals plus ``projection`` for each
    remaining month (or a supplied ``year_end_forecast``).
    """

    period: _dt.date
    actual: float
    days_elapsed: int
    days_in_month: int
    projection: float
    projection_method: str
    target: float
    variance: float
    variance_pct: float
    favourable: bool | None
    data_issue: str | None
    ytd_actual: float
    year_end_projection: float
    year_target: float


def revenue_vs_target(period, actual: float, target: float | None, as_of: _dt.date | None = None,
                      forecast: float | None = None, prior_months_actual: float = 0.0,
                      year_target: float | None = None,
                      year_end_forecast: float | None = None) -> RevenueVsTarget:
    """Compare recognised revenue with its target, projecting an open month to its end.

    Parameters
    ----------
    period : period
        The month.
    actual : float
        Recognised revenue of the month so far (USD).
    target : float | None
        ``kpi_targets`` row ``revenue`` (no dimension) for the month (USD).
    as_of : date, optional
        Day the actual is as of; default: the month is closed.
    forecast : float, optional
        A month-end forecast (e.g. the statsmodels forecast of :mod:`finlib.models`); used
        instead of the run-rate when given.
    prior_months_actual : float
        Revenue of the year's months before ``period`` (USD), for year to date.
    year_target, year_end_forecast : float, optional
        The whole year's target and an external year-end forecast.

    Formula: run-rate = ``actual × days_in_month / days_elapsed``; ``variance =
    projection − target``; favourable when ``projection >= target`` (revenue convention).
    Year end: ``prior + projection × (months left incl. this one)`` unless forecast.
    Units: USD. Reference: docs/METRICS.md "Revenue vs target".
    """
    p = month_of(period)
    dim = calendar.monthrange(p.year, p.month)[1]
    if as_of is None or as_of >= _dt.date(p.year, p.month, dim):
        elapsed = dim
    else:
        if as_of < p:
            raise ValueError(f"as_of {as_of} is before the period {p}")
        elapsed = (as_of - p).days + 1
    actual = float(actual)
    if forecast is not None:
        proj, method = float(forecast), "forecast"
    elif elapsed >= dim:
        proj, method = actual, "actual"
    else:
        proj, method = actual * dim / elapsed, "run-rate"
    v = variance(proj, target if target is not None else math.nan, "revenue")
    months_left = 12 - p.month + 1
    ye = float(year_end_forecast) if year_end_forecast is not None else prior_months_actual + proj * months_left
    return RevenueVsTarget(p, actual, elapsed, dim, proj, method,
                           math.nan if target is None else float(target), v.variance, v.variance_pct,
                           v.favourable, v.data_issue, prior_months_actual + actual, ye,
                           math.nan if year_target is None else float(year_target))


def cost_variance(lines, by=("department", "category"), tolerance: float | None = None,
                  account_types=("cogs", "opex"), min_amount: float | None = None):
    """Cost against budget per month and ``by`` group, with month-over-month change.

    Parameters
    ----------
    lines : DataFrame
        :func:`finlib.metrics.facts.budget_vs_actual` (``period``, ``department_id``,
        ``department``, ``account_id``, ``account``, ``account_type``, ``category``,
        ``actual``, ``budget``).
    by : sequence of str
        Grouping columns: default department × category (cost monitoring); pass
        ``("department", "account")`` (or ``("department_id", "account_id")``) for the
        per-line view that the ``budget_variance`` alert evaluates.
    tolerance : float, optional
        The budget-variance tolerance as a fraction (0.10 = 10 %), normally the alert's
        configured threshold, ``finlib.alerts.rule_settings()["budget_variance"]
        ["threshold"]``. Without it ``outside_tolerance`` is ``<NA>``.
    account_types : sequence of str or None
        Account types kept (default ``cogs`` and ``opex``: costs); ``None`` keeps every
        line, revenue budget lines included, exactly the lines the alert sees.
    min_amount : float, optional
        The materiality floor for unbudgeted spend (reporting currency), normally the
        alert's ``budget_variance.min_amount``: a group of cost lines with an actual above
        it and no budget line is flagged ``outside_tolerance`` (see
        :func:`budget_variance`). Without it such groups are not flagged.

    Returns
    -------
    DataFrame
        ``period``, ``by``…, ``actual``, ``budget`` (USD), ``variance`` = actual − budget,
        ``variance_pct`` = variance / |budget|, ``favourable`` (cost convention: at or
        under budget), ``data_issue`` (no budget / budget <= 0), ``mom_change`` (actual −
        previous month's actual of the group), ``mom_pct``, ``unbudgeted`` (cost actual,
        no budget line) and ``outside_tolerance``.

    Notes
    -----
    ``outside_tolerance`` uses the ``budget_variance`` alert's semantics
    (:func:`finlib.alerts.rules.budget_variance`), so per department × account it flags
    exactly the lines the alert fires for:

    * budget > 0: ``|actual − budget| / budget > tolerance`` *strictly* (a line exactly on
      the tolerance is inside), compared exactly in cents (as the alert does in DECIMAL),
      never in binary floating point;
    * budget < 0: always flagged (a data issue the alert reports);
    * budget = 0: flagged when the actual is not 0 (a data issue, never divided by);
    * no budget row: flagged when the group is spend (``cogs``/``opex``) above
      ``min_amount`` (unbudgeted spend), else not flagged.

    Reference: docs/METRICS.md, *Cost variance*, and docs/ALERTS.md (``budget_variance``);
    variance convention of :mod:`finlib.metrics.core`.
    """
    cost = lines if account_types is None else lines[lines["account_type"].isin(list(account_types))]
    keys = ["period", *by]
    g = cost.groupby(list(keys), as_index=False).agg(actual=("actual", "sum"),
                                                    budget=("budget", lambda s: s.sum(min_count=1)))
    g = g.sort_values(keys).reset_index(drop=True)
    prev = g.groupby(list(by))["actual"].shift(1)
    out = variance_frame(g, actual="actual", plan="budget", kind="cost")
    out["mom_change"] = out["actual"] - prev
    out["mom_pct"] = out["mom_change"] / prev.abs().where(prev.abs() > 0)
    spend = _is_spend(cost, keys, g)
    out["unbudgeted"] = out["budget"].isna() & spend & (out["actual"] != 0)
    if tolerance is None:
        out["outside_tolerance"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    else:
        flags = [_outside(a, b, tolerance, min_amount if sp else None)
                 for a, b, sp in zip(out["actual"], out["budget"], spend, strict=True)]
        out["outside_tolerance"] = pd.Series(flags, index=out.index, dtype="boolean")
    return out


def _is_spend(lines, keys, groups):
    """Per row of ``groups`` (grouped ``lines`` by ``keys``): every line in it is a cost
    (``cogs`` or ``opex``) account, i.e. the group is spend."""
    cost = lines["account_type"].isin(["cogs", "opex"]) if "account_type" in lines else pd.Series(
        True, index=lines.index)
    allcost = cost.groupby([lines[k] for k in keys]).all()
    idx = pd.MultiIndex.from_frame(groups[list(keys)]) if len(keys) > 1 else pd.Index(groups[keys[0]])
    return allcost.reindex(idx).fillna(False).astype(bool).to_numpy()


def budget_variance(lines, tolerance: float, min_amount: float = 1000.0):
    """Budget variance per budget line (month × department × account), with unbudgeted spend.

    The one definition of the budget variance that the ``budget_variance`` alert fires on
    and the budget views show (:func:`finlib.alerts.rules.budget_variance` calls it).

    Parameters
    ----------
    lines : DataFrame
        :func:`finlib.metrics.facts.budget_vs_actual` (``period``, ``department_id``,
        ``department``, ``account_id``, ``account``, ``account_type``, ``category``,
        ``actual``, ``budget``; money in the reporting currency).
    tolerance : float
        Maximum ``|actual − budget| / budget`` (a fraction; the alert's ``threshold``).
    min_amount : float
        Materiality floor for spend without a budget line (reporting currency; the alert's
        ``min_amount``).

    Returns
    -------
    DataFrame
        One row per line, every account type: the columns of ``lines`` plus ``variance`` =
        actual − budget, ``variance_pct`` = variance / |budget| (NaN without a budget > 0),
        ``favourable`` (revenue at or above budget, cost at or below: ``<NA>`` on a data
        issue or without a budget), ``data_issue`` (``"no budget"``, ``"plan is zero or
        negative"``), ``unbudgeted`` (a ``cogs``/``opex`` line with an actual and no budget
        line) and ``outside_tolerance`` (the alert fires), sorted by period, department_id,
        account_id.

    Notes
    -----
    ``outside_tolerance``, compared exactly in whole cents of the reporting currency:

    * budget > 0: ``|actual − budget| > tolerance × budget`` (strictly: a line exactly on the
      tolerance is inside);
    * budget < 0: always (a data issue, never divided by);
    * budget = 0: when the actual is not 0 (a data issue);
    * no budget line: a cost line (``cogs``/``opex``) whose actual is above ``min_amount``
      (unbudgeted spend); revenue without a budget is not spend and is not flagged.

    Variance convention of :mod:`finlib.metrics.core` (docs/METRICS.md, *Variance*).
    """
    keys = [c for c in ("department_id", "department", "account_id", "account", "account_type", "category")
            if c in lines.columns]
    g = lines.groupby(["period", *keys], as_index=False, dropna=False).agg(
        actual=("actual", "sum"), budget=("budget", lambda s: s.sum(min_count=1)))
    g["kind"] = g["account_type"].map(lambda t: "revenue" if t == "revenue" else "cost")
    out = variance_frame(g, actual="actual", plan="budget", kind_column="kind").drop(columns=["kind"])
    out.loc[out["budget"].isna(), "data_issue"] = "no budget"
    spend = out["account_type"].isin(["cogs", "opex"])
    out["unbudgeted"] = out["budget"].isna() & spend & (out["actual"] != 0)
    flags = [_outside(a, b, tolerance, min_amount if sp else None)
             for a, b, sp in zip(out["actual"], out["budget"], spend, strict=True)]
    out["outside_tolerance"] = pd.Series(flags, index=out.index, dtype="boolean")
    return out.sort_values(["period", "department_id", "account_id"]).reset_index(drop=True)


def cost_rise(lines, period, threshold: float = 0.15, trailing_months: int = 3):
    """Cost lines that jump above their trailing average *and* exceed their budget.

    The definition the ``cost_control`` alert fires on (:func:`finlib.alerts.rules.cost_control`).

    Parameters
    ----------
    lines : DataFrame
        :func:`finlib.metrics.facts.budget_vs_actual` covering ``period`` and the
        ``trailing_months`` months before it (reporting currency).
    period : period
        The month checked, P.
    threshold : float
        Rise allowed over the trailing mean, g (0.15 = 15 %).
    trailing_months : int
        n, the months before P in the mean (a month without entries counts 0).

    Returns
    -------
    DataFrame
        Per ``cogs``/``opex`` line (department × account) with entries in the window:
        ``department_id``, ``department``, ``account_id``, ``account``, ``account_type``,
        ``category``, ``actual`` (A_P), ``trailing_mean`` (Σ A_m / n), ``rise_pct``
        (A_P / mean − 1, NaN for a mean <= 0), ``budget`` (B_P, NaN without a budget line),
        ``fires``: ``n A_P > (1 + g) Σ A_m`` *and* ``A_P > B_P`` (no budget line counts as
        0: unbudgeted spend exceeds its budget), compared exactly in cents.
    """
    p = pd.Timestamp(month_of(period))
    df = lines[lines["account_type"].isin(["cogs", "opex"])].copy()
    df["period"] = pd.to_datetime(df["period"])
    keys = ["department_id", "department", "account_id", "account", "account_type", "category"]
    cur = df["period"] == p
    df["a_now"] = df["actual"].where(cur, 0.0)
    df["a_hist"] = df["actual"].where(df["period"] < p, 0.0)
    df["b_now"] = df["budget"].where(cur)
    df["posted"] = df["actual"] != 0
    g = df.groupby(keys, as_index=False, dropna=False).agg(
        actual=("a_now", "sum"), history=("a_hist", "sum"), budget=("b_now", lambda s: s.sum(min_count=1)),
        posted=("posted", "any"))
    g = g[g["posted"]].drop(columns=["posted"])
    n = int(trailing_months)
    growth = 1 + Fraction(str(threshold))
    g["trailing_mean"] = g["history"] / n
    mean = g["trailing_mean"]
    g["rise_pct"] = (g["actual"] / mean.where(mean > 0)) - 1
    fires = []
    for a, h, b in zip(g["actual"], g["history"], g["budget"], strict=True):
        ac, hc = _cents(a), _cents(h)
        bc = 0 if b is None or (isinstance(b, float) and math.isnan(b)) else _cents(b)
        fires.append(ac * n * growth.denominator > growth.numerator * hc and ac > bc)
    g["fires"] = fires
    return g.drop(columns=["history"]).sort_values(["department_id", "account_id"]).reset_index(drop=True)


def _cents(x: float) -> int:
    return int(round(float(x) * 100))


def _outside(actual, budget, tolerance: float, min_amount: float | None = None) -> bool:
    """The ``budget_variance`` rule on one line, in exact integer cents (see
    :func:`budget_variance`); ``min_amount`` only for spend lines (None: unbudgeted lines
    are not flagged)."""
    if budget is None or (isinstance(budget, float) and math.isnan(budget)):
        return min_amount is not None and _cents(actual) > _cents(min_amount)
    a, b = _cents(actual), _cents(budget)
    if b < 0:
        return True
    if b == 0:
        return a != 0
    t = Fraction(str(tolerance))
    return abs(a - b) * t.denominator > t.numerator * b


def budget_utilisation(lines, period, by=("department",)):
    """Budget utilisation year to date: actual ÷ budget, per ``by`` group.

    Parameters
    ----------
    lines : DataFrame
        :func:`finlib.metrics.facts.budget_vs_actual` covering at least January to
        ``period`` of the year (cost lines: ``cogs`` and ``opex``).
    period : period
        The last month included.

    Returns ``by``…, ``actual_ytd``, ``budget_ytd`` (USD), ``utilisation`` (ratio; 1.0 =
    fully used; NaN with a ``data_issue`` when the budget is <= 0), ``variance`` and
    ``favourable`` (cost convention) — and, for the months elapsed, ``expected_utilisation``
    = months elapsed / 12 is *not* assumed: budgets are monthly, so YTD budget already
    reflects the phasing.

    Reference: docs/METRICS.md, *Budget utilisation* (utilisation = actual ÷ budget, year to date).
    """
    p = month_of(period)
    start = pd.Timestamp(p.year, 1, 1)
    df = lines.assign(period=pd.to_datetime(lines["period"]))
    df = df[(df["period"] >= start) & (df["period"] <= pd.Timestamp(p)) & df["account_type"].isin(["cogs", "opex"])]
    g = df.groupby(list(by), as_index=False).agg(actual_ytd=("actual", "sum"),
                                                budget_ytd=("budget", lambda s: s.sum(min_count=1)))
    out = variance_frame(g, actual="actual_ytd", plan="budget_ytd", kind="cost")
    b = out["budget_ytd"]
    out["utilisation"] = out["actual_ytd"] / b.where(b > 0)
    return out
