"""Product development ROI: feature ROI (per feature and team), launch ROI, customer
development cost, milestone efficiency (cost per milestone, budget variance, slip).

The statsmodels estimates (feature-adoption effect, CSAT ROI) are in :mod:`finlib.models`;
the ROI here uses a transparent *attribution rule*, stated in each docstring.
ROI = (return − cost) / cost (ratio; see :mod:`finlib.metrics.core`).
"""

from __future__ import annotations

import math

from finlib.metrics.core import roi, roi_series, variance_frame


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
    import pandas as pd

    from finlib.metrics.periods import parse_period

    e = expansion[expansion["expansion"] > 0][["period", "customer_id", "expansion"]].copy()
    e["period"] = pd.to_datetime(e["period"])
    if until is not None:
        e = e[e["period"] <= pd.Timestamp(parse_period(until))]
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


def feature_roi(features, costs, attributed):
    """Feature development ROI per feature.

    Parameters
    ----------
    features : DataFrame
        ``feature_id``, ``team``, ``product_id``, ``budget`` (and optionally ``name``,
        ``released_on``).
    costs : DataFrame
        ``feature_id``, ``cost`` (dev cost, USD; several rows per feature are summed —
        :func:`finlib.metrics.facts.dev_costs` up to the period).
    attributed : DataFrame
        :func:`attribute_expansion_to_features` output (``attributed_arr``).

    Formula: ``return = attributed ARR`` (12 × attributed expansion MRR, USD/year);
    ``cost = Σ dev_costs`` to date (USD); ``roi = (return − cost) / cost`` (ratio; -1.0 when
    nothing is attributed; NaN when there is no cost yet). Also ``budget_used`` = cost /
    budget.

    Reference: DESIGN.md, *Feature development ROI*. Sign: positive when attributed ARR exceeds cost.
    """
    c = costs.groupby("feature_id", as_index=False)["cost"].sum()
    keep = [col for col in ("feature_id", "name", "team", "product_id", "budget", "released_on") if col in features]
    df = features[keep].merge(c, on="feature_id", how="left").merge(
        attributed[["feature_id", "attributed_arr"]], on="feature_id", how="left")
    df["cost"] = df["cost"].fillna(0.0)
    df["attributed_arr"] = df["attributed_arr"].fillna(0.0)
    df["roi"] = roi_series(df["attributed_arr"], df["cost"])
    if "budget" in df:
        b = df["budget"].astype(float)
        df["budget_used"] = df["cost"] / b.where(b > 0)
    return df


def team_roi(feature_table):
    """Feature ROI rolled up per team: ``team``, ``features``, ``cost``, ``attributed_arr``,
    ``roi`` = (Σ attributed ARR − Σ cost) / Σ cost (ratio)."""
    g = feature_table.groupby("team").agg(features=("feature_id", "size"), cost=("cost", "sum"),
                                          attributed_arr=("attributed_arr", "sum")).reset_index()
    g["roi"] = roi_series(g["attributed_arr"], g["cost"])
    return g


def launch_roi(products, product_new_mrr, features, costs, campaigns, months: int = 12):
    """Product launch ROI: new ARR of a product's first ``months`` against what built and sold it.

    Parameters
    ----------
    products : DataFrame
        ``product_id``, ``launched_on``.
    product_new_mrr : DataFrame
        :func:`finlib.metrics.facts.product_new_mrr` (``period``, ``product_id``, ``new_mrr``).
    features, costs : DataFrame
        ``features`` (``feature_id``, ``product_id``) and dev ``costs`` (``feature_id``,
        ``period``, ``cost``): the features that built the product.
    campaigns : DataFrame
        ``marketing_campaigns`` rows (``product_id``, ``spend``): the launch campaigns.
    months : int
        Window N: the launch month and the ``N − 1`` months after it.

    Formula: ``return = 12 × Σ new_mrr`` of the product in ``[launch, launch + N)`` (new ARR,
    USD/year); ``cost = Σ dev cost`` of the product's features up to the end of the window
    ``+ Σ spend`` of campaigns with that ``product_id``; ``roi = (return − cost) / cost``.
    ``window_complete`` says whether ``product_new_mrr`` covers the whole window (a
    launch before the first month of data, or a window still running, is incomplete).

    Reference: DESIGN.md, *Product launch ROI*. Sign: positive when new ARR exceeds build + launch cost.
    """
    import pandas as pd

    rows = []
    pm = product_new_mrr.assign(period=pd.to_datetime(product_new_mrr["period"]))
    last = pm["period"].max() if len(pm) else pd.NaT
    first = pm["period"].min() if len(pm) else pd.NaT
    dc = costs.assign(period=pd.to_datetime(costs["period"]))
    for _, p in products.iterrows():
        start = pd.Timestamp(p["launched_on"]).to_period("M").to_timestamp()
        stop = start + pd.DateOffset(months=months)
        new_mrr = float(pm[(pm["product_id"] == p["product_id"]) & (pm["period"] >= start)
                           & (pm["period"] < stop)]["new_mrr"].sum())
        fids = set(features.loc[features["product_id"] == p["product_id"], "feature_id"])
        dev = float(dc[dc["feature_id"].isin(fids) & (dc["period"] < stop)]["cost"].sum())
        spend = float(campaigns.loc[campaigns["product_id"] == p["product_id"], "spend"].sum())
        ret = 12.0 * new_mrr
        rows.append({"product_id": p["product_id"], "launched_on": p["launched_on"],
                     "window_months": months, "new_mrr": new_mrr, "new_arr": ret,
                     "dev_cost": dev, "launch_spend": spend, "cost": dev + spend,
                     "roi": roi(ret, dev + spend),
                     "window_complete": bool(pd.notna(last) and first <= start
                                             and last >= stop - pd.DateOffset(months=1))})
    return pd.DataFrame(rows)


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

    Reference: DESIGN.md, *Customer development costs* (cost-to-serve). Sign: >= 0.
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


def milestone_efficiency(milestones, costs, as_of):
    """Per milestone: cost, budget variance and schedule slip.

    Parameters
    ----------
    milestones : DataFrame
        ``milestone_id``, ``feature_id``, ``planned_on``, ``completed_on`` (NaT if open),
        ``budget``.
    costs : DataFrame
        ``milestone_id``, ``cost`` (dev costs up to ``as_of``).
    as_of : date
        The day the report is as of (for open milestones).

    Returns a DataFrame with ``cost`` (USD), ``variance`` = cost − budget (cost convention:
    ``favourable`` when at or under budget; ``data_issue`` when the budget is <= 0),
    ``variance_pct``, ``completed`` (bool), ``slip_days`` = completed_on − planned_on for
    completed milestones and ``max(as_of − planned_on, 0)`` for open ones (positive = late).
    """
    import pandas as pd

    m = milestones.copy()
    c = costs.dropna(subset=["milestone_id"]).groupby("milestone_id")["cost"].sum()
    m["cost"] = m["milestone_id"].map(c).fillna(0.0)
    m = variance_frame(m.assign(plan=m["budget"].astype(float)), actual="cost", plan="plan", kind="cost")
    m = m.drop(columns="plan")
    planned = pd.to_datetime(m["planned_on"])
    done = pd.to_datetime(m["completed_on"])
    m["completed"] = done.notna() & (done <= pd.Timestamp(as_of))
    open_slip = (pd.Timestamp(as_of) - planned).dt.days.clip(lower=0)
    m["slip_days"] = (done - planned).dt.days.where(m["completed"], open_slip)
    return m


def cost_per_completed_milestone(milestone_table) -> float:
    """Σ cost of completed milestones / their number (USD per milestone; NaN if none).

    Reference: DESIGN.md, *Product development efficiency*. Sign: >= 0.
    """
    done = milestone_table[milestone_table["completed"]]
    return float(done["cost"].sum() / len(done)) if len(done) else math.nan
