"""The hash chain both logs share: canonical JSON, entry hashes, problems, times.

``entry_hash = sha256(prev_hash + "\\n" + canonical(body))`` where ``canonical`` is JSON with
sorted keys, no spaces and UTF-8 characters kept, and the first entry's ``prev_hash`` is
:data:`GENESIS` (64 zeros). Changing, removing or reordering any entry changes every later
hash (the idea of Certificate Transparency's log, RFC 6962, as a simple chain).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from finlib.errors import FinlibError

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    """The canonical JSON of ``obj``: sorted keys, no spaces, UTF-8 characters kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def ts_text(ts: dt.datetime) -> str:
    """A stored (UTC, naive) timestamp as hashed: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return ts.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def entry_body(seq: int, ts: dt.datetime, actor: str, action: str, target: str,
               details: dict | None, digests: dict | None) -> dict:
    """What an ``audit_log`` entry's hash covers."""
    return {"seq": int(seq), "ts": ts_text(ts), "actor": actor, "action": action, "target": target,
            "details": details or {}, "digests": digests or {}}


def entry_hash(prev_hash: str, body: dict) -> str:
    """``sha256(prev_hash + "\\n" + canonical(body))`` as hex."""
    return hashlib.sha256((prev_hash + "\n" + canonical(body)).encode("utf-8")).hexdigest()


@dataclass
class Problem:
    """One finding of a verification: ``kind`` is edited, missing, reordered, truncated,
    rewritten, checkpoint or table-changed; ``seq`` the first bad entry; ``table`` the table."""

    kind: str
    message: str
    seq: int | None = None
    table: str | None = None


def parse_when(text: str, end: bool = False) -> dt.datetime:
    """A date or date-time (ISO; an offset is converted to UTC) as a naive UTC datetime;
    ``end`` turns a bare date into the start of the next day (an inclusive end)."""
    try:
        d = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FinlibError(f"{text!r} is not a date or time: write 2026-11-30 or 2026-11-30T08:00") from None
    if d.tzinfo is not None:
        d = d.astimezone(dt.UTC).replace(tzinfo=None)
    if end and len(text.strip()) <= 10:
        d = d + dt.timedelta(days=1)
    return d
