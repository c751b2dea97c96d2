"""Writing the trail: one hash-chained ``audit_log`` entry per write batch.

Called by :func:`finlib.warehouse.load.write_batch` itself (not registered as a hook a process
could forget to install), so every batch is audited, whoever opened it. Three calls, all
inside the batch's transaction:

* **begin** — reserves the entry's ``seq`` (``max(seq) + 1``). On PostgreSQL it first takes
  ``LOCK TABLE audit_log IN EXCLUSIVE MODE`` (readers are not blocked), held until commit:
  concurrent writers take turns, so seqs have no gaps and commit order is seq order.
* **delete** — before :meth:`Batch.delete` removes rows of a canonical table, copies them to
  ``<table>_history`` with ``removed_seq`` (this entry): a replace or delete never loses a
  row. (The entry that wrote a history row is found when it is read: the latest
  ``audit_added`` record of its row hash before ``removed_seq``, else the baseline.)
* **write** (at the end) — finds the canonical tables the batch touched, and for each:

  - ``written``: digest of the rows this transaction inserted, computed in SQL over those
    rows only (DuckDB: transaction-local row ids; PostgreSQL: ``xmin`` = this transaction),
    never by reading the source file again;
  - ``deleted``: digest of the rows it removed (from ``<table>_history``);
  - ``after``: the table's content fingerprint after the write, *carried forward*:
    ``after = previous after + written − deleted``. The first time a table is seen it is
    measured (a full scan) instead. Because it is never re-measured, a change made outside
    finlib stays visible to :func:`finlib.audit.verify.verify` forever instead of being
    absorbed by the next batch.

  A digest is ``[n, Σ H(row)]`` with the row hash of :mod:`finlib.warehouse.status` (DuckDB
  ``hash(c1, …, ck)``, PostgreSQL ``hashtextextended(row::text, 0)``): a sum, so digests add and
  subtract like multisets and the table's fingerprint is ``[count, sum]``.

  Then the entry is appended: ``entry_hash = sha256(prev_hash + "\\n" + canonical JSON of
  {seq, ts, actor, action, target, details, digests})`` (sorted keys, no spaces, UTF-8).

Rows added by a batch are recorded by row hash in ``audit_added`` (``table_name, added_seq,
row_hash``), except for the first load of a table (its ``baseline_seq`` in
``audit_tables``): every row without a later ``audit_added`` entry was there at the
baseline. With the history tables this rebuilds any table as of any seq
(:mod:`finlib.audit.asof`).

Canonical tables must be changed through :meth:`Batch.append`, ``append_stream``, an
``INSERT`` and :meth:`Batch.delete`; an ``UPDATE`` of a canonical table inside a batch is
not captured in history (``verify`` would report the table as changed outside finlib).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import TYPE_CHECKING

import lazy_loader as lazy

from finlib.audit.access import record_integration
from finlib.audit.chain import GENESIS, canonical, entry_body, entry_hash
from finlib.audit.identity import current_actor, current_reason
from finlib.audit.parameters import diff, git_info, parameters_state
from finlib.errors import WarehouseError
from finlib.warehouse.db import Connection
from finlib.warehouse.schema import CANONICAL_TABLES, TABLES, create_table_sql

if TYPE_CHECKING:
    from finlib.warehouse.load import Batch

duckdb = lazy.load("duckdb")

__all__ = ["GENESIS", "append_entry", "digest", "history_table", "on_begin", "on_delete", "on_write",
           "row_hash_sql"]

SUPPORT_DDL = {
    "audit_tables": ("CREATE TABLE IF NOT EXISTS audit_tables (table_name VARCHAR PRIMARY KEY, "
                     "baseline_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, n BIGINT NOT NULL, "
                     "h VARCHAR NOT NULL)"),
    "audit_added": ("CREATE TABLE IF NOT EXISTS audit_added (table_name VARCHAR NOT NULL, "
                    "added_seq BIGINT NOT NULL, row_hash {hash_type} NOT NULL)"),
}
HASH_TYPE = {"duckdb": "UBIGINT", "postgresql": "BIGINT"}  # the row hash as it is computed


def history_table(table: str) -> str:
    return f"{table}_history"


# ------------------------------------------------------------------------------- digests
def row_hash_sql(conn: Connection, table: str, alias: str) -> str:
    """SQL for one row's hash (the fingerprint's row hash), over ``alias``'s canonical columns."""
    cols = TABLES[table].column_names
    if conn.backend == "duckdb":
        return f"hash({', '.join(f'{alias}.{c}' for c in cols)})"
    row = ", ".join(f"{alias}.{c}" for c in cols)
    return f"hashtextextended(CAST(ROW({row}) AS text), 0)"


def digest(conn: Connection, table: str, source: str | None = None, where: str = "TRUE",
           params: dict | None = None) -> list:
    """``[n, Σ H(row)]`` over ``source`` (default ``table``) rows matching ``where``."""
    src = source or table
    h = row_hash_sql(conn, table, "t")
    n, s = conn.query(f"SELECT count(*), CAST(COALESCE(sum({h}), 0) AS VARCHAR) FROM {src} AS t "
                      f"WHERE {where}", params)[0]
    return [int(n), int(s)]


_DUCK_LOCAL_BASE: int | None = None


def duck_local_base() -> int:
    """The first row id DuckDB gives rows inserted by a still-open transaction (probed once
    per process in an in-memory database, so it follows the DuckDB version)."""
    global _DUCK_LOCAL_BASE
    if _DUCK_LOCAL_BASE is None:
        with duckdb.connect() as c:
            c.execute("CREATE TABLE p (x INTEGER)")
            c.execute("INSERT INTO p VALUES (0)")
            c.execute("BEGIN")
            c.execute("INSERT INTO p VALUES (1)")
            base = c.execute("SELECT rowid FROM p WHERE x = 1").fetchone()[0]
            c.execute("ROLLBACK")
        if base < 1 << 40:  # pragma: no cover - a DuckDB that numbers local rows like committed ones
            raise WarehouseError(f"DuckDB {duckdb.__version__}: the audit trail cannot tell the rows "
                                 f"of the open transaction apart (local row ids start at {base})")
        _DUCK_LOCAL_BASE = int(base)
    return _DUCK_LOCAL_BASE


def written_predicate(conn: Connection, alias: str = "t") -> str:
    """SQL condition (on ``alias``) true for rows the open transaction inserted."""
    if conn.backend == "duckdb":
        return f"{alias}.rowid >= {duck_local_base()}"
    return f"CAST(CAST({alias}.xmin AS text) AS bigint) = txid_current() % 4294967296"


# ------------------------------------------------------------------------------- state
def _ensure_support(conn: Connection) -> None:
    if not conn.table_exists("audit_log"):
        conn.execute(create_table_sql(TABLES["audit_log"], conn.backend))
    for name, ddl in SUPPORT_DDL.items():
        if not conn.table_exists(name):
            conn.execute(ddl.format(hash_type=HASH_TYPE[conn.backend]))
            if name == "audit_added" and conn.backend == "postgresql":  # looked up row by row
                conn.execute("CREATE INDEX audit_added_hash ON audit_added (table_name, row_hash)")


def _ensure_history(conn: Connection, table: str) -> str:
    hist = history_table(table)
    if not conn.table_exists(hist):
        cols = ", ".join(TABLES[table].column_names)
        conn.execute(f"CREATE TABLE {hist} AS SELECT {cols}, "
                     f"CAST(NULL AS BIGINT) AS removed_seq FROM {table} WHERE FALSE")
    return hist


def _reserve(conn: Connection, batch: Batch) -> int:
    seq = getattr(batch, "_audit_seq", None)
    if seq is not None:
        return seq
    _ensure_support(conn)
    if conn.backend == "postgresql":
        conn.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
    seq = int(conn.scalar("SELECT COALESCE(max(seq), 0) FROM audit_log")) + 1
    batch._audit_seq = seq  # type: ignore[attr-defined]
    return seq


def _baseline(conn: Connection, table: str) -> int | None:
    if not conn.table_exists("audit_tables"):
        return None
    v = conn.scalar("SELECT baseline_seq FROM audit_tables WHERE table_name = :t", {"t": table})
    return int(v) if v is not None else None


def added_seq_sql(conn: Connection, table: str, alias: str, baseline: int | None,
                  before: str | None = None) -> str:
    """SQL for the seq of the entry that wrote row ``alias``: its latest ``audit_added`` record
    (before ``before``, an SQL expression, for a removed row), else the table's baseline."""
    if baseline is None:
        return "0"
    limit = f" AND a.added_seq < {before}" if before else ""
    return (f"COALESCE((SELECT max(a.added_seq) FROM audit_added a WHERE a.table_name = '{table}' "
            f"AND a.row_hash = {row_hash_sql(conn, table, alias)}{limit}), {int(baseline)})")


# ------------------------------------------------------------------------------- hooks
def on_begin(conn: Connection, batch: Batch) -> None:
    batch._audit_seq = None  # type: ignore[attr-defined]
    if conn.table_exists("audit_log"):
        _reserve(conn, batch)


def on_delete(batch: Batch, table: str, where: str, params: dict | None) -> None:
    if table not in CANONICAL_TABLES:
        return
    conn = batch.conn
    seq = _reserve(conn, batch)
    if table in getattr(batch, "_audit_purge", ()):  # retention: the rows go to an archive, not history
        d = digest(conn, table, source=table, where=where.replace(f"{table}.", "t."), params=params)
        purged = batch.__dict__.setdefault("_audit_purged", {})
        n0, h0 = purged.get(table, [0, 0])
        purged[table] = [n0 + d[0], h0 + d[1]]
        return
    hist = _ensure_history(conn, table)
    cols = TABLES[table].column_names
    # ``where`` is the caller's predicate and may name the table: no alias here
    conn.execute(f"INSERT INTO {hist} ({', '.join(cols)}, removed_seq) "
                 f"SELECT {', '.join(f'{table}.{c}' for c in cols)}, {int(seq)} FROM {table} "
                 f"WHERE {where}", params)


def _touched(conn: Connection, batch: Batch) -> list[str]:
    names = set(batch.rows_written) | set(batch.rows_deleted) | set(getattr(batch, "changed_by_sql", ()))
    if conn.backend == "postgresql":
        rows = conn.query("SELECT relname FROM pg_stat_xact_user_tables WHERE schemaname = current_schema() "
                          "AND n_tup_ins + n_tup_upd + n_tup_del > 0")
        names |= {r[0] for r in rows}
    existing = {r[0] for r in conn.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        + ("'main'" if conn.backend == "duckdb" else "current_schema()"))}
    if conn.backend == "duckdb":  # one statement probes every other table for rows of this transaction
        pred = written_predicate(conn)
        probe = [t for t in CANONICAL_TABLES if t in existing and t not in names]
        if probe:
            names |= {r[0] for r in conn.query(" UNION ALL ".join(
                f"SELECT * FROM (SELECT '{t}' FROM {t} AS t WHERE {pred} LIMIT 1)" for t in probe))}
    return [t for t in CANONICAL_TABLES if t in names and t in existing]


def on_write(conn: Connection, batch: Batch) -> None:
    seq = _reserve(conn, batch)
    digests: dict[str, dict] = {}
    for table in _touched(conn, batch):
        pred = written_predicate(conn)
        prev = conn.query("SELECT n, h FROM audit_tables WHERE table_name = :t", {"t": table})
        if prev:  # one pass: the written rows' hashes go to audit_added, their digest is summed there
            conn.execute(f"INSERT INTO audit_added (table_name, added_seq, row_hash) "
                         f"SELECT '{table}', {int(seq)}, {row_hash_sql(conn, table, 't')} "
                         f"FROM {table} AS t WHERE {pred}")
            n, hs = conn.query("SELECT count(*), CAST(COALESCE(sum(row_hash), 0) AS VARCHAR) "
                               "FROM audit_added WHERE table_name = :t AND added_seq = :s",
                               {"t": table, "s": seq})[0]
            written = [int(n), int(hs)]
        else:  # first sight: the written rows and the whole table in one pass
            h = row_hash_sql(conn, table, "t")
            r = conn.query(f"SELECT count(*) FILTER (WHERE {pred}), CAST(COALESCE(sum({h}) FILTER (WHERE {pred}), 0) "
                           f"AS VARCHAR), count(*), CAST(COALESCE(sum({h}), 0) AS VARCHAR) FROM {table} AS t")[0]
            written, measured = [int(r[0]), int(r[1])], [int(r[2]), int(r[3])]
        if written[0] < batch.rows_written.get(table, 0):  # never record a partial digest
            raise WarehouseError(f"audit trail: found {written[0]} of the {batch.rows_written[table]} rows this "
                                 f"batch wrote to {table}; nothing was written")
        hist = history_table(table)
        deleted = (digest(conn, table, source=hist, where=f"t.removed_seq = {int(seq)}")
                   if conn.table_exists(hist) else [0, 0])
        purged = getattr(batch, "_audit_purged", {}).get(table)
        if purged:
            deleted = [deleted[0] + purged[0], deleted[1] + purged[1]]
        if prev:
            after = [int(prev[0][0]) + written[0] - deleted[0], int(prev[0][1]) + written[1] - deleted[1]]
            conn.execute("UPDATE audit_tables SET last_seq = :s, n = :n, h = :h WHERE table_name = :t",
                         {"s": seq, "n": after[0], "h": str(after[1]), "t": table})
        else:  # first sight of the table: measured, this entry is its baseline
            after = measured
            conn.execute("INSERT INTO audit_tables (table_name, baseline_seq, last_seq, n, h) "
                         "VALUES (:t, :s, :s, :n, :h)", {"t": table, "s": seq, "n": after[0], "h": str(after[1])})
        digests[table] = {"written": written, "deleted": deleted, "after": [after[0], str(after[1])],
                          **({"baseline": True} if not prev else {})}
        # sums can exceed 2**63: keep them as decimal strings in JSON
        digests[table]["written"] = [written[0], str(written[1])]
        digests[table]["deleted"] = [deleted[0], str(deleted[1])]
    details = dict(batch.details)
    if batch.rows_written:
        details.setdefault("rows_written", dict(batch.rows_written))
    if batch.rows_deleted:
        details.setdefault("rows_deleted", dict(batch.rows_deleted))
    reason = current_reason()
    if reason and "reason" not in details:
        details["reason"] = reason
    actor = current_actor()
    if batch.actor == actor.name and actor.kind != "os":
        details.setdefault("actor_kind", actor.kind)
    params = _parameters()
    if params is not None and batch.action == "run":
        details.setdefault("parameters_sha256", params["sha256"])
    append_entry(conn, seq, batch.actor, batch.action, batch.target, details, digests)
    if batch.action in ("ingest", "ingest-rejected"):
        _ingest_integration(conn, batch, details, seq)
    if params is not None:
        _config_entry(conn, seq + 1, batch.actor, params)


def _ingest_integration(conn: Connection, batch: Batch, details: dict, seq: int) -> None:
    """An ingest is an integration event too: source file, outcome, rows, bytes, duration."""
    path = details.get("file") or details.get("file_name") or batch.target
    try:
        size = os.path.getsize(path) if path and os.path.exists(str(path)) else None
        t0, t1 = (dt.datetime.fromisoformat(str(details[k])) for k in ("started_at", "finished_at"))
        duration = round((t1 - t0).total_seconds(), 3)
    except (KeyError, TypeError, ValueError, OSError):
        size, duration = None, None
    record_integration(None, source=f"file:{details.get('file_name') or os.path.basename(str(path))}",
                       action=f"ingest {batch.target}", user=batch.actor, conn=conn,
                       outcome="ok" if batch.action == "ingest" else "failed",
                       rows=details.get("rows"), bytes=size, duration_s=duration, audit_seq=seq,
                       sha256=details.get("sha256"), errors=details.get("errors"))


def _parameters() -> dict | None:
    try:
        return parameters_state()
    except OSError:  # pragma: no cover - an unreadable parameters folder is not a write error
        return None


def _config_entry(conn: Connection, seq: int, actor: str, state: dict) -> None:
    """Append a ``config`` entry when the parameters' hash differs from the last recorded."""
    rows = conn.query("SELECT CAST(details AS VARCHAR) FROM audit_log WHERE action = 'config' "
                      "ORDER BY seq DESC LIMIT 1")
    last = json.loads(rows[0][0]) if rows and rows[0][0] else None
    if last is not None and last.get("sha256") == state["sha256"]:
        return
    details = {"sha256": state["sha256"], "previous_sha256": last.get("sha256") if last else None,
               **diff(last or {}, state), "files": state["files"]}
    git = git_info()
    if git:
        details["git"] = git
    append_entry(conn, seq, actor, "config", "parameters/", details)


def append_entry(conn: Connection, seq: int, actor: str, action: str, target: str,
                 details: dict | None, digests: dict | None = None,
                 ts: dt.datetime | None = None) -> str:
    """Append entry ``seq`` (already reserved) after the current head; returns its hash."""
    ts = ts or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ts = ts.replace(microsecond=ts.microsecond)  # stored to the microsecond on both backends
    prev = conn.query("SELECT entry_hash FROM audit_log WHERE seq = :s", {"s": seq - 1})
    prev_hash = prev[0][0] if prev else GENESIS
    details = json.loads(canonical(details or {}))  # what is stored is what is hashed
    body = entry_body(seq, ts, actor, action, target, details, digests)
    h = entry_hash(prev_hash, body)
    conn.execute("INSERT INTO audit_log (seq, ts, actor, action, target, details, digests, prev_hash, "
                 "entry_hash) VALUES (:seq, :ts, :actor, :action, :target, :details, :digests, :prev, :h)",
                 {"seq": seq, "ts": ts, "actor": actor, "action": action, "target": target,
                  "details": canonical(details), "digests": canonical(digests or {}),
                  "prev": prev_hash, "h": h})
    return h
