"""Alert history in the warehouse: the ``alerts`` and ``alert_deliveries`` system tables.

Identity
    ``alert_id`` = the first 16 hex digits of sha256(rule ␤ canonical JSON of the entity ␤
    period as YYYY-MM-DD). Canonical JSON sorts keys, has no spaces, and holds every id as
    a string, so ``{"campaign_id": 7}`` and ``{"campaign_id": "7"}`` are the same alert.
    Re-running a check therefore finds the alert it stored before; it never duplicates.

Lifecycle (per alert, i.e. per rule × entity × period)
    * first fires → inserted ``open``, with one pending ``alert_deliveries`` row per channel
      that accepts it;
    * fires again on a re-run → figures and ``last_seen`` refreshed; the state is kept
      (``open`` stays open, ``acknowledged`` stays acknowledged); a ``resolved`` alert that
      fires again is re-opened, but is not delivered again (delivered once per channel);
    * evaluated again for its period and no longer fires (the data were corrected) →
      ``resolved``. Only rules that were evaluated resolve their alerts: a disabled rule's
      alerts keep their state;
    * ``acknowledge`` → ``acknowledged`` with who and when (a resolved alert cannot be
      acknowledged).

Every write goes through :func:`finlib.warehouse.load.write_batch` (one transaction, with
the audit hook), as actions ``alert`` (check), ``alert-ack`` and ``alert-delivery``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from finlib.errors import AlertError
from finlib.metrics.core import finite_or_none
from finlib.periods import parse_period
from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import write_batch

STATES = ("open", "acknowledged", "resolved")
ALERT_COLUMNS = ["alert_id", "rule", "period", "entity", "severity", "value", "threshold",
                 "details", "message", "report_link", "state", "first_seen", "last_seen",
                 "acknowledged_by", "acknowledged_at"]


def canonical_entity(entity: dict[str, Any]) -> str:
    """Sorted-key, compact JSON with every id as a string."""
    return json.dumps({str(k): str(v) for k, v in (entity or {}).items()},
                      sort_keys=True, separators=(",", ":"))


def alert_id(rule: str, entity: dict[str, Any], period: date) -> str:
    """Stable id of an alert: sha256(rule, canonical entity, period)[:16]."""
    key = f"{rule}\n{canonical_entity(entity)}\n{period.isoformat()}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def now() -> datetime:
    """UTC now, naive (the warehouse stores TIMESTAMP without zone, in UTC)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _require_tables(conn) -> None:
    for t in ("alerts", "alert_deliveries"):
        if not conn.table_exists(t):
            raise AlertError(f"the warehouse has no {t!r} table: run `finlib db init` first")


def _as_date(v) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])


def _to_dict(row: dict) -> dict:
    """A stored alert as the public dict (JSON-ready except timestamps)."""
    out = {
        "id": row["alert_id"],
        "rule": row["rule"],
        "period": _as_date(row["period"]).isoformat(),
        "entity": json.loads(row["entity"]) if row["entity"] else {},
        "value": None if row["value"] is None else float(row["value"]),
        "threshold": None if row["threshold"] is None else float(row["threshold"]),
        "severity": row["severity"],
        "state": row["state"],
        "message": row["message"],
        "details": json.loads(row["details"]) if row["details"] else {},
        "report_link": row["report_link"],
    }
    for k in ("first_seen", "last_seen", "acknowledged_at"):
        v = row.get(k)
        out[k] = None if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v))
    out["acknowledged_by"] = row.get("acknowledged_by")
    return out


def json_entity(entity: dict[str, Any]) -> dict[str, str]:
    """The entity as :func:`list_alerts` returns it (every id a string)."""
    return json.loads(canonical_entity(entity))


def json_details(details: dict[str, Any]) -> dict[str, Any]:
    """The details as stored and returned by :func:`list_alerts` (a JSON round trip)."""
    return json.loads(json.dumps(details or {}, sort_keys=True, default=str))


def lookup(conn, ids: Iterable[str]) -> dict[str, dict]:
    """Stored alerts by id, read on the open connection ``conn`` (nothing is written).

    Returns ``{id: public dict with "deliveries"}`` for the ids that are stored; an empty
    dict when the warehouse has no ``alerts`` table yet.
    """
    ids = sorted(set(ids))
    if not ids or not (conn.table_exists("alerts") and conn.table_exists("alert_deliveries")):
        return {}
    out: dict[str, dict] = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ", ".join(f":i{k}" for k in range(len(part)))
        for row in _select(conn, f"alert_id IN ({marks})", {f"i{k}": v for k, v in enumerate(part)}):
            out[row["alert_id"]] = _to_dict(row)
    deliveries = _deliveries(conn, list(out))
    for aid, a in out.items():
        a["deliveries"] = deliveries.get(aid, {})
    return out


def _select(conn, where: str = "TRUE", params: dict | None = None) -> list[dict]:
    rows = conn.query(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE {where} "
                      "ORDER BY period DESC, rule, alert_id", params)
    return [dict(zip(ALERT_COLUMNS, r, strict=True)) for r in rows]


def save(wh: Warehouse, period: date, rows: list[dict], evaluated_rules: Iterable[str]) -> dict:
    """Store the alerts firing for ``period`` and resolve those that stopped firing.

    ``rows``: dicts with ``id, rule, entity, severity, value, threshold, details, message,
    report_link`` and ``channels`` (the channel names that should deliver it when new).
    Returns ``{"new": [ids], "reopened": [ids], "resolved": [ids]}``.
    """
    rules = sorted(set(evaluated_rules))
    ts = now()
    rows = list({r["id"]: r for r in rows}.values())  # one row per id
    with write_batch(wh, action="alert", target="alerts",
                     details={"period": period.isoformat(), "rules": rules}) as batch:
        conn = batch.conn
        _require_tables(conn)
        existing: dict[str, str] = {}
        if rules:
            marks = ", ".join(f":r{i}" for i in range(len(rules)))
            params = {"p": period, **{f"r{i}": r for i, r in enumerate(rules)}}
            for aid, state in conn.query(
                    f"SELECT alert_id, state FROM alerts WHERE period = :p AND rule IN ({marks})",
                    params):
                existing[aid] = state
        # alerts from other periods' ids can't collide (period is in the hash), but a row
        # of the same id may exist under a rule no longer evaluated: look those up too
        fired = {r["id"] for r in rows}
        others = [i for i in fired if i not in existing]
        if others:
            marks = ", ".join(f":i{k}" for k in range(len(others)))
            for aid, state in conn.query(
                    f"SELECT alert_id, state FROM alerts WHERE alert_id IN ({marks})",
                    {f"i{k}": v for k, v in enumerate(others)}):
                existing[aid] = state

        new, reopened, resolved = [], [], []
        inserts, deliveries = [], []
        for r in rows:
            values = {
                "severity": r["severity"], "value": finite_or_none(r["value"]),
                "threshold": finite_or_none(r["threshold"]),
                "details": json.dumps(r["details"], sort_keys=True, default=str),
                "message": r["message"], "report_link": r["report_link"],
            }
            if r["id"] in existing:
                if existing[r["id"]] == "resolved":
                    reopened.append(r["id"])
                batch.execute(
                    "UPDATE alerts SET severity = :severity, value = :value, "
                    "threshold = :threshold, details = :details, message = :message, "
                    "report_link = :report_link, last_seen = :ts, "
                    "state = CASE WHEN state = 'resolved' THEN 'open' ELSE state END "
                    "WHERE alert_id = :id", {**values, "ts": ts, "id": r["id"]})
                continue
            new.append(r["id"])
            inserts.append({"alert_id": r["id"], "rule": r["rule"], "period": period,
                            "entity": canonical_entity(r["entity"]), **values, "state": "open",
                            "first_seen": ts, "last_seen": ts, "acknowledged_by": None,
                            "acknowledged_at": None})
            for ch in r.get("channels", []):
                deliveries.append({"alert_id": r["id"], "channel": ch, "delivered_at": None,
                                   "attempts": 0, "last_error": None})
        for aid, state in existing.items():
            if aid not in fired and state != "resolved":
                resolved.append(aid)
                batch.execute("UPDATE alerts SET state = 'resolved' WHERE alert_id = :id",
                              {"id": aid})
        if inserts:
            df = pd.DataFrame(inserts, columns=ALERT_COLUMNS).astype(
                {"value": object, "threshold": object, "acknowledged_by": object,
                 "acknowledged_at": object, "report_link": object})
            batch.append("alerts", df)
        if deliveries:
            ddf = pd.DataFrame(deliveries).astype({"delivered_at": "datetime64[us]",
                                                   "last_error": object})
            batch.append("alert_deliveries", ddf)
        batch.details.update({"new": len(new), "reopened": len(reopened),
                              "resolved": len(resolved)})
    return {"new": new, "reopened": reopened, "resolved": resolved}


def list_alerts(wh: Warehouse, state: str | None = None, period: date | str | None = None,
                ids: Iterable[str] | None = None) -> list[dict]:
    """Stored alerts, newest period first, optionally filtered by state, period or ids."""
    if state is not None and state not in STATES:
        raise AlertError(f"unknown alert state {state!r}: use one of {', '.join(STATES)}")
    where, params = ["TRUE"], {}
    if state:
        where.append("state = :state")
        params["state"] = state
    if period is not None:
        where.append("period = :period")
        params["period"] = parse_period(period)
    if ids is not None:
        ids = list(ids)
        if not ids:
            return []
        where.append("alert_id IN (" + ", ".join(f":i{k}" for k in range(len(ids))) + ")")
        params.update({f"i{k}": v for k, v in enumerate(ids)})
    with wh.connect(read_only=True) as conn:
        _require_tables(conn)
        rows = _select(conn, " AND ".join(where), params)
        deliveries = _deliveries(conn, [r["alert_id"] for r in rows])
    out = [_to_dict(r) for r in rows]
    for a in out:
        a["deliveries"] = deliveries.get(a["id"], {})
    return out


def _deliveries(conn, ids: list[str]) -> dict[str, dict[str, dict]]:
    if not ids:
        return {}
    out: dict[str, dict[str, dict]] = {}
    # chunk to keep the parameter list short
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ", ".join(f":i{k}" for k in range(len(part)))
        for aid, ch, at, attempts, err in conn.query(
                "SELECT alert_id, channel, delivered_at, attempts, last_error "
                f"FROM alert_deliveries WHERE alert_id IN ({marks})",
                {f"i{k}": v for k, v in enumerate(part)}):
            out.setdefault(aid, {})[ch] = {
                "delivered_at": at.isoformat() if at is not None else None,
                "attempts": int(attempts), "last_error": err,
            }
    return out


def resolve_id(conn, alert_id: str) -> str:
    """The full id for ``alert_id`` or a unique prefix of at least 6 characters."""
    if conn.scalar("SELECT count(*) FROM alerts WHERE alert_id = :i", {"i": alert_id}):
        return alert_id
    if len(alert_id) >= 6:
        rows = conn.query("SELECT alert_id FROM alerts WHERE alert_id LIKE :p",
                          {"p": alert_id.replace("%", "").replace("_", "") + "%"})
        if len(rows) == 1:
            return rows[0][0]
        if len(rows) > 1:
            raise AlertError(f"alert id prefix {alert_id!r} is ambiguous ({len(rows)} alerts): "
                             "give more characters")
    raise AlertError(f"no alert with id {alert_id!r}: see `finlib alerts list`")


def acknowledge(wh: Warehouse, alert_id: str, user: str) -> dict:
    """Mark an open alert acknowledged by ``user``; acknowledging twice keeps the first."""
    if not user:
        raise AlertError("acknowledge needs a user name")
    with write_batch(wh, action="alert-ack", target="alerts", actor=user,
                     details={"alert_id": alert_id}) as batch:
        _require_tables(batch.conn)
        full = resolve_id(batch.conn, alert_id)
        state = batch.conn.scalar("SELECT state FROM alerts WHERE alert_id = :i", {"i": full})
        if state == "resolved":
            raise AlertError(f"alert {full} is resolved (it no longer fires); nothing to "
                             "acknowledge")
        if state == "open":
            batch.execute("UPDATE alerts SET state = 'acknowledged', acknowledged_by = :u, "
                          "acknowledged_at = :t WHERE alert_id = :i",
                          {"u": user, "t": now(), "i": full})
        batch.details["alert_id"] = full
    return list_alerts(wh, ids=[full])[0]


# ---- deliveries --------------------------------------------------------------------------

def claim_pending(wh: Warehouse, channels: Iterable[str]) -> list[tuple[dict, str]]:
    """Claim every undelivered (alert, channel) pair for ``channels`` whose alert is not
    resolved, and return ``[(alert dict, channel)]``.

    Claiming bumps ``attempts`` with a compare-and-set on its old value, so two checks
    running at once (PostgreSQL) never both send the same alert; a claim left by a crashed
    process is simply claimed again next time (at-least-once, never lost).
    """
    channels = sorted(set(channels))
    if not channels:
        return []
    token = f"claimed {uuid.uuid4().hex}"
    marks = ", ".join(f":c{k}" for k in range(len(channels)))
    cparams = {f"c{k}": c for k, c in enumerate(channels)}
    with write_batch(wh, action="alert-delivery", target="alert_deliveries") as batch:
        conn = batch.conn
        _require_tables(conn)
        pending = conn.query(
            "SELECT d.alert_id, d.channel, d.attempts FROM alert_deliveries d "
            "JOIN alerts a ON a.alert_id = d.alert_id "
            f"WHERE d.delivered_at IS NULL AND a.state <> 'resolved' AND d.channel IN ({marks}) "
            "ORDER BY a.period, a.rule, d.alert_id", cparams)
        if not pending:
            return []
        for aid, ch, attempts in pending:
            batch.execute(
                "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = :tok "
                "WHERE alert_id = :a AND channel = :c AND delivered_at IS NULL "
                "AND attempts = :n", {"tok": token, "a": aid, "c": ch, "n": attempts})
        claimed = conn.query("SELECT alert_id, channel FROM alert_deliveries "
                             "WHERE last_error = :tok", {"tok": token})
        batch.details["claimed"] = len(claimed)
    alerts = {a["id"]: a for a in list_alerts(wh, ids={aid for aid, _ in claimed})}
    return [(alerts[aid], ch) for aid, ch in claimed if aid in alerts]


def record_deliveries(wh: Warehouse, outcomes: list[tuple[str, str, str | None]]) -> None:
    """Record ``[(alert_id, channel, error or None)]``: delivered, or pending with its error."""
    if not outcomes:
        return
    ts = now()
    ok = sum(1 for *_, e in outcomes if e is None)
    with write_batch(wh, action="alert-delivery", target="alert_deliveries",
                     details={"delivered": ok, "failed": len(outcomes) - ok}) as batch:
        for aid, ch, err in outcomes:
            if err is None:
                batch.execute("UPDATE alert_deliveries SET delivered_at = :t, last_error = NULL "
                              "WHERE alert_id = :a AND channel = :c", {"t": ts, "a": aid, "c": ch})
            else:
                batch.execute("UPDATE alert_deliveries SET last_error = :e "
                              "WHERE alert_id = :a AND channel = :c",
                              {"e": err[:1000], "a": aid, "c": ch})
