"""Monthly facts: the SQL that turns canonical tables into small DataFrames.

Every query here is written once, in the common subset of DuckDB and PostgreSQL
(recursive CTE for the month series, ``CAST``, ``date_trunc``, ``INTERVAL '1 month'``,
window functions), runs on both backends (tests/metrics/test_facts.py checks both) and
does the heavy aggregation in the warehouse: pandas only ever sees one row per month,
department, feature or (for per-customer facts) customer.

Conventions
-----------
* A *period* is the first day of a month. Functions take ``start``/``end`` periods
  (inclusive) and read only the rows that can affect them.
* A subscription is active at the end of month ``M`` when
  ``start_date <= last_day(M) AND (end_date IS NULL OR end_date > last_day(M))``
  (CONTRACTS.md; ``end_date`` is exclusive). Equivalently it is active in every month
  ``M`` with ``month(start_date) <= M < month(end_date)``: one contiguous month range per
  subscription, which the SQL range-joins to the month series (ChartMogul's rule:
  MRR is what is active on the last day of the month; ``mrr`` is already monthly).
* Money is summed as DECIMAL in SQL (exact) and cast to DOUBLE PRECISION only in the
  final projection. MRR movements are classified on exact decimals, so
  ``mrr_end = mrr_start + new + expansion + reactivation - contraction - churn`` holds
  exactly in the warehouse; in the returned floats up to rounding (< 1e-6).
* A customer *pays* in a month when their summed MRR is > 0.
* Every money figure is in the reporting currency (:func:`finlib.config.reporting_currency`,
  USD unless configured). Ledger, subscription, invoice and recognised-revenue amounts are
  converted in SQL by one set of fragments below (:func:`in_reporting_currency` and its
  helpers; docs/CURRENCY.md): income and expense at the rate of their period, MRR at the
  rate of the month whose end it measures. A missing rate is an error
  (:class:`MissingRateError`), never a rate of 1.

Every function accepts either a :class:`~finlib.warehouse.db.Warehouse` (a short read-only
connection is opened) or an open :class:`~finlib.warehouse.db.Connection`.
"""

from __future__ import annotations

import datetime as _dt
import re
from contextlib import contextmanager
from decimal import Decimal

import pandas as pd

from finlib import config
from finlib.errors import ConfigError, FinlibError, WarehouseError
from finlib.periods import add_months, month_end
from finlib.periods import month_of as parse_period
from finlib.warehouse.db import PARAM_RE
from finlib.warehouse.schema import SEGMENTS, TABLES

FAR_FUTURE = "9999-12-01"


class MissingRateError(FinlibError):
    """A money row is in a currency that ``fx_rates`` has no rate for on the date its
    conversion needs (ingestion normally refuses such rows; this guards the figures)."""

# -- plumbing ------------------------------------------------------------------------


def _used(sql: str, params: dict | None) -> dict | None:
    """Only the parameters the statement names (DuckDB rejects extra ones)."""
    if not params:
        return params
    names = set(PARAM_RE.findall(sql))
    return {k: v for k, v in params.items() if k in names}


_MISSING_RATE_RE = re.compile(r"no exchange rate for (\S+) on or before (\d{4}-\d{2}-\d{2})")


@contextmanager
def _rates_checked():
    """Turn the SQL error raised by :func:`in_reporting_currency` for a row without a rate
    into a :class:`MissingRateError` that names the currency and the date."""
    try:
        yield
    except WarehouseError as exc:
        m = _MISSING_RATE_RE.search(str(exc))
        if not m:
            raise
        raise MissingRateError(
            f"No exchange rate for {m.group(1)} on or before {m.group(2)} in fx_rates: money in "
            f"{m.group(1)} cannot be converted to the reporting currency "
            f"{config.reporting_currency()}. Load the rate (finlib ingest fx_rates ...) and "
            "try again.") from None


def _scalar(src, sql: str, params: dict | None = None):
    with _connection(src) as conn, _rates_checked():
        return conn.scalar(sql, _used(sql, params))


@contextmanager
def _connection(src):
    if hasattr(src, "query_df"):
        yield src
        return
    with src.connect(read_only=True) as conn:
        yield conn


def _df(src, sql: str, params: dict | None = None, dates: tuple[str, ...] = ("period",)):
    with _connection(src) as conn, _rates_checked():
        df = conn.query_df(sql, _used(sql, params))
    for c in dates:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c])
    for c in df.columns:
        if df[c].dtype == object and len(df) and _is_decimal(df[c]):
            df[c] = df[c].astype(float)
    return df


def query_checked(src, sql: str, params: dict | None = None, dates: tuple[str, ...] = ("period",)):
    """Run ``sql`` (which may use :func:`in_reporting_currency`) on ``src`` (a warehouse or
    an open connection) as a DataFrame: a missing exchange rate raises
    :class:`MissingRateError`, DECIMAL columns come back as float, ``dates`` as datetimes."""
    return _df(src, sql, params, dates)


def _is_decimal(s) -> bool:
    first = s.dropna()
    return len(first) > 0 and isinstance(first.iloc[0], Decimal)


def _range(start, end=None) -> dict:
    s = parse_period(start)
    e = parse_period(end if end is not None else start)
    if e < s:
        raise ConfigError(f"end period {e:%Y-%m} is before start period {s:%Y-%m}")
    return {"start": s, "end": e, "prev": add_months(s, -1), "start_next": add_months(s, 1),
            "end_next": add_months(e, 1), "end_last_day": month_end(e)}


def _month(expr: str) -> str:
    """SQL: the first day of the month of a DATE/TIMESTAMP expression, as DATE (both backends)."""
    return f"CAST(date_trunc('month', CAST({expr} AS TIMESTAMP)) AS DATE)"


def months_cte(first: str = ":start", last: str = ":end") -> str:
    """SQL: ``months(m)``, the month series ``first .. last`` (a recursive CTE, both backends).

    ``first`` and ``last`` are SQL expressions for first-of-month dates (a named parameter
    such as ``:start`` or an expression such as ``CAST(:start AS DATE) - INTERVAL '1 month'``).
    The enclosing statement must say ``WITH RECURSIVE``.
    """
    return (
        "months(m) AS (\n"
        f"  SELECT CAST({first} AS DATE)\n"
        "  UNION ALL\n"
        f"  SELECT CAST(m + INTERVAL '1 month' AS DATE) FROM months WHERE m < CAST({last} AS DATE)\n"
        ")"
    )


# -- money in the reporting currency -------------------------------------------------------


def reporting_currency_sql() -> str:
    """SQL: the reporting currency (:func:`finlib.config.reporting_currency`, a validated
    three-letter code) as a string literal, e.g. ``'USD'``. A literal, not a bound
    parameter, so that the fragments below work in any statement, including SQL that
    other modules build once at import."""
    code = config.reporting_currency()
    if not (len(code) == 3 and code.isalpha() and code.isupper()):  # pragma: no cover - config checks
        raise ValueError(f"not an ISO 4217 code: {code!r}")
    return f"'{code}'"


def month_last_day(expr: str) -> str:
    """SQL: the last day of the month that starts on the DATE ``expr`` (both backends)."""
    return f"CAST(CAST({expr} AS DATE) + INTERVAL '1 month' - INTERVAL '1 day' AS DATE)"


def fx_cte(name: str = "fx") -> str:
    """SQL: ``<name>(currency, valid_from, valid_to, rate)``, ``fx_rates`` as validity spans.

    Each ``fx_rates`` row of a currency other than the reporting currency holds from its
    ``rate_date`` (inclusive) to the next ``rate_date`` of that currency (exclusive; NULL
    for the latest), so "the row with the latest ``rate_date`` on or before day *d*" is the
    one span with ``valid_from <= d < valid_to``. ``rate`` is ``rate_to_reporting``
    (reporting-currency units per unit of ``currency``). One comma-separated CTE for a
    ``WITH`` list; join it with :func:`fx_join`. Both backends.
    """
    return (
        f"{name} AS (\n"
        "  SELECT currency, rate_date AS valid_from,\n"
        "         LEAD(rate_date) OVER (PARTITION BY currency ORDER BY rate_date) AS valid_to,\n"
        "         rate_to_reporting AS rate\n"
        f"  FROM fx_rates WHERE currency <> {reporting_currency_sql()}\n"
        ")"
    )


def fx_join(alias: str, currency: str, on: str, fx: str = "fx") -> str:
    """SQL: ``LEFT JOIN`` the :func:`fx_cte` span ``alias`` that holds for ``currency`` on
    the DATE ``on`` (SQL expressions). ``alias.rate`` is NULL when there is none."""
    return (f"LEFT JOIN {fx} {alias} ON {alias}.currency = {currency} AND {alias}.valid_from <= {on}"
            f" AND ({alias}.valid_to IS NULL OR {alias}.valid_to > {on})")


#: SQL type of a converted amount: the product of an amount (2 decimals) and a rate (8
#: decimals) is exact with 10 decimals. Every branch of the conversion has this one type, so
#: no backend rounds a branch to the amount's 2 decimals (DuckDB would, for mixed widths),
#: and the amount is widened before it is multiplied (DuckDB multiplies two DECIMAL(18)
#: values in 64 bits and overflows above 10^8).
CONVERTED = "DECIMAL(38, 10)"


def in_reporting_currency(amount: str, currency: str, rate: str, on: str) -> str:
    """SQL: ``amount`` (in ``currency``) converted to the reporting currency.

    The one conversion every money sum in finlib goes through (ledger, subscription MRR,
    invoices, recognised revenue; in SQL on DuckDB and PostgreSQL).

    Formula: ``amount × rate`` where ``rate`` is ``fx_rates.rate_to_reporting`` of
    ``currency`` on the row with the latest ``rate_date`` on or before the DATE ``on``
    (:func:`fx_join` finds it). The caller chooses ``on``, by the convention of
    docs/CURRENCY.md:

    * income and expense lines (``gl_entries``, ``revenue_recognized``, invoices) at the
      rate of their period: ``on`` = the period's first day (IAS 21 allows a period or
      average rate for income and expenses);
    * MRR at the rate of the month whose end it measures: ``on`` = that month's last day
      (:func:`month_last_day`).

    Units: reporting currency (:func:`finlib.config.reporting_currency`, written into the
    SQL by :func:`reporting_currency_sql`). Sign: unchanged (rates are positive). Rows already in the reporting currency convert at exactly 1 and need no
    rate; a NULL amount (an outer join that found no row) stays NULL. The product is exact
    (:data:`CONVERTED`: the amount's 2 decimals plus the rate's 8) and sums are never
    rounded before the final projection, so a figure does not depend on how a query groups
    before it sums.

    A row in another currency without a rate for ``on`` makes the statement fail with
    ``no exchange rate for <CUR> on or before <date>``, which :func:`_df` turns into
    :class:`MissingRateError`: a missing rate is never treated as 1 and the row is never
    dropped silently. (Ingestion refuses such rows; this is the guard behind it.)
    """
    return (
        f"CASE WHEN {amount} IS NULL THEN NULL"
        f" WHEN {currency} = {reporting_currency_sql()} THEN CAST({amount} AS {CONVERTED})"
        f" WHEN {rate} IS NOT NULL THEN CAST(CAST({amount} AS {CONVERTED}) * {rate} AS {CONVERTED})"
        f" ELSE CAST('no exchange rate for ' || COALESCE({currency}, 'NULL') || ' on or before '"
        f" || CAST({on} AS VARCHAR) AS {CONVERTED}) END"
    )


def ledger_cte(name: str = "ledger", keys: tuple[str, ...] = ("period", "department_id", "account_id"),
               where: str = "period >= CAST(:start AS DATE) AND period <= CAST(:end AS DATE)") -> str:
    """SQL: ``<name>(<keys>, amount, entries)``, ``gl_entries`` summed per ``keys`` in the
    reporting currency.

    One pass over the ledger: rows matching ``where`` (a condition on ``gl_entries``
    columns) are summed per ``keys`` *and currency* in their own currency, then each small
    per-currency sum is converted at the rate of its period (:func:`in_reporting_currency`;
    exact, the rate is constant within a period and currency) and the currencies added up.
    ``keys`` must include ``period``. ``amount`` is DECIMAL in the reporting currency,
    positive in the account's normal direction; ``entries`` counts ledger lines. Returns
    three comma-separated CTEs (``<name>_fx``, ``<name>_native``, ``<name>``) for a
    ``WITH`` list. Both backends.
    """
    if "period" not in keys:
        raise ValueError("ledger_cte keys must include 'period' (the rate is the period's)")
    k = ", ".join(keys)
    nk = ", ".join(f"n.{x}" for x in keys)
    conv = in_reporting_currency("n.amount", "n.currency", "r.rate", "n.period")
    return (
        fx_cte(f"{name}_fx") + ",\n"
        f"{name}_native AS (\n"
        f"  SELECT {k}, currency, SUM(amount) AS amount, COUNT(*) AS entries\n"
        f"  FROM gl_entries WHERE {where}\n"
        f"  GROUP BY {k}, currency\n"
        "),\n"
        f"{name} AS (\n"
        f"  SELECT {nk}, SUM({conv}) AS amount, SUM(n.entries) AS entries\n"
        f"  FROM {name}_native n {fx_join('r', 'n.currency', 'n.period', f'{name}_fx')}\n"
        f"  GROUP BY {nk}\n"
        ")"
    )


def _segment_filter(column: str = "customer_id") -> str:
    """SQL: ``AND <column>`` belongs to a customer of segment ``:segment``."""
    return (f"\n    AND {column} IN (SELECT customer_id FROM customers "
            "WHERE segment = CAST(:segment AS VARCHAR))")


def _subs_cte(name: str = "subs", active_from: str = ":start", active_to_next: str = ":end_next",
              segment: bool = False) -> str:
    """SQL: subscriptions as month ranges ``[m0, m1)`` that touch ``active_from .. active_to``
    (only customers of segment ``:segment`` when ``segment``), with ``mrr`` in the
    subscription's ``currency`` (convert with :func:`_mrr_in_reporting`)."""
    return (
        f"{name} AS (\n"
        f"  SELECT customer_id, product_id, mrr, currency, {_month('start_date')} AS m0,\n"
        f"         COALESCE({_month('end_date')}, DATE '{FAR_FUTURE}') AS m1\n"
        "  FROM subscriptions\n"
        f"  WHERE start_date < CAST({active_to_next} AS DATE)\n"
        f"    AND (end_date IS NULL OR end_date >= CAST({active_from} AS DATE) + INTERVAL '1 month')"
        + (_segment_filter() if segment else "") + "\n"
        ")"
    )


def _mrr_in_reporting(month: str, s: str = "s", r: str = "r") -> str:
    """SQL: subscription ``s``'s MRR in the reporting currency at the end of the month
    starting on ``month``: at the rate of that month's last day (:func:`in_reporting_currency`
    with the :func:`fx_join` alias ``r``)."""
    return in_reporting_currency(f"{s}.mrr", f"{s}.currency", f"{r}.rate", month_last_day(month))


def _mrr_fx_join(month: str, fx: str, s: str = "s", r: str = "r") -> str:
    """SQL: the rate span ``r`` for subscription ``s`` at the end of the month ``month``."""
    return fx_join(r, f"{s}.currency", month_last_day(month), fx)


def customer_mrr_cte(name: str = "customer_mrr", first: str = ":start", last: str = ":end") -> str:
    """SQL: ``<name>(period, customer_id, mrr)``, MRR per paying customer at each month end.

    The one definition of "MRR per customer at month end" (ChartMogul): a subscription is
    active at the end of month ``M`` when ``start_date <= last_day(M) AND (end_date IS NULL
    OR end_date > last_day(M))`` (``end_date`` exclusive, CONTRACTS.md); ``mrr`` is the sum
    of ``subscriptions.mrr`` over the customer's active subscriptions, each converted to the
    reporting currency at the rate of ``M``'s last day (:func:`in_reporting_currency`), as
    exact DECIMAL (cast to DOUBLE PRECISION where it is projected). Only customers with
    ``mrr > 0`` appear.
    ``period`` is the first day of ``M``, for every ``M`` in the ``months`` CTE.

    Returns three comma-separated CTEs (``<name>_fx``, ``<name>_subs``, ``<name>``) for a ``WITH
    RECURSIVE`` list that already holds :func:`months_cte` ``(first, last)`` with the same
    ``first``/``last`` SQL expressions (they also prune ``subscriptions``). Both backends.
    """
    return _paying_mrr_cte(name, first, last, ("customer_id",))


def customer_product_mrr_cte(name: str = "customer_product_mrr", first: str = ":start",
                             last: str = ":end") -> str:
    """SQL: ``<name>(period, customer_id, product_id, mrr)``: as :func:`customer_mrr_cte`,
    per customer *and product* (a product the customer pays for at the month's end)."""
    return _paying_mrr_cte(name, first, last, ("customer_id", "product_id"))


def _paying_mrr_cte(name: str, first: str, last: str, keys: tuple[str, ...]) -> str:
    cols = ", ".join(f"s.{k}" for k in keys)
    return (
        fx_cte(f"{name}_fx") + ",\n"
        + _subs_cte(f"{name}_subs", first, f"CAST({last} AS DATE) + INTERVAL '1 month'") + ",\n"
        f"{name} AS (\n"
        f"  SELECT months.m AS period, {cols}, SUM({_mrr_in_reporting('months.m')}) AS mrr\n"
        f"  FROM {name}_subs s JOIN months ON s.m0 <= months.m AND s.m1 > months.m\n"
        f"  {_mrr_fx_join('months.m', f'{name}_fx')}\n"
        f"  GROUP BY months.m, {cols} HAVING SUM(s.mrr) > 0\n"
        ")"
    )


def check_segment(segment):
    """``None`` or one of the schema's segments (SMB, Mid-Market, Enterprise); else ConfigError."""
    if segment is None:
        return None
    if segment not in SEGMENTS:
        raise ConfigError(f"Unknown segment {segment!r}: choose one of {', '.join(SEGMENTS)}.")
    return segment


# -- MRR -------------------------------------------------------------------------------


def mrr_by_customer_product(src, start, end=None):
    """MRR per customer and product at each month end from ``start`` to ``end``.

    Columns: ``period`` (datetime, first of month), ``customer_id``, ``product_id``,
    ``mrr`` (reporting currency per month, float). Only rows with an active subscription
    appear. Formula: ``mrr(c, p, M) = Σ subscriptions.mrr × rate`` over the subscriptions
    active at the last day of ``M``, at the rate of that day (:func:`in_reporting_currency`).
    Reference: ChartMogul, "MRR" (subscriptions active at month end, normalised monthly).
    """
    sql = f"""
WITH RECURSIVE {months_cte()},
{fx_cte()},
{_subs_cte()}
SELECT months.m AS period, s.customer_id, s.product_id,
       CAST(SUM({_mrr_in_reporting('months.m')}) AS DOUBLE PRECISION) AS mrr
FROM subs s JOIN months ON s.m0 <= months.m AND s.m1 > months.m
{_mrr_fx_join('months.m', 'fx')}
GROUP BY months.m, s.customer_id, s.product_id
ORDER BY 1, 2, 3"""
    return _df(src, sql, _range(start, end))


def mrr_by_customer(src, period):
    """MRR per paying customer at the end of ``period`` (``customer_id``, ``mrr`` > 0, in the
    reporting currency at the rate of the month's last day)."""
    sql = f"""
WITH {fx_cte()},
{_subs_cte()}
SELECT s.customer_id, CAST(SUM({_mrr_in_reporting(':start')}) AS DOUBLE PRECISION) AS mrr
FROM subs s {_mrr_fx_join(':start', 'fx')}
WHERE s.m0 <= CAST(:start AS DATE) AND s.m1 > CAST(:start AS DATE)
GROUP BY s.customer_id HAVING SUM(s.mrr) > 0
ORDER BY s.customer_id"""
    return _df(src, sql, _range(period))


def mrr_monthly(src, start, end=None):
    """Company MRR per month: ``period``, ``mrr``, ``arr`` (12 × MRR), ``customers`` (paying)."""
    sql = f"""
WITH RECURSIVE {months_cte()},
{customer_mrr_cte('cm')}
SELECT months.m AS period, CAST(COALESCE(SUM(cm.mrr), 0) AS DOUBLE PRECISION) AS mrr,
       CAST(12 * COALESCE(SUM(cm.mrr), 0) AS DOUBLE PRECISION) AS arr,
       COUNT(cm.customer_id) AS customers
FROM months LEFT JOIN cm ON cm.period = months.m
GROUP BY months.m ORDER BY 1"""
    return _df(src, sql, _range(start, end))


def _firsts_cte(name: str = "firsts", before: str = ":end_next") -> str:
    """SQL: ``<name>(customer_id, first_month)``: the first month at whose end each customer
    paid (a subscription with ``mrr > 0`` active on that month's last day), among
    subscriptions starting before ``before``. A customer's ``new`` MRR movement is in that
    month (ChartMogul: new = first paid MRR)."""
    return (
        f"{name} AS (\n"
        f"  SELECT customer_id, MIN({_month('start_date')}) AS first_month\n"
        "  FROM subscriptions\n"
        f"  WHERE mrr > 0 AND (end_date IS NULL OR {_month('end_date')} > {_month('start_date')})\n"
        f"    AND start_date < CAST({before} AS DATE)\n"
        "  GROUP BY customer_id\n"
        ")"
    )


def new_customers_cte(name: str = "new_paying", first: str = ":start", last: str = ":end") -> str:
    """SQL: ``<name>(period, customer_id, new_mrr)``: the customers with a ``new`` MRR
    movement in a month ``first .. last`` (SQL expressions for first-of-month dates), and
    that movement.

    A customer is *new* in month ``M`` when ``M`` is the first month at whose end they pay
    (:func:`_firsts_cte`); ``new_mrr`` is their MRR at the end of ``M`` in the reporting
    currency (subscriptions active on ``M``'s last day, at that day's rate:
    :func:`in_reporting_currency`), exactly the ``new`` movement of :func:`mrr_movements`.
    These are the new *paying* customers CAC divides by: a signup that never pays (a trial)
    is not one. Returns comma-separated CTEs for a ``WITH`` list. Both backends.
    """
    return (
        fx_cte(f"{name}_fx") + ",\n"
        + _firsts_cte(f"{name}_firsts", f"CAST({last} AS DATE) + INTERVAL '1 month'") + ",\n"
        + _subs_cte(f"{name}_subs", first, f"CAST({last} AS DATE) + INTERVAL '1 month'") + ",\n"
        f"{name} AS (\n"
        f"  SELECT f.first_month AS period, f.customer_id, SUM({_mrr_in_reporting('f.first_month')}) AS new_mrr\n"
        f"  FROM {name}_firsts f JOIN {name}_subs s ON s.customer_id = f.customer_id\n"
        "    AND s.m0 <= f.first_month AND s.m1 > f.first_month\n"
        f"  {_mrr_fx_join('f.first_month', f'{name}_fx')}\n"
        f"  WHERE f.first_month >= CAST({first} AS DATE) AND f.first_month <= CAST({last} AS DATE)\n"
        "  GROUP BY f.first_month, f.customer_id HAVING SUM(s.mrr) > 0\n"
        ")"
    )


def _movements_sql(detail: bool, segment: bool = False) -> str:
    """Per customer and month: MRR at the start (previous month end) and end, classified."""
    base = f"""
WITH RECURSIVE {months_cte(':prev', ':end')},
{fx_cte()},
{_subs_cte('subs', ':prev', ':end_next', segment=segment)},
cm AS (
  SELECT months.m AS period, s.customer_id, SUM({_mrr_in_reporting('months.m')}) AS mrr
  FROM subs s JOIN months ON s.m0 <= months.m AND s.m1 > months.m
  {_mrr_fx_join('months.m', 'fx')}
  GROUP BY months.m, s.customer_id HAVING SUM(s.mrr) > 0
),
{_firsts_cte()},
pairs AS (
  SELECT COALESCE(c.period, p.next_period) AS period,
         COALESCE(c.customer_id, p.customer_id) AS customer_id,
         COALESCE(p.mrr, 0) AS mrr_start, COALESCE(c.mrr, 0) AS mrr_end
  FROM (SELECT period, customer_id, mrr FROM cm WHERE period >= CAST(:start AS DATE)) c
  FULL OUTER JOIN (
    SELECT CAST(period + INTERVAL '1 month' AS DATE) AS next_period, customer_id, mrr
    FROM cm WHERE period < CAST(:end AS DATE)
  ) p ON c.customer_id = p.customer_id AND c.period = p.next_period
),
mv AS (
  SELECT x.period, x.customer_id, x.mrr_start, x.mrr_end,
    CASE WHEN x.mrr_start = 0 AND f.first_month >= x.period THEN x.mrr_end ELSE 0 END AS new,
    CASE WHEN x.mrr_start > 0 AND x.mrr_end > x.mrr_start THEN x.mrr_end - x.mrr_start ELSE 0 END AS expansion,
    CASE WHEN x.mrr_start > 0 AND x.mrr_end > 0 AND x.mrr_end < x.mrr_start
         THEN x.mrr_start - x.mrr_end ELSE 0 END AS contraction,
    CASE WHEN x.mrr_start > 0 AND x.mrr_end = 0 THEN x.mrr_start ELSE 0 END AS churn,
    CASE WHEN x.mrr_start = 0 AND f.first_month < x.period THEN x.mrr_end ELSE 0 END AS reactivation
  FROM pairs x LEFT JOIN firsts f ON f.customer_id = x.customer_id
)"""
    if detail:
        return base + """
SELECT period, customer_id,
  CAST(mrr_start AS DOUBLE PRECISION) AS mrr_start, CAST(mrr_end AS DOUBLE PRECISION) AS mrr_end,
  CAST(new AS DOUBLE PRECISION) AS new, CAST(expansion AS DOUBLE PRECISION) AS expansion,
  CAST(contraction AS DOUBLE PRECISION) AS contraction, CAST(churn AS DOUBLE PRECISION) AS churn,
  CAST(reactivation AS DOUBLE PRECISION) AS reactivation
FROM mv WHERE (:changes_only = 0 OR mrr_start <> mrr_end)
ORDER BY period, customer_id"""
    return base + """,
tot AS (
  SELECT period, SUM(mrr_start) AS mrr_start, SUM(mrr_end) AS mrr_end, SUM(new) AS new,
    SUM(expansion) AS expansion, SUM(contraction) AS contraction, SUM(churn) AS churn,
    SUM(reactivation) AS reactivation,
    SUM(CASE WHEN mrr_start > 0 THEN 1 ELSE 0 END) AS customers_start,
    SUM(CASE WHEN mrr_end > 0 THEN 1 ELSE 0 END) AS customers_end,
    SUM(CASE WHEN new > 0 THEN 1 ELSE 0 END) AS new_customers,
    SUM(CASE WHEN churn > 0 THEN 1 ELSE 0 END) AS churned_customers,
    SUM(CASE WHEN reactivation > 0 THEN 1 ELSE 0 END) AS reactivated_customers,
    SUM(mrr_end - mrr_start - new - expansion - reactivation + contraction + churn) AS identity_residual
  FROM mv GROUP BY period
)
SELECT months.m AS period,
  CAST(COALESCE(mrr_start, 0) AS DOUBLE PRECISION) AS mrr_start,
  CAST(COALESCE(new, 0) AS DOUBLE PRECISION) AS new,
  CAST(COALESCE(expansion, 0) AS DOUBLE PRECISION) AS expansion,
  CAST(COALESCE(contraction, 0) AS DOUBLE PRECISION) AS contraction,
  CAST(COALESCE(churn, 0) AS DOUBLE PRECISION) AS churn,
  CAST(COALESCE(reactivation, 0) AS DOUBLE PRECISION) AS reactivation,
  CAST(COALESCE(mrr_end, 0) AS DOUBLE PRECISION) AS mrr_end,
  CAST(COALESCE(customers_start, 0) AS BIGINT) AS customers_start,
  CAST(COALESCE(customers_end, 0) AS BIGINT) AS customers_end,
  CAST(COALESCE(new_customers, 0) AS BIGINT) AS new_customers,
  CAST(COALESCE(churned_customers, 0) AS BIGINT) AS churned_customers,
  CAST(COALESCE(reactivated_customers, 0) AS BIGINT) AS reactivated_customers,
  CAST(COALESCE(identity_residual, 0) AS VARCHAR) AS identity_residual
FROM months LEFT JOIN tot ON tot.period = months.m
WHERE months.m >= CAST(:start AS DATE)
ORDER BY 1"""


def mrr_movements(src, start, end=None, segment: str | None = None):
    """MRR movements per month (ChartMogul's five movements), company totals.

    Columns: ``period``, ``mrr_start`` (MRR at the end of the previous month), ``new``,
    ``expansion``, ``contraction``, ``churn``, ``reactivation``, ``mrr_end`` (reporting
    currency per month, all movements >= 0), counts ``customers_start``, ``customers_end``,
    ``new_customers``, ``churned_customers``, ``reactivated_customers``, and
    ``identity_residual`` (the exact DECIMAL value of ``mrr_end - mrr_start - new -
    expansion - reactivation + contraction + churn``, as text: always zero).

    Each month's MRR is converted at the rate of that month's last day
    (:func:`in_reporting_currency`), so a customer paying an unchanged price in another
    currency shows expansion or contraction when the rate moves (docs/CURRENCY.md); the
    identity holds exactly either way.

    Per customer ``c`` and month ``M`` with ``s = MRR(c, M-1)`` and ``e = MRR(c, M)``:
    new = ``e`` if ``s = 0`` and ``M`` is ``c``'s first paid month; reactivation = ``e`` if
    ``s = 0`` and ``c`` paid before; expansion = ``e - s`` if ``0 < s < e``; contraction =
    ``s - e`` if ``0 < e < s``; churn = ``s`` if ``s > 0 = e``.
    Identity: ``mrr_end = mrr_start + new + expansion + reactivation - contraction - churn``.
    ``segment`` (SMB, Mid-Market, Enterprise) restricts every figure to the customers of
    that segment (``customers.segment``); the segments' figures add up to the company's.
    Reference: ChartMogul, "Data Table and MRR Movements".
    """
    p = _range(start, end) | {"segment": check_segment(segment)}
    return _df(src, _movements_sql(detail=False, segment=segment is not None), p)


def customer_mrr_movements(src, start, end=None, changes_only: bool = True):
    """MRR movements per customer and month (same columns and rules as :func:`mrr_movements`,
    one row per ``period``, ``customer_id``; by default only rows where MRR changed)."""
    p = _range(start, end) | {"changes_only": 1 if changes_only else 0}
    return _df(src, _movements_sql(detail=True), p)


def expansion_components(src, start, end=None):
    """Per customer-month with expansion: the gross product-level increases behind it.

    Columns: ``period``, ``customer_id``, ``expansion`` (customer-level, as in
    :func:`mrr_movements`), ``upsell_gross`` (Σ increases on products the customer already
    paid for), ``cross_sell_gross`` (Σ MRR of products the customer did not pay for the
    month before). :func:`finlib.metrics.retention.split_expansion` allocates ``expansion``
    between upsell and cross-sell in proportion to these.
    """
    sql = f"""
WITH RECURSIVE {months_cte(':prev', ':end')},
{customer_product_mrr_cte('cpm', ':prev', ':end')},
pairs AS (
  SELECT COALESCE(c.period, p.next_period) AS period,
         COALESCE(c.customer_id, p.customer_id) AS customer_id,
         COALESCE(p.mrr, 0) AS mrr_start, COALESCE(c.mrr, 0) AS mrr_end
  FROM (SELECT period, customer_id, product_id, mrr FROM cpm WHERE period >= CAST(:start AS DATE)) c
  FULL OUTER JOIN (
    SELECT CAST(period + INTERVAL '1 month' AS DATE) AS next_period, customer_id, product_id, mrr
    FROM cpm WHERE period < CAST(:end AS DATE)
  ) p ON c.customer_id = p.customer_id AND c.product_id = p.product_id AND c.period = p.next_period
),
agg AS (
  SELECT period, customer_id, SUM(mrr_start) AS s, SUM(mrr_end) AS e,
    SUM(CASE WHEN mrr_start > 0 AND mrr_end > mrr_start THEN mrr_end - mrr_start ELSE 0 END) AS up,
    SUM(CASE WHEN mrr_start = 0 THEN mrr_end ELSE 0 END) AS xs
  FROM pairs GROUP BY period, customer_id
)
SELECT period, customer_id, CAST(e - s AS DOUBLE PRECISION) AS expansion,
       CAST(up AS DOUBLE PRECISION) AS upsell_gross, CAST(xs AS DOUBLE PRECISION) AS cross_sell_gross
FROM agg WHERE s > 0 AND e > s ORDER BY 1, 2"""
    return _df(src, sql, _range(start, end))


def product_new_mrr(src, start, end=None):
    """New MRR per product and month: MRR of (customer, product) pairs that start paying.

    Columns ``period``, ``product_id``, ``new_mrr`` (reporting currency per month), ``new_customers`` (pairs).
    Counts a product's first paid month for a customer, whether or not the customer is new
    to the company (so a cross-sell counts for the product). Used by launch ROI.
    """
    sql = f"""
WITH RECURSIVE {months_cte(':prev', ':end')},
{customer_product_mrr_cte('cpm', ':prev', ':end')}
SELECT c.period, c.product_id, CAST(SUM(c.mrr) AS DOUBLE PRECISION) AS new_mrr,
       COUNT(*) AS new_customers
FROM cpm c LEFT JOIN cpm p ON p.customer_id = c.customer_id AND p.product_id = c.product_id
  AND p.period = CAST(c.period - INTERVAL '1 month' AS DATE)
WHERE c.period >= CAST(:start AS DATE) AND p.customer_id IS NULL
GROUP BY c.period, c.product_id ORDER BY 1, 2"""
    return _df(src, sql, _range(start, end))


def retention_cohort(src, period, months: int = 12, segment: str | None = None):
    """Per customer paying at the end of ``period - months``: MRR then and at ``period``.

    Columns ``customer_id``, ``mrr_then``, ``mrr_now`` (0 if churned), ``segment``,
    ``cs_tier``, ``csm_owner``. Feeds NRR, GRR and CS investment ROI. ``segment`` keeps
    only the customers of that segment. Each MRR is in the reporting currency at the rate
    of its own month's last day (:func:`in_reporting_currency`).
    """
    p = parse_period(period)
    then = add_months(p, -months)
    sql = f"""
WITH {fx_cte()},
{_subs_cte('subs', ':then', ':now_next', segment=segment is not None)},
cm AS (
  SELECT s.customer_id,
    SUM(CASE WHEN s.m0 <= CAST(:then AS DATE) AND s.m1 > CAST(:then AS DATE)
             THEN {_mrr_in_reporting(':then', r='rt')} ELSE 0 END) AS mrr_then,
    SUM(CASE WHEN s.m0 <= CAST(:now AS DATE) AND s.m1 > CAST(:now AS DATE)
             THEN {_mrr_in_reporting(':now', r='rn')} ELSE 0 END) AS mrr_now
  FROM subs s
  {_mrr_fx_join(':then', 'fx', r='rt')}
  {_mrr_fx_join(':now', 'fx', r='rn')}
  GROUP BY s.customer_id
)
SELECT cm.customer_id, CAST(mrr_then AS DOUBLE PRECISION) AS mrr_then,
       CAST(mrr_now AS DOUBLE PRECISION) AS mrr_now, c.segment, c.cs_tier, c.csm_owner
FROM cm LEFT JOIN customers c ON c.customer_id = cm.customer_id
WHERE mrr_then > 0 ORDER BY 1"""
    return _df(src, sql, {"then": then, "now": p, "now_next": add_months(p, 1),
                          "segment": check_segment(segment)})


def customer_snapshot(src, period, health_lookback_months: int = 3):
    """One row per customer paying at the end of ``period`` with their latest health score.

    Columns ``customer_id``, ``segment``, ``cs_tier``, ``csm_owner``, ``signup_date``,
    ``mrr``, ``arr`` (12 × MRR), ``score``, ``usage_score``, ``support_score``,
    ``sentiment_score``, ``payment_score`` (latest ``health_scores`` row scored on or before
    the month end and within ``health_lookback_months``; NaN if none).
    """
    p = parse_period(period)
    sql = f"""
WITH {fx_cte()},
{_subs_cte()},
cm AS (
  SELECT s.customer_id, SUM({_mrr_in_reporting(':start')}) AS mrr
  FROM subs s {_mrr_fx_join(':start', 'fx')}
  WHERE s.m0 <= CAST(:start AS DATE) AND s.m1 > CAST(:start AS DATE)
  GROUP BY s.customer_id HAVING SUM(s.mrr) > 0
),
h AS (
  SELECT customer_id, score, usage_score, support_score, sentiment_score, payment_score,
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY scored_on DESC) AS rn
  FROM health_scores
  WHERE scored_on <= CAST(:last_day AS DATE) AND scored_on >= CAST(:since AS DATE)
)
SELECT cm.customer_id, c.segment, c.cs_tier, c.csm_owner, c.signup_date,
  CAST(cm.mrr AS DOUBLE PRECISION) AS mrr, CAST(12 * cm.mrr AS DOUBLE PRECISION) AS arr,
  h.score, h.usage_score, h.support_score, h.sentiment_score, h.payment_score
FROM cm LEFT JOIN customers c ON c.customer_id = cm.customer_id
LEFT JOIN h ON h.customer_id = cm.customer_id AND h.rn = 1
ORDER BY 1"""
    params = {"start": p, "end_next": add_months(p, 1), "last_day": month_end(p),
              "since": add_months(p, 1 - health_lookback_months)}
    return _df(src, sql, params, dates=("signup_date",))


# -- revenue, costs, budgets -------------------------------------------------------------


def recognised_currency_sql(subscription: str = "s") -> str:
    """SQL: the currency of a ``revenue_recognized`` row joined to its ``subscription``
    (``LEFT JOIN subscriptions``): the subscription's currency, or the reporting currency
    for a row without a subscription (``revenue_recognized`` has no currency column)."""
    return f"COALESCE({subscription}.currency, {reporting_currency_sql()})"


def recognised_revenue(src, start, end=None, segment: str | None = None):
    """Recognised revenue per month from ``revenue_recognized``: ``period``, ``revenue``
    (reporting currency), ``rows``.

    ``revenue_recognized`` has no currency column: a row is in the currency of its
    subscription (``subscriptions.currency``), and a row without a subscription in the
    reporting currency (:func:`recognised_currency_sql`). It converts at the rate of its period
    (:func:`in_reporting_currency`).

    Months without rows appear with 0. This, not MRR, is what revenue targets compare with.
    ``segment`` keeps only the rows of customers of that segment (rows without a customer
    belong to no segment).
    """
    seg = ("\n    AND r.customer_id IN (SELECT customer_id FROM customers "
           "WHERE segment = CAST(:segment AS VARCHAR))") if segment is not None else ""
    conv = in_reporting_currency("n.amount", "n.currency", "x.rate", "n.period")
    sql = f"""
WITH RECURSIVE {months_cte()},
{fx_cte()},
native AS (
  SELECT r.period, {recognised_currency_sql()} AS currency, SUM(r.amount) AS amount, COUNT(*) AS rows
  FROM revenue_recognized r LEFT JOIN subscriptions s ON s.subscription_id = r.subscription_id
  WHERE r.period >= CAST(:start AS DATE) AND r.period <= CAST(:end AS DATE){seg}
  GROUP BY r.period, {recognised_currency_sql()}
),
rev AS (
  SELECT n.period, SUM({conv}) AS revenue, SUM(n.rows) AS rows
  FROM native n {fx_join('x', 'n.currency', 'n.period')}
  GROUP BY n.period
)
SELECT months.m AS period, CAST(COALESCE(rev.revenue, 0) AS DOUBLE PRECISION) AS revenue,
       CAST(COALESCE(rev.rows, 0) AS BIGINT) AS rows
FROM months LEFT JOIN rev ON rev.period = months.m
ORDER BY 1"""
    return _df(src, sql, _range(start, end) | {"segment": check_segment(segment)})


def invoiced(src, start, end=None):
    """Invoiced amounts per month of issue (billings): ``period``, ``invoiced`` (reporting
    currency), ``invoices`` (count).

    ``invoices`` issued in the month (``issued_on``), ``void`` ones excluded (credit notes,
    negative amounts, included), each converted at the rate of its issue month
    (:func:`in_reporting_currency`, income at the period rate). Months without invoices
    appear with 0. The billings term of a deferred-revenue roll-forward.
    """
    conv = in_reporting_currency("n.amount", "n.currency", "x.rate", "n.period")
    sql = f"""
WITH RECURSIVE {months_cte()},
{fx_cte()},
native AS (
  SELECT {_month('issued_on')} AS period, currency, SUM(amount) AS amount, COUNT(*) AS invoices
  FROM invoices
  WHERE status <> 'void' AND issued_on >= CAST(:start AS DATE) AND issued_on < CAST(:end_next AS DATE)
  GROUP BY 1, 2
),
inv AS (
  SELECT n.period, SUM({conv}) AS invoiced, SUM(n.invoices) AS invoices
  FROM native n {fx_join('x', 'n.currency', 'n.period')}
  GROUP BY n.period
)
SELECT months.m AS period, CAST(COALESCE(inv.invoiced, 0) AS DOUBLE PRECISION) AS invoiced,
       CAST(COALESCE(inv.invoices, 0) AS BIGINT) AS invoices
FROM months LEFT JOIN inv ON inv.period = months.m
ORDER BY 1"""
    return _df(src, sql, _range(start, end))


def ledger_by_line(src, start, end=None):
    """General-ledger actuals per month, department, account (and its type and category).

    Columns ``period``, ``department_id``, ``department``, ``account_id``, ``account``,
    ``account_type`` (revenue, cogs, opex), ``category``, ``amount`` (reporting currency,
    converted at the rate of the period by :func:`ledger_cte`; positive in the account's
    normal direction), ``entries``. The 10-million-row table is aggregated here.
    """
    sql = f"""
WITH {ledger_cte('g')}
SELECT g.period, g.department_id, d.name AS department, g.account_id, a.name AS account,
       a.account_type, a.category, CAST(g.amount AS DOUBLE PRECISION) AS amount,
       CAST(g.entries AS BIGINT) AS entries
FROM g JOIN departments d ON d.department_id = g.department_id
JOIN accounts a ON a.account_id = g.account_id
ORDER BY 1, 2, 4"""
    return _df(src, sql, _range(start, end))


def budget_vs_actual(src, start, end=None):
    """Budget and actual per month, department and account (full outer join of the two).

    Columns as :func:`ledger_by_line` plus ``budget``; ``actual`` (reporting currency,
    :func:`ledger_cte`; 0 where nothing was posted) and ``budget`` (``budgets.amount``, in
    the reporting currency; NaN where no budget line exists). The input of every budget
    variance figure: :func:`finlib.metrics.monitoring.budget_variance` (the alert rule and
    the budget views) and :func:`finlib.metrics.monitoring.cost_variance`.
    """
    sql = f"""
WITH {ledger_cte('g')},
b AS (
  SELECT period, department_id, account_id, SUM(amount) AS amount FROM budgets
  WHERE period >= CAST(:start AS DATE) AND period <= CAST(:end AS DATE)
  GROUP BY period, department_id, account_id
),
j AS (
  SELECT COALESCE(g.period, b.period) AS period,
         COALESCE(g.department_id, b.department_id) AS department_id,
         COALESCE(g.account_id, b.account_id) AS account_id,
         COALESCE(g.amount, 0) AS actual, b.amount AS budget
  FROM g FULL OUTER JOIN b ON g.period = b.period AND g.department_id = b.department_id
    AND g.account_id = b.account_id
)
SELECT j.period, j.department_id, d.name AS department, j.account_id, a.name AS account,
       a.account_type, a.category, CAST(j.actual AS DOUBLE PRECISION) AS actual,
       CAST(j.budget AS DOUBLE PRECISION) AS budget
FROM j JOIN departments d ON d.department_id = j.department_id
JOIN accounts a ON a.account_id = j.account_id
ORDER BY 1, 2, 4"""
    return _df(src, sql, _range(start, end))


def department_costs(src, start, end=None):
    """Cost (``cogs`` + ``opex`` ledger lines) per month and department name.

    Columns ``period``, ``department``, ``cost`` (reporting currency, :func:`ledger_cte`).
    Months and departments without entries are absent.
    """
    sql = f"""
WITH {ledger_cte('g')}
SELECT g.period, d.name AS department, CAST(SUM(g.amount) AS DOUBLE PRECISION) AS cost
FROM g JOIN accounts a ON a.account_id = g.account_id
JOIN departments d ON d.department_id = g.department_id
WHERE a.account_type IN ('cogs', 'opex')
GROUP BY g.period, d.name ORDER BY 1, 2"""
    return _df(src, sql, _range(start, end))


def kpi_targets(src, start, end=None, kpi: str | None = None):
    """``kpi_targets`` rows in the range: ``period``, ``kpi``, ``dimension``, ``target``."""
    sql = """
SELECT period, kpi, dimension, CAST(target AS DOUBLE PRECISION) AS target FROM kpi_targets
WHERE period >= CAST(:start AS DATE) AND period <= CAST(:end AS DATE)
  AND (CAST(:kpi AS VARCHAR) IS NULL OR kpi = CAST(:kpi AS VARCHAR))
ORDER BY 1, 2, 3"""
    return _df(src, sql, _range(start, end) | {"kpi": kpi})


def revenue_to_date(src, period, as_of: _dt.date):
    """Revenue posted to the ledger (revenue accounts) in ``period`` up to ``as_of``
    (reporting currency, at the rate of the period: :func:`ledger_cte`).

    Month-to-date actual for run-rates: ``gl_entries`` with ``account_type = 'revenue'``,
    ``period`` = the month and ``posted_at < as_of + 1 day``.
    """
    p = parse_period(period)
    where = "period = CAST(:p AS DATE) AND posted_at < CAST(:upto AS TIMESTAMP)"
    sql = f"""
WITH {ledger_cte('g', ('period', 'account_id'), where)}
SELECT CAST(COALESCE(SUM(g.amount), 0) AS DOUBLE PRECISION)
FROM g JOIN accounts a ON a.account_id = g.account_id
WHERE a.account_type = 'revenue'"""
    return float(_scalar(src, sql, {"p": p, "upto": as_of + _dt.timedelta(days=1)}) or 0.0)


# -- product development ------------------------------------------------------------------


def dev_costs(src, end, start=None):
    """Development cost per feature, milestone and month up to ``end``.

    Columns ``period``, ``feature_id``, ``milestone_id`` (None = not tied to a milestone),
    ``product_id``, ``team``, ``cost`` (reporting currency), ``hours``.
    """
    p = _range(start if start is not None else "1900-01", end)
    sql = """
SELECT dc.period, dc.feature_id, dc.milestone_id, f.product_id, f.team,
       CAST(SUM(dc.cost) AS DOUBLE PRECISION) AS cost, CAST(SUM(dc.hours) AS DOUBLE PRECISION) AS hours
FROM dev_costs dc JOIN features f ON f.feature_id = dc.feature_id
WHERE dc.period >= CAST(:start AS DATE) AND dc.period <= CAST(:end AS DATE)
GROUP BY dc.period, dc.feature_id, dc.milestone_id, f.product_id, f.team
ORDER BY 1, 2, 3"""
    return _df(src, sql, p)


def feature_adoption(src, end):
    """First month each customer used each feature (``active_users > 0``) up to ``end``.

    Columns ``customer_id``, ``feature_id``, ``first_period``.
    """
    sql = """
SELECT customer_id, feature_id, MIN(period) AS first_period FROM feature_usage
WHERE active_users > 0 AND period <= CAST(:end AS DATE)
GROUP BY customer_id, feature_id ORDER BY 1, 2"""
    return _df(src, sql, _range(end), dates=("first_period",))


def table(src, name: str, columns: str = "*", dates: tuple[str, ...] = ()):
    """A small dimension table as a DataFrame (``features``, ``milestones``, ``products`` ...)."""
    if name not in TABLES:
        raise KeyError(f"unknown table {name!r}")
    return _df(src, f"SELECT {columns} FROM {name}", None, dates=dates)


# -- sales and marketing ---------------------------------------------------------------


def acquisition(src, start, end=None):
    """CAC inputs per month: Sales and Marketing opex, new paying customers, their new MRR.

    Columns ``period``; ``sales_cost``, ``marketing_cost`` (reporting currency,
    ``gl_entries`` on opex accounts of the departments named ``Sales`` and ``Marketing``,
    :func:`ledger_cte`); ``new_customers`` (new *paying* customers: those with a ``new``
    MRR movement in the month, :func:`new_customers_cte`); ``new_mrr`` (their MRR at the
    end of the month, reporting currency per month: the ``new`` movement); ``signups``
    (customers whose ``signup_date`` is in the month, paying or not: for information, not a
    CAC denominator); ``revenue``, ``cogs`` (ledger, for gross margin).
    """
    sql = f"""
WITH RECURSIVE {months_cte()},
{ledger_cte('led')},
gl AS (
  SELECT g.period,
    SUM(CASE WHEN a.account_type = 'opex' AND d.name = 'Sales' THEN g.amount ELSE 0 END) AS sales_cost,
    SUM(CASE WHEN a.account_type = 'opex' AND d.name = 'Marketing' THEN g.amount ELSE 0 END) AS marketing_cost,
    SUM(CASE WHEN a.account_type = 'revenue' THEN g.amount ELSE 0 END) AS revenue,
    SUM(CASE WHEN a.account_type = 'cogs' THEN g.amount ELSE 0 END) AS cogs
  FROM led g JOIN accounts a ON a.account_id = g.account_id
  JOIN departments d ON d.department_id = g.department_id
  GROUP BY g.period
),
{new_customers_cte('np')},
ncm AS (
  SELECT period, COUNT(*) AS new_customers, SUM(new_mrr) AS new_mrr FROM np GROUP BY period
),
su AS (
  SELECT {_month('signup_date')} AS period, COUNT(*) AS signups FROM customers
  WHERE signup_date >= CAST(:start AS DATE) AND signup_date < CAST(:end_next AS DATE)
  GROUP BY 1
)
SELECT months.m AS period,
  CAST(COALESCE(gl.sales_cost, 0) AS DOUBLE PRECISION) AS sales_cost,
  CAST(COALESCE(gl.marketing_cost, 0) AS DOUBLE PRECISION) AS marketing_cost,
  CAST(COALESCE(ncm.new_customers, 0) AS BIGINT) AS new_customers,
  CAST(COALESCE(ncm.new_mrr, 0) AS DOUBLE PRECISION) AS new_mrr,
  CAST(COALESCE(su.signups, 0) AS BIGINT) AS signups,
  CAST(COALESCE(gl.revenue, 0) AS DOUBLE PRECISION) AS revenue,
  CAST(COALESCE(gl.cogs, 0) AS DOUBLE PRECISION) AS cogs
FROM months LEFT JOIN gl ON gl.period = months.m LEFT JOIN ncm ON ncm.period = months.m
LEFT JOIN su ON su.period = months.m
ORDER BY 1"""
    return _df(src, sql, _range(start, end))


def acquisition_by_channel(src, start, end=None):
    """Per month and channel: campaign spend and the new paying customers campaigns acquired.

    Columns ``period``, ``channel``, ``spend`` (``gl_entries`` with ``campaign_id`` of the
    channel's campaigns, reporting currency, :func:`ledger_cte`), ``new_customers`` (new
    paying customers of the month, :func:`new_customers_cte`, whose
    ``acquisition_campaign_id`` is a campaign of the channel), ``new_mrr`` (their new MRR,
    reporting currency per month).
    """
    where = ("campaign_id IS NOT NULL AND period >= CAST(:start AS DATE) "
             "AND period <= CAST(:end AS DATE)")
    sql = f"""
WITH {ledger_cte('led', ('period', 'campaign_id'), where)},
sp AS (
  SELECT g.period, mc.channel, SUM(g.amount) AS spend
  FROM led g JOIN marketing_campaigns mc ON mc.campaign_id = g.campaign_id
  GROUP BY g.period, mc.channel
),
{new_customers_cte('np')},
ncm AS (
  SELECT np.period, mc.channel, COUNT(*) AS new_customers, SUM(np.new_mrr) AS new_mrr
  FROM np JOIN customers c ON c.customer_id = np.customer_id
  JOIN marketing_campaigns mc ON mc.campaign_id = c.acquisition_campaign_id
  GROUP BY np.period, mc.channel
)
SELECT COALESCE(sp.period, ncm.period) AS period, COALESCE(sp.channel, ncm.channel) AS channel,
  CAST(COALESCE(sp.spend, 0) AS DOUBLE PRECISION) AS spend,
  CAST(COALESCE(ncm.new_customers, 0) AS BIGINT) AS new_customers,
  CAST(COALESCE(ncm.new_mrr, 0) AS DOUBLE PRECISION) AS new_mrr
FROM sp FULL OUTER JOIN ncm ON sp.period = ncm.period AND sp.channel = ncm.channel
ORDER BY 1, 2"""
    return _df(src, sql, _range(start, end))


def campaign_results(src, ended_from=None, ended_to=None):
    """Per marketing campaign: spend and the new MRR of the customers it acquired.

    Columns ``campaign_id``, ``name``, ``channel``, ``product_id``, ``started_on``,
    ``ended_on``, ``spend`` (``marketing_campaigns.spend``, reporting currency),
    ``customers`` (acquired: ``customers.acquisition_campaign_id``), ``new_mrr`` (Σ their
    MRR at the end of their signup month, in the reporting currency at the rate of that
    month's last day, per month). Optionally only campaigns that ended in
    ``[ended_from, ended_to]`` (dates). The input of campaign ROI for the dashboards and
    the ``campaign_roi`` alert alike (:func:`finlib.metrics.departments.campaign_roi`).
    """
    sql = f"""
WITH {fx_cte()},
subs AS (
  SELECT customer_id, mrr, currency, {_month('start_date')} AS m0,
         COALESCE({_month('end_date')}, DATE '{FAR_FUTURE}') AS m1 FROM subscriptions
),
acq AS (
  SELECT c.acquisition_campaign_id AS campaign_id, c.customer_id, {_month('c.signup_date')} AS sm
  FROM customers c WHERE c.acquisition_campaign_id IS NOT NULL
),
res AS (
  SELECT acq.campaign_id, COUNT(DISTINCT acq.customer_id) AS customers,
         COALESCE(SUM({_mrr_in_reporting('acq.sm')}), 0) AS new_mrr
  FROM acq LEFT JOIN subs s ON s.customer_id = acq.customer_id AND s.m0 <= acq.sm AND s.m1 > acq.sm
  {_mrr_fx_join('acq.sm', 'fx')}
  GROUP BY acq.campaign_id
)
SELECT mc.campaign_id, mc.name, mc.channel, mc.product_id, mc.started_on, mc.ended_on,
  CAST(mc.spend AS DOUBLE PRECISION) AS spend, CAST(COALESCE(res.customers, 0) AS BIGINT) AS customers,
  CAST(COALESCE(res.new_mrr, 0) AS DOUBLE PRECISION) AS new_mrr
FROM marketing_campaigns mc LEFT JOIN res ON res.campaign_id = mc.campaign_id
WHERE (CAST(:f AS DATE) IS NULL OR mc.ended_on >= CAST(:f AS DATE))
  AND (CAST(:t AS DATE) IS NULL OR mc.ended_on <= CAST(:t AS DATE))
ORDER BY 1"""
    return _df(src, sql, {"f": ended_from, "t": ended_to}, dates=("started_on", "ended_on"))


def opportunities_closed(src, start, end=None):
    """Opportunities closed in the range, per month, kind and stage.

    Columns ``period`` (month of ``closed_on``), ``kind``, ``stage`` (won, lost),
    ``opportunities``, ``arr`` (reporting currency per year).
    """
    sql = f"""
SELECT {_month('closed_on')} AS period, kind, stage, COUNT(*) AS opportunities,
       CAST(SUM(arr) AS DOUBLE PRECISION) AS arr
FROM opportunities
WHERE closed_on >= CAST(:start AS DATE) AND closed_on < CAST(:end_next AS DATE)
  AND stage IN ('won', 'lost')
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
    return _df(src, sql, _range(start, end))


def open_expansion_pipeline(src, period):
    """Customers with an open or won expansion opportunity touching ``period``.

    Columns ``customer_id``, ``pipeline_arr`` (reporting currency per year): expansion opportunities created
    on or before the month end and either still open then or closed in the month.
    """
    p = _range(period)
    sql = """
SELECT customer_id, CAST(SUM(arr) AS DOUBLE PRECISION) AS pipeline_arr FROM opportunities
WHERE kind = 'expansion' AND customer_id IS NOT NULL AND created_on <= CAST(:end_last_day AS DATE)
  AND (closed_on IS NULL OR closed_on >= CAST(:start AS DATE))
  AND stage <> 'lost'
GROUP BY customer_id ORDER BY 1"""
    return _df(src, sql, p)


def data_start(src):
    """The first month the warehouse's books cover, as a ``datetime.date`` (or ``None``).

    The earliest ``period`` of the cost books, ``gl_entries`` and ``dev_costs`` (dev costs
    and campaign spend are tied to the ledger), falling back to ``revenue_recognized`` when
    both are empty. Costs before this month are *unknown*, not zero: product metrics use it
    to flag figures the data cannot show (:func:`finlib.metrics.product.milestone_efficiency`,
    ``launch_roi``, ``feature_roi``).
    """
    sql = """
SELECT (SELECT MIN(period) FROM gl_entries), (SELECT MIN(period) FROM dev_costs),
       (SELECT MIN(period) FROM revenue_recognized)"""
    with _connection(src) as conn:
        gl, dc, rr = conn.query(sql)[0]
    found = [x for x in (gl, dc) if x is not None] or [x for x in (rr,) if x is not None]
    if not found:
        return None
    v = min(found)
    if isinstance(v, _dt.datetime):
        v = v.date()
    return parse_period(v) if not isinstance(v, _dt.date) else v.replace(day=1)


def has_data(src, period) -> dict[str, int]:
    """Row counts that say whether ``period`` has data: subscriptions active at its end,
    ledger lines, recognised-revenue rows, and ``subscriptions_after``: subscriptions that
    start or end in or after the month (0 means the period lies beyond the last recorded
    subscription activity, where open-ended subscriptions would only *project* MRR)."""
    p = _range(period)
    sql = f"""
WITH {_subs_cte()}
SELECT (SELECT COUNT(*) FROM subs WHERE m0 <= CAST(:start AS DATE) AND m1 > CAST(:start AS DATE)),
       (SELECT COUNT(*) FROM gl_entries WHERE period = CAST(:start AS DATE)),
       (SELECT COUNT(*) FROM revenue_recognized WHERE period = CAST(:start AS DATE)),
       (SELECT COUNT(*) FROM subscriptions WHERE start_date >= CAST(:start AS DATE)
          OR end_date >= CAST(:start AS DATE))"""
    with _connection(src) as conn:
        row = conn.query(sql, _used(sql, p))[0]
    return {"subscriptions": int(row[0]), "gl_entries": int(row[1]), "revenue_recognized": int(row[2]),
            "subscriptions_after": int(row[3])}
