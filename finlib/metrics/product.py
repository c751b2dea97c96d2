"""Product development ROI: feature ROI (per feature and team), launch ROI, customer
development cost, milestone efficiency (cost per milestone, budget variance, slip).

The statsmodels estimates (feature-adoption effect, CSAT ROI) are in :mod:`finlib.models`;
the ROI here uses a transparent *attribution rule*, stated in each docstring.
ROI = (return − cost) / cost (ratio; see :mod:`finlib.metrics.core`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from finlib.metrics.core import roi, roi_issue, roi_issue_series, roi_series, variance_frame
from finlib.periods import month_of


def attribute_expansion_to_features(adoption, expansion, until=None):
    """Expansion MRR attributed to features by adoption.

    Rule: every expansion movement of a customer in a month ``M`` is attributed to the
    features the customer had adopted by then (first use ``<= M``) and that were first used
    no more than 12 months before ``M``; when several features qualify the expansion is
    shared equally among them, so nothing is counted twice. Expansion before adoption and
    expansion of customers who never used a feature is not attributed.

    Parameters
    ----------
    adoption : DataFrame
        ``customer_id``, ``feature_id``, ``first_period`` (first month with usage).
    expansion : DataFrame
        ``period``, ``customer_id``, ``expansion`` (USD/month, > 0).
    until : period, optional
        Ignore expansion after this month.

    Returns
    -------
    DataFrame
        ``feature_id``, ``attributed_mrr`` (USD/month), ``attributed_arr`` (× 12),
        ``customers`` (expanding adopters).
    """
    e = expansion[expansion["expansion"] > 0][["period", "customer_id", "expansion"]].copy()
    e["period"] = pd.to_datetime(e["period"])
    if until is not None:
        e = e[e["period"] <= pd.Timestamp(month_of(until))]
    a = adoption[["customer_id", "feature_id", "first_period"]].copy()
    a["first_period"] = pd.to_datetime(a["first_period"])
    j = e.merge(a, on="customer_id", how="inner")
    months = (j["period"].dt.year - j["first_period"].dt.year) * 12 + (j["period"].dt.month - j["first_period"].dt.month)
    j = j[(months >= 0) & (months < 12)]
    if j.empty:
        return pd.DataFrame({"feature_id": pd.Series(dtype=object), "attributed_mrr": pd.Series(dtype=float),
                             "attributed_arr": pd.Series(dtype=float), "customers": pd.Series(dtype=int)})
    n = j.groupby(["period", "customer_id"])["feature_id"].transform("size")
    j["share"] = j["expansion"] / n
    out = j.groupby("feature_id").agg(attributed_mrr=("share", "sum"), customers=("customer_id", "nunique"))
    out["attributed_arr"] = 12.0 * out["attributed_mrr"]
    return out.reset_index()[["feature_id", "attributed_mrr", "attributed_arr", "customers"]]


def _month_start(x):
    """First day of the month of ``x`` as a pandas Timestamp (NaT for missing)."""
    if x is None:
        return pd.NaT
    t = pd.Timestamp(x)
    return pd.NaT if pd.isna(t) else t.to_period("M").to_timestamp()


def _fmt_month(t) -> str:
    return f"{t:%Y-%m}"


def feature_roi(features, costs, attributed, data_start=None):
    """Feature development ROI per feature.

    Parameters
    ----------
    features : DataFrame
        ``feature_id``, ``team``, ``product_id``, ``budget`` (and optionally ``name``,
        ``released_on``, ``started_on``).
    costs : DataFrame
        ``feature_id``, ``cost`` (dev cost, USD; several rows per feature are summed —
        :func:`finlib.metrics.facts.dev_costs` up to the period).
    attributed : DataFrame
        :func:`attribute_expansion_to_features` output (``attributed_arr``).
    data_start : date, optional
        First month of cost data (:func:`finlib.metrics.facts.data_start`). A feature
        whose ``started_on`` is before it has costs the data cannot show.

    Formula: ``return = attributed ARR`` (12 × attributed expansion MRR, USD/year);
    ``cost = Σ dev_costs`` to date as recorded (USD); ``roi = (return − cost) / cost``
    (ratio; -1.0 when nothing is attributed). Also ``budget_used`` = cost / budget (NaN
    for a budget <= 0).

    Data issues (``roi`` NaN, ``data_issue`` says why, never a division by a non-positive
    cost): no recorded cost (``cost <= 0``), and a feature started before ``data_start``
    (``cost_complete`` False: its cost to date is unknown, so the recorded cost would
    overstate the ROI).

    Reference: docs/METRICS.md, *Feature ROI*. Sign: positive when attributed ARR exceeds cost.
    """
    c = costs.groupby("feature_id", as_index=False)["cost"].sum()
    keep = [col for col in ("feature_id", "name", "team", "product_id", "budget", "started_on", "released_on")
            if col in features]
    df = features[keep].merge(c, on="feature_id", how="left").merge(
        attributed[["feature_id", "attributed_arr"]], on="feature_id", how="left")
    df["cost"] = df["cost"].fillna(0.0)
    df["attributed_arr"] = df["attributed_arr"].fillna(0.0)
    issue = roi_issue_series(df["cost"])
    complete = pd.Series(True, index=df.index)
    if data_start is not None and "started_on" in df:
        ds = _month_start(data_start)
        early = pd.to_datetime(df["started_on"]) < ds
        complete = ~early
        issue[early] = (f"cost incomplete: feature started before the cost data starts "
                        f"({_fmt_month(ds)})")
    df["cost_complete"] = complete.astype(bool)
    df["roi"] = roi_series(df["attributed_arr"], df["cost"]).where(issue.isna())
    df["data_issue"] = issue
    if "budget" in df:
        b = df["budget"].astype(float)
        df["budget_used"] = df["cost"] / b.where(b > 0)
    return df


def team_roi(feature_table):
    """Feature ROI rolled up per team.

    Returns ``team``, ``features``, ``cost``, ``attributed_arr`` (sums over the team's
    features whose cost is complete), ``features_incomplete`` (features left out because
    their cost before the data start is unknown, see :func:`feature_roi`), ``roi`` =
    (Σ attributed ARR − Σ cost) / Σ cost (ratio) and ``data_issue`` (Σ cost <= 0: no ROI).

    Reference: docs/METRICS.md, *Team ROI*. Sign: positive when
    attributed ARR exceeds cost.
    """
    ft = feature_table.copy()
    ok = ft["cost_complete"].astype(bool) if "cost_complete" in ft else True
    ft["_inc"] = ~ok if "cost_complete" in ft else False
    ft["_cost"] = ft["cost"].where(ok, 0.0)
    ft["_arr"] = ft["attributed_arr"].where(ok, 0.0)
    g = ft.groupby("team").agg(features=("feature_id", "size"), cost=("_cost", "sum"),
                               attributed_arr=("_arr", "sum"),
                               features_incomplete=("_inc", "sum")).reset_index()
    g["features_incomplete"] = g["features_incomplete"].astype(int)
    g["roi"] = roi_series(g["attributed_arr"], g["cost"])
    issue = roi_issue_series(g["cost"])
    none_complete = g["features_incomplete"] == g["features"]
    issue[none_complete] = "no feature of the team has its whole cost in the data"
    g["data_issue"] = issue
    return g


def launch_roi(products, product_new_mrr, features, costs, campaigns, months: int = 12,
               data_start=None, as_of=None):
    """Product launch ROI: new ARR of a product's first ``months`` against what built and sold it.

    Parameters
    ----------
    products : DataFrame
        ``product_id``, ``launched_on``.
    product_new_mrr : DataFrame
        :func:`finlib.metrics.facts.product_new_mrr` (``period``, ``product_id``, ``new_mrr``),
        covering at least ``data_start`` .. ``as_of``.
    features, costs : DataFrame
        ``features`` (``feature_id``, ``product_id``) and dev ``costs`` (``feature_id``,
        ``period``, ``cost``): the features that built the product.
    campaigns : DataFrame
        ``marketing_campaigns`` rows (``product_id``, ``spend``): the launch campaigns.
    months : int
        Window N: the launch month and the ``N − 1`` months after it.
    data_start : date, optional
        First month the data covers (:func:`finlib.metrics.facts.data_start`); default the
        first month of ``product_new_mrr``.
    as_of : date, optional
        Last month the data covers (the report period); default the last month of
        ``product_new_mrr``.

    Formula: ``return = 12 × Σ new_mrr`` of the product in ``[launch, launch + N)`` (new ARR,
    USD/year); ``cost = Σ dev cost`` of the product's features up to the end of the window
    ``+ Σ spend`` of campaigns with that ``product_id``; ``roi = (return − cost) / cost``.

    Coverage: ``window_complete`` is True only when ``data_start <= launch month`` and the
    window's last month ``<= as_of``. Otherwise ``roi`` is NaN and ``data_issue`` says why:
    a launch before the data starts (its new MRR and build cost are unknown: a 2018 launch
    would otherwise show −100 %), or a window still running (``roi_to_date`` then holds the
    ROI so far, over the months elapsed). A cost <= 0 is also a data issue (no division).

    Reference: docs/METRICS.md, *Launch ROI*. Sign: positive when new ARR exceeds build + launch cost.
    """
    rows = []
    pm = product_new_mrr.assign(period=pd.to_datetime(product_new_mrr["period"]))
    first = _month_start(data_start) if data_start is not None else (
        pm["period"].min() if len(pm) else pd.NaT)
    last = _month_start(as_of) if as_of is not None else (pm["period"].max() if len(pm) else pd.NaT)
    dc = costs.assign(period=pd.to_datetime(costs["period"]))
    for _, p in products.iterrows():
        start = _month_start(p["launched_on"])
        stop = start + pd.DateOffset(months=months)
        new_mrr = float(pm[(pm["product_id"] == p["product_id"]) & (pm["period"] >= start)
                           & (pm["period"] < stop)]["new_mrr"].sum())
        fids = set(features.loc[features["product_id"] == p["product_id"], "feature_id"])
        dev = float(dc[dc["feature_id"].isin(fids) & (dc["period"] < stop)]["cost"].sum())
        spend = float(campaigns.loc[campaigns["product_id"] == p["product_id"], "spend"].sum())
        ret = 12.0 * new_mrr
        cost = dev + spend
        r = roi(ret, cost)
        issue, to_date = None, math.nan
        if pd.isna(first) or pd.isna(start) or start < first:
            issue = ("launched before the data starts"
                     + (f" ({_fmt_month(first)})" if pd.notna(first) else "")
                     + ": new MRR and build cost of the launch window are unknown")
        elif pd.isna(last) or stop - pd.DateOffset(months=1) > last:
            issue = (f"launch window still running (data up to "
                     f"{_fmt_month(last) if pd.notna(last) else 'n/a'}): ROI to date only")
            to_date = r
        elif roi_issue(cost) is not None:
            issue = roi_issue(cost)
        rows.append({"product_id": p["product_id"], "launched_on": p["launched_on"],
                     "window_months": months, "new_mrr": new_mrr, "new_arr": ret,
                     "dev_cost": dev, "launch_spend": spend, "cost": cost,
                     "roi": r if issue is None else math.nan, "roi_to_date": to_date,
                     "window_complete": issue is None or issue == roi_issue(cost),
                     "data_issue": issue})
    cols = ["product_id", "launched_on", "window_months", "new_mrr", "new_arr", "dev_cost",
            "launch_spend", "cost", "roi", "roi_to_date", "window_complete", "data_issue"]
    return pd.DataFrame(rows, columns=cols)


def customer_development_cost(requests, costs, customer_arr):
    """Cost of requested features shared across requesting customers, against their ARR.

    Parameters
    ----------
    requests : DataFrame
        ``feature_requests`` (``customer_id``, ``feature_id``; rows without a feature are
        ignored). A customer requesting a feature twice counts once.
    costs : DataFrame
        ``feature_id``, ``cost`` (dev cost to date, USD).
    customer_arr : DataFrame
        ``customer_id``, ``arr`` (USD/year; missing = 0, e.g. churned).

    Formula: each feature's cost is split equally among its distinct requesting customers;
    ``dev_cost_share(c) = Σ_f cost_f / n_f``; ``cost_to_arr = dev_cost_share / arr`` (ratio,
    NaN when ARR is 0). Units: USD, ratio.

    Reference: docs/METRICS.md, *Customer development cost* (cost-to-serve). Sign: >= 0.
    """
    r = requests.dropna(subset=["feature_id"])[["customer_id", "feature_id"]].drop_duplicates()
    n = r.groupby("feature_id")["customer_id"].transform("size")
    c = costs.groupby("feature_id")["cost"].sum()
    r = r.assign(share=r["feature_id"].map(c).fillna(0.0) / n)
    out = r.groupby("customer_id").agg(features_requested=("feature_id", "size"),
                                       dev_cost_share=("share", "sum")).reset_index()
    out = out.merge(customer_arr[["customer_id", "arr"]], on="customer_id", how="left")
    out["arr"] = out["arr"].fillna(0.0)
    out["cost_to_arr"] = out["dev_cost_share"] / out["arr"].where(out["arr"] > 0)
    return out.sort_values("cost_to_arr", ascending=False, na_position="first").reset_index(drop=True)


def milestone_efficiency(milestones, costs, as_of, data_start=None, features=None):
    """Per milestone: cost, budget variance and schedule slip.

    Parameters
    ----------
    milestones : DataFrame
        ``milestone_id``, ``feature_id``, ``planned_on``, ``completed_on`` (NaT if open),
        ``budget``.
    costs : DataFrame
        ``milestone_id``, ``cost`` (dev costs up to ``as_of``) and, when ``data_start`` is
        not given, ``period``.
    as_of : date
        The day the report is as of (for open milestones).
    data_start : date, optional
        First month of cost data (:func:`finlib.metrics.facts.data_start`); default the
        first ``period`` of ``costs``.
    features : DataFrame, optional
        ``feature_id``, ``started_on``: when the first milestone of a feature began.

    Cost completeness: a milestone's work runs from the completion of the feature's
    previous milestone (by ``planned_on``), or from the feature's ``started_on`` for its
    first milestone, to its own completion. When that start lies before ``data_start``
    the data cannot hold the milestone's whole cost: ``cost`` is NaN (unknown),
    ``cost_recorded`` keeps what the data hold, ``cost_complete`` is False and
    ``data_issue`` says why; variance is not computed. (Without ``features`` the first
    milestone of a feature counts as started before the data when it was planned before
    ``data_start``.) Features built before the data starts would otherwise show a cost of
    0 and a variance of −100 %.

    Returns a DataFrame with ``cost`` (USD), ``variance`` = cost − budget (cost convention:
    ``favourable`` when at or under budget; ``data_issue`` when the budget is <= 0 or the
    cost is incomplete), ``variance_pct`` = variance / |budget|, ``completed`` (bool),
    ``slip_days`` = completed_on − planned_on for completed milestones and
    ``max(as_of − planned_on, 0)`` for open ones (positive = late).

    Reference: docs/METRICS.md, *Milestone efficiency* and the *Variance* convention.
    """
    m = milestones.copy()
    c = costs.dropna(subset=["milestone_id"]).groupby("milestone_id")["cost"].sum()
    m["cost_recorded"] = m["milestone_id"].map(c).fillna(0.0)
    if data_start is None and "period" in costs and len(costs):
        data_start = pd.to_datetime(costs["period"]).min()
    planned = pd.to_datetime(m["planned_on"])
    done = pd.to_datetime(m["completed_on"])
    complete = pd.Series(True, index=m.index)
    if data_start is not None:
        ds = _month_start(data_start)
        order = m.assign(_planned=planned).sort_values(["feature_id", "_planned", "milestone_id"])
        prev_done = pd.to_datetime(order.groupby("feature_id")["completed_on"].shift(1))
        is_first = order.groupby("feature_id").cumcount() == 0
        if features is not None and "started_on" in features:
            fstart = order["feature_id"].map(features.set_index("feature_id")["started_on"])
            first_start = pd.to_datetime(fstart)
        else:
            first_start = order["_planned"]
        work_start = prev_done.where(~is_first, first_start)
        # an earlier milestone still open: this one's work has not started before it
        early = (work_start < ds).reindex(m.index).fillna(False).astype(bool)
        complete = ~early
    m["cost_complete"] = complete.astype(bool)
    m["cost"] = m["cost_recorded"].where(complete, np.nan)
    m = variance_frame(m.assign(plan=m["budget"].astype(float)), actual="cost", plan="plan", kind="cost")
    m = m.drop(columns="plan")
    if (~complete).any():
        ds_txt = _fmt_month(_month_start(data_start))
        m.loc[~complete, "data_issue"] = (f"cost incomplete: the milestone's work began before the "
                                          f"cost data starts ({ds_txt})")
        m.loc[~complete, "favourable"] = pd.NA
    m["completed"] = done.notna() & (done <= pd.Timestamp(as_of))
    open_slip = (pd.Timestamp(as_of) - planned).dt.days.clip(lower=0)
    m["slip_days"] = (done - planned).dt.days.where(m["completed"], open_slip)
    return m


def cost_per_completed_milestone(milestone_table) -> float:
    """Σ cost of completed milestones / their number (USD per milestone; NaN if none).

    Only milestones whose cost is known (``cost`` not NaN, see :func:`milestone_efficiency`)
    count, in the numerator and the denominator alike.

    Reference: docs/METRICS.md, *Cost per completed milestone*. Sign: >= 0.
    """
    done = milestone_table[milestone_table["completed"] & milestone_table["cost"].notna()]
    return float(done["cost"].sum() / len(done)) if len(done) else math.nan
