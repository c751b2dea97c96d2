"""Shared pieces of the notebook views: periods, the per-parameters cache, data-as-of,
read-only alert evaluation, JSON-able records for scraps, and the dashboard frame.

Nothing here writes to the warehouse: dashboards and jobs read it through short read-only
connections (``wh.connect(read_only=True)``), so a Voilà page never blocks an ingest.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from typing import Any

from finlib.errors import FinlibError, NoDataError
from finlib.metrics.core import finite_or_none
from finlib.periods import add_months, format_period, parse_period

SEGMENTS = ("all", "SMB", "Mid-Market", "Enterprise")
DEPARTMENTS = ("Sales", "Marketing", "Product", "Customer Success")

# -- warehouse and periods ------------------------------------------------------------


def warehouse():
    """The warehouse of ``FINLIB_DB_URL`` (opened read-only by every view)."""
    from finlib.warehouse.db import get_warehouse

    return get_warehouse()


def resolve_period(value: Any) -> str:
    """A period parameter (``YYYY-MM``, ``YYYY-MM-01``, ``last_closed_month``…) as ``YYYY-MM``."""
    return format_period(parse_period(value))


def period_date(value: Any) -> dt.date:
    return parse_period(value)


def previous_period(period: str) -> str:
    return format_period(add_months(parse_period(period), -1))


# -- a cache per parameter set, cleared by Refresh ------------------------------------

_cache: dict[tuple, Any] = {}
_lock = threading.Lock()


def cached(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` (and warehouse URL) until :func:`clear_cache`.

    Sections of one notebook share a parameter set, so the warehouse is read once for all
    of them; a Refresh button clears the cache to pick up newly ingested data.
    """
    from finlib import config

    full = (config.db_url(), *key)
    with _lock:
        if full in _cache:
            return _cache[full]
    value = compute()
    with _lock:
        _cache[full] = value
    return value


def clear_cache() -> None:
    global _version
    with _lock:
        _cache.clear()
        _version = None


# -- preheated dashboards: compute ahead, check the data at page view ------------------------

#: what the cache was filled from: (warehouse fingerprint, report archive marker), or None
_version: tuple | None = None

#: modules a dashboard page needs; imported while a preheated kernel waits for its viewer
PRELOAD_MODULES = (
    "pandas", "duckdb", "ipywidgets", "plotly.graph_objects", "plotly.subplots", "finlib.viz", "finlib.widgets",
    "finlib.metrics.kpis", "finlib.metrics.facts", "finlib.alerts.rules", "finlib.alerts.store",
    "finlib.warehouse.status",
)


def data_version() -> tuple:
    """A marker of what the cached reads depend on: the warehouse content
    (:func:`finlib.warehouse.status.fingerprint`, one aggregate per table on a read-only
    connection) and the report archive's run folders (the executive trends read it)."""
    import os

    from finlib import config
    from finlib.warehouse.status import fingerprint

    fp = fingerprint(warehouse())
    reports = config.reports_dir()
    marks = []
    if reports.is_dir():
        with os.scandir(reports) as jobs:
            for j in jobs:
                if j.is_dir() and not j.name.startswith((".", "_")):
                    with os.scandir(j.path) as periods:
                        marks += [(j.name, e.name, e.stat().st_mtime_ns) for e in periods if e.is_dir()]
    return fp, tuple(sorted(marks))


def preheat(view: Any, sections: Iterable[Callable[[dict], Any]], modules: Iterable[str] = (), **defaults) -> None:
    """In a preheated Voilà kernel, do ahead of time what the page would do when opened.

    Called in a notebook's import cell, i.e. *before* ``query.param`` blocks the kernel until
    a viewer arrives. Imports the heavy modules (pandas, plotly, statsmodels ...) and renders
    every section once for the default parameters into nothing (outputs discarded), which
    fills the read cache and warms plotly. The warehouse fingerprint is taken first; when the
    page is opened :func:`revalidate` compares it with the warehouse's current one and
    drops the cache if anything changed, so a viewer always sees the data as of the page
    view. Elsewhere (papermill, JupyterLab, a Voilà kernel started for one request) it does
    nothing. Never raises: a failure here only means the page computes when opened.
    """
    from finlib.dashboards import query

    if not query.preheated():
        return
    global _version
    import importlib

    for name in (*PRELOAD_MODULES, *modules):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:
        from IPython.utils.capture import capture_output

        version = data_version()
        with capture_output():
            p = view.params(**defaults)
            view.dashboard(p, interactive=False)
            for section in sections:
                try:
                    section(dict(p))
                except Exception:  # noqa: BLE001 - shown (briefly) when the page computes it
                    pass
        _version = version
    except Exception:  # noqa: BLE001 - no warehouse yet, bad defaults ...: compute at page view
        clear_cache()


def revalidate() -> None:
    """Drop cached reads made before the data changed (see :func:`preheat`); no-op when the
    cache was not filled ahead of time."""
    if _version is None:
        return
    try:
        current = data_version()
    except Exception:  # noqa: BLE001 - let the page's own reads report the problem
        current = None
    if current != _version:
        clear_cache()


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
    from finlib.alerts import evaluate

    p = parse_period(period)
    overrides = {name: {"threshold": float(t)} for name, t in (thresholds or {}).items() if t is not None}
    if rules is not None:
        from finlib.alerts import rule_settings

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
    from finlib.alerts import list_alerts

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


def alerts_frame(alerts: list[dict]):
    import pandas as pd

    if not alerts:
        return pd.DataFrame(columns=["severity", "rule", "what", "state", "period"])
    df = pd.DataFrame(alerts)
    df["what"] = df["message"]
    df["period"] = df["period"].astype(str).str[:7]
    order = {"critical": 0, "warning": 1, "info": 2}
    df = df.assign(_o=df["severity"].map(order).fillna(9)).sort_values(["_o", "rule"])
    return df[["severity", "rule", "what", "state", "period"]].reset_index(drop=True)


def show_alerts(alerts: list[dict], empty: str = "No alert fires for this period.") -> None:
    from finlib import widgets

    if not alerts:
        widgets.show_note(empty)
        return
    widgets.show_table(alerts_frame(alerts), max_rows=25)


# -- JSON-able values for scraps --------------------------------------------------------------




def jsonable(value: Any) -> Any:
    """Plain JSON types: dates as ISO strings, NaN as None, numpy scalars as Python."""
    import numbers

    if value is None or isinstance(value, (bool, str)):
        return value
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
        import pandas as pd

        if value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
            return None
    except (ImportError, TypeError, ValueError):
        pass
    return str(value)


def records(df, columns: Iterable[str] | None = None) -> list[dict]:
    """A DataFrame as a list of JSON-able dicts (the form of every table scrap)."""
    if df is None:
        return []
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    return [jsonable(r) for r in df.to_dict(orient="records")]


# -- the dashboard frame --------------------------------------------------------------


def dashboard(title: str, params: dict, choices: dict, interactive: bool):
    """A :class:`finlib.widgets.Dashboard` with Refresh wired to :func:`clear_cache` and the
    data-as-of time shown (and updated after a refresh)."""
    from finlib import widgets

    dash = widgets.Dashboard(title, params=params, choices=choices, interactive=interactive,
                             as_of=data_as_of)

    def refresh() -> None:  # newly ingested data: forget what was read, offer new months
        clear_cache()
        control = dash.controls.get("period")
        if control is not None:
            options = period_choices(control.value)
            if list(control.options) != options:
                control.options = options

    dash.refresh_hook = refresh
    return dash


def show_figure(fig) -> None:
    from finlib import viz

    viz.show(fig)


def money_frame(df, money: tuple[str, ...] = (), pct: tuple[str, ...] = (), ratio: tuple[str, ...] = (),
                rename: dict[str, str] | None = None, max_rows: int = 30) -> None:
    """:func:`finlib.widgets.show_table` with columns renamed for readers."""
    from finlib import widgets

    if df is None:
        widgets.show_table(df)
        return
    rename = {c: str(c).replace("_", " ") for c in df.columns} | (rename or {})  # readable headers
    view = df.rename(columns=rename)
    widgets.show_table(view, money=tuple(rename.get(c, c) for c in money),
                       pct=tuple(rename.get(c, c) for c in pct),
                       ratio=tuple(rename.get(c, c) for c in ratio), max_rows=max_rows)


# -- scraps ------------------------------------------------------------------------------


def base_scraps(p: dict) -> dict:
    """Scraps every notebook records: ``period`` (``YYYY-MM``) and ``data_as_of``."""
    return {"period": p["period"], "data_as_of": data_as_of()}


def glue(name: str, value: Any) -> None:
    """Record a scrap with scrapbook (JSON), for jobs and the archive.

    Under Voilà it does nothing: dashboards have no reader for scraps, and importing
    scrapbook (which imports papermill) would cost a viewer about 1.7 s.
    """
    from finlib.dashboards.query import under_voila

    if under_voila():
        return
    import scrapbook as sb

    sb.glue(name, jsonable(value))
