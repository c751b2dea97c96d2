"""Shared pieces of the notebook views: the per-parameters read cache, what the warehouse
covers, data-as-of, read-only alert evaluation, the :class:`Frames` a notebook loads, and
scraps (:func:`glue`, :func:`record`).

Nothing here writes to the warehouse: dashboards and jobs read it through short read-only
connections (``wh.connect(read_only=True)``), so a Voilà page never blocks an ingest.
Nothing here knows how it is shown (Voilà, papermill or JupyterLab).
"""

from __future__ import annotations

import datetime as dt
import numbers
import threading
from collections.abc import Callable, Iterable
from typing import Any

import IPython.display as ipd
import pandas as pd

from finlib import config, widgets
from finlib.alerts import evaluate, list_alerts, rule_settings
from finlib.errors import FinlibError, NoDataError
from finlib.metrics.core import finite_or_none
from finlib.periods import add_months, format_period, parse_period
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.schema import DEPARTMENTS, SEGMENTS

#: the segment parameter's choices: every segment of the schema, or all of them
SEGMENT_CHOICES = ("all", *SEGMENTS)
#: the department parameter's choices where every department can be chosen
DEPARTMENT_CHOICES = ("all", *DEPARTMENTS)

# -- warehouse and periods ------------------------------------------------------------


def warehouse():
    """The warehouse of ``FINLIB_DB_URL`` (opened read-only by every view)."""
    return get_warehouse()


def month(period: Any) -> str:
    """A period parameter (``YYYY-MM``, ``YYYY-MM-01``, ``last_closed_month`` ...) as ``YYYY-MM``
    (:func:`finlib.periods.parse_period`)."""
    return format_period(parse_period(period))


def month_before(period: str) -> str:
    """The ``YYYY-MM`` month before ``period``."""
    return format_period(add_months(parse_period(period), -1))


# -- a cache per parameter set, cleared by Refresh ------------------------------------

_cache: dict[tuple, Any] = {}
_lock = threading.Lock()


def cached(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` (and warehouse URL) until :func:`clear_cache`.

    Sections of one notebook share a parameter set, so the warehouse is read once for all
    of them; a Refresh button clears the cache to pick up newly ingested data.
    """
    full = (config.db_url(), *key)
    with _lock:
        if full in _cache:
            return _cache[full]
    value = compute()
    with _lock:
        _cache[full] = value
    return value


def clear_cache() -> None:
    """Forget every cached read (new data was loaded)."""
    with _lock:
        _cache.clear()


# -- what the warehouse covers ------------------------------------------------------------


def available_periods(limit: int = 36) -> list[str]:
    """Months with recognised revenue or ledger lines, newest first (``YYYY-MM``)."""

    def compute():
        wh = warehouse()
        with wh.connect(read_only=True) as conn:
            rows = conn.query(
                "SELECT DISTINCT period FROM gl_entries UNION SELECT DISTINCT period FROM revenue_recognized")
        months = sorted({format_period(_as_date(r[0])) for r in rows if r[0] is not None}, reverse=True)
        return months[:limit]

    return cached(("available_periods", limit), compute)


def period_choices(period: str, limit: int = 36) -> list[str]:
    """The period control's options: the months with data, plus the requested one.

    A requested month without data stays selectable so that its sections say "no data for
    2031-01" instead of the control silently jumping to another month.
    """
    months = available_periods(limit)
    return months if period in months else [period, *months]


def data_as_of() -> str:
    """When the data was last loaded: the last accepted ingest, else the newest ledger
    posting (demo data), as ``YYYY-MM-DD HH:MM UTC``; ``"unknown"`` when neither exists."""

    def compute():
        wh = warehouse()
        with wh.connect(read_only=True) as conn:
            t = None
            if conn.table_exists("ingest_batches"):
                t = conn.scalar("SELECT max(finished_at) FROM ingest_batches WHERE outcome = 'accepted'")
            if t is None:
                t = conn.scalar("SELECT max(posted_at) FROM gl_entries")
        if t is None:
            return "unknown"
        if isinstance(t, str):
            t = dt.datetime.fromisoformat(t)
        return t.strftime("%Y-%m-%d %H:%M UTC")

    return cached(("data_as_of",), compute)


def require_period_data(period: str) -> None:
    """Raise :class:`NoDataError` ("no data for 2031-01 …") when the month has no data."""
    if period not in available_periods():
        months = available_periods()
        span = f"{months[-1]} .. {months[0]}" if months else "none"
        raise NoDataError(f"No data for {period}: the warehouse covers {span}.")


def _as_date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


# -- alerts, evaluated read-only ---------------------------------------------------------------

ALERT_COLUMNS = ("id", "rule", "severity", "state", "entity", "message", "value", "threshold", "period")


def alerts_for(period: str, rules: Iterable[str] | None = None,
               thresholds: dict[str, float | None] | None = None) -> list[dict]:
    """The alerts the rules of ``parameters/alerts.yaml`` raise for ``period``.

    Evaluated live on a read-only connection (nothing is stored or sent: the job runner's
    ``finlib.alerts.check`` does that), with the stored state (open, acknowledged) where the
    alert is already known. ``rules`` limits the rules (default all enabled);
    ``thresholds`` overrides a rule's threshold (``None`` keeps the file's value).

    Returns a list of dicts with :data:`ALERT_COLUMNS` (JSON-able), the id being the alert's
    stable id (rule + entity + period), so the runner can de-duplicate.
    """
    p = parse_period(period)
    overrides = {name: {"threshold": float(t)} for name, t in (thresholds or {}).items() if t is not None}
    if rules is not None:
        enabled = {n for n, cfg in rule_settings().items() if cfg.get("enabled")}
        rules = [r for r in rules if r in enabled]
        if not rules:
            return []
    items = evaluate(warehouse(), p, rules=rules, overrides=overrides or None)
    return [{
        "id": a["id"], "rule": a["rule"], "severity": a["severity"], "state": a["state"],
        "entity": dict(a.get("entity") or {}), "message": a.get("message"),
        "value": finite_or_none(a.get("value")), "threshold": finite_or_none(a.get("threshold")), "period": p.isoformat(),
        "details": jsonable(dict(a.get("details") or {})),
    } for a in items]


def stored_alerts(state: str | None = "open") -> list[dict]:
    """Alerts already stored by the job runner (``finlib.alerts.list_alerts``), any period."""
    try:
        rows = list_alerts(warehouse(), state=state)
    except FinlibError:  # no alerts table yet
        return []
    return [{k: a.get(k) for k in ALERT_COLUMNS} for a in rows]


def alert_department(alert: dict) -> str | None:
    """The department an alert is about (by name), if any."""
    for src in (alert.get("entity") or {}, alert.get("details") or {}):
        if src.get("department"):
            return str(src["department"])
    return None


def alerts_frame(alerts: list[dict]) -> pd.DataFrame:
    """Alerts as a table for readers: severity, rule, what, state, period (most severe first)."""
    if not alerts:
        return pd.DataFrame(columns=["severity", "rule", "what", "state", "period"])
    df = pd.DataFrame(alerts)
    df["what"] = df["message"]
    df["period"] = df["period"].astype(str).str[:7]
    order = {"critical": 0, "warning": 1, "info": 2}
    df = df.assign(_o=df["severity"].map(order).fillna(9)).sort_values(["_o", "rule"])
    return df[["severity", "rule", "what", "state", "period"]].reset_index(drop=True)


def alerts_table(alerts: list[dict], empty: str = "No alert fires for this period.") -> widgets.Table:
    """The alerts as a :class:`finlib.widgets.Table` (a note when there are none)."""
    return widgets.Table(alerts_frame(alerts), max_rows=25, caption="" if alerts else empty)


# -- JSON-able values for scraps --------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON types: dates as ISO strings, NaN as None, numpy scalars as Python,
    DataFrames as lists of records."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, pd.DataFrame):
        return records(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if type(value).__name__ == "NaTType":
        return None
    if isinstance(value, dt.datetime) or hasattr(value, "to_pydatetime"):  # incl. pandas Timestamp
        midnight = (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)
        return value.isoformat()[:10] if midnight and value.tzinfo is None else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (list, dict)):  # numpy scalar
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return finite_or_none(value)
    try:
        if value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def records(df, columns: Iterable[str] | None = None) -> list[dict]:
    """A DataFrame as a list of JSON-able dicts (the form of every table scrap)."""
    if df is None:
        return []
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    return [jsonable(r) for r in df.to_dict(orient="records")]


# -- what a notebook loads ----------------------------------------------------------------


class Later:
    """A value of :class:`Frames` computed on first use (a model fit that only some cells need),
    so that sections which do not need it are shown without waiting for it."""

    _unset = object()

    def __init__(self, compute: Callable[[], Any]):
        self.compute = compute
        self._value = Later._unset
        self._lock = threading.Lock()

    def value(self) -> Any:
        """The value, computed once (copies of a :class:`Frames` share it)."""
        with self._lock:
            if self._value is Later._unset:
                self._value = self.compute()
            return self._value


class Frames(dict):
    """The month's figures a notebook loads: a dict of named values (mostly DataFrames),
    also readable as attributes (``frames.snapshot``). A :class:`Later` value is computed
    the first time it is read, then kept. Its text form lists each name with its type and
    shape, so ``frames`` as a cell's last expression says what is inside."""

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        return value.value() if isinstance(value, Later) else value

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def __repr__(self) -> str:
        lines = [f"Frames for {dict.get(self, 'period', '?')}:"]
        for k, v in dict.items(self):
            if isinstance(v, Later):
                lines.append(f"  {k}: computed on first use")
                continue
            shape = f" {v.shape[0]} rows x {v.shape[1]} columns" if isinstance(v, pd.DataFrame) else ""
            lines.append(f"  {k}: {type(v).__name__}{shape}")
        return "\n".join(lines)


# -- scraps ------------------------------------------------------------------------------

#: the MIME type scrapbook reads a JSON scrap from (``scrapbook.glue(name, data)``)
SCRAP_MIME = "application/scrapbook.scrap.json+json"


def glue(name: str, value: Any) -> None:
    """Record ``value`` as the scrap ``name`` (JSON), readable with ``scrapbook.read_notebook``.

    Writes the display that ``scrapbook.glue(name, value, encoder="json")`` writes (a
    ``application/scrapbook.scrap.json+json`` output), without importing scrapbook (and
    papermill, about 1.7 s): values go through :func:`jsonable` first.
    """
    payload = {"name": name, "data": jsonable(value), "encoder": "json", "version": 1}
    ipd.display({SCRAP_MIME: payload}, metadata={"scrapbook": {"name": name, "data": True, "display": False}},
                raw=True)


def record(**scraps: Any) -> None:
    """:func:`glue` each keyword argument as a scrap (DataFrames as lists of records)."""
    for name, value in scraps.items():
        glue(name, value)


def base_scraps(period: str) -> dict:
    """Scraps every notebook records: ``period`` (``YYYY-MM``) and ``data_as_of``."""
    return {"period": period, "data_as_of": data_as_of()}
