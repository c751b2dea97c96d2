"""Customer-satisfaction ROI: how CSAT and NPS scores go with retention and expansion, priced
as revenue retained per point of score.

* :func:`survey_outcomes` -- pure: every survey response with what happened to the
  customer's revenue over the following ``horizon_months`` months (churn, MRR before and
  after), its segment, size and tenure.
* :func:`fit_satisfaction_churn` -- pure: a churn Logit on the score with controls,
  standard errors clustered by customer, the coefficient's interval, the average marginal
  effect of a point.
* :func:`revenue_per_point` -- pure: expected ARR retained per +1 point of score over a set
  of customers, with a delta-method interval.
* :func:`nrr_by_band` -- pure: net revenue retention after the response by NPS band
  (detractor / passive / promoter) or CSAT band, with linearisation intervals.
* :func:`satisfaction_frames` -- the warehouse loader: the tables and chart data of the
  "Customer satisfaction ROI" section.

Sign conventions: a negative score coefficient means happier customers churn less (the
expected sign); ``revenue_per_point`` is positive when a higher score goes with less churn.
Money in the reporting currency (USD). The estimates are associations measured on history:
they price what a point of score is *worth as a signal*; reading them as the effect of
raising satisfaction assumes the controls capture why scores differ.

References: Reichheld, F. F. (2003), "The One Number You Need to Grow", Harvard Business
Review 81 (12), 46-54 (NPS = % promoters (9-10) - % detractors (0-6)); Hosmer, Lemeshow &
Sturdivant (2013), *Applied Logistic Regression*, 3rd ed.; Cameron & Miller (2015), "A
Practitioner's Guide to Cluster-Robust Inference", J. Human Resources 50 (2), 317-372.

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

sm = lazy.load("statsmodels.api", suppress_warning=True)  # statsmodels loads on first use
scipy = lazy.load("scipy")  # scipy.stats loads on first use

__all__ = [
    "BANDS",
    "SCALES",
    "SatisfactionModel",
    "fit_satisfaction_churn",
    "nrr_by_band",
    "revenue_per_point",
    "satisfaction_frames",
    "score_band",
    "survey_outcomes",
]

SCALES = {"nps": (0, 10), "csat": (1, 5)}
# band name, lowest and highest score (inclusive), by survey kind
BANDS = {
    "nps": (("detractor", 0, 6), ("passive", 7, 8), ("promoter", 9, 10)),  # Reichheld (2003)
    "csat": (("dissatisfied", 1, 2), ("neutral", 3, 3), ("satisfied", 4, 5)),  # top-two-box = satisfied
}


def score_band(kind: str, score):
    """The band of each score: NPS detractor 0-6, passive 7-8, promoter 9-10 (Reichheld
    2003); CSAT dissatisfied 1-2, neutral 3, satisfied 4-5. A pandas Series of names."""

    s = pd.Series(score, dtype=float)
    out = pd.Series(None, index=s.index, dtype=object)
    for name, lo, hi in BANDS[kind]:
        out[(s >= lo) & (s <= hi)] = name
    return out


def _month_index(ts):

    ts = pd.to_datetime(ts)
    return (ts.dt.year * 12 + ts.dt.month - 1).to_numpy()


def survey_outcomes(surveys, mrr, customers, horizon_months: int = 12, as_of=None):
    """Every survey response with the customer's revenue over the following months.

    Parameters
    ----------
    surveys : DataFrame
        ``response_id``, ``customer_id``, ``responded_on``, ``kind`` (``nps``/``csat``),
        ``score``.
    mrr : DataFrame
        ``period`` (first of month), ``customer_id``, ``mrr``: total MRR at each month end
        (USD/month; a missing row means the customer paid nothing), covering the month
        before the first response to ``as_of``.
    customers : DataFrame
        ``customer_id``, ``segment``, ``signup_date``.
    horizon_months : int, default 12
        ``H``: the response month and the ``H - 1`` months after it.
    as_of : date-like, optional
        Last month with data (default: the last ``period`` of ``mrr``).

    Returns
    -------
    DataFrame
        One row per response whose customer paid at the end of the month before the
        response month (``t``), with ``period`` (= t), ``band``, ``segment``,
        ``mrr_before`` (MRR at the end of t - 1), ``mrr_after`` (MRR at the end of
        t + H - 1), ``churned`` (1 when the customer paid nothing at some month end of
        t .. t + H - 1, else 0), ``tenure_months`` (from signup to t) and ``labelled``
        (False when t + H - 1 is after ``as_of``: ``mrr_after`` and ``churned`` are NaN).
    """

    s = surveys.copy()
    s["customer_id"] = s["customer_id"].astype(str)
    s["kind"] = s["kind"].astype(str)
    s["score"] = pd.to_numeric(s["score"]).astype(float)
    s["period"] = pd.to_datetime(s["responded_on"]).dt.to_period("M").dt.to_timestamp()
    m = mrr.assign(customer_id=mrr["customer_id"].astype(str), period=pd.to_datetime(mrr["period"]),
                   mrr=pd.to_numeric(mrr["mrr"]).astype(float))
    m = m.groupby(["customer_id", "period"], as_index=False)["mrr"].sum()
    last = (pd.Timestamp(as_of).to_period("M").to_timestamp() if as_of is not None else m["period"].max())
    first = min(m["period"].min(), s["period"].min() - pd.DateOffset(months=1)) if len(s) else m["period"].min()
    periods = pd.date_range(first, last, freq="MS")
    ids = pd.Index(sorted(set(m["customer_id"]) | set(s["customer_id"])))
    wide = m.pivot_table(index="customer_id", columns="period", values="mrr", aggfunc="sum", fill_value=0.0)
    W = wide.reindex(index=ids, columns=periods, fill_value=0.0).to_numpy(dtype=float)
    zero_cum = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(W <= 0, axis=1)], axis=1)
    s = s[(s["period"] >= periods[0] + pd.DateOffset(months=1)) & (s["period"] <= last)].copy()
    row = ids.get_indexer(s["customer_id"])
    t = _month_index(s["period"]) - (periods[0].year * 12 + periods[0].month - 1)
    H = int(horizon_months)
    s["mrr_before"] = W[row, t - 1]
    end = t + H - 1
    lab = end <= len(periods) - 1
    endc = np.minimum(end, len(periods) - 1)
    s["labelled"] = lab
    s["mrr_after"] = np.where(lab, W[row, endc], np.nan)
    zeros = zero_cum[row, endc + 1] - zero_cum[row, t]
    s["churned"] = np.where(lab, (zeros > 0).astype(float), np.nan)
    s = s[s["mrr_before"] > 0].copy()
    c = customers.assign(customer_id=customers["customer_id"].astype(str)).set_index("customer_id")
    s["segment"] = c["segment"].reindex(s["customer_id"]).astype(str).to_numpy()
    sd = pd.to_datetime(c["signup_date"].reindex(s["customer_id"])).to_numpy()
    sd = pd.DatetimeIndex(sd)
    s["tenure_months"] = np.maximum(0, (s["period"].dt.year.to_numpy() - sd.year) * 12
                                    + (s["period"].dt.month.to_numpy() - sd.month)).astype(float)
    s["band"] = None
    for kind in BANDS:
        k = s["kind"] == kind
        s.loc[k, "band"] = score_band(kind, s.loc[k, "score"]).to_numpy()
    s.attrs.update(horizon_months=H, as_of=last)
    cols = ["response_id", "customer_id", "kind", "score", "band", "period", "segment", "mrr_before",
            "mrr_after", "churned", "tenure_months", "labelled"]
    return s[cols].sort_values(["period", "customer_id", "response_id"]).reset_index(drop=True)


def _design(df, segments):

    X = pd.DataFrame(index=df.index)
    X["const"] = 1.0
    X["score"] = df["score"].astype(float)
    for seg in segments[1:]:
        X[f"segment[{seg}]"] = (df["segment"] == seg).astype(float)
    X["log_mrr"] = np.log(df["mrr_before"].astype(float))
    X["log_tenure"] = np.log1p(df["tenure_months"].astype(float))
    return X


@dataclass
class SatisfactionModel:
    """A fitted satisfaction churn Logit (see :func:`fit_satisfaction_churn`).

    Attributes
    ----------
    kind : str
    horizon_months : int
    coefficients_ : DataFrame
        Per term (``score``, segment dummies, ``log_mrr``, ``log_tenure``, ``const``):
        ``coef`` (log-odds of churn within the horizon per unit), ``std_err`` (clustered by
        customer), ``ci_low``, ``ci_high``, ``p_value``, ``odds_ratio``.
    coef_, ci_ : float, tuple
        The score's coefficient (log-odds per point) and its interval.
    ame_, ame_ci_ : float, tuple
        Average marginal effect of a point on the churn probability over the fitted
        responses (probability per point; negative = less churn) and its delta-method
        interval.
    n_obs_, n_customers_, n_churned_ : int
    result_ : statsmodels LogitResults (cluster-robust covariance)
    """

    kind: str
    horizon_months: int
    coefficients_: Any
    coef_: float
    ci_: tuple
    ame_: float
    ame_ci_: tuple
    n_obs_: int
    n_customers_: int
    n_churned_: int
    segments_: tuple
    alpha: float
    result_: Any

    def predict(self, df) -> np.ndarray:
        """Churn probability within the horizon for rows with ``score``, ``segment``,
        ``mrr_before`` and ``tenure_months``."""
        X = _design(df, self.segments_)
        return np.asarray(self.result_.predict(X[self.result_.params.index]))

    def design(self, df):
        return _design(df, self.segments_)[self.result_.params.index]


def _ame(res, X, weights=None, alpha: float = 0.05):
    """Weighted mean of dP/dscore = b_score p (1 - p) over the rows of ``X`` and its
    delta-method standard error (gradient wrt every parameter, the fit's covariance)."""

    params = res.params
    V = np.asarray(res.cov_params())
    Xa = X[params.index].to_numpy(dtype=float)
    w = np.ones(len(Xa)) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    b = float(params["score"])
    p = 1.0 / (1.0 + np.exp(-(Xa @ params.to_numpy())))
    d = p * (1 - p)
    value = b * float(w @ d)
    grad = b * (w * d * (1 - 2 * p)) @ Xa
    grad[list(params.index).index("score")] += float(w @ d)
    se = float(np.sqrt(grad @ V @ grad))
    z = scipy.stats.norm.ppf(1 - alpha / 2)
    return value, se, (value - z * se, value + z * se)


def fit_satisfaction_churn(outcomes, kind: str = "nps", controls: bool = True, alpha: float = 0.05
                           ) -> SatisfactionModel:
    """Logit of churn within the horizon on the survey score.

    Model, one row per labelled response of ``kind`` (from :func:`survey_outcomes`)::

        logit P(churned_i = 1) = b0 + b_score * score_i
                                 + segment dummies + b_mrr * ln(mrr_before_i)
                                 + b_tenure * ln(1 + tenure_months_i)

    ``b_score`` is the change in churn log-odds per point of score (NPS 0-10 or CSAT 1-5),
    holding segment, size (MRR) and tenure fixed; ``exp(b_score)`` the odds ratio per point.
    ``controls=False`` fits the score alone. Standard errors are clustered by customer (a
    customer answers several surveys and their horizons overlap; statsmodels
    ``cov_type="cluster"``). The average marginal effect (``ame_``, the mean of
    ``b_score p (1 - p)``, Cameron & Trivedi 2005 ch. 14; statsmodels
    ``get_margeff(at="overall")``) is the change in churn probability per point.

    Raises ModelError with fewer than 30 labelled responses, no churner or no variation in
    the score, or when the Logit fails.
    """

    if kind not in SCALES:
        raise ModelError(f"unknown survey kind {kind!r}: use one of {', '.join(SCALES)}")
    df = outcomes[(outcomes["kind"] == kind) & outcomes["labelled"].astype(bool)].dropna(
        subset=["score", "churned", "mrr_before", "tenure_months", "segment"])
    H = int(outcomes.attrs.get("horizon_months", 12))
    k = int(df["churned"].sum()) if len(df) else 0
    if len(df) < 30 or k == 0 or k == len(df) or df["score"].nunique() < 2:
        raise ModelError(f"the {kind} churn model needs at least 30 labelled responses with churners, "
                         f"non-churners and different scores (found {len(df)} responses, {k} churned "
                         f"within {H} months)")
    segments = tuple(sorted(df["segment"].unique()))
    if "SMB" in segments:
        segments = ("SMB",) + tuple(x for x in segments if x != "SMB")
    X = _design(df, segments if controls else ())
    if not controls:
        X = X[["const", "score"]]
    X = X[[c for c in X.columns if c in ("const", "score") or X[c].std() > 0]]
    groups = pd.factorize(df["customer_id"])[0]
    try:
        res = sm.Logit(df["churned"].to_numpy(dtype=float), X).fit(
            disp=0, maxiter=200, cov_type="cluster", cov_kwds={"groups": groups})
    except Exception as exc:  # PerfectSeparationError, LinAlgError, ...
        raise ModelError(f"the {kind} churn Logit could not be fitted: {exc}") from exc
    ci = res.conf_int(alpha=alpha)
    coefs = pd.DataFrame({"coef": res.params, "std_err": res.bse, "ci_low": ci[0], "ci_high": ci[1],
                          "p_value": res.pvalues, "odds_ratio": np.exp(res.params)})
    coefs.index.name = "term"
    ame, _, ame_ci = _ame(res, X, alpha=alpha)
    return SatisfactionModel(
        kind=kind, horizon_months=H, coefficients_=coefs, coef_=float(res.params["score"]),
        ci_=(float(ci.loc["score", 0]), float(ci.loc["score", 1])), ame_=ame, ame_ci_=ame_ci,
        n_obs_=len(df), n_customers_=int(df["customer_id"].nunique()), n_churned_=k,
        segments_=segments if controls else (), alpha=alpha, result_=res)


def revenue_per_point(model: SatisfactionModel, customers, alpha: float | None = None) -> dict:
    """Expected ARR retained per +1 point of score over ``customers``.

    Formula::

        revenue_per_point = - sum_i ARR_i * dP_i/dscore = - b_score * sum_i ARR_i p_i (1 - p_i)

    with ``p_i`` the model's churn probability within the horizon for customer ``i`` (its
    latest score, segment, MRR and tenure; ``ARR_i`` = 12 x ``mrr_before``). Units: USD of
    ARR kept from churning within ``horizon_months`` per point of score added to every
    customer (the slope at today's scores; positive when happier customers churn less).
    ``per_customer`` divides it by the customers priced. Interval: delta method with the
    model's cluster-robust covariance.

    Returns
    -------
    dict
        ``revenue_per_point``, ``ci_low``, ``ci_high``, ``std_err``, ``per_customer``,
        ``customers``, ``arr`` (their ARR), ``expected_arr_lost`` (sum ARR x p).
    """

    alpha = model.alpha if alpha is None else alpha
    X = model.design(customers)
    arr = 12.0 * customers["mrr_before"].to_numpy(dtype=float)
    if len(arr) == 0 or arr.sum() <= 0:
        raise ModelError("no customers with ARR to price")
    ame, se, _ = _ame(model.result_, X, weights=arr, alpha=alpha)
    total = arr.sum()
    value, se = -ame * total, se * total
    z = scipy.stats.norm.ppf(1 - alpha / 2)
    p = model.predict(customers)
    return {"revenue_per_point": value, "ci_low": value - z * se, "ci_high": value + z * se, "std_err": se,
            "per_customer": value / len(arr), "customers": int(len(arr)), "arr": float(total),
            "expected_arr_lost": float((arr * p).sum())}


def nrr_by_band(outcomes, kind: str = "nps", alpha: float = 0.05):
    """Net revenue retention over the horizon after the response, by score band.

    Per band ``b`` (NPS: detractor 0-6, passive 7-8, promoter 9-10; CSAT: dissatisfied
    1-2, neutral 3, satisfied 4-5), over the labelled responses of ``kind`` (each
    customer's latest one, so customers are independent)::

        NRR_b = sum_i mrr_after_i / sum_i mrr_before_i

    (MRR at the end of the month before the response and ``H`` months later, churned
    customers at 0: expansion and churn together). Interval: the ratio estimator's
    linearisation variance ``n / (n - 1) * sum_i (after_i - NRR_b before_i)^2 /
    (sum_i before_i)^2`` (Cochran 1977, *Sampling Techniques*, 6.4), normal quantiles.

    Returns
    -------
    DataFrame
        ``kind``, ``band``, ``customers``, ``mrr_before``, ``mrr_after`` (USD/month sums),
        ``nrr`` (ratio; 1.05 = 105 %), ``ci_low``, ``ci_high``, ``churn_rate`` (share of
        the band's customers that churned within the horizon).
    """

    df = outcomes[(outcomes["kind"] == kind) & outcomes["labelled"].astype(bool)]
    df = df.sort_values("period").groupby("customer_id").tail(1)
    z = scipy.stats.norm.ppf(1 - alpha / 2)
    rows = []
    for name, _lo, _hi in BANDS[kind]:
        b = df[df["band"] == name]
        n = len(b)
        before, after = b["mrr_before"].to_numpy(float), b["mrr_after"].to_numpy(float)
        if n == 0 or before.sum() <= 0:
            rows.append({"kind": kind, "band": name, "customers": n, "mrr_before": float(before.sum()),
                         "mrr_after": float(after.sum()), "nrr": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "churn_rate": np.nan})
            continue
        r = after.sum() / before.sum()
        se = np.sqrt(n / max(n - 1, 1) * ((after - r * before) ** 2).sum()) / before.sum() if n > 1 else np.nan
        rows.append({"kind": kind, "band": name, "customers": n, "mrr_before": float(before.sum()),
                     "mrr_after": float(after.sum()), "nrr": float(r), "ci_low": float(r - z * se),
                     "ci_high": float(r + z * se), "churn_rate": float(b["churned"].mean())})
    return pd.DataFrame(rows)


def _latest_scores(outcomes, kind: str, period, months: int = 12):
    """Each customer's latest response of ``kind`` in the ``months`` months up to ``period``."""

    P = pd.Timestamp(period).to_period("M").to_timestamp()
    lo = P - pd.DateOffset(months=months - 1)
    d = outcomes[(outcomes["kind"] == kind) & (outcomes["period"] >= lo) & (outcomes["period"] <= P)]
    return d.sort_values(["period", "response_id"]).groupby("customer_id").tail(1)


def satisfaction_frames(src, period, horizon_months: int = 12, history_months: int = 36,
                        alpha: float = 0.05) -> dict:
    """The "Customer satisfaction ROI" section for the last closed month ``period``.

    Reads ``surveys``, ``customers`` and month-end MRR per customer
    (:func:`finlib.metrics.facts.mrr_by_customer_product`) for the ``history_months``
    months up to ``period``; fits :func:`fit_satisfaction_churn` per survey kind on the
    responses whose ``horizon_months`` follow-up has ended by ``period``; prices it over
    the customers paying at the end of ``period`` with a response of that kind in the last
    12 months (their latest score, MRR at ``period``, tenure then).

    Returns
    -------
    dict of DataFrame
        ``score_effect`` (one row per kind: ``kind``, ``horizon_months``, ``responses``,
        ``customers``, ``churned``, ``churn_rate``, ``coef_per_point``, ``std_err``,
        ``ci_low``, ``ci_high``, ``p_value``, ``odds_ratio_per_point``,
        ``churn_change_per_point`` (average marginal effect, probability), its
        ``churn_change_ci_low``/``_high``, ``priced_customers``, ``priced_arr``,
        ``expected_arr_lost``, ``revenue_per_point`` (USD of ARR retained within the horizon
        per +1 point), ``revenue_per_point_ci_low``/``_high``, ``revenue_per_point_per_customer``,
        ``score_12m`` (NPS = % promoters - % detractors, in points -100..100, or the CSAT
        share of 4-5 as a ratio, over the latest responses of the last 12 months),
        ``data_issue``); ``nrr_by_band`` (:func:`nrr_by_band`, both kinds);
        ``churn_by_score`` (chart: ``kind``, ``score``, ``responses``, ``churned``,
        ``observed_rate``, ``fitted_rate``); ``coefficients`` (every term of each model,
        with ``kind``).
    """


    P = pd.Timestamp(period).to_period("M").to_timestamp()
    start = P - pd.DateOffset(months=history_months - 1)
    with facts._connection(src) as conn:
        surveys = facts.table(conn, "surveys", "response_id, customer_id, responded_on, kind, score",
                              dates=("responded_on",))
        customers = facts.table(conn, "customers", "customer_id, segment, signup_date", dates=("signup_date",))
        mrr = facts.mrr_by_customer_product(conn, (start - pd.DateOffset(months=1)).date(), P.date())
    surveys = surveys[(surveys["responded_on"] >= start) & (surveys["responded_on"] < P + pd.DateOffset(months=1))]
    if surveys.empty:
        raise ModelError(f"no survey responses between {start:%Y-%m} and {P:%Y-%m}")
    out = survey_outcomes(surveys, mrr, customers, horizon_months, as_of=P)
    now = mrr[mrr["period"] == P].groupby("customer_id", as_index=False)["mrr"].sum()
    now["customer_id"] = now["customer_id"].astype(str)
    rows, coefs, curves, nrr = [], [], [], []
    for kind in SCALES:
        row = {"kind": kind, "horizon_months": int(horizon_months)}
        latest = _latest_scores(out, kind, P)
        if kind == "nps":
            bands = latest["band"].value_counts(normalize=True)
            row["score_12m"] = 100.0 * (bands.get("promoter", 0.0) - bands.get("detractor", 0.0)) if len(latest) \
                else np.nan
        else:
            row["score_12m"] = float((latest["score"] >= 4).mean()) if len(latest) else np.nan
        nrr.append(nrr_by_band(out, kind, alpha=alpha))
        try:
            m = fit_satisfaction_churn(out, kind, alpha=alpha)
        except ModelError as exc:
            row["data_issue"] = str(exc)
            rows.append(row)
            continue
        c = m.coefficients_.reset_index()
        c.insert(0, "kind", kind)
        coefs.append(c)
        pricing = latest.drop(columns=["mrr_before"]).merge(
            now.rename(columns={"mrr": "mrr_before"}), on="customer_id", how="inner")
        pricing["tenure_months"] = pricing["tenure_months"] + (
            (P.year - pricing["period"].dt.year) * 12 + (P.month - pricing["period"].dt.month))
        rpp = revenue_per_point(m, pricing, alpha=alpha) if len(pricing) else None
        lab = out[(out["kind"] == kind) & out["labelled"]].copy()
        lab["fitted"] = m.predict(lab)
        curve = lab.groupby("score").agg(responses=("churned", "size"), churned=("churned", "sum"),
                                         observed_rate=("churned", "mean"), fitted_rate=("fitted", "mean"))
        curves.append(curve.reset_index().assign(kind=kind))
        row.update({
            "responses": m.n_obs_, "customers": m.n_customers_, "churned": m.n_churned_,
            "churn_rate": m.n_churned_ / m.n_obs_, "coef_per_point": m.coef_,
            "std_err": float(m.coefficients_.loc["score", "std_err"]), "ci_low": m.ci_[0], "ci_high": m.ci_[1],
            "p_value": float(m.coefficients_.loc["score", "p_value"]), "odds_ratio_per_point": float(np.exp(m.coef_)),
            "churn_change_per_point": m.ame_, "churn_change_ci_low": m.ame_ci_[0],
            "churn_change_ci_high": m.ame_ci_[1],
            "priced_customers": rpp["customers"] if rpp else 0, "priced_arr": rpp["arr"] if rpp else 0.0,
            "expected_arr_lost": rpp["expected_arr_lost"] if rpp else np.nan,
            "revenue_per_point": rpp["revenue_per_point"] if rpp else np.nan,
            "revenue_per_point_ci_low": rpp["ci_low"] if rpp else np.nan,
            "revenue_per_point_ci_high": rpp["ci_high"] if rpp else np.nan,
            "revenue_per_point_per_customer": rpp["per_customer"] if rpp else np.nan,
            "data_issue": None if rpp else f"no customer paying at {P:%Y-%m} answered a {kind} survey in 12 months",
        })
        rows.append(row)
    cols = ["kind", "horizon_months", "responses", "customers", "churned", "churn_rate", "coef_per_point",
            "std_err", "ci_low", "ci_high", "p_value", "odds_ratio_per_point", "churn_change_per_point",
            "churn_change_ci_low", "churn_change_ci_high", "priced_customers", "priced_arr", "expected_arr_lost",
            "revenue_per_point", "revenue_per_point_ci_low", "revenue_per_point_ci_high",
            "revenue_per_point_per_customer", "score_12m", "data_issue"]
    effect = pd.DataFrame(rows).reindex(columns=cols)
    curve_cols = ["kind", "score", "responses", "churned", "observed_rate", "fitted_rate"]
    coef_cols = ["kind", "term", "coef", "std_err", "ci_low", "ci_high", "p_value", "odds_ratio"]
    return {
        "score_effect": effect,
        "nrr_by_band": pd.concat(nrr, ignore_index=True),
        "churn_by_score": (pd.concat(curves, ignore_index=True)[curve_cols] if curves
                           else pd.DataFrame(columns=curve_cols)),
        "coefficients": pd.concat(coefs, ignore_index=True)[coef_cols] if coefs else pd.DataFrame(columns=coef_cols),
    }
