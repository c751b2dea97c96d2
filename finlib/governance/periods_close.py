"""Closing and reopening periods, and the write hook that keeps closed periods closed.

A period (a month) is **closed** when its last ``period_closes`` event is ``close``. Closing
records who and when, and takes a *fingerprint* of the period's rows in every period-bearing
table (:data:`PERIOD_COLUMNS`): the row count and the sum of a 64-bit hash of every row
(order-independent). DuckDB hashes the columns with its ``hash()`` (fast: 10 M ledger lines a
second or so); PostgreSQL takes 60 bits of the md5 of the row's text. The method is part of
the fingerprint: after an upgrade of the database changes it, writes touching closed periods
are refused until ``finlib period refresh`` re-takes the fingerprints. Reopening records who,
when and why (a reason is required).

The write hook :func:`guard_closed_periods` runs inside every
:func:`finlib.warehouse.load.write_batch` transaction. For each table the batch wrote to or
deleted from, it recomputes the fingerprints of every period that has *ever* been closed and
compares them with the stored ones:

* a changed period that is **closed** → :class:`PeriodClosedError`: the batch (load, replace,
  demo rebuild …) is rolled back, with a message saying the period is closed and how to
  reopen it. A replace that writes back identical rows changes nothing and is allowed;
* a changed period that was closed before and is now **reopened** → one ``period_changes``
  row per period and table (batch id, action, actor, rows before and after) and the stored
  fingerprint moves on. ``closed_period_changes`` lists these rows: every change made to a
  period after its first close.

Periods never closed cost nothing: the hook returns after one small query. The actor is the
batch's actor (for the CLI, the OS user); a role check replaces "anyone may close" when
access control exists.

A raw ``UPDATE`` through :meth:`Batch.execute` is not counted per table; such a batch must
name the table as its ``target`` to be checked.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable

import lazy_loader as lazy
import pandas as pd

from finlib.governance.errors import PeriodClosedError, PeriodStateError
from finlib.periods import format_period, month_start, parse_period
from finlib.warehouse.db import Connection, Warehouse
from finlib.warehouse.load import Batch, register_write_hook, write_batch
from finlib.warehouse.schema import TABLES

duckdb = lazy.load("duckdb")

#: period-bearing tables and the column that puts a row in a month
PERIOD_COLUMNS: dict[str, str] = {
    "gl_entries": "period",
    "revenue_recognized": "period",
    "budgets": "period",
    "kpi_targets": "period",
    "dev_costs": "period",
    "feature_usage": "period",
    "invoices": "issued_on",
    "subscriptions": "start_date",
    "health_scores": "scored_on",
    "surveys": "responded_on",
    "fx_rates": "rate_date",
}

_SYSTEM = ("period_closes", "period_fingerprints", "period_changes")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _month_expr(table: str) -> str:
    col = PERIOD_COLUMNS[table]
    if TABLES[table].column(col).type == "period":
        return col
    return f"CAST(date_trunc('month', {col}) AS DATE)"


def method(backend: str) -> str:
    """The fingerprint method of ``backend`` (part of every fingerprint)."""
    if backend == "duckdb":
        return "duckdb-hash-" + ".".join(duckdb.__version__.split(".")[:2])
    return "pg-md5"


def _row_hash_sql(table: str, backend: str) -> str:
    """SQL: a 64-bit hash of one row (every column): DuckDB ``hash(c1, c2, ...)``; PostgreSQL
    60 bits of the md5 of the row's text (NULL spelt \\N)."""
    cols = TABLES[table].column_names
    if backend == "duckdb":
        return f"CAST(hash({', '.join(cols)}) AS HUGEINT)"
    parts = ", ".join(f"COALESCE(CAST({c} AS VARCHAR), '\\N')" for c in cols)
    return f"CAST(('x' || substr(md5(concat_ws('|', {parts})), 1, 15))::bit(60)::bigint AS NUMERIC)"


def empty_fingerprint(backend: str) -> str:
    return f"{method(backend)}:0:0"


def fingerprints(conn: Connection, table: str, periods: Iterable[dt.date]) -> dict[dt.date, tuple[int, str]]:
    """``{period: (rows, fingerprint)}`` of ``table``'s rows in ``periods`` (absent: no rows).

    fingerprint = ``"<method>:<rows>:<Σ hash(row)>"``; equal content gives equal fingerprints
    whatever the row order.
    """
    periods = sorted(set(periods))
    if not periods:
        return {}
    month = _month_expr(table)
    marks = ", ".join(f":p{i}" for i in range(len(periods)))
    sql = (f"SELECT {month} AS m, count(*) AS n, CAST(sum({_row_hash_sql(table, conn.backend)}) AS VARCHAR) "
           f"FROM {table} WHERE {month} IN ({marks}) GROUP BY 1")
    rows = conn.query(sql, {f"p{i}": p for i, p in enumerate(periods)})
    tag = method(conn.backend)
    out = {}
    for m, n, h in rows:
        m = m.date() if isinstance(m, dt.datetime) else m
        out[m] = (int(n), f"{tag}:{int(n)}:{str(h).split('.')[0]}")
    return out


# -- state ---------------------------------------------------------------------------------

def _has_tables(conn: Connection) -> bool:
    return all(conn.table_exists(t) for t in _SYSTEM)


def closed_state(conn: Connection) -> dict[dt.date, str]:
    """``{period: 'close' | 'reopen'}``: the last event of every period ever closed."""
    out: dict[dt.date, str] = {}
    for p, action in conn.query("SELECT period, action FROM period_closes ORDER BY recorded_at, event_id"):
        out[p.date() if isinstance(p, dt.datetime) else p] = action
    return out


def period_status(wh: Warehouse):
    """Every period ever closed: ``period`` (YYYY-MM), ``state`` (closed | reopened),
    ``first_closed_at``, ``last_event_at``, ``last_actor``, ``last_reason``, ``closes``,
    ``reopens``, ``changes_after_close`` (a DataFrame, oldest period first)."""

    cols = ["period", "state", "first_closed_at", "last_event_at", "last_actor", "last_reason", "closes",
            "reopens", "changes_after_close"]
    with wh.connect(read_only=True) as conn:
        if not _has_tables(conn):
            return pd.DataFrame(columns=cols)
        ev = conn.query_df("SELECT event_id, period, action, actor, recorded_at, reason FROM period_closes "
                           "ORDER BY recorded_at, event_id")
        ch = conn.query_df("SELECT period, count(*) AS n FROM period_changes GROUP BY period")
    rows = []
    changes = {format_period(parse_period(p, strict=False)): int(n) for p, n in zip(ch["period"], ch["n"], strict=True)}
    for p, g in ev.groupby("period", sort=True):
        last = g.iloc[-1]
        key = format_period(parse_period(p, strict=False))
        rows.append({"period": key, "state": "closed" if last["action"] == "close" else "reopened",
                     "first_closed_at": g.loc[g["action"] == "close", "recorded_at"].min(),
                     "last_event_at": last["recorded_at"], "last_actor": last["actor"],
                     "last_reason": last["reason"], "closes": int((g["action"] == "close").sum()),
                     "reopens": int((g["action"] == "reopen").sum()),
                     "changes_after_close": changes.get(key, 0)})
    return pd.DataFrame(rows, columns=cols)


def _event_id(at: dt.datetime) -> str:
    """Sorts by time (to the microsecond), then a random tail."""
    return at.strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]


def _record(batch: Batch, period: dt.date, action: str, reason: str | None) -> str:
    at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    eid = _event_id(at)
    batch.execute("INSERT INTO period_closes (event_id, period, action, actor, recorded_at, reason) "
                  "VALUES (:e, :p, :a, :u, :t, :r)",
                  {"e": eid, "p": period, "a": action, "u": batch.actor, "t": at, "r": reason})
    return eid


def _store_fingerprints(batch: Batch, period: dt.date, tables: Iterable[str]) -> None:
    conn = batch.conn
    for table in tables:
        n, fp = fingerprints(conn, table, [period]).get(period, (0, empty_fingerprint(conn.backend)))
        batch.execute("DELETE FROM period_fingerprints WHERE period = :p AND table_name = :t",
                      {"p": period, "t": table})
        batch.execute("INSERT INTO period_fingerprints (period, table_name, rows, fingerprint, recorded_at) "
                      "VALUES (:p, :t, :n, :f, :ts)", {"p": period, "t": table, "n": n, "f": fp, "ts": _now()})


def _require(conn: Connection) -> None:
    if not _has_tables(conn):
        raise PeriodStateError("the warehouse has no period tables yet: run `finlib db init` first")


def close_period(wh: Warehouse, period, actor: str | None = None, *, today: dt.date | None = None) -> dict:
    """Close ``period`` (``YYYY-MM``): record who and when, fingerprint its rows.

    A month can be closed once it has ended; closing a closed period is refused.
    Returns ``{"period", "action", "actor", "event_id", "rows"}`` (rows per table).
    """
    p = parse_period(period)
    if p >= month_start(today or dt.date.today()):
        raise PeriodStateError(f"period {format_period(p)} has not ended yet: a month can be closed once it is over")
    with write_batch(wh, action="period-close", target="period_closes", actor=actor,
                     details={"period": format_period(p)}) as b:
        _require(b.conn)
        state = closed_state(b.conn).get(p)
        if state == "close":
            raise PeriodStateError(f"period {format_period(p)} is already closed")
        eid = _record(b, p, "close", None)
        _store_fingerprints(b, p, PERIOD_COLUMNS)
        rows = {t: int(n) for t, n in b.conn.query(
            "SELECT table_name, rows FROM period_fingerprints WHERE period = :p", {"p": p})}
        actor_name = b.actor
    return {"period": format_period(p), "action": "close", "actor": actor_name, "event_id": eid, "rows": rows}


def reopen_period(wh: Warehouse, period, reason: str, actor: str | None = None) -> dict:
    """Reopen a closed ``period`` with a ``reason`` (required): who, when and why are kept.

    From now on every batch that changes the period's rows is recorded in ``period_changes``
    (and listed by the ``closed_period_changes`` control) until it is closed again.
    """
    p = parse_period(period)
    if not reason or not str(reason).strip():
        raise PeriodStateError("reopening a period needs a reason: --reason TEXT")
    with write_batch(wh, action="period-reopen", target="period_closes", actor=actor,
                     details={"period": format_period(p), "reason": reason}) as b:
        _require(b.conn)
        state = closed_state(b.conn).get(p)
        if state != "close":
            raise PeriodStateError(f"period {format_period(p)} is not closed"
                                   + (" (it was reopened already)" if state else "") + ": nothing to reopen")
        eid = _record(b, p, "reopen", str(reason).strip())
        actor_name = b.actor
    return {"period": format_period(p), "action": "reopen", "actor": actor_name, "event_id": eid,
            "reason": str(reason).strip()}


def refresh_fingerprints(wh: Warehouse, actor: str | None = None) -> int:
    """Re-take the fingerprints of every period ever closed with the current method (after a
    database upgrade changed it). Assumes nothing changed since they were taken: every write
    goes through the guarded write path. Returns the number of periods refreshed."""
    with write_batch(wh, action="period-refresh", target="period_fingerprints", actor=actor) as b:
        _require(b.conn)
        periods = sorted(closed_state(b.conn))
        for p in periods:
            _store_fingerprints(b, p, PERIOD_COLUMNS)
        b.details["periods"] = [format_period(p) for p in periods]
    return len(periods)


# -- the write hook -------------------------------------------------------------------------

def _touched(batch: Batch) -> list[str]:
    names = set(batch.rows_written) | set(batch.rows_deleted) | {batch.target}
    return sorted(t for t in names if t in PERIOD_COLUMNS)


def batch_id(batch: Batch) -> str:
    """The batch's id: the ingest batch id when there is one, else a new one (kept in details)."""
    bid = batch.details.get("batch_id")
    if not bid:
        bid = uuid.uuid4().hex[:16]
        batch.details["batch_id"] = bid
    return str(bid)


def guard_closed_periods(conn: Connection, batch: Batch) -> None:
    """Write hook: refuse changes to closed periods, record changes to reopened ones."""
    tables = _touched(batch)
    if not tables or batch.action in ("db-init",) or not _has_tables(conn):
        return
    state = closed_state(conn)
    if not state:
        return
    periods = sorted(state)
    marks = ", ".join(f":p{i}" for i in range(len(periods)))
    stored: dict[tuple[dt.date, str], tuple[int, str]] = {}
    for p, t, n, f in conn.query(f"SELECT period, table_name, rows, fingerprint FROM period_fingerprints "
                                 f"WHERE period IN ({marks})", {f"p{i}": p for i, p in enumerate(periods)}):
        p = p.date() if isinstance(p, dt.datetime) else p
        stored[(p, t)] = (int(n), f)
    empty = empty_fingerprint(conn.backend)
    tag = method(conn.backend) + ":"
    stale = sorted({format_period(p) for (p, t), (_, f) in stored.items() if t in tables and not f.startswith(tag)})
    if stale:
        raise PeriodStateError(
            f"the fingerprints of period {', '.join(stale)} were taken by another version of the database "
            f"({next(f for (_, t), (_, f) in stored.items() if not f.startswith(tag)).split(':')[0]}, now "
            f"{tag[:-1]}), so changes to closed periods cannot be checked; nothing was written. Run "
            "`finlib period refresh` once (it re-takes them), then load again.")
    changed: list[tuple[dt.date, str, int, int, str]] = []
    for table in tables:
        now = fingerprints(conn, table, periods)
        for p in periods:
            before = stored.get((p, table), (0, empty))
            after = now.get(p, (0, empty))
            if before[1] != after[1]:
                changed.append((p, table, before[0], after[0], after[1]))
    if not changed:
        return
    closed = [c for c in changed if state[c[0]] == "close"]
    if closed:
        what = "; ".join(f"{t} in {format_period(p)} ({b} rows before, {a} after)" for p, t, b, a, _ in closed)
        months = sorted({format_period(c[0]) for c in closed})
        raise PeriodClosedError(
            f"period {', '.join(months)} is closed: this {batch.action} would change {what}; nothing was "
            f"written. To change a closed period reopen it first with "
            f"`finlib period reopen {months[0]} --reason \"...\"` (the reopen and the change are recorded), "
            f"load again, then `finlib period close {months[0]}`.")
    bid = batch_id(batch)
    ts = _now()
    for p, table, nb, na, fp in changed:
        batch.execute(
            "INSERT INTO period_changes (change_id, period, table_name, batch_id, action, target, actor, "
            "changed_at, rows_before, rows_after, details) VALUES (:c, :p, :t, :b, :a, :g, :u, :ts, :nb, :na, :d)",
            {"c": uuid.uuid4().hex[:16], "p": p, "t": table, "b": bid, "a": batch.action, "g": batch.target,
             "u": batch.actor, "ts": ts, "nb": nb, "na": na, "d": _details(batch)})
        batch.execute("DELETE FROM period_fingerprints WHERE period = :p AND table_name = :t", {"p": p, "t": table})
        batch.execute("INSERT INTO period_fingerprints (period, table_name, rows, fingerprint, recorded_at) "
                      "VALUES (:p, :t, :n, :f, :ts)", {"p": p, "t": table, "n": na, "f": fp, "ts": ts})


def _details(batch: Batch) -> str:
    keep = {k: batch.details.get(k) for k in ("file_name", "file", "mode", "sha256", "reason", "rows")
            if batch.details.get(k) is not None}
    return json.dumps(keep, sort_keys=True, default=str)


register_write_hook(guard_closed_periods)
