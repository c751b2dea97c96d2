"""Reading the trail for people: filtered listings and the auditor's export."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from finlib import crypto
from finlib.audit import sealed
from finlib.audit.access import record_access
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


def export(wh: Warehouse, date_from: str, date_to: str, out: Path) -> dict:
    """Write ``audit_log.jsonl``, ``audit_log.csv`` and ``verification.json`` (the entries'
    range, the sha256 of both files' content and the result of a full verify) into ``out``.

    ``out`` is created private (0700) and every file is 0600. When ``FINLIB_ARCHIVE_KEY`` is
    set the three files are encrypted under its newest key (:mod:`finlib.audit.sealed`: the
    plaintext only ever exists in a private staging folder inside ``out``, removed at once);
    ``verification.json`` then names the key id, and its digests are those of the plaintext
    (what ``finlib archive decrypt`` gives back)."""
    key = sealed.current_key()
    rows = entries(wh, since=date_from, until=date_to)
    sealed.private_dir(out)
    jl, cv = "audit_log.jsonl", "audit_log.csv"
    files = {}
    with sealed.staging(out) as st:
        with open(st / jl, "w", encoding="utf-8") as f:
            for e in rows:
                f.write(json.dumps(e, default=str, sort_keys=True) + "\n")
        cols = ["seq", "ts", "actor", "action", "target", "details", "digests", "prev_hash", "entry_hash"]
        with open(st / cv, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for e in rows:
                w.writerow([json.dumps(e[c], sort_keys=True) if isinstance(e[c], dict) else e[c] for c in cols])
        for name in (jl, cv):
            files[name] = sealed.seal(st / name, out / name, key)["sha256"]
    rep = verify(wh)
    summary = {"from": date_from, "to": date_to, "entries": len(rows),
               "first_seq": rows[0]["seq"] if rows else None, "last_seq": rows[-1]["seq"] if rows else None,
               "verification": rep.as_dict(), "files": files,
               "key_id": crypto.key_id(key) if key else None,
               "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    sealed.write_sealed(out / "verification.json", (json.dumps(summary, indent=2, default=str) + "\n").encode(), key)
    # an export is an access: the access log records who took which entries where (the
    # bulk-export rule of finlib.audit.monitor counts these)
    record_access(wh, None, "export", target="audit_log", entries=len(rows), date_from=date_from,
                  date_to=date_to, out=str(out), encrypted=bool(key))
    return summary
