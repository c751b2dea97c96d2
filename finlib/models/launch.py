"""Launch uplift against comparable customers: what taking up a newly launched product did to
a customer's revenue, and the return on what built and sold the product.

* :func:`launch_panel` -- the customer-month panel around a product's launch (from the
  warehouse, through the monthly MRR facts): adopters and the customers who never took the
  product up, each in a segment x size-band cell.
* :func:`launch_uplift` -- the pure estimator over that panel: a difference in differences
  of total MRR, adopters against non-adopters *of the same segment and size band*, with
  standard errors clustered by customer (:func:`finlib.models.attribution.diff_in_diff`),
  the naive comparisons beside it, and the ROI the uplift implies.
* :func:`launch_frames` -- the tables and chart data a notebook section shows.

Conventions: money in the reporting currency (USD) per customer and month; "uplift" is
positive when adopters' MRR rose more than that of comparable non-adopters; ROI =
(return - cost) / cost as a ratio (2.0 = 200 %; :func:`finlib.metrics.core.roi`).

statsmodels and pandas are imported inside the functions, never at ``import finlib``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lazy_loader as lazy
import numpy as np
import pandas as pd

from finlib.errors import ModelError
from finlib.metrics import facts
from finlib.metrics.core import roi, roi_issue
from finlib.models.attribution import DiDResult, diff_in_diff

scipy = lazy.load("scipy")  # scipy.stats loads on first use

__all__ = ["LaunchUplift", "launch_frames", "launch_panel", "launch_uplift"]

SIZE_BANDS = ("small", "mid", "large")


def _month(value):

    return pd.Timestamp(value).to_period("M").to_timestamp()


def launch_panel(src, product_id, launch_period=None, pre_months: int = 6, post_months: int = 6,
                 adoption_months: int = 3, size_bands: int = 3):
    """Customer-month panel of total MRR around a product's launch.

    Window: the ``pre_months`` months before the launch month ``L`` and the ``post_months``
    months from ``L`` on. Customers: those paying at *every* month end of the window (a
    balanced panel, so churn cannot change the comparison's composition) who did not pay for
    the product at any month end before ``L``; of them

    * **adopters** start paying for the product at a month end in
      ``[L, L + adoption_months - 1]`` (their ``adopted_period``);
    * **non-adopters** never pay for it in the window;
    * customers adopting later in the window are left out (neither group).

    Columns: ``customer_id``, ``period`` (first of month), ``mrr`` (total MRR over every
    product at the month end, USD/month), ``mrr_base`` (total MRR at the end of ``L - 1``),
    ``mrr_change`` = mrr - mrr_base, ``segment``, ``size_band`` (``small``/``mid``/``large``:
    tercile of ``mrr_base`` within the segment, among the panel's customers), ``cell`` =
    segment / size band, ``treated`` (1 = adopter), ``adopted_period``, ``post`` (1 from the
    adopter's own adoption month; from ``L`` for non-adopters), ``tenure_months``.
    ``launch_period`` defaults to ``products.launched_on``. MRR comes from
    :func:`finlib.metrics.facts.mrr_by_customer_product` (month-end MRR, end dates exclusive).
    """


    product_id = str(product_id)
    with facts._connection(src) as conn:
        if launch_period is None:
            launched = conn.scalar("SELECT launched_on FROM products WHERE product_id = :p", {"p": product_id})
            if launched is None:
                raise ModelError(f"product {product_id!r} does not exist or has no launched_on; "
                                 "pass launch_period")
            launch_period = launched
        L = _month(launch_period)
        start = L - pd.DateOffset(months=pre_months)
        end = L + pd.DateOffset(months=post_months - 1)
        mp = facts.mrr_by_customer_product(conn, start.date(), end.date())
        cust = facts.table(conn, "customers", "customer_id, segment, signup_date", dates=("signup_date",))
    if pre_months < 1 or post_months < 1 or adoption_months < 1:
        raise ModelError("pre_months, post_months and adoption_months must be at least 1")
    if mp.empty:
        raise ModelError(f"no paying customers around the launch of {product_id!r} ({L.date()})")
    mp["customer_id"] = mp["customer_id"].astype(str)
    mp["mrr"] = mp["mrr"].astype(float)
    periods = pd.date_range(start, end, freq="MS")
    total = mp.pivot_table(index="customer_id", columns="period", values="mrr", aggfunc="sum",
                           fill_value=0.0).reindex(columns=periods, fill_value=0.0)
    own = mp[mp["product_id"].astype(str) == product_id]
    prod = own.pivot_table(index="customer_id", columns="period", values="mrr", aggfunc="sum",
                           fill_value=0.0).reindex(index=total.index, columns=periods, fill_value=0.0)
    balanced = (total > 0).all(axis=1)
    pays = prod > 0
    before = pays.loc[:, periods < L].any(axis=1)
    after = pays.loc[:, periods >= L]
    first = after.idxmax(axis=1).where(after.any(axis=1))
    last_adoption = L + pd.DateOffset(months=adoption_months - 1)
    adopter = first.notna() & (first <= last_adoption)
    never = ~pays.any(axis=1)
    keep = balanced & ~before & (adopter | never)
    if not (keep & adopter).any():
        raise ModelError(f"no customer paying throughout {start:%Y-%m}..{end:%Y-%m} took up {product_id!r} "
                         f"in {L:%Y-%m}..{last_adoption:%Y-%m}")
    if not (keep & never).any():
        raise ModelError(f"every customer paying throughout {start:%Y-%m}..{end:%Y-%m} took up {product_id!r}: "
                         "no comparison group")
    ids = total.index[keep]
    base_period = L - pd.DateOffset(months=1)
    base = total.loc[ids, base_period]
    df = total.loc[ids].stack().rename("mrr").reset_index()
    df.columns = ["customer_id", "period", "mrr"]
    info = cust.assign(customer_id=cust["customer_id"].astype(str)).set_index("customer_id").reindex(ids)
    per = pd.DataFrame({"mrr_base": base, "segment": info["segment"].astype(str),
                        "treated": adopter.loc[ids].astype(int), "adopted_period": first.loc[ids].where(adopter.loc[ids]),
                        "signup_date": pd.to_datetime(info["signup_date"])}, index=ids)
    rank = per.groupby("segment")["mrr_base"].rank(method="first")
    n_seg = per.groupby("segment")["mrr_base"].transform("size")
    band = np.minimum((size_bands * (rank - 1) // n_seg).astype(int), size_bands - 1)
    names = SIZE_BANDS if size_bands == 3 else tuple(f"band {i + 1}" for i in range(size_bands))
    per["size_band"] = [names[b] for b in band]
    per["cell"] = per["segment"] + " / " + per["size_band"]
    df = df.join(per, on="customer_id")
    df["mrr"] = df["mrr"].astype(float)
    df["mrr_base"] = df["mrr_base"].astype(float)
    df["mrr_change"] = df["mrr"] - df["mrr_base"]
    df["period"] = pd.to_datetime(df["period"])
    df["post"] = (df["period"] >= pd.to_datetime(df["adopted_period"]).fillna(L)).astype(int)
    df["tenure_months"] = ((df["period"].dt.year - df["signup_date"].dt.year) * 12
                           + (df["period"].dt.month - df["signup_date"].dt.month)).astype(float)
    df = df.drop(columns=["signup_date"]).sort_values(["customer_id", "period"]).reset_index(drop=True)
    df.attrs.update(product_id=product_id, launch_period=L, pre_months=pre_months, post_months=post_months,
                    adoption_months=adoption_months)
    return df


@dataclass(frozen=True)
class LaunchUplift:
    """Result of :func:`launch_uplift` (money in USD).

    Attributes
    ----------
    uplift_mrr, std_err, ci_low, ci_high, p_value : float
        The matched difference in differences: MRR per adopting customer per month, its
        cluster-robust standard error and ``1 - alpha`` interval.
    did : DiDResult
        The fitted estimate (``did.result.summary()`` for the whole regression).
    adopters, comparison_customers : int
        Adopters in matched cells, and the non-adopters of those cells.
    unmatched_adopters : int
        Adopters in a cell with no non-adopter (left out of the estimate).
    comparison : DataFrame
        ``method``, ``uplift_mrr``, ``ci_low``, ``ci_high``, ``adopters``,
        ``comparison_customers``, ``note``: the matched estimate beside the two naive ones
        (adopters against every non-adopter; adopters against themselves before).
    cells : DataFrame
        Per segment and size band: ``segment``, ``size_band``, ``adopters``,
        ``non_adopters``, ``adopter_mrr_base`` and ``non_adopter_mrr_base`` (mean MRR before
        the launch), ``adopter_change`` and ``non_adopter_change`` (mean change of MRR in the
        post months against the pre months), ``matched``.
    trend : DataFrame
        ``period``, ``group`` (``adopters``, ``comparable non-adopters``, ``all
        non-adopters``), ``mrr_change`` (mean MRR minus the MRR before the launch, USD/month;
        comparable non-adopters are re-weighted to the adopters' cell mix): the chart.
    months, annual_return ... : see :func:`launch_uplift`.
    """

    product_id: str
    launch_period: Any
    uplift_mrr: float
    std_err: float
    ci_low: float
    ci_high: float
    p_value: float
    did: DiDResult
    adopters: int
    comparison_customers: int
    unmatched_adopters: int
    months: int
    return_: float
    return_ci: tuple[float, float]
    dev_cost: float
    launch_spend: float
    cost: float
    roi: float
    roi_ci: tuple[float, float]
    data_issue: str | None
    comparison: Any
    cells: Any
    trend: Any


def _before_after(panel, alpha: float):
    """Adopters against themselves: mean over adopters of (mean MRR after - mean MRR before)."""

    a = panel[panel["treated"] == 1]
    m = a.groupby(["customer_id", "post"])["mrr"].mean().unstack()
    d = (m[1] - m[0]).dropna().to_numpy()
    if len(d) < 2:
        return float("nan"), float("nan"), float("nan")
    se = d.std(ddof=1) / np.sqrt(len(d))
    q = scipy.stats.t.ppf(1 - alpha / 2, len(d) - 1)
    return float(d.mean()), float(d.mean() - q * se), float(d.mean() + q * se)


def launch_uplift(panel, months: int = 12, dev_cost: float = 0.0, launch_spend: float = 0.0,
                  alpha: float = 0.05) -> LaunchUplift:
    """Launch uplift per adopter against comparable non-adopters, and the ROI it implies.

    Model (OLS over the customers of the cells that hold both adopters and non-adopters,
    one row per customer ``i`` and side ``s`` of the launch (before / after) with the mean
    of the :func:`launch_panel` ``mrr_change`` over its months; ``c`` = segment x size band
    of the customer)::

        mrr_change_is = b0 + b1 treated_i + b2 post_s + delta (treated_i x post_s)
                        + a_c + g_c post_s + e_is

    ``a_c`` and ``g_c`` (cell levels and cell-specific post shifts) make every comparison
    within a segment and size band, so a group that adopts more *and* grows faster (larger
    customers) does not pass its growth off as uplift. ``delta`` (``uplift_mrr``, USD per
    adopting customer per month) is the difference in differences; standard errors are
    clustered by customer, via :func:`finlib.models.attribution.diff_in_diff`. Averaging
    each side's months first is Bertrand, Duflo & Mullainathan's (2004) remedy for serially
    correlated months; with the same number of months per customer on each side it gives
    the same estimate as the regression on every customer-month. With an uplift
    that differs between cells, ``delta`` is a variance-weighted average of the cells'
    uplifts (Angrist & Pischke 2009, ch. 3.3). Sign: positive = adopters' MRR rose more.

    Naive comparisons reported beside it (``comparison``): adopters against every
    non-adopter (the same DiD without the cell terms) and adopters against themselves (mean
    MRR after adoption minus before, a t interval): both are biased when adoption goes with
    growth.

    Money: ``return_`` = uplift x adopters x ``months`` (USD over ``months`` months of the
    uplift for the adopters measured), ``cost`` = ``dev_cost`` (dev costs of the features
    that built the product) + ``launch_spend`` (spend of its launch campaigns); ``roi`` =
    (return - cost) / cost, its interval the uplift's interval carried through the same
    linear formula; NaN with ``data_issue`` when the cost is zero or missing.
    """

    cells = panel.groupby("cell").agg(segment=("segment", "first"), size_band=("size_band", "first"))
    per = panel.drop_duplicates("customer_id")
    counts = per.groupby(["cell", "treated"]).size().unstack(fill_value=0).reindex(columns=[0, 1], fill_value=0)
    cells["adopters"] = counts[1]
    cells["non_adopters"] = counts[0]
    cells["matched"] = (cells["adopters"] > 0) & (cells["non_adopters"] > 0)
    base = per.groupby(["cell", "treated"])["mrr_base"].mean().unstack().reindex(columns=[0, 1])
    cells["adopter_mrr_base"], cells["non_adopter_mrr_base"] = base[1], base[0]
    chg = panel.groupby(["cell", "treated", "post"])["mrr_change"].mean().unstack().reindex(columns=[0, 1])
    diff = (chg[1] - chg[0]).unstack().reindex(columns=[0, 1])
    cells["adopter_change"], cells["non_adopter_change"] = diff[1], diff[0]
    matched = cells.index[cells["matched"]]
    if len(matched) == 0:
        raise ModelError("no segment and size band holds both adopters and non-adopters: nothing to compare")
    # one row per customer and side of the launch: the mean MRR change before and after
    # (Bertrand, Duflo & Mullainathan 2004: collapsing the months removes serial correlation
    # from the inference; with as many months per customer on each side, the same estimate)
    keys = ["customer_id", "treated", "post", "cell"]
    collapsed = panel.groupby(keys, as_index=False)["mrr_change"].mean()
    m = collapsed[collapsed["cell"].isin(matched)].copy()
    controls = []
    if len(matched) > 1:
        controls.append("cell")
        for c in sorted(matched)[1:]:
            m[f"post:{c}"] = m["post"] * (m["cell"] == c).astype(int)
            controls.append(f"post:{c}")
    did = diff_in_diff(m, "mrr_change", "treated", "post", controls=controls, cluster="customer_id", alpha=alpha)
    adopters = int(cells.loc[matched, "adopters"].sum())
    comparison_customers = int(cells.loc[matched, "non_adopters"].sum())
    unmatched = int(cells.loc[~cells["matched"], "adopters"].sum())

    naive = diff_in_diff(collapsed, "mrr_change", "treated", "post", cluster="customer_id", alpha=alpha)
    ba = _before_after(panel, alpha)
    n_adopt_all = int(per["treated"].sum())
    comparison = pd.DataFrame([
        {"method": "matched difference in differences (same segment and size band)", "uplift_mrr": did.effect,
         "ci_low": did.ci_low, "ci_high": did.ci_high, "adopters": adopters,
         "comparison_customers": comparison_customers, "note": "the estimate"},
        {"method": "adopters against every non-adopter", "uplift_mrr": naive.effect, "ci_low": naive.ci_low,
         "ci_high": naive.ci_high, "adopters": n_adopt_all,
         "comparison_customers": int((per["treated"] == 0).sum()),
         "note": "naive: biased when adopters differ (size, segment) and grow differently"},
        {"method": "adopters before against after", "uplift_mrr": ba[0], "ci_low": ba[1], "ci_high": ba[2],
         "adopters": n_adopt_all, "comparison_customers": 0,
         "note": "naive: counts the adopters' own growth as uplift"},
    ])

    # chart: mean change per month; comparable non-adopters re-weighted to the adopters' cell mix
    w = cells.loc[matched, "adopters"] / adopters
    mp = panel[panel["cell"].isin(matched)]
    g = mp.groupby(["period", "cell", "treated"])["mrr_change"].mean().unstack()
    comp = (g[0].unstack().reindex(columns=matched) * w).sum(axis=1, min_count=1)
    trend = pd.concat([
        mp[mp["treated"] == 1].groupby("period")["mrr_change"].mean().rename("adopters"),
        comp.rename("comparable non-adopters"),
        panel[panel["treated"] == 0].groupby("period")["mrr_change"].mean().rename("all non-adopters"),
    ], axis=1)
    trend = trend.reset_index().melt(id_vars="period", var_name="group", value_name="mrr_change")

    months = int(months)
    ret = did.effect * adopters * months
    ret_ci = (did.ci_low * adopters * months, did.ci_high * adopters * months)
    cost = float(dev_cost or 0.0) + float(launch_spend or 0.0)
    issue = roi_issue(cost, "launch cost")
    if issue is None:
        r, r_ci = roi(ret, cost), (roi(ret_ci[0], cost), roi(ret_ci[1], cost))
    else:
        r, r_ci = float("nan"), (float("nan"), float("nan"))
    cells = cells.reset_index(drop=True)[["segment", "size_band", "adopters", "non_adopters", "adopter_mrr_base",
                                          "non_adopter_mrr_base", "adopter_change", "non_adopter_change",
                                          "matched"]]
    order = {b: i for i, b in enumerate(SIZE_BANDS)}
    cells = cells.sort_values(["segment", "size_band"], key=lambda s: s.map(order) if s.name == "size_band" else s)
    return LaunchUplift(
        product_id=panel.attrs.get("product_id"), launch_period=panel.attrs.get("launch_period"),
        uplift_mrr=did.effect, std_err=did.std_err, ci_low=did.ci_low, ci_high=did.ci_high, p_value=did.p_value,
        did=did, adopters=adopters, comparison_customers=comparison_customers, unmatched_adopters=unmatched,
        months=months, return_=ret, return_ci=ret_ci, dev_cost=float(dev_cost or 0.0),
        launch_spend=float(launch_spend or 0.0), cost=cost, roi=r, roi_ci=r_ci, data_issue=issue,
        comparison=comparison, cells=cells.reset_index(drop=True), trend=trend.astype({"mrr_change": float}),
    )


def launch_frames(src, period, product_id=None, pre_months: int = 6, post_months: int = 6,
                  adoption_months: int = 3, months: int = 12, alpha: float = 0.05) -> dict:
    """The "Launch uplift vs comparable customers" section: named DataFrames.

    ``product_id`` defaults to the product launched most recently on or before ``period``
    whose launch has ``pre_months`` months of data before it. The post window is cut at
    ``period`` (the last closed month). Costs: every ``dev_costs`` row of the features with
    that ``product_id`` and the ``spend`` of ``marketing_campaigns`` with that
    ``product_id``.

    Returns
    -------
    dict of DataFrame
        ``uplift`` (one row: ``product_id``, ``product_name``, ``launch_period``,
        ``pre_months``, ``post_months``, ``adopters``, ``comparison_customers``,
        ``unmatched_adopters``, ``uplift_mrr``, ``std_err``, ``ci_low``, ``ci_high``,
        ``p_value``, ``months``, ``return``, ``return_ci_low``, ``return_ci_high``,
        ``dev_cost``, ``launch_spend``, ``cost``, ``roi``, ``roi_ci_low``, ``roi_ci_high``,
        ``data_issue``), ``comparison`` (the matched estimate and the naive ones),
        ``cells`` (per segment and size band) and ``trend`` (``period``, ``group``,
        ``mrr_change``: the chart); see :class:`LaunchUplift`.
    """


    P = _month(period)
    with facts._connection(src) as conn:
        products = facts.table(conn, "products", dates=("launched_on",))
        first = facts.data_start(conn)
        feats = facts.table(conn, "features", "feature_id, product_id")
        dev = facts.table(conn, "dev_costs", "feature_id, cost")
        camps = facts.table(conn, "marketing_campaigns", "campaign_id, product_id, spend")
        first = _month(first) if first is not None else None
        if product_id is None:
            lp = products.dropna(subset=["launched_on"]).copy()
            lp["L"] = lp["launched_on"].map(_month)
            ok = lp[lp["L"] <= P]
            if first is not None:
                ok = ok[ok["L"] - pd.DateOffset(months=pre_months) >= first]
            if ok.empty:
                raise ModelError(f"no product launched between {pre_months} months after the data starts and "
                                 f"{P:%Y-%m}")
            product_id = ok.sort_values("L")["product_id"].iloc[-1]
        row = products[products["product_id"].astype(str) == str(product_id)]
        if row.empty:
            raise ModelError(f"product {product_id!r} does not exist")
        L = _month(row["launched_on"].iloc[0])
        post = min(post_months, (P.year - L.year) * 12 + P.month - L.month + 1)
        if post < 1:
            raise ModelError(f"product {product_id!r} launched after {P:%Y-%m}")
        panel = launch_panel(conn, product_id, L, pre_months, post, adoption_months)
    fids = set(feats.loc[feats["product_id"].astype(str) == str(product_id), "feature_id"].astype(str))
    dev_cost = float(dev.loc[dev["feature_id"].astype(str).isin(fids), "cost"].astype(float).sum())
    spend = float(camps.loc[camps["product_id"].astype(str) == str(product_id), "spend"].astype(float).sum())
    u = launch_uplift(panel, months=months, dev_cost=dev_cost, launch_spend=spend, alpha=alpha)
    uplift = pd.DataFrame([{
        "product_id": str(product_id), "product_name": str(row["name"].iloc[0]), "launch_period": L,
        "pre_months": pre_months, "post_months": post, "adopters": u.adopters,
        "comparison_customers": u.comparison_customers, "unmatched_adopters": u.unmatched_adopters,
        "uplift_mrr": u.uplift_mrr, "std_err": u.std_err, "ci_low": u.ci_low, "ci_high": u.ci_high,
        "p_value": u.p_value, "months": u.months, "return": u.return_, "return_ci_low": u.return_ci[0],
        "return_ci_high": u.return_ci[1], "dev_cost": u.dev_cost, "launch_spend": u.launch_spend, "cost": u.cost,
        "roi": u.roi, "roi_ci_low": u.roi_ci[0], "roi_ci_high": u.roi_ci[1], "data_issue": u.data_issue}])
    return {"uplift": uplift, "comparison": u.comparison, "cells": u.cells, "trend": u.trend}
