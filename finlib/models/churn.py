"""Churn propensity: a logistic model of next month's logo churn, trained on history.

Pipeline: :func:`churn_panel` builds a customer-month table in SQL (for each month M, the
customers paying at the end of M-1 with their latest health components as of the first
day of M, tenure, segment, usage trend and MRR, and whether they churned during M);
:func:`fit_churn_model` fits a statsmodels ``Logit`` on earlier months, evaluates
discrimination (AUC) and calibration on later months (a *time-based* split: no future
information leaks into training), refits on all labelled months and scores every customer
at risk in the scoring month. :func:`churn_propensity` does both from a warehouse: with
``period`` = the last closed month P it scores every customer paying at the end of P for
churn during P+1.

Model (monthly churn log-odds)::

    logit P(churn during M | paying at the end of M-1) = b0
        + b_usage   * (usage_score - 50) / 10      + b_support   * (support_score - 50) / 10
        + b_sentiment * (sentiment_score - 50) / 10 + b_payment   * (payment_score - 50) / 10
        + b_tenure  * ln(1 + tenure_months) + b_trend * usage_trend + segment dummies

Sign convention: a negative health coefficient means better health -> lower churn (the
expected sign). Health components are scored 0-100; the model's unit is "per 10 points".

References: Hosmer, Lemeshow & Sturdivant (2013), *Applied Logistic Regression*, 3rd ed.
(ch. 5: AUC and decile calibration tables); Hanley & McNeil (1982), "The meaning and use of
the area under a ROC curve", Radiology 143, 29-36 (AUC = Mann-Whitney U / (n1 n0)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lazy_loader as lazy
import numpy as np
import pandas as pd

from finlib.errors import ModelError
from finlib.metrics.facts import customer_mrr_cte, months_cte  # MRR per customer at month end

scipy = lazy.load("scipy")  # scipy.stats and statsmodels load on first use
sm = lazy.load("statsmodels.api", suppress_warning=True)

__all__ = [
    "HEALTH_COMPONENTS",
    "ChurnModel",
    "auc",
    "calibration_table",
    "churn_panel",
    "churn_propensity",
    "fit_churn_model",
]

HEALTH_COMPONENTS = ("usage_score", "support_score", "sentiment_score", "payment_score")


def auc(y_true, score) -> float:
    """Area under the ROC curve by the rank (Mann-Whitney) formula, ties counted one half.

    ``AUC = (sum of ranks of positives - n1 (n1 + 1) / 2) / (n1 n0)`` with mid-ranks
    (Hanley & McNeil 1982). 0.5 = no discrimination, 1.0 = perfect. Raises ModelError when
    only one class is present.
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=float)
    n1 = int(y.sum())
    n0 = int(len(y) - n1)
    if n1 == 0 or n0 == 0:
        raise ModelError(f"AUC needs both classes: {n1} churned and {n0} retained observations")
    r = scipy.stats.rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration_table(y_true, prob, bins: int = 10):
    """Decile calibration table: observations ranked by predicted probability and cut into
    ``bins`` groups of (nearly) equal size; per group the count, mean predicted probability,
    observed churn rate and expected vs observed churners (Hosmer-Lemeshow style)."""
    df = pd.DataFrame({"y": np.asarray(y_true, dtype=float), "p": np.asarray(prob, dtype=float)})
    q = min(bins, len(df))
    df["decile"] = pd.qcut(df["p"].rank(method="first"), q, labels=False) + 1
    out = df.groupby("decile").agg(n=("y", "size"), mean_predicted=("p", "mean"),
                                   observed_rate=("y", "mean"), expected=("p", "sum"),
                                   observed=("y", "sum")).reset_index()
    return out


_PANEL_FIRST = "CAST(:start AS DATE) - INTERVAL '1 month'"
_PANEL_SQL = f"""
WITH RECURSIVE {months_cte(_PANEL_FIRST, ':end')},
{customer_mrr_cte('customer_mrr', _PANEL_FIRST, ':end')},
mrr AS (   -- paying customers at each month end (end_date exclusive; metrics.facts)
    SELECT period, customer_id, CAST(mrr AS DOUBLE PRECISION) AS mrr FROM customer_mrr
),
at_risk AS (   -- month M's risk set: paying at the end of M-1
    SELECT customer_id, CAST(period + INTERVAL '1 month' AS DATE) AS period, mrr
    FROM mrr
),
health AS (    -- latest score taken on or before the first day of M (at most 92 days old)
    SELECT r.customer_id, r.period, h.score, h.usage_score, h.support_score,
           h.sentiment_score, h.payment_score,
           ROW_NUMBER() OVER (PARTITION BY r.customer_id, r.period ORDER BY h.scored_on DESC) AS rn
    FROM at_risk r
    JOIN health_scores h
      ON h.customer_id = r.customer_id
     AND h.scored_on <= r.period
     AND h.scored_on > CAST(r.period - INTERVAL '92 days' AS DATE)
),
usage AS (
    SELECT customer_id, period, SUM(CAST(events AS DOUBLE PRECISION)) AS events
    FROM feature_usage
    WHERE period BETWEEN CAST(CAST(:start AS DATE) - INTERVAL '4 months' AS DATE) AND CAST(:end AS DATE)
    GROUP BY customer_id, period
),
usage_last AS (  -- events in M-1 and the mean of M-4..M-2 (known at the start of M)
    SELECT r.customer_id, r.period,
           SUM(CASE WHEN u.period = CAST(r.period - INTERVAL '1 month' AS DATE) THEN u.events ELSE 0 END) AS events,
           SUM(CASE WHEN u.period < CAST(r.period - INTERVAL '1 month' AS DATE) THEN u.events ELSE 0 END) / 3.0
               AS events_prev3
    FROM at_risk r
    JOIN usage u ON u.customer_id = r.customer_id
     AND u.period >= CAST(r.period - INTERVAL '4 months' AS DATE) AND u.period < r.period
    GROUP BY r.customer_id, r.period
)
SELECT r.customer_id, r.period, r.mrr, c.segment, c.signup_date,
       h.score, h.usage_score, h.support_score, h.sentiment_score, h.payment_score,
       COALESCE(u.events, 0) AS events, COALESCE(u.events_prev3, 0) AS events_prev3,
       CASE WHEN r.period > CAST(:end AS DATE) THEN NULL
            WHEN n.customer_id IS NULL THEN 1 ELSE 0 END AS churned
FROM at_risk r
JOIN customers c ON c.customer_id = r.customer_id
LEFT JOIN health h ON h.customer_id = r.customer_id AND h.period = r.period AND h.rn = 1
LEFT JOIN usage_last u ON u.customer_id = r.customer_id AND u.period = r.period
LEFT JOIN mrr n ON n.customer_id = r.customer_id AND n.period = r.period
ORDER BY r.period, r.customer_id
"""


def churn_panel(wh, start, end):
    """Customer-month panel for the churn model, built in SQL (DuckDB or PostgreSQL).

    One row per customer *at risk* in month M -- paying at the end of M-1 (MRR > 0,
    ``end_date`` exclusive) -- for M in ``[start, end + 1 month]``. Columns:

    * ``customer_id``, ``period`` (M), ``mrr`` (USD/month at the end of M-1), ``segment``;
    * ``score`` and the four components: the latest health score taken on or before the
      first day of M and at most 92 days old (NaN if none) -- information available when
      the month starts;
    * ``events`` (feature events in M-1), ``events_prev3`` (mean monthly events over
      M-4..M-2), ``usage_trend`` = ln(1 + events) - ln(1 + events_prev3);
    * ``tenure_months`` (months from signup to M);
    * ``churned``: 1 when the customer pays nothing at the end of M (logo churn in M),
      0 when still paying, NaN for M = ``end + 1`` (the month being predicted).
    """
    start = pd.Timestamp(start).to_period("M").to_timestamp()
    end = pd.Timestamp(end).to_period("M").to_timestamp()
    with wh.connect(read_only=True) as conn:
        df = conn.query_df(_PANEL_SQL, {"start": str(start.date()), "end": str(end.date())})
    if df.empty:
        raise ModelError(f"no paying customers between {start.date()} and {end.date()}")
    df["customer_id"] = df["customer_id"].astype(str)
    df["period"] = pd.to_datetime(df["period"])
    sd = pd.to_datetime(df["signup_date"])
    df["tenure_months"] = ((df["period"].dt.year - sd.dt.year) * 12
                           + (df["period"].dt.month - sd.dt.month)).clip(lower=0).astype(float)
    for c in ("mrr", "score", *HEALTH_COMPONENTS, "events", "events_prev3", "churned"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["usage_trend"] = np.log1p(df["events"]) - np.log1p(df["events_prev3"])
    return df.drop(columns=["signup_date"])


def _features(df, segments: Sequence[str]):
    X = pd.DataFrame(index=df.index)
    X["const"] = 1.0
    for c in HEALTH_COMPONENTS:
        X[c] = (df[c] - 50.0) / 10.0
    X["log_tenure"] = np.log1p(df["tenure_months"])
    X["usage_trend"] = df["usage_trend"]
    for s in segments[1:]:
        X[f"segment[{s}]"] = (df["segment"] == s).astype(float)
    return X


@dataclass
class ChurnModel:
    """A fitted churn propensity model (attributes with a trailing underscore are fitted).

    Attributes
    ----------
    coefficients_ : DataFrame
        Per term: ``coef`` (log-odds of monthly churn per unit), ``std_err``, ``ci_low``,
        ``ci_high`` (95 %), ``p_value``, ``odds_ratio``. From the model refitted on all
        labelled months.
    auc_ : float
        AUC on the test months (time-based holdout) of the model trained on earlier months.
    auc_train_ : float
        AUC in the training months (in-sample; compare with ``auc_`` for overfitting).
    calibration_ : DataFrame
        Decile calibration table on the test months (:func:`calibration_table`).
    scores_ : DataFrame
        Every customer at risk in the scoring month (paying at the end of the month
        before): ``customer_id``, ``period`` (the scoring month), ``segment``, ``mrr``,
        ``arr`` (12 x MRR), ``churn_probability`` (during the scoring month),
        ``expected_arr_lost``
        (= arr x churn_probability, the revenue at risk), sorted by risk.
    train_periods_, test_periods_ : tuple of Timestamp
        First and last month of each part of the split.
    result_ : statsmodels result of the refit on all labelled months.
    holdout_result_ : statsmodels result of the training-months fit used for ``auc_``.
    """

    coefficients_: Any
    auc_: float
    auc_train_: float
    calibration_: Any
    scores_: Any
    train_periods_: tuple
    test_periods_: tuple
    n_train_: int
    n_test_: int
    segments_: tuple
    result_: Any = field(repr=False)
    holdout_result_: Any = field(repr=False)

    @property
    def expected_arr_lost_(self) -> float:
        """Sum of ARR x churn probability over the scored customers (USD a year)."""
        return float(self.scores_["expected_arr_lost"].sum())

    def predict(self, panel) -> np.ndarray:
        """Next-month churn probability for rows of a :func:`churn_panel` table."""
        X = _features(panel, self.segments_)
        return np.asarray(self.result_.predict(X[self.result_.params.index]))


def fit_churn_model(panel, period=None, test_months: int = 6, alpha: float = 0.05) -> ChurnModel:
    """Fit the churn Logit with a time-based split and score the customers at ``period``.

    Parameters
    ----------
    panel : DataFrame
        From :func:`churn_panel` (or any frame with the same columns).
    period : date-like, optional
        Scoring month M (default: the last month in ``panel``, the unlabelled month after
        the panel's ``end``). Labelled months are those before it; the last
        ``test_months`` of them are the test set, the rest train.
    test_months : int, default 6
    alpha : float, default 0.05
        For the coefficient confidence intervals.

    Rows with a missing health score are dropped from fitting (and scored with the segment's
    median components).

    Note: to score month M the health components must be known on its first day; with
    monthly scores taken on the first day of each month (the demo convention) the scoring
    month after the last closed month uses the last closed month's scores. Raises ModelError when a part of the split has no churners or the
    Logit fails (e.g. perfect separation).
    """
    df = panel.copy()
    df["period"] = pd.to_datetime(df["period"])
    period = df["period"].max() if period is None else pd.Timestamp(period).to_period("M").to_timestamp()
    segments = tuple(sorted(df["segment"].dropna().unique()))
    if "SMB" in segments:  # reference level: the smallest customers
        segments = ("SMB",) + tuple(s for s in segments if s != "SMB")
    lab = df[(df["period"] < period) & df["churned"].notna()].dropna(subset=list(HEALTH_COMPONENTS))
    months = sorted(lab["period"].unique())
    if len(months) < test_months + 3:
        raise ModelError(
            f"the churn model needs at least {test_months + 3} labelled months before {period.date()} "
            f"({test_months} to test, 3 or more to train); found {len(months)}"
        )
    split = months[-test_months]
    train, test = lab[lab["period"] < split], lab[lab["period"] >= split]
    for name, part in (("training", train), ("test", test)):
        k = int(part["churned"].sum())
        if k == 0 or k == len(part):
            raise ModelError(f"the {name} months have {k} churners out of {len(part)}: cannot fit or evaluate")

    def _fit(d):
        X = _features(d, segments)
        keep = [c for c in X.columns if c == "const" or X[c].std() > 0]
        try:
            res = sm.Logit(d["churned"].to_numpy(), X[keep]).fit(disp=0, maxiter=200)
        except Exception as exc:  # PerfectSeparationError, LinAlgError, ...
            raise ModelError(f"the churn Logit could not be fitted: {exc}") from exc
        return res

    hold = _fit(train)
    p_test = np.asarray(hold.predict(_features(test, segments)[hold.params.index]))
    p_train = np.asarray(hold.predict(_features(train, segments)[hold.params.index]))
    full = _fit(lab)
    ci = full.conf_int(alpha=alpha)
    coefs = pd.DataFrame({"coef": full.params, "std_err": full.bse, "ci_low": ci[0], "ci_high": ci[1],
                          "p_value": full.pvalues, "odds_ratio": np.exp(full.params)})
    coefs.index.name = "term"

    now = df[df["period"] == period].copy()
    if now.empty:
        raise ModelError(f"no customers at risk to score in {period.date()}")
    for c in HEALTH_COMPONENTS:
        med = lab.groupby("segment")[c].median()
        now[c] = now[c].fillna(now["segment"].map(med)).fillna(lab[c].median())
    Xn = _features(now, segments)
    now["churn_probability"] = np.asarray(full.predict(Xn[full.params.index]))
    now["arr"] = 12.0 * now["mrr"]
    now["expected_arr_lost"] = now["arr"] * now["churn_probability"]
    scores = now[["customer_id", "period", "segment", "mrr", "arr", "churn_probability",
                  "expected_arr_lost"]].sort_values("churn_probability", ascending=False).reset_index(drop=True)
    return ChurnModel(
        coefficients_=coefs, auc_=auc(test["churned"], p_test),
        auc_train_=auc(train["churned"], p_train),
        calibration_=calibration_table(test["churned"], p_test), scores_=scores,
        train_periods_=(train["period"].min(), train["period"].max()),
        test_periods_=(test["period"].min(), test["period"].max()),
        n_train_=len(train), n_test_=len(test), segments_=segments, result_=full, holdout_result_=hold,
    )


def churn_propensity(wh, period, history_months: int = 24, test_months: int = 6) -> ChurnModel:
    """Churn propensity at the last closed month ``period`` (P) from the warehouse.

    Builds :func:`churn_panel` for the ``history_months`` months up to P, trains on the
    earlier months, tests on the last ``test_months`` labelled months and scores every
    customer paying at the end of P for churn during P+1 (``scores_``), using their latest
    health score (taken at most 92 days before the first day of P+1)."""
    period = pd.Timestamp(period).to_period("M").to_timestamp()
    start = period - pd.DateOffset(months=history_months - 1)
    panel = churn_panel(wh, start, period)
    return fit_churn_model(panel, period + pd.DateOffset(months=1), test_months=test_months)
