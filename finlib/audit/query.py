"""Reading the trail for people: filtered listings and the auditor's export."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from finlib.audit.chain import parse_when as _parse_when
from finlib.audit.verify import read_entries, verify
from finlib.warehouse.db import Warehouse


def entries(wh: Warehouse, since: str | None = None, until: str | None = None, actor: str | None = None,
            action: str | None = None, table: str | None = None) -> list[dict]:
    """Audit entries (oldest first), filtered; ``table`` keeps entries that touched it."""
    lo = _parse_when(since) if since else None
    hi = _parse_when(until, end=True) if until else None
    with wh.connect(read_only=True) as conn:
        rows = read_entries(conn)
    out = []
    for e in rows:
        if lo and e["ts"] < lo or hi and e["ts"] >= hi:
            continue
        if actor and e["actor"] != actor or action and e["action"] != action:
            continue
        if table and table not in (e["digests"] or {}) and e["target"] != table:
            continue
        out.append(e)
    return out


def _sha(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export(wh: Warehouse, date_from: str, date_to: str, out: Path) -> dict:
    """Write ``audit_log.jsonl``, ``audit_log.csv`` and ``verification.json`` (with the sha256
    of both files and the result of a full verify) into ``out``."""
    rows = entries(wh, since=date_from, until=date_to)
    out.mkdir(parents=True, exist_ok=True)
    jl, cv = out / "audit_log.jsonl", out / "audit_log.csv"
    with open(jl, "w", encoding="utf-8") as f:
        for e in rows:
            f.write(json.dumps(e, default=str, sort_keys=True) + "\n")
    cols = ["seq", "ts", "actor", "action", "target", "details", "digests", "prev_hash", "entry_hash"]
    with open(cv, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for e in rows:
            w.writerow([json.dumps(e[c], sort_keys=True) if isinstance(e[c], dict) else e[c] for c in cols])
    rep = verify(wh)
    summary = {"from": date_from, "to": date_to, "entries": len(rows),
               "first_seq": rows[0]["seq"] if rows else None, "last_seq": rows[-1]["seq"] if rows else None,
               "verification": rep.as_dict(),
               "files": {jl.name: _sha(jl), cv.name: _sha(cv)},
               "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    tmp = out / "verification.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, out / "verification.json")
    return summary
