"""Headline KPIs of a period and the full metric pack (what `finlib kpis`, notebooks,
dashboards and the benchmark call).

:func:`headline_kpis` opens one short read-only connection, runs a handful of aggregate
queries (:mod:`finlib.metrics.facts`) and returns a flat dict of floats.
:func:`period_metrics` computes every monthly fact and every metric of the catalogue
(except models, CLV and alerts) for one period.
"""

from __future__ import annotations

import math

import pandas as pd

from finlib import config
from finlib.errors import NoDataError
from finlib.metrics import departments as dep
from finlib.metrics import facts
from finlib.metrics import monitoring as mon
from finlib.metrics import mrr as mrrm
from finlib.metrics import product as prod
from finlib.metrics import retention as ret
from finlib.metrics.core import finite_or_none, variance
from finlib.periods import add_months, last_closed_month, month_end, month_of

HEADLINE_KEYS = (
    "mrr", "arr", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churn", "mrr_reactivation",
    "net_new_mrr", "customers", "recognised_revenue", "revenue_target", "revenue_variance",
    "revenue_variance_pct", "revenue_favourable", "nrr", "grr", "logo_churn", "gross_mrr_churn",
    "net_mrr_churn", "cac", "new_customers", "sales_marketing_cost", "gross_margin",
    "cac_payback_months",
)

#: Label and unit of each headline KPI; ``{currency}`` in a unit stands for the reporting
#: currency (:func:`kpi_labels` fills it in).
KPI_LABELS = {
    "mrr": ("MRR (month end)", "{currency}/month"), "arr": ("ARR (12 × MRR)", "{currency}/year"),
    "mrr_new": ("New MRR", "{currency}/month"), "mrr_expansion": ("Expansion MRR", "{currency}/month"),
    "mrr_contraction": ("Contraction MRR", "{currency}/month"), "mrr_churn": ("Churned MRR", "{currency}/month"),
    "mrr_reactivation": ("Reactivation MRR", "{currency}/month"), "net_new_mrr": ("Net new MRR", "{currency}/month"),
    "customers": ("Paying customers", "count"), "recognised_revenue": ("Recognised revenue", "{currency}"),
    "revenue_target": ("Revenue target", "{currency}"), "revenue_variance": ("Revenue − target", "{currency}"),
    "revenue_variance_pct": ("Revenue variance", "ratio"),
    "revenue_favourable": ("Revenue favourable", "flag"),
    "nrr": ("Net revenue retention (12 m)", "ratio"), "grr": ("Gross revenue retention (12 m)", "ratio"),
    "logo_churn": ("Logo churn", "ratio"), "gross_mrr_churn": ("Gross MRR churn", "ratio"),
    "net_mrr_churn": ("Net MRR churn", "ratio"), "cac": ("CAC (blended)", "{currency}/customer"),
    "new_customers": ("New paying customers", "count"),
    "sales_marketing_cost": ("Sales + Marketing opex", "{currency}"), "gross_margin": ("Gross margin", "ratio"),
    "cac_payback_months": ("CAC payback", "months"),
}


def kpi_labels(currency: str | None = None) -> dict[str, tuple[str, str]]:
    """:data:`KPI_LABELS` with the reporting currency (default
    :func:`finlib.config.reporting_currency`) in the money units."""
    cur = currency or config.reporting_currency()
    return {k: (label, unit.replace("{currency}", cur)) for k, (label, unit) in KPI_LABELS.items()}




def _require_data(conn, period) -> None:
    c = facts.has_data(conn, period)
    booked = c["gl_entries"] or c["revenue_recognized"]
    if not booked and not (c["subscriptions"] and c["subscriptions_after"]):
        raise NoDataError(
            f"No data for {period:%Y-%m}: no active subscription, ledger line or recognised "
            "revenue in that month. Pick a period the warehouse covers (`finlib db status`), "
            "or load data (`finlib demo-data` / `finlib ingest`).")


def headline_kpis(wh, period=None, segment: str | None = None) -> dict:
    """The company's headline figures for ``period`` (default: last closed month).

    Parameters
    ----------
    wh : Warehouse or Connection
        The warehouse (a short read-only connection is opened) or an open connection.
    period : date or str, optional
        The month (``YYYY-MM``); default the last closed month.
    segment : str, optional
        ``SMB``, ``Mid-Market`` or ``Enterprise``: customer-based figures for that segment
        only (``customers.segment``). Anything else is a :class:`~finlib.errors.ConfigError`.

    Returns
    -------
    dict
        ``period`` (ISO date, first of month), ``segment`` (None for the whole company) and
        :data:`HEADLINE_KEYS`: ``mrr``/``arr`` at the month end; the month's MRR movements
        ``mrr_new``, ``mrr_expansion``, ``mrr_contraction``, ``mrr_churn``,
        ``mrr_reactivation`` (all >= 0, reporting currency per month); ``recognised_revenue`` and
        ``revenue_target`` (reporting currency; target ``None`` when none is set) with variance and the
        explicit ``revenue_favourable`` flag; ``nrr`` and ``grr`` over the 12 months to the
        period (``None`` without 12 months of history); ``logo_churn``; blended ``cac``
        (reporting currency per new paying customer, ``None`` without one) and
        ``cac_payback_months``. Money is in the reporting currency
        (:func:`finlib.config.reporting_currency`, named by ``currency``). Values are floats
        or ``None`` (never NaN).

    Notes
    -----
    With a ``segment``:

    * restricted to the segment's customers: ``mrr``, ``arr``, the five movements,
      ``net_new_mrr``, ``customers``, ``gross_mrr_churn``, ``net_mrr_churn``,
      ``logo_churn``, ``nrr``, ``grr`` and ``recognised_revenue`` (``revenue_recognized``
      rows of the segment's customers). The segments add up to the company.
    * ``revenue_target`` is the ``kpi_targets`` row kpi ``revenue`` whose ``dimension`` is
      the segment name, else ``None`` (the company target is never pro-rated), and the
      variance fields follow it.
    * company-wide, whatever the segment (``cac_scope`` = ``"company"``): ``cac``,
      ``new_customers``, ``sales_marketing_cost``, ``gross_margin`` and
      ``cac_payback_months``. Sales and Marketing cost is not booked by segment in the
      ledger, and dividing the whole cost by one segment's signups would overstate that
      segment's CAC; per-channel CAC is in :func:`finlib.metrics.departments.cac_by_channel`.

    Sign conventions as docs/METRICS.md (movements positive; variance = actual − target,
    favourable when revenue is at or above target). Reference: docs/METRICS.md
    (MRR, ARR, movements, NRR/GRR, logo churn, CAC).

    Raises :class:`~finlib.errors.NoDataError` when the warehouse holds nothing for the
    period (company-wide: a segment without customers gives zeros, not an error).
    """
    segment = facts.check_segment(segment)
    p = month_of(period) if period is not None else last_closed_month()
    with (wh.connect(read_only=True) if hasattr(wh, "connect") else _as_ctx(wh)) as conn:
        _require_data(conn, p)
        mv = facts.mrr_movements(conn, p, segment=segment).iloc[0]
        rev = facts.recognised_revenue(conn, p, segment=segment).iloc[0]
        tg = facts.kpi_targets(conn, p, kpi="revenue")
        tg = tg[tg["dimension"].isna()] if segment is None else tg[tg["dimension"] == segment]
        cohort = facts.retention_cohort(conn, p, months=12, segment=segment)
        acq = facts.acquisition(conn, p).iloc[0]
    target = float(tg["target"].iloc[0]) if len(tg) else None
    v = variance(float(rev["revenue"]), target, "revenue")
    rr = ret.revenue_retention(cohort) if len(cohort) else None
    rates = mrrm.mrr_churn_rates(mv["mrr_start"], mv["churn"], mv["contraction"], mv["expansion"],
                                 mv["reactivation"])
    sm = float(acq["sales_cost"] + acq["marketing_cost"])
    n_new = int(acq["new_customers"])
    cac_v = dep.cac(sm, n_new)
    gm = dep.gross_margin(float(acq["revenue"]), float(acq["cogs"]))
    per_cust = float(acq["new_mrr"]) / n_new if n_new else math.nan
    out = {
        "period": p.isoformat(), "segment": segment, "currency": config.reporting_currency(),
        "cac_scope": "company",
        "mrr": float(mv["mrr_end"]), "arr": 12.0 * float(mv["mrr_end"]),
        "mrr_new": float(mv["new"]), "mrr_expansion": float(mv["expansion"]),
        "mrr_contraction": float(mv["contraction"]), "mrr_churn": float(mv["churn"]),
        "mrr_reactivation": float(mv["reactivation"]),
        "net_new_mrr": float(mv["mrr_end"] - mv["mrr_start"]),
        "customers": int(mv["customers_end"]),
        "recognised_revenue": float(rev["revenue"]), "revenue_target": target,
        "revenue_variance": v.variance, "revenue_variance_pct": v.variance_pct,
        "revenue_favourable": v.favourable,
        "nrr": rr.nrr if rr else None, "grr": rr.grr if rr else None,
        "logo_churn": ret.logo_churn(int(mv["customers_start"]), int(mv["churned_customers"])),
        "gross_mrr_churn": rates.gross, "net_mrr_churn": rates.net,
        "cac": cac_v, "new_customers": n_new, "sales_marketing_cost": sm, "gross_margin": gm,
        "cac_payback_months": dep.cac_payback_months(cac_v, per_cust, gm),
    }
    money = {"mrr", "arr", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churn", "mrr_reactivation",
             "net_new_mrr", "recognised_revenue", "revenue_target", "revenue_variance", "cac",
             "sales_marketing_cost"}
    clean = {}
    for k, v in out.items():
        if v is not None and not isinstance(v, (bool, str, int)):
            v = finite_or_none(v)
            if v is not None and k in money:
                v = round(v, 2)
        clean[k] = v
    return clean


class _as_ctx:  # an already-open Connection used as a context manager
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        return False


def period_metrics(wh, period, health_probability=None, cs_cost_months: int = 12) -> dict:
    """Every monthly fact and every catalogue metric (except models, CLV, alerts) for ``period``.

    Returns a dict of DataFrames and dataclasses keyed by metric name: ``headline``,
    ``mrr_summary`` (the last 13 months), ``revenue_retention``, ``revenue_at_risk``,
    ``expansion_split``, ``expansion_attribution``, ``cs_investment_roi``, ``feature_roi``,
    ``team_roi``, ``launch_roi``, ``customer_development_cost``, ``milestones``,
    ``cost_per_completed_milestone``, ``revenue_vs_target``, ``cost_variance``,
    ``budget_utilisation``, ``sales``, ``campaigns``, ``cac_by_channel``, ``cross_domain_roi``
    and the raw ``facts``. ``health_probability`` is an optional DataFrame
    (``customer_id``, ``churn_probability``) from the churn model.
    """
    p = month_of(period)
    y0 = p.replace(month=1)
    w0 = add_months(p, -(cs_cost_months - 1))
    f: dict = {}
    with wh.connect(read_only=True) as conn:
        _require_data(conn, p)
        f["movements"] = facts.mrr_movements(conn, add_months(p, -12), p)
        f["mrr_by_customer_product"] = facts.mrr_by_customer_product(conn, p)
        f["recognised_revenue"] = facts.recognised_revenue(conn, y0, p)
        f["ledger"] = facts.ledger_by_line(conn, p)
        f["department_costs"] = facts.department_costs(conn, w0, p)
        f["budget_vs_actual"] = facts.budget_vs_actual(conn, min(y0, add_months(p, -1)), p)
        f["targets"] = facts.kpi_targets(conn, p)
        f["dev_costs"] = facts.dev_costs(conn, p)
        f["acquisition"] = facts.acquisition(conn, add_months(p, -5), p)
        f["acquisition_by_channel"] = facts.acquisition_by_channel(conn, p)
        f["cohort"] = facts.retention_cohort(conn, p, 12)
        f["snapshot"] = facts.customer_snapshot(conn, p)
        f["expansion"] = facts.expansion_components(conn, w0, p)
        f["pipeline"] = facts.open_expansion_pipeline(conn, p)
        f["adoption"] = facts.feature_adoption(conn, p)
        f["data_start"] = facts.data_start(conn)
        pm_from = add_months(p, -35)
        if f["data_start"] is not None and f["data_start"] <= p:
            pm_from = min(pm_from, f["data_start"])
        f["product_new_mrr"] = facts.product_new_mrr(conn, pm_from, p)
        f["campaigns"] = facts.campaign_results(conn, add_months(p, -11), month_end(p))
        f["opportunities"] = facts.opportunities_closed(conn, p)
        f["features"] = facts.table(conn, "features", dates=("started_on", "released_on"))
        f["milestones"] = facts.table(conn, "milestones", dates=("planned_on", "completed_on"))
        f["products"] = facts.table(conn, "products", dates=("launched_on",))
        f["launch_campaigns"] = facts.table(conn, "marketing_campaigns", "campaign_id, product_id, "
                                            "CAST(spend AS DOUBLE PRECISION) AS spend")
        f["requests"] = facts.table(conn, "feature_requests", "customer_id, feature_id")
        headline = headline_kpis(conn, p)

    out: dict = {"facts": f, "headline": headline}
    out["mrr_summary"] = mrrm.mrr_summary(f["movements"])
    out["revenue_retention"] = ret.revenue_retention(f["cohort"])
    snap = f["snapshot"]
    if health_probability is not None:
        snap = snap.merge(health_probability, on="customer_id", how="left")
    out["revenue_at_risk"] = ret.revenue_at_risk(snap, probability="churn_probability")
    split = ret.split_expansion(f["expansion"])
    out["expansion_split"] = split.groupby("period")[["expansion", "upsell", "cross_sell"]].sum().reset_index()
    base = f["cohort"][["customer_id", "cs_tier"]]
    out["expansion_attribution"] = ret.expansion_attribution(split, base, f["pipeline"])
    bva = f["budget_vs_actual"]
    dcost = f["department_costs"]
    cs_cost = float(dcost.loc[dcost["department"] == "Customer Success", "cost"].sum())
    acq = f["acquisition"]
    cohort = f["cohort"].assign(covered=f["cohort"]["cs_tier"] != "tech-touch")
    # CS cost over the cohort's window (the cs_cost_months months up to the period)
    out["cs_investment_roi"] = ret.cs_investment_roi(cohort, cs_cost, by="segment")
    attributed = prod.attribute_expansion_to_features(f["adoption"], split, until=p)
    out["feature_roi"] = prod.feature_roi(f["features"], f["dev_costs"], attributed,
                                          data_start=f["data_start"])
    out["team_roi"] = prod.team_roi(out["feature_roi"])
    out["launch_roi"] = prod.launch_roi(f["products"], f["product_new_mrr"], f["features"], f["dev_costs"],
                                        f["launch_campaigns"].dropna(subset=["product_id"]),
                                        data_start=f["data_start"] or pm_from, as_of=p)
    arr = snap[["customer_id", "arr"]]
    dc_feat = f["dev_costs"].groupby("feature_id", as_index=False)["cost"].sum()
    out["customer_development_cost"] = prod.customer_development_cost(f["requests"], dc_feat, arr)
    out["milestones"] = prod.milestone_efficiency(f["milestones"], f["dev_costs"], month_end(p),
                                                  data_start=f["data_start"], features=f["features"])
    out["cost_per_completed_milestone"] = prod.cost_per_completed_milestone(out["milestones"])
    rev = f["recognised_revenue"]
    prior = float(rev.loc[pd.to_datetime(rev["period"]) < pd.Timestamp(p), "revenue"].sum())
    out["revenue_vs_target"] = mon.revenue_vs_target(p, headline["recognised_revenue"], headline["revenue_target"],
                                                     prior_months_actual=prior)
    out["budget_vs_actual"] = bva
    out["cost_variance"] = mon.cost_variance(bva)
    out["budget_utilisation"] = mon.budget_utilisation(bva, p)
    a_p = acq.iloc[-1]
    out["sales"] = dep.sales_efficiency(f["opportunities"], float(a_p["sales_cost"]))
    out["campaigns"] = dep.campaign_roi(f["campaigns"])
    out["cac_by_channel"] = dep.cac_by_channel(f["acquisition_by_channel"])
    camp = out["campaigns"]
    fr = out["feature_roi"]
    out["cross_domain_roi"] = dep.cross_domain_roi([
        {"domain": "Sales", "measure": "new ARR won in the month vs Sales opex",
         "return_": out["sales"].new_arr_won, "cost": out["sales"].sales_cost},
        {"domain": "Marketing", "measure": "new ARR of acquired customers vs spend (campaigns ended in 12 m)",
         "return_": float(camp["new_arr"].sum()), "cost": float(camp["spend"].sum())},
        {"domain": "Product", "measure": "expansion ARR attributed to adopted features vs dev cost to date "
                                         "(features whose whole cost the data hold)",
         "return_": float(fr.loc[fr["cost_complete"], "attributed_arr"].sum()),
         "cost": float(fr.loc[fr["cost_complete"], "cost"].sum())},
        {"domain": "Customer Success", "measure": "ARR retained above tech-touch baseline (12 m) vs CS cost",
         "return_": out["cs_investment_roi"].retained_arr_above_baseline,
         "cost": out["cs_investment_roi"].cs_cost},
    ])
    return out
