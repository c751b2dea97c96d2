"""The access and integration log: who opened what, and every exchange with the outside.

One table, ``access_log``, with its own hash chain (same construction as ``audit_log``:
``entry_hash = sha256(prev_hash + "\\n" + canonical JSON of the entry)``, seqs without gaps,
PostgreSQL writers serialised by ``LOCK TABLE access_log IN EXCLUSIVE MODE``), so reading a
dashboard never contends with the data trail. ``kind`` is ``access`` (a dashboard open, a
control change, a report opened, an export, a login and its failure) or ``integration`` (an
ingest, an outbound alert delivery) with its source, outcome, rows or bytes and duration.

API for the dashboard server and other callers::

    record_access(wh, user="ana", action="open", target="department.ipynb",
                  address="10.0.0.7", outcome="ok", parameters={"department": "Sales"})
    record_integration(wh, source="smtp:finance", action="deliver", outcome="failed",
                       rows=3, duration_s=0.4, error="connection refused")

:func:`unusual_access` applies the rules (failed-login bursts, bulk exports, access outside
working hours when configured); :mod:`finlib.audit.monitor` turns what they find into alerts.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from finlib.audit.chain import GENESIS, Problem, canonical, entry_hash, parse_when, ts_text
from finlib.audit.identity import current_actor
from finlib.warehouse.db import Connection, Warehouse

DDL = ("CREATE TABLE IF NOT EXISTS access_log (seq BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, "
       "kind VARCHAR NOT NULL, user_name VARCHAR NOT NULL, action VARCHAR NOT NULL, target VARCHAR, "
       "address VARCHAR, outcome VARCHAR NOT NULL, details VARCHAR, prev_hash VARCHAR NOT NULL, "
       "entry_hash VARCHAR NOT NULL)")
OUTCOMES = ("ok", "denied", "failed")


def _body(seq, ts, kind, user, action, target, address, outcome, details) -> dict:
    return {"seq": int(seq), "ts": ts_text(ts), "kind": kind, "user": user, "action": action,
            "target": target, "address": address, "outcome": outcome, "details": details or {}}


def append(conn: Connection, kind: str, user: str, action: str, target: str | None,
           address: str | None, outcome: str, details: dict | None) -> int:
    """Append one record on an open (transactional) connection; returns its seq."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if not conn.table_exists("access_log"):
        conn.execute(DDL)
    if conn.backend == "postgresql":
        conn.execute("LOCK TABLE access_log IN EXCLUSIVE MODE")
    last = conn.query("SELECT seq, entry_hash FROM access_log ORDER BY seq DESC LIMIT 1")
    seq, prev = (int(last[0][0]) + 1, last[0][1]) if last else (1, GENESIS)
    ts = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    details = json.loads(canonical(details or {}))
    h = entry_hash(prev, _body(seq, ts, kind, user, action, target, address, outcome, details))
    conn.execute("INSERT INTO access_log (seq, ts, kind, user_name, action, target, address, outcome, "
                 "details, prev_hash, entry_hash) VALUES (:seq, :ts, :kind, :u, :a, :t, :addr, :o, :d, :p, :h)",
                 {"seq": seq, "ts": ts, "kind": kind, "u": user, "a": action, "t": target, "addr": address,
                  "o": outcome, "d": canonical(details), "p": prev, "h": h})
    return seq


def record_access(wh: Warehouse, user: str | None, action: str, target: str | None = None,
                  address: str | None = None, outcome: str = "ok", **details: Any) -> int:
    """Record one access (``user`` None: the current actor) in its own short transaction."""
    with wh.transaction() as conn:
        return append(conn, "access", user or current_actor().name, action, target, address, outcome, details)


def record_integration(wh: Warehouse, source: str, action: str, outcome: str, *, rows: int | None = None,
                       bytes: int | None = None, duration_s: float | None = None,  # noqa: A002
                       user: str | None = None, conn: Connection | None = None, **details: Any) -> int:
    """Record one exchange with an outside system (an ingest, a delivery)."""
    d = {k: v for k, v in {"rows": rows, "bytes": bytes, "duration_s": duration_s, **details}.items()
         if v is not None}
    if conn is not None:
        return append(conn, "integration", user or current_actor().name, action, source, None, outcome, d)
    with wh.transaction() as c:
        return append(c, "integration", user or current_actor().name, action, source, None, outcome, d)


def read(wh: Warehouse, since: str | dt.datetime | None = None, user: str | None = None,
         kind: str | None = None) -> list[dict]:
    """Records (oldest first) at or after ``since`` (ISO text or naive UTC), of one user or kind."""
    lo = parse_when(since) if isinstance(since, str) else since
    where, params = [], {}
    for col, key, value in (("ts >=", "lo", lo), ("user_name =", "u", user), ("kind =", "k", kind)):
        if value is not None:
            where.append(f"{col} :{key}")
            params[key] = value
    with wh.connect(read_only=True) as conn:
        if not conn.table_exists("access_log"):
            return []
        rows = conn.query("SELECT seq, ts, kind, user_name, action, target, address, outcome, details, "
                          "prev_hash, entry_hash FROM access_log "
                          + (f"WHERE {' AND '.join(where)} " if where else "") + "ORDER BY seq", params or None)
    out = []
    for seq, ts, k, u, a, t, addr, o, d, p, h in rows:
        out.append({"seq": int(seq), "ts": ts, "kind": k, "user": u, "action": a, "target": t,
                    "address": addr, "outcome": o, "details": json.loads(d) if d else {},
                    "prev_hash": p, "entry_hash": h})
    return out


def check_chain(records: list[dict], start: dict | None = None) -> list:
    """The access chain's problems (same rules as the data trail's). ``start`` is the prune
    point a retention entry of the data trail recorded (``{"seq", "entry_hash"}``)."""
    prev, expected = GENESIS, 1
    if start:
        prev, expected = start["entry_hash"], int(start["seq"]) + 1
    for r in records:
        if r["seq"] != expected:
            return [Problem("missing", f"access_log seq {expected} is missing", expected)]
        body = _body(r["seq"], r["ts"], r["kind"], r["user"], r["action"], r["target"], r["address"],
                     r["outcome"], r["details"])
        if r["prev_hash"] != prev or entry_hash(prev, body) != r["entry_hash"]:
            return [Problem("edited", f"access_log seq {r['seq']} was edited, removed or reordered", r["seq"])]
        prev, expected = r["entry_hash"], expected + 1
    return []


EXPORT_ACTIONS = ("export",)


def is_failed_login(r: dict) -> bool:
    """A login attempt that did not let the user in (wrong password or token: ``failed``;
    locked, disabled or revoked: ``denied``)."""
    return r["kind"] == "access" and r["action"] == "login" and r["outcome"] != "ok"


def is_export(r: dict) -> bool:
    """An export: action ``export`` or ``export-<what>`` (``export-csv``, ``export-report``)."""
    return r["kind"] == "access" and (r["action"] in EXPORT_ACTIONS or r["action"].startswith("export-"))


def bursts(times: list[dt.datetime], limit: int, window: dt.timedelta) -> dict[dt.date, dict]:
    """Where at least ``limit`` of ``times`` fall within ``window`` (both ends inclusive).

    For every event ``i`` (sorted) the window ``[t_i, t_i + window]`` holds ``n_i`` events;
    the windows with ``n_i >= limit`` fire, and each is attributed to the UTC day of its first
    event. Returns ``{day: {"count": the largest n_i of the day, "from": t_i, "to": the last
    event of that window}}``: one finding per day, so evaluating an overlapping span again
    finds the same day (and the same alert id).
    """
    times = sorted(times)
    out: dict[dt.date, dict] = {}
    j = 0
    for i, t in enumerate(times):
        j = max(j, i)
        while j + 1 < len(times) and times[j + 1] - t <= window:
            j += 1
        n = j - i + 1
        if n >= limit and (t.date() not in out or n > out[t.date()]["count"]):
            out[t.date()] = {"count": n, "from": t, "to": times[j]}
    return out


def unusual_access(records: list[dict], failed_logins: int = 5, window_min: int = 15,
                   bulk_exports: int = 10, export_window_min: int = 60,
                   after_hours=None) -> list[dict]:
    """The unusual access in ``records`` (as :func:`read` returns them), oldest day first.

    Rules (defaults; ``parameters/monitoring.yaml`` sets them for ``finlib audit watch``):

    ``failed_login``
        at least ``failed_logins`` failed logins (:func:`is_failed_login`) of one user within
        ``window_min`` minutes; and, for password spraying, as many from one address within
        the window when they name more than one user (finding keyed by ``address``).
    ``bulk_export``
        more than ``bulk_exports`` exports (:func:`is_export`) by one user within
        ``export_window_min`` minutes.
    ``after_hours``
        only when ``after_hours`` (a :class:`finlib.audit.monitor.AfterHours`) is given:
        every access that let a user in (outcome ``ok``) at a local time outside the working
        hours or on a day that is not a working day, one finding per user and local day.

    Each finding: ``rule``, ``user`` (None for an address finding), ``address`` (the
    addresses involved, comma-separated, or the one address), ``count``, ``from``, ``to``
    (UTC), ``day`` (UTC day, local day for ``after_hours``) and ``limit``.
    """
    found = []
    keyed: dict[tuple[str, str, str], list[dict]] = {}
    for r in records:
        if is_failed_login(r):
            keyed.setdefault(("failed_login", "user", r["user"]), []).append(r)
            if r["address"]:
                keyed.setdefault(("failed_login", "address", r["address"]), []).append(r)
        elif is_export(r):
            keyed.setdefault(("bulk_export", "user", r["user"]), []).append(r)
    for (rule, by, who), recs in keyed.items():
        if rule == "failed_login":
            limit, window = failed_logins, dt.timedelta(minutes=window_min)
            if by == "address" and len({r["user"] for r in recs}) < 2:
                continue  # one user from one address: the user finding says it
        else:
            limit, window = bulk_exports + 1, dt.timedelta(minutes=export_window_min)
        for day, b in bursts([r["ts"] for r in recs], limit, window).items():
            inside = [r for r in recs if b["from"] <= r["ts"] <= b["to"]]
            found.append({"rule": rule, "user": who if by == "user" else None,
                          "address": who if by == "address" else
                          ", ".join(sorted({r["address"] for r in inside if r["address"]})) or None,
                          "users": sorted({r["user"] for r in inside}), "count": b["count"],
                          "from": b["from"], "to": b["to"], "day": day, "limit": limit})
    if after_hours is not None:
        by_user_day: dict[tuple[str, dt.date], list[dict]] = {}
        for r in records:
            if (r["kind"] == "access" and r["outcome"] == "ok" and r["user"] not in after_hours.exempt_users
                    and not after_hours.inside(r["ts"])):
                by_user_day.setdefault((r["user"], after_hours.local_day(r["ts"])), []).append(r)
        for (user, day), recs in by_user_day.items():
            found.append({"rule": "after_hours", "user": user,
                          "address": ", ".join(sorted({r["address"] for r in recs if r["address"]})) or None,
                          "users": [user], "count": len(recs), "from": recs[0]["ts"], "to": recs[-1]["ts"],
                          "day": day, "limit": 1,
                          "actions": sorted({f"{r['action']} {r['target'] or ''}".strip() for r in recs})[:5]})
    found.sort(key=lambda f: (f["day"], f["rule"], f["user"] or "", f["address"] or ""))
    return found
