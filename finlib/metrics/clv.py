"""Customer lifetime value: the simple formula and the shifted-beta-geometric (sBG) model.

Two ways to value a subscription customer, from the quick to the careful:

* :func:`simple_clv` -- ARPA x gross margin / churn rate (ChartMogul's LTV). It assumes every
  customer churns with the same constant probability, which overstates early churn and
  understates late churn in a real base.
* :func:`fit_sbg` -- the shifted-beta-geometric model of Fader & Hardie (2007), fitted by
  maximum likelihood to the survivors of a cohort: each customer has a constant churn
  probability theta, theta varies across customers as Beta(alpha, beta). Retention therefore
  *rises* with tenure as the flightiest customers leave. The fitted :class:`SBGModel` gives
  survival, retention, churn probabilities and the discounted expected residual lifetime
  (DERL) of Fader & Hardie (2010) used for customer-base valuation.

From the warehouse: :func:`clv_by_segment` (simple CLV and sBG CLV per segment, from monthly
signup cohorts) and :func:`clv_initiative_value` (the value of a success initiative that
changes churn: Delta CLV x customers).

References
----------
Fader, P. S. and Hardie, B. G. S. (2007), "How to Project Customer Retention", Journal of
Interactive Marketing, 21 (1), 76-90.  http://www.brucehardie.com/papers/021/
Fader, P. S. and Hardie, B. G. S. (2010), "Customer-Base Valuation in a Contractual Setting:
The Perils of Ignoring Heterogeneity", Marketing Science, 29 (1), 85-93.
http://www.brucehardie.com/papers/022/
ChartMogul, "Customer Lifetime Value (LTV)": LTV = ARPA x gross margin / churn rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import lazy_loader as lazy
import numpy as np
import pandas as pd

from finlib.errors import ModelError, UndefinedMetricError
from finlib.metrics import facts
from finlib.metrics.facts import customer_mrr_cte, months_cte  # MRR per customer at month end

scipy = lazy.load("scipy")  # scipy.special and scipy.optimize load on first use

__all__ = [
    "SBGModel",
    "clv_by_segment",
    "clv_initiative_value",
    "fit_sbg",
    "fit_sbg_cohorts",
    "sbg_survivors_by_cohort",
    "simple_clv",
]


# --------------------------------------------------------------------------------------
# The simple formula
# --------------------------------------------------------------------------------------
def simple_clv(arpa: float, churn_rate: float, gross_margin: float = 1.0) -> float:
    """Simple customer lifetime value: ``CLV = ARPA x gross_margin / churn_rate``.

    Parameters
    ----------
    arpa : float
        Average revenue per account per period (e.g. USD per month).
    churn_rate : float
        Logo churn per period as a fraction (0.05 = 5 % a month), same period as ``arpa``.
    gross_margin : float, default 1.0
        Gross margin as a fraction (0.8 = 80 %).

    Returns
    -------
    float
        Lifetime gross profit per customer, in the currency of ``arpa`` (undiscounted).
        ``1 / churn_rate`` is the expected lifetime in periods of a geometric lifetime.

    Raises
    ------
    UndefinedMetricError
        When ``churn_rate`` is zero (the lifetime is unbounded: CLV is undefined, not
        infinite), negative or above 1, or the inputs are not finite.

    Examples
    --------
    ChartMogul's example: ARPA 100 a month at 5 % monthly churn, margin 100 %:

    >>> simple_clv(100, 0.05)
    2000.0
    """
    for name, v in (("arpa", arpa), ("churn_rate", churn_rate), ("gross_margin", gross_margin)):
        if v is None or not math.isfinite(float(v)):
            raise UndefinedMetricError(f"simple_clv: {name}={v!r} is not a finite number")
    if churn_rate == 0:
        raise UndefinedMetricError(
            "simple_clv is undefined at zero churn (expected lifetime 1/churn is unbounded); "
            "use a longer window to measure churn, or the sBG model (fit_sbg) with a horizon"
        )
    if not 0 < churn_rate <= 1:
        raise UndefinedMetricError(f"simple_clv: churn_rate={churn_rate} must be in (0, 1]")
    return float(arpa) * float(gross_margin) / float(churn_rate)


# --------------------------------------------------------------------------------------
# The shifted-beta-geometric model
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SBGModel:
    """A fitted shifted-beta-geometric (sBG) retention model (Fader & Hardie 2007).

    Model (paper notation): each customer renews at the end of every period with constant
    probability ``1 - theta`` until they churn; ``theta ~ Beta(alpha, beta)`` across
    customers. T, the period in which a customer churns (T = 1, 2, ...), then has

    * ``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)``  (eq. 3),
      recursively ``P(T=1) = alpha/(alpha+beta)``,
      ``P(T=t) = (beta+t-2)/(alpha+beta+t-1) * P(T=t-1)`` (eq. 7);
    * survival ``S(t) = B(alpha, beta + t) / B(alpha, beta)``  (eq. 5), ``S(0) = 1``;
    * retention rate ``r(t) = S(t)/S(t-1) = (beta + t - 1)/(alpha + beta + t - 1)`` (eq. 8),
      increasing in t: heterogeneity, not rising loyalty.

    Attributes
    ----------
    alpha, beta : float
        The Beta mixing distribution's parameters. ``alpha / (alpha + beta)`` is the mean
        churn probability theta in the cohort at acquisition.
    log_likelihood : float
        Maximised log-likelihood (eq. B3) on the data, in nats (sum over customers).
    n_customers : float
        Customers at the start summed over the cohorts fitted.
    n_periods : int
        Longest observed series length in periods.
    std_err : tuple of float
        Asymptotic standard errors of (alpha, beta) from the observed information matrix
        (NaN when the Hessian is not invertible).
    survivors : tuple
        The data fitted (one tuple per cohort).
    """

    alpha: float
    beta: float
    log_likelihood: float
    n_customers: float
    n_periods: int
    std_err: tuple[float, float] = (float("nan"), float("nan"))
    survivors: tuple[tuple[float, ...], ...] = field(default=(), repr=False)

    # -- curves ---------------------------------------------------------------------
    def survival(self, t):
        """``S(t) = B(alpha, beta + t) / B(alpha, beta)``: share of a new cohort alive
        after t periods (t = 0, 1, 2, ...; arrays allowed)."""
        t = np.asarray(t, dtype=float)
        betaln = scipy.special.betaln
        out = np.exp(betaln(self.alpha, self.beta + t) - betaln(self.alpha, self.beta))
        return float(out) if out.ndim == 0 else out

    def retention(self, t):
        """Retention rate of period t, ``r(t) = (beta + t - 1) / (alpha + beta + t - 1)``:
        the share of customers alive at the end of period t-1 who renew at the end of
        period t (t >= 1)."""
        t = np.asarray(t, dtype=float)
        if np.any(t < 1):
            raise ValueError("retention(t) is defined for t >= 1")
        out = (self.beta + t - 1) / (self.alpha + self.beta + t - 1)
        return float(out) if out.ndim == 0 else out

    def churn_probability(self, t):
        """``P(T = t) = S(t-1) - S(t)``: the probability that a newly acquired customer
        churns at the end of period t (unconditional; t >= 1). The conditional churn rate
        of period t is ``1 - retention(t)``."""
        t = np.asarray(t, dtype=float)
        if np.any(t < 1):
            raise ValueError("churn_probability(t) is defined for t >= 1")
        betaln = scipy.special.betaln
        out = np.exp(betaln(self.alpha + 1, self.beta + t - 1) - betaln(self.alpha, self.beta))
        return float(out) if out.ndim == 0 else out

    def discounted_expected_residual_lifetime(self, discount: float, periods_survived: int = 0) -> float:
        """DERL of Fader & Hardie (2010), eq. (6), in periods (multiply by the margin per
        period to get residual CLV).

        ``DERL(d | alpha, beta, n-1 renewals) = B(alpha, beta+n) / B(alpha, beta+n-1)
        * 2F1(1, beta+n; alpha+beta+n; 1/(1+d))``
        = sum_{t>=n} S(t | T > n-1) / (1+d)^(t-n): the expected discounted number of
        future payments of a customer who has made ``n - 1 = periods_survived`` renewals,
        evaluated just before their next renewal decision (the next payment, if it comes,
        is not discounted).

        Parameters
        ----------
        discount : float
            Discount rate per period ``d`` (0.1 = 10 % per period), ``d > 0``.
        periods_survived : int, default 0
            Renewals already made (the paper's ``n - 1``). 0 is a customer at the end of
            their first period. For a *just acquired* customer including the first payment
            use :meth:`discounted_expected_lifetime`.
        """
        if not discount > 0:
            raise ValueError("discount must be > 0 (a per-period rate, e.g. 0.01 a month)")
        if periods_survived < 0 or int(periods_survived) != periods_survived:
            raise ValueError("periods_survived must be a non-negative integer")
        n = int(periods_survived) + 1
        a, b = self.alpha, self.beta
        ratio = (b + n - 1) / (a + b + n - 1)
        return float(ratio * scipy.special.hyp2f1(1.0, b + n, a + b + n, 1.0 / (1.0 + discount)))

    def discounted_expected_lifetime(self, discount: float) -> float:
        """DEL of a just-acquired customer (Fader & Hardie 2010, eq. 4):
        ``sum_{t>=1} S(t-1) / (1+d)^(t-1) = 2F1(1, beta; alpha+beta; 1/(1+d))``,
        in periods, first payment included and undiscounted."""
        if not discount > 0:
            raise ValueError("discount must be > 0")
        return float(scipy.special.hyp2f1(1.0, self.beta, self.alpha + self.beta, 1.0 / (1.0 + discount)))

    def expected_lifetime(self) -> float:
        """Undiscounted mean lifetime in periods, ``E[T] = (alpha + beta - 1)/(alpha - 1)``
        for alpha > 1; infinite (returned as ``inf``) for alpha <= 1."""
        return float("inf") if self.alpha <= 1 else (self.alpha + self.beta - 1) / (self.alpha - 1)

    def project(self, periods: int, n0: float | None = None):
        """Projection table for t = 0..periods: ``survival``, ``retention`` (NaN at t=0),
        ``churn_probability`` (NaN at t=0) and, when ``n0`` (customers at the start; default
        the fitted cohort size when one cohort was fitted) is known, ``expected_alive``."""
        t = np.arange(0, int(periods) + 1)
        out = pd.DataFrame({"t": t, "survival": self.survival(t)})
        out["retention"] = np.r_[np.nan, self.retention(t[1:])] if len(t) > 1 else np.nan
        out["churn_probability"] = np.r_[np.nan, self.churn_probability(t[1:])] if len(t) > 1 else np.nan
        if n0 is None and len(self.survivors) == 1:
            n0 = self.survivors[0][0]
        if n0 is not None:
            out["expected_alive"] = n0 * out["survival"]
        return out


def _validate_series(survivors, label: str = "survivors") -> np.ndarray:
    try:
        s = np.asarray(list(survivors), dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{label} must be a sequence of numbers: {exc}") from exc
    problems = []
    if s.ndim != 1:
        problems.append("it must be one-dimensional")
    elif len(s) < 3:
        problems.append(
            f"it has {max(len(s) - 1, 0)} period(s); the sBG model has two parameters and needs "
            "at least two periods (three counts: the start and the end of each period)"
        )
    if s.ndim == 1 and len(s):
        if not np.all(np.isfinite(s)):
            problems.append("it contains NaN or infinite values")
        neg = np.flatnonzero(s < 0)
        if len(neg):
            problems.append(f"counts must be >= 0, found {s[neg[0]]} at position {neg[0]}")
        rises = np.flatnonzero(np.diff(s) > 0)
        if len(rises):
            i = rises[0]
            problems.append(
                f"a count rises from {s[i]:g} (position {i}) to {s[i + 1]:g} (position {i + 1}): "
                "survivors of one cohort can only fall; do not mix cohorts or count reactivations"
            )
        if len(s) and s[0] <= 0:
            problems.append("the starting count must be positive")
    if problems:
        raise ModelError(f"cannot fit the sBG model to {label}={list(np.atleast_1d(s))[:12]}: "
                         + "; ".join(problems))
    return s


def _neg_ll(log_params: np.ndarray, series: list[np.ndarray]) -> float:
    """-LL(alpha, beta | data), eq. (B3), summed over cohorts; parameters on the log scale."""
    a, b = np.exp(log_params)
    base = scipy.special.betaln(a, b)
    ll = 0.0
    for s in series:
        t = np.arange(1, len(s))
        lost = s[:-1] - s[1:]
        logp = scipy.special.betaln(a + 1, b + t - 1) - base  # ln P(T = t)
        ll += float(np.sum(lost * logp))
        if s[-1] > 0:
            ll += float(s[-1] * (scipy.special.betaln(a, b + len(s) - 1) - base))  # ln S(t_final)
    return -ll


def fit_sbg_cohorts(cohorts: Sequence[Sequence[float]]) -> SBGModel:
    """Fit one sBG model to several cohorts by maximum likelihood (Fader & Hardie 2007,
    eq. B3 summed over cohorts). Each cohort is its own survivor series (start count, then
    the count alive at the end of each observed period); cohorts may have different lengths
    (the last count of each is right-censored). Series with fewer than two periods are
    dropped only if at least one cohort remains long enough; see :func:`fit_sbg`."""
    raw = [np.asarray(list(c), dtype=float) for c in cohorts]
    if not raw:
        raise ModelError("fit_sbg_cohorts: no cohorts given")
    usable = [s for s in raw if len(s) >= 2]
    if not any(len(s) >= 3 for s in usable):
        _validate_series(raw[0])  # raises with the precise reason
    series = []
    for i, s in enumerate(usable):
        if len(s) >= 3:
            series.append(_validate_series(s, label=f"cohort {i}"))
        else:  # a one-period cohort still carries information when pooled
            if s[0] <= 0 or s[1] < 0 or s[1] > s[0]:
                raise ModelError(f"cohort {i}: counts {list(s)} are not a valid survivor series")
            series.append(s)
    series = [s for s in series if s[0] > 0]
    total_lost = sum(float(s[0] - s[-1]) for s in series)
    if total_lost <= 0:
        raise ModelError(
            "cannot fit the sBG model: nobody churned in the data, so the churn distribution is "
            "not identified (alpha -> 0). Use a longer window or report retention as 100 %."
        )
    if all(s[-1] == 0 for s in series) and all(len(s) == 2 or s[1] == 0 for s in series):
        raise ModelError("cannot fit the sBG model: everybody churned in the first period")

    best = None
    for x0 in ([0.0, 0.0], [np.log(0.5), np.log(2.0)], [np.log(2.0), np.log(10.0)]):
        res = scipy.optimize.minimize(_neg_ll, np.array(x0), args=(series,), method="Nelder-Mead",
                       options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
        res = scipy.optimize.minimize(_neg_ll, res.x, args=(series,), method="BFGS", options={"gtol": 1e-8})
        if best is None or res.fun < best.fun:
            best = res
    a, b = np.exp(best.x)
    if not (np.isfinite(a) and np.isfinite(b)) or a > 1e6 or b > 1e6:
        raise ModelError(
            f"the sBG fit did not converge to finite parameters (alpha={a:.3g}, beta={b:.3g}): "
            "the data look homogeneous (a constant churn rate); use simple_clv instead"
        )
    std_err = _std_err(best.x, series)
    return SBGModel(
        alpha=float(a), beta=float(b), log_likelihood=-float(best.fun),
        n_customers=float(sum(s[0] for s in series)), n_periods=int(max(len(s) for s in series) - 1),
        std_err=std_err, survivors=tuple(tuple(float(v) for v in s) for s in series),
    )


def _std_err(log_params: np.ndarray, series) -> tuple[float, float]:
    """Delta-method standard errors of (alpha, beta) from a finite-difference Hessian."""
    h = 1e-4
    k = len(log_params)
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            ei = np.eye(k)[i] * h
            ej = np.eye(k)[j] * h
            H[i, j] = (_neg_ll(log_params + ei + ej, series) - _neg_ll(log_params + ei - ej, series)
                       - _neg_ll(log_params - ei + ej, series) + _neg_ll(log_params - ei - ej, series)) / (4 * h * h)
    try:
        cov_log = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return (float("nan"), float("nan"))
    grad = np.diag(np.exp(log_params))
    cov = grad @ cov_log @ grad
    d = np.diag(cov)
    return tuple(float(np.sqrt(v)) if v > 0 else float("nan") for v in d)  # type: ignore[return-value]


def fit_sbg(survivors: Sequence[float]) -> SBGModel:
    """Fit the shifted-beta-geometric model of Fader & Hardie (2007) by maximum likelihood.

    Parameters
    ----------
    survivors : sequence of float
        Customers alive at the start of the first period, then at the end of each period:
        ``[n_0, n_1, ..., n_K]`` (the paper's Table 1, e.g.
        ``[1000, 869, 743, 653, 593, 551, 517, 491]``). Proportions with a leading 1.0 work
        too (the log-likelihood is then per customer). Paper notation:
        ``n_t = survivors[t-1] - survivors[t]`` customers lost in period t, ``t_f = K``,
        ``n - sum n_t = survivors[K]`` still alive (right-censored).

    Returns
    -------
    SBGModel
        ``alpha``, ``beta``, ``survival(t)``, ``retention(t)``, ``churn_probability(t)``,
        ``discounted_expected_residual_lifetime(discount, periods_survived)``,
        ``log_likelihood``, ``project(periods)``.

    Raises
    ------
    ModelError
        Fewer than two periods (three counts), a count that rises, negative, NaN or zero
        starting counts, or no churn at all (the model is then not identified).

    Notes
    -----
    Maximises ``LL(alpha, beta) = sum_t n_t ln P(T=t) + (n - sum_t n_t) ln S(K)`` (eq. B3)
    over log(alpha), log(beta) with Nelder-Mead polished by BFGS, from three starting
    points. On the paper's two segments this reproduces the published estimates (High End
    alpha = 0.668, beta = 3.806; Regular alpha = 0.704, beta = 1.182).
    """
    s = _validate_series(survivors)
    return fit_sbg_cohorts([s])


# --------------------------------------------------------------------------------------
# From the warehouse
# --------------------------------------------------------------------------------------
_CUSTOMER_MONTHS_SQL = f"""
WITH RECURSIVE {months_cte()},
{customer_mrr_cte()}
SELECT cm.period, cm.customer_id, c.segment, CAST(cm.mrr AS DOUBLE PRECISION) AS mrr
FROM customer_mrr cm
JOIN customers c ON c.customer_id = cm.customer_id
"""


def _customer_months(wh, start, end):
    """Active customers per month end with their MRR and segment (SQL on either backend).

    A customer is active at month end M when a subscription has ``start_date <= M`` and
    ``end_date IS NULL OR end_date > M`` (end_date exclusive, docs/CONTRACTS.md) and the
    summed MRR is positive. MRR is in the reporting currency at the rate of each month's
    last day (:func:`finlib.metrics.facts.customer_mrr_cte`)."""
    with wh.connect(read_only=True) as conn:
        df = conn.query_df(_CUSTOMER_MONTHS_SQL, {"start": str(start), "end": str(end)})
    df["period"] = pd.to_datetime(df["period"])
    df["customer_id"] = df["customer_id"].astype(str)
    df["mrr"] = df["mrr"].astype(float)
    return df


def sbg_survivors_by_cohort(customer_months, by: str | None = "segment") -> dict:
    """Survivor series per monthly cohort from an active customer-month table.

    A customer's cohort is their first active month in the table; a customer counts as
    alive in month k of their cohort while active at the end of every month up to k
    (the first gap ends the lifetime: reactivations are not survival). Cohorts that start
    in the first month of the table are left out (their true start may be earlier).

    Returns ``{group: [survivor series per cohort]}`` (group ``"all"`` when ``by`` is None).
    """
    cm = customer_months[["customer_id", "period"] + ([by] if by else [])].copy()
    cm["period"] = pd.to_datetime(cm["period"])
    first_month = cm["period"].min()
    last_month = cm["period"].max()
    mi = (cm["period"].dt.year * 12 + cm["period"].dt.month).astype(int)
    cm["m"] = mi
    cm = cm.sort_values(["customer_id", "m"]).reset_index(drop=True)
    g = cm.groupby("customer_id")
    start = g["m"].transform("min")
    # consecutive run from the first month: m - start == rank within customer
    rank = g.cumcount()
    cm["k"] = cm["m"] - start
    cm = cm[cm["k"] == rank]  # keep only the unbroken run from the first month
    life = cm.groupby("customer_id").agg(start=("m", "min"), k=("k", "max"))
    if by:
        life[by] = customer_months.drop_duplicates("customer_id").set_index("customer_id")[by].reindex(life.index)
    else:
        life["_g"] = "all"
        by = "_g"
    first_m = first_month.year * 12 + first_month.month
    last_m = last_month.year * 12 + last_month.month
    life = life[life["start"] > first_m]
    out: dict = {}
    for grp, sub in life.groupby(by):
        series = []
        for st, coh in sub.groupby("start"):
            horizon = last_m - st  # periods observed
            if horizon < 1:
                continue
            lasted = coh["k"].to_numpy()
            series.append([int((lasted >= j).sum()) for j in range(horizon + 1)])
        out[grp] = series
    return out


@dataclass(frozen=True)
class SegmentCLV:
    """CLV per segment (see :func:`clv_by_segment`). ``table`` holds one row per segment."""

    table: object  # pandas DataFrame
    gross_margin: float
    monthly_discount: float
    models: dict


def clv_by_segment(wh, period, months: int = 12, gross_margin: float | None = None,
                   annual_discount: float = 0.10) -> SegmentCLV:
    """CLV per segment at month ``period`` from the warehouse: simple and sBG.

    For each segment, over the ``months`` months up to and including ``period``:

    * ``arpa`` = mean MRR per active customer at the month ends (USD / month);
    * ``churn_rate`` = customers active at month end M-1 and not at M, over those active at
      M-1, pooled over the window (logo churn, per month);
    * ``simple_clv`` = arpa x gross_margin / churn_rate (NaN, with a reason, at zero churn);
    * sBG fitted to the segment's monthly signup cohorts (:func:`fit_sbg_cohorts`);
      ``sbg_clv`` = arpa x gross_margin x DEL(d) for a new customer, and
      ``base_residual_value`` = sum over active customers of MRR x margin x DERL(d | tenure)
      (Fader & Hardie 2010: the residual value of the existing base).

    ``gross_margin`` defaults to (revenue - cogs) / revenue from ``gl_entries`` over the
    window (1.0 when there is no revenue). ``annual_discount`` is converted to a monthly
    rate ``(1 + d)^(1/12) - 1``. Amounts in the reporting currency.
    """
    period = pd.Timestamp(period).to_period("M").to_timestamp()
    start = (period - pd.DateOffset(months=max(months, 24) + 1))
    cm = _customer_months(wh, start.date(), period.date())
    if cm.empty:
        raise ModelError(f"no active customers between {start.date()} and {period.date()}")
    if gross_margin is None:
        gross_margin = _gross_margin(wh, (period - pd.DateOffset(months=months - 1)).date(), period.date())
    d_month = (1 + annual_discount) ** (1 / 12) - 1
    window_start = period - pd.DateOffset(months=months - 1)
    cohorts = sbg_survivors_by_cohort(cm, by="segment")
    rows, models = [], {}
    for seg, sub in cm.groupby("segment"):
        w = sub[(sub["period"] >= window_start - pd.DateOffset(months=1)) & (sub["period"] <= period)]
        prev = w.loc[w["period"] < period, ["customer_id", "period"]].copy()  # paying at M-1
        prev["period"] = prev["period"] + pd.DateOffset(months=1)  # the month they are at risk in
        hit = prev.merge(w[["customer_id", "period"]], on=["customer_id", "period"], how="left", indicator=True)
        at_risk = len(hit)
        lost = int((hit["_merge"] == "left_only").sum())
        churn = lost / at_risk if at_risk else float("nan")
        arpa = float(w.loc[w["period"] >= window_start, "mrr"].mean())
        try:
            simple = simple_clv(arpa, churn, gross_margin)
            reason = ""
        except UndefinedMetricError as exc:
            simple, reason = float("nan"), str(exc)
        row = {"segment": seg, "customers": int((sub["period"] == period).sum()), "arpa": arpa,
               "churn_rate": churn, "simple_clv": simple, "simple_clv_note": reason}
        try:
            model = fit_sbg_cohorts(cohorts.get(seg, []))
            models[seg] = model
            row.update(alpha=model.alpha, beta=model.beta,
                       sbg_clv=arpa * gross_margin * model.discounted_expected_lifetime(d_month))
            now = sub[sub["period"] == period]
            tenure = _tenure_months(sub, period)
            row["base_residual_value"] = float(sum(
                mrr * gross_margin * model.discounted_expected_residual_lifetime(d_month, int(tenure.get(cid, 0)))
                for cid, mrr in zip(now["customer_id"], now["mrr"], strict=True)))
            row["sbg_note"] = ""
        except ModelError as exc:
            row.update(alpha=float("nan"), beta=float("nan"), sbg_clv=float("nan"),
                       base_residual_value=float("nan"), sbg_note=str(exc))
        rows.append(row)
    return SegmentCLV(table=pd.DataFrame(rows), gross_margin=float(gross_margin),
                      monthly_discount=d_month, models=models)


def _tenure_months(sub, period) -> dict:
    """Renewals made by each customer active at ``period``: months of unbroken activity
    before ``period`` within the table."""
    s = sub.sort_values("period")
    out = {}
    for cid, g in s.groupby("customer_id"):
        months = set(g["period"])
        if period not in months:
            continue
        k, m = 0, period - pd.DateOffset(months=1)
        while m in months:
            k += 1
            m = m - pd.DateOffset(months=1)
        out[cid] = k
    return out


def _gross_margin(wh, start, end) -> float:
    """(revenue - cogs) / revenue from the ledger over ``start .. end`` in the reporting
    currency (:func:`finlib.metrics.facts.ledger_by_line`); 1.0 without revenue."""
    led = facts.ledger_by_line(wh, start, end)
    by_type = led.groupby("account_type")["amount"].sum() if len(led) else {}
    rev = float(by_type.get("revenue", 0.0) or 0.0)
    cogs = float(by_type.get("cogs", 0.0) or 0.0)
    return 1.0 if rev <= 0 else (rev - cogs) / rev


def clv_initiative_value(arpa: float, gross_margin: float, churn_before: float, churn_after: float,
                         customers: float, model: SBGModel | None = None,
                         discount: float | None = None) -> dict:
    """Value of a success initiative that changes churn: ``Delta CLV x customers``.

    Simple form (default): ``CLV = arpa x margin / churn`` before and after;
    ``value = (CLV_after - CLV_before) x customers`` (positive = the initiative creates
    value). With an sBG ``model`` the churn change is applied as a proportional shift of the
    mean churn probability ``alpha/(alpha+beta)`` holding ``alpha + beta`` fixed, and CLV is
    ``arpa x margin x DEL(discount)`` (``discount`` per period required).

    Returns a dict with ``clv_before``, ``clv_after``, ``delta_clv`` (per customer) and
    ``value`` (total), in the currency of ``arpa``.
    """
    if model is None:
        before = simple_clv(arpa, churn_before, gross_margin)
        after = simple_clv(arpa, churn_after, gross_margin)
    else:
        if discount is None:
            raise ValueError("discount (per period) is required with an sBG model")
        s = model.alpha + model.beta
        mean0 = model.alpha / s
        mean1 = mean0 * churn_after / churn_before
        m1 = SBGModel(alpha=mean1 * s, beta=(1 - mean1) * s, log_likelihood=float("nan"),
                      n_customers=model.n_customers, n_periods=model.n_periods)
        before = arpa * gross_margin * model.discounted_expected_lifetime(discount)
        after = arpa * gross_margin * m1.discounted_expected_lifetime(discount)
    return {"clv_before": before, "clv_after": after, "delta_clv": after - before,
            "value": (after - before) * customers}
