"""Checking the trail: the chain, the tables, and the checkpoint kept outside the warehouse.

:func:`verify` answers "was anything edited, removed, reordered or changed behind finlib's
back?" and names the first thing that is wrong:

1. **the chain** — seqs must run 1, 2, 3 … without gaps; each entry's ``prev_hash`` must be
   the previous ``entry_hash``, and its ``entry_hash`` must be recomputed from its content
   (an edited entry, a deleted one and two swapped ones all break here, at the first bad seq);
2. **the checkpoint** — ``FINLIB_AUDIT_ANCHOR`` (default: beside the warehouse) holds the
   newest seq and hash at the time of ``finlib audit checkpoint``, signed with HMAC-SHA256
   under ``FINLIB_AUDIT_KEY``: the log must still contain that entry with that hash, so
   deleting the newest entries (truncation) is caught;
3. **the tables** — every canonical table's content fingerprint now must equal the ``after``
   fingerprint its last entry carried forward; if not, the table was changed outside finlib
   after that seq.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from finlib import config
from finlib.audit import access
from finlib.audit.chain import GENESIS, Problem, canonical, entry_body, entry_hash
from finlib.errors import ConfigError, FinlibError
from finlib.warehouse.db import Connection, Warehouse
from finlib.warehouse.schema import CANONICAL_TABLES
from finlib.warehouse.status import _table_digest

__all__ = ["AuditError", "Problem", "Report", "anchor_path", "check_chain", "checkpoint", "head",
           "head_of", "read_entries", "verify"]


class AuditError(FinlibError):
    """The audit trail does not verify (exit code 4)."""

    exit_code = 4


@dataclass
class Report:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    tables_checked: int
    checkpoint: dict | None = None
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


# ------------------------------------------------------------------------------- reading
def read_entries(conn: Connection, since_seq: int = 0) -> list[dict]:
    if not conn.table_exists("audit_log"):
        return []
    rows = conn.query("SELECT seq, ts, actor, action, target, CAST(details AS VARCHAR), "
                      "CAST(digests AS VARCHAR), prev_hash, entry_hash FROM audit_log "
                      "WHERE seq > :s ORDER BY seq", {"s": since_seq})
    out = []
    for seq, ts, actor, action, target, details, digests, prev, h in rows:
        out.append({"seq": int(seq), "ts": ts, "actor": actor, "action": action, "target": target,
                    "details": _json(details), "digests": _json(digests), "prev_hash": prev,
                    "entry_hash": h})
    return out


def _json(text):
    if text is None:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {"__unparseable__": text}


def head(conn: Connection) -> tuple[int, str]:
    """The newest ``(seq, entry_hash)``, ``(0, GENESIS)`` for an empty trail."""
    if not conn.table_exists("audit_log"):
        return 0, GENESIS
    rows = conn.query("SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    return (int(rows[0][0]), rows[0][1]) if rows else (0, GENESIS)


def head_of(wh: Warehouse) -> dict:
    """``{"seq": …, "hash": …}`` of the newest entry (what report manifests carry)."""
    with wh.connect(read_only=True) as conn:
        seq, h = head(conn)
    return {"seq": seq, "hash": h}


def check_chain(entries: list[dict]) -> list[Problem]:
    problems: list[Problem] = []
    prev_hash = GENESIS
    expected = 1
    for e in entries:
        if e["seq"] != expected:
            if e["seq"] > expected:
                problems.append(Problem("missing", f"seq {expected} is missing (the log jumps from "
                                        f"{expected - 1} to {e['seq']})", expected))
            else:  # pragma: no cover - seq is the primary key
                problems.append(Problem("reordered", f"seq {e['seq']} appears out of order", e["seq"]))
            return problems
        body = entry_body(e["seq"], e["ts"], e["actor"], e["action"], e["target"], e["details"],
                          e["digests"])
        if e["prev_hash"] != prev_hash:
            problems.append(Problem("reordered", f"seq {e['seq']}: prev_hash does not match the hash of "
                                    f"seq {e['seq'] - 1} (an entry was removed, replaced or reordered)",
                                    e["seq"]))
            return problems
        if entry_hash(prev_hash, body) != e["entry_hash"]:
            problems.append(Problem("edited", f"seq {e['seq']} was edited: its content no longer "
                                    "matches its entry_hash", e["seq"]))
            return problems
        prev_hash = e["entry_hash"]
        expected += 1
    return problems


def last_fingerprints(entries: list[dict]) -> dict[str, tuple[int, list]]:
    """table -> (seq of its last entry, [n, h]) carried forward by the chain."""
    out: dict[str, tuple[int, list]] = {}
    for e in entries:
        for table, d in (e["digests"] or {}).items():
            if isinstance(d, dict) and "after" in d:
                out[table] = (e["seq"], [int(d["after"][0]), int(d["after"][1])])
    return out


def check_tables(conn: Connection, entries: list[dict]) -> tuple[list[Problem], int]:
    problems = []
    last = last_fingerprints(entries)
    for table in CANONICAL_TABLES:
        if table not in last or not conn.table_exists(table):
            continue
        seq, (n, h) = last[table]
        now_n, now_h = _table_digest(conn, table)
        if (now_n, now_h) != (n, h):
            change = f"{now_n - n:+d} rows" if now_n != n else "same row count, contents differ"
            problems.append(Problem("table-changed", f"table {table} was changed outside finlib after "
                                    f"seq {seq} ({change})", seq, table))
    return problems, len(last)


# ------------------------------------------------------------------------------- anchor
def anchor_path(wh: Warehouse) -> Path:
    """``FINLIB_AUDIT_ANCHOR``, else ``<warehouse>.audit-anchor.json`` beside a DuckDB file,
    else ``data/audit-anchor-<host>-<db>.json`` in the project for PostgreSQL."""
    env = os.environ.get("FINLIB_AUDIT_ANCHOR", "").strip()
    if env:
        return Path(env).expanduser()
    if wh.backend == "duckdb" and wh.path is not None and str(wh.path) != ":memory:":
        return wh.path.with_name(wh.path.name + ".audit-anchor.json")
    p = urlparse(wh.url)
    name = f"{p.hostname or 'local'}-{p.port or 5432}-{(p.path or '/db').strip('/')}"
    return config.project_root() / "data" / f"audit-anchor-{name}.json"


def _key() -> bytes:
    key = os.environ.get("FINLIB_AUDIT_KEY", "")
    if not key:
        raise ConfigError("FINLIB_AUDIT_KEY is not set: the checkpoint is signed with it "
                          "(HMAC-SHA256). Set it to a secret kept outside the warehouse.")
    return key.encode("utf-8")


def _sign(payload: dict) -> str:
    return hmac.new(_key(), canonical(payload).encode("utf-8"), hashlib.sha256).hexdigest()


def checkpoint(wh: Warehouse, path: Path | None = None) -> dict:
    """Write the newest seq and hash, signed, to the anchor file (atomically); return it.

    Refused (:class:`AuditError`) when the chain is broken or the log no longer contains the
    previous checkpoint's entry: a checkpoint never blesses a tampered or truncated log."""
    path = path or anchor_path(wh)
    with wh.connect(read_only=True) as conn:
        entries = read_entries(conn)
    problems = check_chain(entries) + check_anchor(entries, path)[0]
    if problems:  # never sign a broken log, never move the anchor back over a truncation
        raise AuditError(f"{problems[0].message}; the checkpoint {path} was not written. "
                         "Investigate with `finlib audit verify`.")
    seq, h = (entries[-1]["seq"], entries[-1]["entry_hash"]) if entries else (0, GENESIS)
    payload = {"seq": seq, "entry_hash": h, "warehouse": wh.display_url,
               "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    doc = {**payload, "hmac_sha256": _sign(payload)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    return {**doc, "path": str(path)}


def check_anchor(entries: list[dict], path: Path) -> tuple[list[Problem], dict | None]:
    if not path.exists():
        return [], None
    try:
        doc = json.loads(path.read_text())
        payload = {k: doc[k] for k in ("seq", "entry_hash", "warehouse", "written_at")}
    except (ValueError, KeyError) as exc:
        return [Problem("checkpoint", f"the checkpoint {path} is unreadable ({exc})")], None
    info = {"path": str(path), "seq": payload["seq"], "entry_hash": payload["entry_hash"]}
    if not hmac.compare_digest(_sign(payload), str(doc.get("hmac_sha256", ""))):
        return [Problem("checkpoint", f"the checkpoint {path} has a bad signature: it was edited or "
                        "signed with another FINLIB_AUDIT_KEY")], info
    seq, h = int(payload["seq"]), payload["entry_hash"]
    if seq == 0:
        return [], info
    by_seq = {e["seq"]: e for e in entries}
    if seq not in by_seq:
        newest = max(by_seq) if by_seq else 0
        return [Problem("truncated", f"the log was truncated: the checkpoint says seq {seq} exists "
                        f"but the log ends at seq {newest} (entries {newest + 1}..{seq} deleted)",
                        newest + 1)], info
    if by_seq[seq]["entry_hash"] != h:
        return [Problem("rewritten", f"seq {seq} differs from the checkpoint's hash: the log was cut "
                        "back and rewritten after the checkpoint", seq)], info
    return [], info


# ------------------------------------------------------------------------------- verify
def verify(wh: Warehouse, anchor: Path | None = None) -> Report:
    """Check the chain, the checkpoint and the tables (see the module docstring)."""
    with wh.connect(read_only=True) as conn:
        entries = read_entries(conn)
        problems = check_chain(entries)
        anchor_problems, info = check_anchor(entries, anchor or anchor_path(wh))
        table_problems, n_tables = check_tables(conn, entries)
    start = None
    for e in entries:  # the newest prune point of the access log, recorded by retention
        if e["action"] == "retention" and e["target"] == "access_log" and e["details"].get("pruned_through"):
            start = e["details"]["pruned_through"]
    access_problems = access.check_chain(access.read(wh), start)
    problems = problems + anchor_problems + table_problems + access_problems
    head_seq = entries[-1]["seq"] if entries else 0
    return Report(ok=not problems, entries=len(entries), head_seq=head_seq,
                  head_hash=entries[-1]["entry_hash"] if entries else GENESIS,
                  tables_checked=n_tables, checkpoint=info, problems=problems)
