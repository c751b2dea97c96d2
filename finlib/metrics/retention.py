"""Retention and customer-success metrics: logo churn, NRR, GRR, revenue at risk,
expansion split and attribution, CS investment ROI.

The churn-propensity model, retention-campaign uplift and CLV live in
:mod:`finlib.models` and :mod:`finlib.metrics.clv`; here churn probabilities are an
*input column*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from finlib.metrics.core import roi, roi_issue

DEFAULT_HEALTH_BANDS = ((0.0, "red"), (40.0, "amber"), (70.0, "green"))


def logo_churn(customers_start: int, customers_lost: int) -> float:
    """Logo (customer) churn rate of a period.

    Formula: ``customers_lost / customers_start`` where ``customers_start`` paid at the end
    of the previous month and ``customers_lost`` of them pay nothing at the end of this one.
    Units: ratio per month. NaN when no customers at start. Reference: docs/METRICS.md;
    ChartMogul "Customer Churn Rate".

    >>> logo_churn(3, 1)
    0.3333333333333333
    """
    return customers_lost / customers_start if customers_start > 0 else math.nan


@dataclass(frozen=True)
class RevenueRetention:
    """NRR and GRR of one cohort (ratios; 1.05 = 105 %).

    ``customers`` in the cohort, ``mrr_then`` (their MRR at the earlier month end),
    ``mrr_now`` (their MRR now, churned = 0), ``mrr_retained_capped`` (Σ min(now, then)).
    """

    customers: int
    mrr_then: float
    mrr_now: float
    mrr_retained_capped: float
    nrr: float
    grr: float


def revenue_retention(cohort) -> RevenueRetention:
    """Net and gross revenue retention of a cohort.

    Parameters
    ----------
    cohort : DataFrame
        One row per customer paying at the earlier month end (typically 12 months ago):
        ``mrr_then`` (> 0) and ``mrr_now`` (>= 0, 0 when churned). New and reactivated
        customers are not in the cohort, so they are excluded by construction
        (:func:`finlib.metrics.facts.retention_cohort` builds it).

    Formula: ``NRR = Σ mrr_now / Σ mrr_then`` (can exceed 1); ``GRR = Σ min(mrr_now,
    mrr_then) / Σ mrr_then`` (at most 1). Units: ratios. NaN for an empty cohort.
    Reference: docs/METRICS.md; ChartMogul "Net MRR Retention", "Gross MRR Retention".
    """
    c = cohort[cohort["mrr_then"] > 0]
    then = float(c["mrr_then"].sum())
    now = float(c["mrr_now"].sum())
    capped = float(c[["mrr_now", "mrr_then"]].min(axis=1).sum()) if len(c) else 0.0
    if then <= 0:
        return RevenueRetention(len(c), then, now, capped, math.nan, math.nan)
    return RevenueRetention(len(c), then, now, capped, now / then, capped / then)


def health_band(score: float, bands=DEFAULT_HEALTH_BANDS) -> str:
    """The band of a health score (0–100): the last band whose lower bound <= score.

    Default bands: red [0, 40), amber [40, 70), green [70, 100]. Missing score: "unscored".
    """
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return "unscored"
    name = bands[0][1]
    for lower, label in bands:
        if score >= lower:
            name = label
    return name


def revenue_at_risk(customers, probability: str | None = "churn_probability",
                    score: str = "score", bands=DEFAULT_HEALTH_BANDS):
    """ARR by health band and expected ARR lost.

    Parameters
    ----------
    customers : DataFrame
        One row per paying customer: ``arr`` (USD/year), ``score`` (health 0–100) and
        optionally a churn probability column (from the churn-propensity model).
    probability : str | None
        Name of the probability column (probability of churning over the horizon the
        model was trained for). If absent, ``expected_arr_lost`` is NaN.

    Returns
    -------
    DataFrame
        One row per band (in band order, then ``unscored``): ``band``, ``customers``,
        ``arr``, ``arr_share`` (of total ARR), ``expected_arr_lost`` = Σ ARR × p.
        Units: USD per year. Reference: docs/METRICS.md "Revenue at risk".
    """

    df = customers.copy()
    df["band"] = [health_band(s, bands) for s in df[score]]
    has_p = probability is not None and probability in df.columns
    df["_lost"] = df["arr"] * df[probability] if has_p else math.nan
    order = [b for _, b in bands] + ["unscored"]
    g = df.groupby("band").agg(customers=("arr", "size"), arr=("arr", "sum"),
                               expected_arr_lost=("_lost", "sum" if has_p else "first"))
    g = g.reindex(order).dropna(how="all", subset=["customers"]).reset_index()
    g["customers"] = g["customers"].astype(int)
    total = float(df["arr"].sum())
    g["arr_share"] = g["arr"] / total if total > 0 else math.nan
    if not has_p:
        g["expected_arr_lost"] = math.nan
    return g[["band", "customers", "arr", "arr_share", "expected_arr_lost"]]


def expected_arr_lost(customers, arr: str = "arr", probability: str = "churn_probability") -> float:
    """Expected ARR lost: ``Σ ARR_i × p_i`` (USD/year), ``p_i`` a churn probability in [0, 1].

    Reference: docs/METRICS.md, *Expected ARR lost*. Sign: >= 0 (a loss stated as a positive amount).
    """
    p = customers[probability].astype(float)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"{probability} must lie in [0, 1]")
    return float((customers[arr].astype(float) * p).sum())


def split_expansion(components):
    """Split expansion MRR into upsell (same product) and cross-sell (new product).

    Parameters
    ----------
    components : DataFrame
        :func:`finlib.metrics.facts.expansion_components`: per customer-month
        ``expansion`` (customer-level, > 0), ``upsell_gross`` (Σ increases on products the
        customer already paid for) and ``cross_sell_gross`` (Σ MRR of products new to the
        customer).

    Rule: a customer's expansion is allocated in proportion to the gross increases:
    ``upsell = expansion × up / (up + cross)``, ``cross_sell = expansion − upsell``, so the
    two always add up to the customer's expansion (a move from product A at 100 to product
    B at 150 is 50 of cross-sell expansion, not 150). Units: USD/month.

    Returns a copy with ``upsell`` and ``cross_sell`` columns.
    """
    out = components.copy()
    gross = out["upsell_gross"] + out["cross_sell_gross"]
    share = np.where(gross > 0, out["upsell_gross"] / gross.where(gross > 0), 1.0)
    out["upsell"] = out["expansion"] * share
    out["cross_sell"] = out["expansion"] - out["upsell"]
    return out


def expansion_attribution(expansion, customers, pipeline=None):
    """Expansion MRR attributed to CS coverage and to the expansion pipeline.

    Parameters
    ----------
    expansion : DataFrame
        Output of :func:`split_expansion` (``customer_id``, ``expansion``, ``upsell``,
        ``cross_sell``), possibly several months.
    customers : DataFrame
        ``customer_id``, ``cs_tier`` and ``csm_owner`` for the customer base considered
        (e.g. every customer paying at the start of the window), so that customers without
        expansion count in the denominators.
    pipeline : DataFrame, optional
        ``customer_id`` of customers with an open or won expansion opportunity
        (:func:`finlib.metrics.facts.open_expansion_pipeline`).

    Returns
    -------
    DataFrame
        One row per ``cs_tier`` × ``in_pipeline``: ``customers``, ``expanding_customers``,
        ``expansion``, ``upsell``, ``cross_sell`` (USD/month), ``expansion_per_customer``
        and ``share_of_expansion``. Attribution is descriptive (where expansion happened),
        not causal: the causal effect is the models' job.
    """

    base = customers[["customer_id", "cs_tier"]].drop_duplicates("customer_id").copy()
    pipe = set(pipeline["customer_id"]) if pipeline is not None and len(pipeline) else set()
    base["in_pipeline"] = base["customer_id"].isin(pipe)
    e = expansion.groupby("customer_id")[["expansion", "upsell", "cross_sell"]].sum()
    df = base.merge(e, left_on="customer_id", right_index=True, how="left").fillna(
        {"expansion": 0.0, "upsell": 0.0, "cross_sell": 0.0})
    g = df.groupby(["cs_tier", "in_pipeline"]).agg(
        customers=("customer_id", "size"),
        expanding_customers=("expansion", lambda s: int((s > 0).sum())),
        expansion=("expansion", "sum"), upsell=("upsell", "sum"), cross_sell=("cross_sell", "sum"),
    ).reset_index()
    g["expansion_per_customer"] = g["expansion"] / g["customers"]
    total = g["expansion"].sum()
    g["share_of_expansion"] = g["expansion"] / total if total > 0 else math.nan
    return g


@dataclass(frozen=True)
class CsInvestmentRoi:
    """CS investment ROI against a comparable baseline (see :func:`cs_investment_roi`)."""

    grr_covered: float
    grr_baseline: float
    mrr_then_covered: float
    retained_mrr_above_baseline: float
    retained_arr_above_baseline: float
    cs_cost: float
    roi: float
    data_issue: str | None = None


def cs_investment_roi(cohort, cs_cost: float, covered: str = "covered",
                      by: str | None = None) -> CsInvestmentRoi:
    """Customer Success investment ROI: retention bought above a comparable baseline.

    Parameters
    ----------
    cohort : DataFrame
        :func:`finlib.metrics.facts.retention_cohort` rows (``mrr_then``, ``mrr_now``) with a
        boolean ``covered`` column (e.g. ``cs_tier != 'tech-touch'``: customers with CS
        attention) and optionally a stratum column ``by`` (e.g. ``segment``).
    cs_cost : float
        Customer Success cost over the same window (USD).

    Formula: ``GRR_c`` and ``GRR_b`` are gross revenue retention of covered and uncovered
    customers (per stratum when ``by`` is given, the baseline of each stratum applied to
    its covered MRR; a stratum without uncovered customers uses the pooled baseline); ``retained MRR above baseline = Σ (GRR_c − GRR_b) × MRR_then_c``;
    return = 12 × that (ARR, USD/year); ``ROI = (return − cs_cost) / cs_cost``.
    A CS cost <= 0 gives ``roi`` NaN and ``data_issue`` (never divided by).
    Sign: positive when CS retains more ARR than it costs. A simple observational
    comparison, not a causal estimate (covered customers differ in other ways).

    Reference: docs/METRICS.md, *CS investment ROI*; ROI convention of :mod:`finlib.metrics.core`.
    """
    c = cohort.copy()
    c["_capped"] = c[["mrr_now", "mrr_then"]].min(axis=1)

    def grr(part):
        then = part["mrr_then"].sum()
        return part["_capped"].sum() / then if then > 0 else math.nan

    cov_all, base_all = c[c[covered]], c[~c[covered]]
    grr_c, grr_b = grr(cov_all), grr(base_all)
    extra = 0.0
    strata = [(None, c)] if by is None else list(c.groupby(by))
    for _, part in strata:
        cov, base = part[part[covered]], part[~part[covered]]
        g_b = grr(base)
        if math.isnan(g_b):  # no uncovered customers in this stratum: pooled baseline
            g_b = grr_b
        if cov["mrr_then"].sum() > 0 and not math.isnan(g_b):
            extra += (grr(cov) - g_b) * cov["mrr_then"].sum()
    ret = 12.0 * extra
    return CsInvestmentRoi(float(grr_c), float(grr_b), float(cov_all["mrr_then"].sum()), float(extra),
                           float(ret), float(cs_cost), roi(ret, cs_cost), roi_issue(cs_cost, "CS cost"))
