"""Attribution: what did a feature or a retention campaign do to revenue, and was it worth it?

* :func:`diff_in_diff` -- the general difference-in-differences estimator (OLS with a
  treated x post interaction, HC1 or cluster-robust errors) for any panel.
* :func:`adoption_panel` / :func:`adoption_effect` -- the feature-adoption effect on MRR
  from the warehouse (customer-month panel built in SQL), turned into money and ROI.
* :func:`proportion_uplift` / :func:`campaign_uplift` -- a retention campaign's churn
  uplift (control churn - treatment churn) with a Newcombe interval, saved ARR and ROI.

Conventions (docs/METRICS.md): ROI = (return - cost) / cost as a ratio (2.0 = 200 %);
money in the reporting currency (USD); "uplift" is positive when the campaign *reduced*
churn.

statsmodels is imported inside the functions, never at ``import finlib``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lazy_loader as lazy
import numpy as np
import pandas as pd

from finlib.errors import ModelError
from finlib.metrics.core import roi, roi_issue  # the house ROI: (return - cost) / cost, NaN if cost <= 0
from finlib.metrics.facts import (  # MRR per customer at month end; the one currency conversion
    customer_mrr_cte,
    data_start,
    fx_cte,
    fx_join,
    in_reporting_currency,
    months_cte,
    query_checked,
)

sm = lazy.load("statsmodels.api", suppress_warning=True)  # statsmodels loads on first use

__all__ = [
    "AdoptionEffect",
    "CampaignUplift",
    "DiDResult",
    "UpliftResult",
    "adoption_effect",
    "adoption_panel",
    "campaign_uplift",
    "diff_in_diff",
    "proportion_uplift",
    "roi",
]


# --------------------------------------------------------------------------------------
# The general estimator
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiDResult:
    """Result of :func:`diff_in_diff`.

    Attributes
    ----------
    effect : float
        The coefficient of treated x post: the average change in ``outcome`` for the
        treated group after treatment, net of the change in the untreated group (units of
        ``outcome``; positive = the treatment raised the outcome).
    std_err, ci_low, ci_high, p_value : float
        Its robust standard error, ``1 - alpha`` confidence interval and two-sided p-value.
    n_obs : int
        Rows used (rows with a missing value in any model column are dropped).
    n_clusters : int or None
        Clusters when ``cluster`` was given.
    cov_type : str
        ``"HC1"`` or ``"cluster"``.
    result : statsmodels RegressionResultsWrapper
        The fitted OLS result (``result.summary()`` for the full table).
    """

    effect: float
    std_err: float
    ci_low: float
    ci_high: float
    p_value: float
    n_obs: int
    n_clusters: int | None
    cov_type: str
    result: Any


def _design(data, columns: Sequence[str]):
    """Numeric design columns: numeric as is, others one-hot with the first level dropped."""
    parts = []
    for col in columns:
        s = data[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            parts.append(s.astype(float).rename(col))
        else:
            d = pd.get_dummies(s.astype("string"), prefix=col, drop_first=True, dtype=float)
            parts.append(d)
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=data.index)


def diff_in_diff(data, outcome: str, treated: str, post: str, controls: Sequence[str] | None = None,
                 cluster: str | None = None, alpha: float = 0.05) -> DiDResult:
    """Difference-in-differences by OLS with robust standard errors.

    Model::

        outcome_i = b0 + b1 treated_i + b2 post_i + delta (treated_i x post_i) + gamma' x_i + e_i

    ``delta`` (``effect``) is the DiD estimate: (mean treated after - mean treated before)
    - (mean control after - mean control before) when there are no controls. Standard
    errors are heteroskedasticity-robust HC1 (White with the n/(n-k) correction, Stata's
    ``robust``) by default, or cluster-robust by ``cluster`` (statsmodels ``cov_type=
    "cluster"``, with the small-sample correction), which is what a panel with repeated
    observations of the same unit needs (Bertrand, Duflo & Mullainathan 2004).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit and time (a panel) or per observation.
    outcome : str
        Column of the outcome (e.g. MRR in USD, FTE employment).
    treated : str
        0/1 column: 1 for units in the treated group (whether or not yet treated).
    post : str
        0/1 column: 1 for observations after the treatment date.
    controls : sequence of str, optional
        Further regressors; non-numeric columns (e.g. ``segment``) become dummies with the
        first level as reference. Do not pass a full set of time dummies together with
        ``post`` (they are collinear).
    cluster : str, optional
        Column identifying clusters (e.g. ``customer_id``) for cluster-robust errors.
    alpha : float, default 0.05
        1 - confidence level of the interval.

    Returns
    -------
    DiDResult

    Raises
    ------
    ModelError
        Missing columns, treated/post not 0/1, an empty cell of the 2 x 2 design, or fewer
        than two clusters.

    References
    ----------
    Card, D. and Krueger, A. B. (1994), "Minimum Wages and Employment: A Case Study of the
    Fast-Food Industry in New Jersey and Pennsylvania", AER 84 (4), 772-793 (Table 3: the
    textbook 2 x 2 DiD, reproduced in tests/models/test_attribution.py).
    Angrist, J. D. and Pischke, J.-S. (2009), *Mostly Harmless Econometrics*, ch. 5.
    """
    controls = list(controls or [])
    needed = [outcome, treated, post, *controls] + ([cluster] if cluster else [])
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ModelError(f"diff_in_diff: columns {missing} are not in the data "
                         f"(it has {list(data.columns)[:20]})")
    df = data[needed].dropna()
    if df.empty:
        raise ModelError("diff_in_diff: no complete rows (every row has a missing value)")
    for c in (treated, post):
        vals = set(pd.unique(df[c].astype(float)))
        if not vals <= {0.0, 1.0}:
            raise ModelError(f"diff_in_diff: column {c!r} must hold 0/1, found {sorted(vals)[:5]}")
    t = df[treated].astype(float)
    p = df[post].astype(float)
    cells = pd.crosstab(t, p)
    if cells.shape != (2, 2) or (cells.to_numpy() == 0).any():
        raise ModelError(
            "diff_in_diff: every cell of treated x post needs observations; counts are\n"
            f"{cells.to_string()}"
        )
    X = pd.DataFrame({"const": 1.0, treated: t, post: p, f"{treated}:{post}": t * p}, index=df.index)
    if controls:
        X = pd.concat([X, _design(df, controls)], axis=1)
    y = df[outcome].astype(float)

    rank = np.linalg.matrix_rank(X.to_numpy(dtype=float))
    if rank < X.shape[1]:
        raise ModelError(
            f"diff_in_diff: the regressors are collinear (rank {rank} < {X.shape[1]} columns: "
            f"{list(X.columns)}); drop a control that duplicates treated, post or another control"
        )
    model = sm.OLS(y, X)
    if cluster:
        groups = pd.factorize(df[cluster])[0]
        n_clusters = int(groups.max() + 1)
        if n_clusters < 2:
            raise ModelError("diff_in_diff: cluster-robust errors need at least two clusters")
        res = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
        cov_type = "cluster"
    else:
        n_clusters = None
        res = model.fit(cov_type="HC1")
        cov_type = "HC1"
    name = f"{treated}:{post}"
    ci = res.conf_int(alpha=alpha).loc[name]
    return DiDResult(
        effect=float(res.params[name]), std_err=float(res.bse[name]),
        ci_low=float(ci.iloc[0]), ci_high=float(ci.iloc[1]), p_value=float(res.pvalues[name]),
        n_obs=int(res.nobs), n_clusters=n_clusters, cov_type=cov_type, result=res,
    )


# --------------------------------------------------------------------------------------
# Feature adoption from the warehouse
# --------------------------------------------------------------------------------------
_ADOPTION_PANEL_SQL = f"""
WITH RECURSIVE {months_cte()},
{customer_mrr_cte()},
mrr AS (   -- paying customers at each month end (end_date exclusive; metrics.facts)
    SELECT period, customer_id, CAST(mrr AS DOUBLE PRECISION) AS mrr FROM customer_mrr
),
base AS (   -- customers already paying in the month before the release, and their MRR then
    SELECT customer_id, mrr FROM mrr WHERE period = CAST(:base AS DATE)
),
adoption AS (
    SELECT customer_id, MIN(period) AS adopted_period
    FROM feature_usage
    WHERE feature_id = :feature_id AND events > 0
      AND period BETWEEN CAST(:release AS DATE) AND CAST(:end AS DATE)
    GROUP BY customer_id
)
SELECT r.customer_id, r.period, r.mrr, b.mrr AS mrr_base, c.segment, c.cs_tier,
       a.adopted_period
FROM mrr r
JOIN base b ON b.customer_id = r.customer_id
JOIN customers c ON c.customer_id = r.customer_id
LEFT JOIN adoption a ON a.customer_id = r.customer_id
ORDER BY r.customer_id, r.period
"""


def adoption_panel(wh, feature_id, release_period=None, pre_months: int = 6, post_months: int = 6,
                   post_definition: str = "adoption", balanced: bool = True):
    """Customer-month panel around a feature's release, built in SQL (DuckDB or PostgreSQL).

    Rows: every month in ``[release - pre_months, release + post_months - 1]`` in which a
    customer who was already paying in the month before the release is active (MRR > 0 at
    the month end; end_date exclusive). Columns: ``customer_id``, ``period``, ``mrr``
    (USD / month), ``mrr_base`` (MRR in the month before the release), ``mrr_change`` =
    mrr - mrr_base (removes each customer's price level: a first-difference DiD),
    ``segment``, ``cs_tier``, ``adopted_period`` (first month with
    ``feature_usage.events > 0`` for the feature, within the window; NaT if never),
    ``treated`` (1 = adopter), ``post``, ``post:<segment>`` (post x segment for every
    segment but the first in sort order: controls for segment-specific trends) and
    ``tenure_months``.

    ``post_definition``:
      ``"adoption"`` (default) -- post = 1 from the adopter's own first-use month, and from
      the release month for non-adopters (staggered adoption; the interaction then measures
      the MRR change after adopting);
      ``"release"`` -- post = 1 from the release month for everybody (the classic 2 x 2).

    ``balanced=True`` (default) keeps only customers paying at *every* month end of the
    window (a balanced panel: the estimand is the effect on surviving customers' MRR and
    churn cannot change the comparison's composition); ``False`` keeps every active
    customer-month of the customers paying before the release.

    ``release_period`` defaults to the first of the month of ``features.released_on``.
    """
    if post_definition not in ("adoption", "release"):
        raise ValueError("post_definition must be 'adoption' or 'release'")
    feature_id = str(feature_id)
    if release_period is None:
        with wh.connect(read_only=True) as conn:
            rel = conn.scalar("SELECT released_on FROM features WHERE feature_id = :f", {"f": feature_id})
        if rel is None:
            raise ModelError(f"feature {feature_id!r} has no released_on date; pass release_period")
        release_period = rel
    release = pd.Timestamp(release_period).to_period("M").to_timestamp()
    start = release - pd.DateOffset(months=pre_months)
    end = release + pd.DateOffset(months=post_months - 1)
    base = release - pd.DateOffset(months=1)
    with wh.connect(read_only=True) as conn:
        df = conn.query_df(_ADOPTION_PANEL_SQL, {
            "start": str(start.date()), "end": str(end.date()), "base": str(base.date()),
            "release": str(release.date()), "feature_id": feature_id})
        signup = conn.query_df("SELECT customer_id, signup_date FROM customers")
    if df.empty:
        raise ModelError(f"no active customers around the release of feature {feature_id!r} "
                         f"({release.date()})")
    df["customer_id"] = df["customer_id"].astype(str)
    df["period"] = pd.to_datetime(df["period"])
    df["adopted_period"] = pd.to_datetime(df["adopted_period"])
    if balanced:
        n_months = pre_months + post_months
        counts = df.groupby("customer_id")["period"].transform("nunique")
        df = df[counts == n_months].copy()
        if df.empty:
            raise ModelError(f"no customer paid at every month end of {start.date()}..{end.date()}; "
                             "use balanced=False or a shorter window")
    df["mrr"] = df["mrr"].astype(float)
    df["mrr_base"] = df["mrr_base"].astype(float)
    df["mrr_change"] = df["mrr"] - df["mrr_base"]
    df["treated"] = df["adopted_period"].notna().astype(int)
    if post_definition == "release":
        df["post"] = (df["period"] >= release).astype(int)
    else:
        start_post = df["adopted_period"].fillna(release)
        df["post"] = (df["period"] >= start_post).astype(int)
    for seg in sorted(df["segment"].astype(str).unique())[1:]:  # reference: first level
        df[f"post:{seg}"] = df["post"] * (df["segment"].astype(str) == seg).astype(int)
    signup["customer_id"] = signup["customer_id"].astype(str)
    sd = pd.to_datetime(signup.set_index("customer_id")["signup_date"])
    s = sd.reindex(df["customer_id"]).to_numpy()
    df["tenure_months"] = ((df["period"].dt.year - pd.DatetimeIndex(s).year) * 12
                           + (df["period"].dt.month - pd.DatetimeIndex(s).month)).astype(float)
    df.attrs.update(feature_id=feature_id, release_period=release, post_definition=post_definition)
    return df


@dataclass(frozen=True)
class AdoptionEffect:
    """Feature-adoption effect on MRR and its ROI (see :func:`adoption_effect`).

    Money: ``effect_mrr`` in USD per adopting customer per month; ``annual_return`` =
    12 x effect_mrr x adopters (USD a year); ``dev_cost`` = sum of ``dev_costs.cost`` of the
    feature; ``roi`` = (annual_return - dev_cost) / dev_cost, with ``roi_ci`` propagated
    linearly from the effect's interval. ``data_issue`` says why ``roi`` is NaN: a dev
    cost <= 0, or a feature started before the cost data starts (its cost is unknown).
    """

    feature_id: str
    release_period: Any
    did: DiDResult
    effect_mrr: float
    ci_low: float
    ci_high: float
    adopters: int
    non_adopters: int
    annual_return: float
    annual_return_ci: tuple[float, float]
    dev_cost: float
    roi: float
    roi_ci: tuple[float, float]
    data_issue: str | None = None


def adoption_effect(wh, feature_id, release_period=None, pre_months: int = 6, post_months: int = 6,
                    controls: Sequence[str] | None = None, post_definition: str = "adoption",
                    outcome: str = "mrr_change", balanced: bool = True, alpha: float = 0.05,
                    panel=None) -> AdoptionEffect:
    """Estimate a feature's adoption effect on MRR by DiD and turn it into money and ROI.

    Estimand: the average change in monthly MRR (USD) of a customer after adopting the
    feature, against the change of non-adopters of the same segment over the same months
    (an ATT on MRR per adopting customer and month). Model: :func:`diff_in_diff` on
    :func:`adoption_panel` with ``outcome="mrr_change"`` (MRR minus the customer's MRR in
    the month before the release, which removes price-level differences between customers),
    ``treated`` = adopter, ``post`` = after adoption (or release), controls for segment and
    segment x post (segments adopt at different rates and grow at different speeds: without
    them the naive comparison is confounded), standard errors clustered by customer (each
    customer appears in many months). Pass ``outcome="mrr"`` for the levels version.
    ``controls`` defaults to ``["segment", "post:<segment>" ...]``.

    ROI (docs/METRICS.md): return = 12 x effect x adopters (one year of the MRR uplift), cost =
    the feature's total ``dev_costs``; ROI = (return - cost) / cost. The interval is the
    effect's interval carried through the same (linear) formula.
    """
    df = panel if panel is not None else adoption_panel(
        wh, feature_id, release_period, pre_months, post_months, post_definition, balanced)
    if controls is None:
        controls = ["segment", *[c for c in df.columns if str(c).startswith("post:")]]
    did = diff_in_diff(df, outcome, "treated", "post", controls=list(controls), cluster="customer_id",
                       alpha=alpha)
    adopters = int(df.loc[df["treated"] == 1, "customer_id"].nunique())
    non_adopters = int(df.loc[df["treated"] == 0, "customer_id"].nunique())
    fid = df.attrs.get("feature_id", str(feature_id))
    with wh.connect(read_only=True) as conn:
        cost = conn.scalar(
            "SELECT CAST(COALESCE(SUM(cost), 0) AS DOUBLE PRECISION) FROM dev_costs WHERE feature_id = :f",
            {"f": fid})
        started = conn.scalar("SELECT started_on FROM features WHERE feature_id = :f", {"f": fid})
        first = data_start(conn)
    cost = float(cost or 0.0)
    ret = 12.0 * did.effect * adopters
    ret_ci = (12.0 * did.ci_low * adopters, 12.0 * did.ci_high * adopters)
    issue = roi_issue(cost, "dev cost")
    if issue is None and started is not None and first is not None \
            and pd.Timestamp(started) < pd.Timestamp(first):
        issue = f"cost incomplete: feature started before the cost data starts ({first:%Y-%m})"
    if issue is None:
        r, r_ci = roi(ret, cost), (roi(ret_ci[0], cost), roi(ret_ci[1], cost))
    else:
        r, r_ci = float("nan"), (float("nan"), float("nan"))
    return AdoptionEffect(
        feature_id=fid, release_period=df.attrs.get("release_period", release_period), did=did,
        effect_mrr=did.effect, ci_low=did.ci_low, ci_high=did.ci_high, adopters=adopters,
        non_adopters=non_adopters, annual_return=ret, annual_return_ci=ret_ci, dev_cost=cost,
        roi=r, roi_ci=r_ci, data_issue=issue)


# --------------------------------------------------------------------------------------
# Retention campaigns
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpliftResult:
    """Two-proportion churn comparison (see :func:`proportion_uplift`).

    ``uplift = control_churn - treatment_churn`` (a fraction; positive = the treatment
    reduced churn) with its ``1 - alpha`` interval ``(ci_low, ci_high)``.
    """

    control_churned: int
    control_n: int
    treatment_churned: int
    treatment_n: int
    control_churn: float
    treatment_churn: float
    uplift: float
    ci_low: float
    ci_high: float
    method: str


def proportion_uplift(control_churned: int, control_n: int, treatment_churned: int, treatment_n: int,
                      alpha: float = 0.05, method: str = "newcomb") -> UpliftResult:
    """Churn uplift ``p_control - p_treatment`` with a confidence interval.

    Uses ``statsmodels.stats.proportion.confint_proportions_2indep(compare="diff")``;
    ``method="newcomb"`` is Newcombe's (1998) hybrid Wilson score interval, his method 10
    (``"wald"``, ``"agresti-caffo"`` and ``"score"`` also accepted).

    Reference: Newcombe, R. G. (1998), "Interval estimation for the difference between
    independent proportions: comparison of eleven methods", Statistics in Medicine 17,
    873-890 (example: 56/70 - 48/80 gives 0.0524 to 0.3339).
    """
    for name, k, n in (("control", control_churned, control_n), ("treatment", treatment_churned, treatment_n)):
        if n <= 0:
            raise ModelError(f"the {name} arm has no members")
        if not 0 <= k <= n:
            raise ModelError(f"the {name} arm has {k} churned out of {n}")
    low, high = sm.stats.confint_proportions_2indep(control_churned, control_n, treatment_churned, treatment_n,
                                           method=method, compare="diff", alpha=alpha, correction=False)
    pc, pt = control_churned / control_n, treatment_churned / treatment_n
    return UpliftResult(int(control_churned), int(control_n), int(treatment_churned), int(treatment_n),
                        pc, pt, pc - pt, float(low), float(high), method)


@dataclass(frozen=True)
class CampaignUplift:
    """A retention campaign's uplift, saved ARR and ROI (see :func:`campaign_uplift`).

    ``treated_arr`` = 12 x MRR of the treatment arm at assignment (USD a year);
    ``saved_arr`` = uplift x treated_arr, ``roi`` = (saved_arr - cost) / cost, each with
    the interval carried through from the uplift's interval. ``data_issue`` says why
    ``roi`` is NaN (a campaign cost <= 0: never divided by).
    """

    campaign_id: str
    window_start: Any
    window_end: Any
    window_months: int
    uplift: UpliftResult
    treated_arr: float
    saved_arr: float
    saved_arr_ci: tuple[float, float]
    cost: float
    roi: float
    roi_ci: tuple[float, float]
    members: Any  # DataFrame: per member arm, mrr_start, months_paying, active_at_start, churned
    data_issue: str | None = None


_CAMPAIGN_MEMBERS_SQL_TEMPLATE = """
WITH RECURSIVE months(period) AS (
    SELECT CAST(:start AS DATE)
    UNION ALL
    SELECT CAST(period + INTERVAL '1 month' AS DATE) FROM months
    WHERE period < CAST(CAST(:start AS DATE) + (:window_months - 1) * INTERVAL '1 month' AS DATE)
),
month_ends AS (
    SELECT CAST(period + INTERVAL '1 month' - INTERVAL '1 day' AS DATE) AS month_end FROM months
),
members AS (
    SELECT m.customer_id, m.arm, CAST(m.assigned_on AS DATE) AS assigned_on
    FROM retention_campaign_members m
    WHERE m.campaign_id = :campaign_id
),
{fx},
at_start AS (   -- MRR at assignment, each subscription converted at the rate of that day
    SELECT mb.customer_id, CAST(SUM({conv}) AS DOUBLE PRECISION) AS mrr_start
    FROM members mb
    JOIN subscriptions s ON s.customer_id = mb.customer_id
     AND s.start_date <= mb.assigned_on AND (s.end_date IS NULL OR s.end_date > mb.assigned_on)
    {join}
    GROUP BY mb.customer_id
),
paying_months AS (   -- window month ends at which the member pays
    SELECT mb.customer_id, COUNT(DISTINCT me.month_end) AS months_paying
    FROM members mb
    CROSS JOIN month_ends me
    JOIN subscriptions s ON s.customer_id = mb.customer_id
     AND s.start_date <= me.month_end AND (s.end_date IS NULL OR s.end_date > me.month_end)
     AND CAST(s.mrr AS DOUBLE PRECISION) > 0
    GROUP BY mb.customer_id
)
SELECT mb.customer_id, mb.arm, mb.assigned_on,
       COALESCE(a.mrr_start, 0) AS mrr_start, COALESCE(p.months_paying, 0) AS months_paying
FROM members mb
LEFT JOIN at_start a ON a.customer_id = mb.customer_id
LEFT JOIN paying_months p ON p.customer_id = mb.customer_id
ORDER BY mb.customer_id
"""


def _campaign_members_sql() -> str:
    """The members query, with the reporting currency of now (configuration, not import time)."""
    return _CAMPAIGN_MEMBERS_SQL_TEMPLATE.format(
        fx=fx_cte(), conv=in_reporting_currency("s.mrr", "s.currency", "x.rate", "mb.assigned_on"),
        join=fx_join("x", "s.currency", "mb.assigned_on"))


def campaign_uplift(wh, campaign_id, window_months: int | None = None, alpha: float = 0.05,
                    method: str = "newcomb") -> CampaignUplift:
    """Retention-campaign uplift from the warehouse, with saved ARR and ROI.

    Window: from the campaign's ``started_on`` month to the end of month
    ``started_on + window_months - 1`` (``window_months`` defaults to the months from
    ``started_on`` to ``ended_on``, inclusive). A member counts if they were paying on
    their ``assigned_on`` date; they churned if at some month end inside the window they
    paid nothing (end_date exclusive; a comeback inside the window still counts as churn).
    Then:

    * churn per arm = churned / members active at assignment;
    * uplift = control churn - treatment churn (:func:`proportion_uplift`, Newcombe CI);
    * saved ARR = uplift x treated ARR (12 x treatment-arm MRR at assignment, reporting
      currency a year; each subscription converted at the rate of its member's
      ``assigned_on`` day, docs/CURRENCY.md);
    * ROI = (saved ARR - campaign cost) / campaign cost, CI from the uplift's CI.
    """
    campaign_id = str(campaign_id)
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT started_on, ended_on, CAST(cost AS DOUBLE PRECISION) FROM retention_campaigns "
                          "WHERE campaign_id = :c", {"c": campaign_id})
        if not rows:
            raise ModelError(f"retention campaign {campaign_id!r} does not exist")
        started_on, ended_on, cost = rows[0]
        start = pd.Timestamp(started_on).to_period("M").to_timestamp()
        if window_months is None:
            if ended_on is None:
                raise ModelError(f"campaign {campaign_id!r} has no ended_on: pass window_months")
            e = pd.Timestamp(ended_on)
            window_months = (e.year - start.year) * 12 + e.month - start.month + 1
        window_end = (start + pd.DateOffset(months=window_months)) - pd.Timedelta(days=1)
        members = query_checked(conn, _campaign_members_sql(), dates=(), params={"campaign_id": campaign_id,
                                                              "start": str(start.date()),
                                                              "window_months": int(window_months)})
    if members.empty:
        raise ModelError(f"campaign {campaign_id!r} has no members")
    members["mrr_start"] = members["mrr_start"].astype(float)
    members["months_paying"] = members["months_paying"].astype(int)
    members["active_at_start"] = members["mrr_start"] > 0
    members["churned"] = members["active_at_start"] & (members["months_paying"] < int(window_months))
    act = members[members["active_at_start"]]
    c = act[act["arm"] == "control"]
    t = act[act["arm"] == "treatment"]
    up = proportion_uplift(int(c["churned"].sum()), len(c), int(t["churned"].sum()), len(t),
                           alpha=alpha, method=method)
    treated_arr = 12.0 * float(t["mrr_start"].sum())
    saved = up.uplift * treated_arr
    saved_ci = (up.ci_low * treated_arr, up.ci_high * treated_arr)
    cost = float(cost or 0.0)
    r, r_ci = roi(saved, cost), (roi(saved_ci[0], cost), roi(saved_ci[1], cost))
    return CampaignUplift(campaign_id, start, window_end, int(window_months), up, treated_arr, saved,
                          saved_ci, cost, r, r_ci, members, roi_issue(cost, "campaign cost"))
