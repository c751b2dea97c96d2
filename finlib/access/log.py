"""The access log of access control: every login, failure, lock and refusal.

``access_log`` has the same columns and the same hash chain as the audit trail's access log
(``entry_hash = sha256(prev_hash + "\\n" + canonical JSON of the entry)``, ``seq`` without
gaps), so a warehouse written by this module is read and verified by the audit trail's tools.
The table is created on first use, like the audit trail does.

Two ways in: :func:`append_access` inside a write batch that also changes other rows (a
failed login and the lock it causes are one transaction), :func:`record_access` on its own
(a refused dashboard or report). Never pass a password, a token or a hash in ``details``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import Batch, write_batch

TABLE = "access_log"
DDL = ("CREATE TABLE IF NOT EXISTS access_log (seq BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, "
       "kind VARCHAR NOT NULL, user_name VARCHAR NOT NULL, action VARCHAR NOT NULL, target VARCHAR, "
       "address VARCHAR, outcome VARCHAR NOT NULL, details VARCHAR, prev_hash VARCHAR NOT NULL, "
       "entry_hash VARCHAR NOT NULL)")
OUTCOMES = ("ok", "denied", "failed")
GENESIS = "0" * 64


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def append_access(batch: Batch, user: str, action: str, target: str | None = None,
                  address: str | None = None, outcome: str = "ok", *, ts: dt.datetime | None = None,
                  **details: Any) -> int:
    """Append one ``access_log`` record inside ``batch``; returns its ``seq``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    conn = batch.conn
    if not conn.table_exists(TABLE):
        batch.execute(DDL)
    if conn.backend == "postgresql":
        conn.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
    last = conn.query(f"SELECT seq, entry_hash FROM {TABLE} ORDER BY seq DESC LIMIT 1")
    seq, prev = (int(last[0][0]) + 1, last[0][1]) if last else (1, GENESIS)
    ts = (ts or _utcnow()).replace(tzinfo=None)
    det = json.loads(_canonical(details))
    body = {"seq": seq, "ts": ts.isoformat(sep=" ", timespec="microseconds"), "kind": "access",
            "user": user, "action": action, "target": target, "address": address, "outcome": outcome,
            "details": det}
    entry = hashlib.sha256((prev + "\n" + _canonical(body)).encode("utf-8")).hexdigest()
    batch.execute(f"INSERT INTO {TABLE} (seq, ts, kind, user_name, action, target, address, outcome, "
                  "details, prev_hash, entry_hash) VALUES (:seq, :ts, 'access', :u, :a, :t, :addr, :o, "
                  ":d, :p, :h)", {"seq": seq, "ts": ts, "u": user, "a": action, "t": target,
                                  "addr": address, "o": outcome, "d": _canonical(det), "p": prev,
                                  "h": entry})
    batch._count(TABLE, 1)
    return seq


def record_access(wh: Warehouse, user: str, action: str, target: str | None = None,
                  address: str | None = None, outcome: str = "ok", *, ts: dt.datetime | None = None,
                  **details: Any) -> int:
    """Record one access in its own write batch (``action`` e.g. ``open-dashboard``)."""
    with write_batch(wh, action="access", target=target or action, actor=user) as b:
        return append_access(b, user, action, target, address, outcome, ts=ts, **details)


def read_access_log(wh: Warehouse, user: str | None = None) -> list[dict]:
    """Every record (oldest first), optionally of one user."""
    with wh.connect(read_only=True) as conn:
        if not conn.table_exists(TABLE):
            return []
        where, params = ("WHERE user_name = :u", {"u": user}) if user else ("", None)
        rows = conn.query(f"SELECT seq, ts, user_name, action, target, address, outcome, details "
                          f"FROM {TABLE} {where} ORDER BY seq", params)
    keys = ("seq", "ts", "user", "action", "target", "address", "outcome", "details")
    out = []
    for r in rows:
        d = dict(zip(keys, r, strict=True))
        d["details"] = json.loads(d["details"] or "{}")
        out.append(d)
    return out
