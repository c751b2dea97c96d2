"""The one loading path: every write to the warehouse goes through :func:`write_batch`.

A batch is one transaction. Callers (ingestion, the demo generator, alert storage, the
job runner) append DataFrames or Arrow tables, delete rows for a replace, or run an
``INSERT ... SELECT``; on normal exit every registered *write hook* runs inside the same
transaction (the audit trail hooks in here) and the batch commits. On any error nothing is
written.

The batch records which tables it changed. On PostgreSQL it then refreshes their planner
statistics (``ANALYZE``) inside the same transaction, just before the commit (see
:func:`refresh_statistics`): a table filled or emptied by a load is never left with the
statistics of its previous contents, so the first queries after a load (the nightly ingest
followed by the morning jobs) are planned on what the table now holds, not on whatever
autovacuum happens to have seen. Every writer (ingestion, the demo build, a retention
purge) gets this by writing through the batch, without code of its own.

>>> with write_batch(wh, action="ingest", actor="ana", target="customers") as b:  # doctest: +SKIP
...     b.append("customers", df)
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import lazy_loader as lazy

from finlib.audit import trail as audit_trail
from finlib.audit.identity import current_actor
from finlib.warehouse.db import PARAM_RE, Connection, Warehouse
from finlib.warehouse.schema import CANONICAL_TABLES, TABLES

# PostgreSQL COPY needs pyarrow: loaded when a batch first writes to PostgreSQL.
pg_copy = lazy.load("finlib.warehouse.pg_copy", suppress_warning=True)

WriteHook = Callable[[Connection, "Batch"], None]
_HOOKS: list[WriteHook] = []


def register_write_hook(hook: WriteHook) -> WriteHook:
    """Register ``hook(conn, batch)``, called inside every batch's transaction before commit."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def unregister_write_hook(hook: WriteHook) -> None:
    if hook in _HOOKS:
        _HOOKS.remove(hook)


#: modules that register write hooks when imported; imported on the first write of a process
HOOK_MODULES: tuple[str, ...] = ("finlib.governance.periods_close",)


def _import_hook_modules() -> None:
    for name in HOOK_MODULES:
        importlib.import_module(name)


def current_user() -> str:
    """The acting user: :func:`finlib.audit.identity.current_actor` (OS user by default)."""
    return current_actor().name


@dataclass
class Batch:
    conn: Connection
    action: str
    actor: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    #: tables changed by free-form statements (:meth:`execute`), row count unknown
    changed_by_sql: set[str] = field(default_factory=set)
    #: tables whose statistics the batch refreshed before committing (PostgreSQL)
    analyzed: list[str] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return self.conn.backend

    def _count(self, table: str, n: int) -> None:
        self.rows_written[table] = self.rows_written.get(table, 0) + int(n)

    def append(self, table: str, data) -> int:
        """Append a pandas DataFrame or pyarrow Table whose columns are a subset of the
        table's columns (missing nullable columns become NULL). Returns rows written."""
        n = len(data) if not hasattr(data, "num_rows") else data.num_rows
        if n == 0:
            return 0
        cols = list(data.columns) if not hasattr(data, "column_names") else list(data.column_names)
        known = set(TABLES[table].column_names) if table in TABLES else None
        if known is not None:
            unknown = [c for c in cols if c not in known]
            if unknown:
                raise ValueError(f"{table}: unknown columns {unknown}")
        collist = ", ".join(cols)
        if self.backend == "duckdb":
            raw = self.conn.raw
            raw.register("_finlib_append", data)
            try:
                raw.execute(f"INSERT INTO {table} ({collist}) SELECT {collist} FROM _finlib_append")
            finally:
                raw.unregister("_finlib_append")
        else:
            pg_copy.copy_frame(self.conn.raw, table, cols, data)
        self._count(table, n)
        return n

    def delete(self, table: str, where: str = "TRUE", params: dict | None = None) -> int:
        n = self.conn.scalar(f"SELECT count(*) FROM {table} WHERE {where}", params) or 0
        audit_trail.on_delete(self, table, where, params)  # keeps the rows in <table>_history
        self.conn.execute(f"DELETE FROM {table} WHERE {where}", params)
        self.rows_deleted[table] = self.rows_deleted.get(table, 0) + int(n)
        return n

    def update(self, table: str, assignments: str, where: str = "TRUE", params: dict | None = None) -> int:
        """``UPDATE table SET assignments WHERE where`` that keeps the rows as they were.

        The matching rows go to ``<table>_history`` (removed by this batch, as
        :meth:`delete` does) and their updated copies are written back, so the audit trail
        records them as deleted and written and ``finlib audit history`` shows both versions.
        ``assignments`` may name the table's columns unqualified (``amount = amount + :d``);
        ``where`` is evaluated against the table. Rows this batch wrote itself are changed in
        place (they never existed outside it). Returns the rows updated."""
        cols = TABLES[table].column_names if table in TABLES else None
        if cols is None:
            raise ValueError(f"{table}: not a finlib table")
        collist = ", ".join(cols)
        fresh = audit_trail.written_predicate(self.conn, alias=table)
        # rows this batch wrote itself never existed outside it: changed in place
        in_place = self.conn.scalar(f"SELECT count(*) FROM {table} WHERE ({where}) AND {fresh}",
                                    _used_params(where, params)) or 0
        if in_place:
            self.conn.execute(f"UPDATE {table} SET {assignments} WHERE ({where}) AND {fresh}", params)
        where = f"({where}) AND NOT ({fresh})"
        self.conn.execute("DROP TABLE IF EXISTS _finlib_update")
        self.conn.execute(f"CREATE TEMP TABLE _finlib_update AS SELECT {collist} FROM {table} WHERE {where}",
                          _used_params(where, params))
        try:
            self.conn.execute(f"UPDATE _finlib_update SET {assignments}", _used_params(assignments, params))
            n = self.delete(table, where, _used_params(where, params))
            self.conn.execute(f"INSERT INTO {table} ({collist}) SELECT {collist} FROM _finlib_update")
            self._count(table, n)
        finally:
            self.conn.execute("DROP TABLE IF EXISTS _finlib_update")
        return n + int(in_place)

    def append_stream(self, table: str, columns: list[str], batches) -> int:
        """Append an iterable of pyarrow RecordBatches (e.g. a ``RecordBatchReader``) without
        holding them all in memory: ``INSERT`` per batch on DuckDB, one streamed ``COPY`` on
        PostgreSQL. Returns rows written."""
        if self.backend == "duckdb":
            n = 0
            for rb in batches:
                n += self.append(table, rb)
            return n
        n = pg_copy.copy_arrow_batches(self.conn.raw, table, columns, batches)
        self._count(table, n)
        return n

    def execute(self, sql: str, params: dict | None = None) -> None:
        """Any other statement (UPDATE of system tables, ...). Prefer the methods above.

        The table an ``INSERT``, ``UPDATE``, ``DELETE``, ``MERGE``, ``COPY ... FROM`` or
        ``TRUNCATE`` changes is recorded (:attr:`changed_by_sql`), so its statistics are
        refreshed like those of a table written with :meth:`append`.

        An ``UPDATE``, ``DELETE``, ``MERGE`` or ``TRUNCATE`` of a canonical table is refused
        (:class:`ValueError`): it would lose the rows as they were. Use :meth:`update` or
        :meth:`delete`, which keep them in ``<table>_history``."""
        m = _CHANGES_RE.match(sql)
        hit = _rewrites_canonical(sql)
        if hit:
            raise ValueError(f"{hit} is a canonical table: change its rows with Batch.update or "
                             "Batch.delete, which keep the old rows in history (not with a free statement)")
        self.conn.execute(sql, params)
        if m:
            self.changed_by_sql.add(m.group(1).lower())

    @property
    def tables_changed(self) -> list[str]:
        """Every table this batch inserted into, deleted from or otherwise changed, sorted."""
        counted = {t for d in (self.rows_written, self.rows_deleted) for t, n in d.items() if n}
        return sorted(counted | self.changed_by_sql)


def _used_params(sql: str, params: dict | None) -> dict | None:
    """The ``params`` that ``sql`` names (``:name``); a driver refuses unused ones."""
    names = set(PARAM_RE.findall(sql))
    return {k: v for k, v in (params or {}).items() if k in names} or None


#: a statement that changes or replaces rows of the table it names, anywhere in the text
#: (after a WITH, a comment or another statement too), schema-qualified or quoted
_REWRITES_RE = re.compile(
    r"\b(?:UPDATE|DELETE\s+FROM|MERGE\s+INTO|TRUNCATE(?:\s+TABLE)?|INSERT\s+OR\s+(?:REPLACE|IGNORE)\s+INTO"
    r"|INSERT\s+INTO)\s+(?:ONLY\s+)?(?:\"?\w+\"?\.)?\"?([A-Za-z_]\w*)\"?", re.IGNORECASE)


def _rewrites_canonical(sql: str) -> str | None:
    """The canonical table ``sql`` would change other than by appending rows, else None.

    Appending (``INSERT INTO t ...``, ``COPY``) loses nothing; anything that updates, deletes
    or replaces rows of a canonical table does: ``UPDATE``, ``DELETE``, ``MERGE``,
    ``TRUNCATE``, ``INSERT OR REPLACE`` and an ``INSERT ... ON CONFLICT ... DO UPDATE``,
    wherever they stand in the text (behind a ``WITH``, a comment or a ``;``). Text inside
    string literals is ignored."""
    text = re.sub(r"'(?:[^']|'')*'", "''", sql)  # no table name inside a literal counts
    upsert = re.search(r"\bON\s+CONFLICT\b.*\bDO\s+UPDATE\b", text, re.IGNORECASE | re.DOTALL)
    for m in _REWRITES_RE.finditer(text):
        table = m.group(1).lower()
        if table not in CANONICAL_TABLES:
            continue
        plain_insert = re.match(r"INSERT\s+INTO", m.group(0), re.IGNORECASE)
        if not plain_insert or upsert:
            return table
    return None


_CHANGES_RE = re.compile(
    r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|MERGE\s+INTO|TRUNCATE(?:\s+TABLE)?|COPY)\s+"
    r"(?:ONLY\s+)?\"?([A-Za-z_]\w*)\"?", re.IGNORECASE)

#: autovacuum's default ``autovacuum_analyze_scale_factor``: the share of a table's rows
#: whose change makes its statistics worth refreshing (used for the system tables)
SIGNIFICANT_SHARE = 0.10


def tables_to_analyze(conn: Connection, batch: Batch) -> list[str]:
    """The tables of ``batch`` whose statistics must be refreshed before it commits.

    * Every **canonical** table the batch changed, whatever the share. Loads of a new month
      are a small share of a table holding years, yet they are exactly the rows the next
      jobs ask for (``period = <the new month>``): statistics taken before the load know
      nothing of that month, and the planner has to guess how many rows it holds. ``ANALYZE`` reads a
      fixed-size sample (300 × ``default_statistics_target`` rows), so it costs milliseconds
      on small tables and well under a second on the largest.
    * A **system** table (``runs``, ``alerts``, ``audit_log``, ...), written a few rows at a
      time by every run and alert check, only when the batch's counted rows reach
      :data:`SIGNIFICANT_SHARE` of the rows its statistics know of (autovacuum's own rule,
      applied now rather than whenever autovacuum wakes up), or it was never analyzed.
      Statements whose row count is unknown (:meth:`Batch.execute`) do not count there.
    """
    changed = [t for t in batch.tables_changed if t in TABLES]
    canonical = [t for t in changed if t in CANONICAL_TABLES]
    system = {t: batch.rows_written.get(t, 0) + batch.rows_deleted.get(t, 0)
              for t in changed if t not in CANONICAL_TABLES}
    system = {t: n for t, n in system.items() if n}
    if not system:
        return canonical
    known = dict(conn.query(
        "SELECT c.relname, c.reltuples FROM pg_class c "
        "WHERE c.relnamespace = CAST(current_schema() AS TEXT)::regnamespace AND c.relkind IN ('r', 'p') "
        "AND c.relname = ANY(:names)", {"names": list(system)}))
    due = [t for t, n in system.items()
           if known.get(t, -1) < 0 or n >= SIGNIFICANT_SHARE * known[t]]
    return sorted(canonical + due)


def refresh_statistics(conn: Connection, batch: Batch) -> list[str]:
    """``ANALYZE`` the tables the batch changed (:func:`tables_to_analyze`), on PostgreSQL.

    Runs inside the batch's transaction, after the write hooks and just before the commit:
    the statistics describe the rows being committed (ANALYZE samples the transaction's
    own inserts and skips its own deletes) and become visible with them, so no query is
    ever planned on the new data with the old statistics. The refresh takes a SHARE UPDATE
    EXCLUSIVE lock until the commit, which blocks neither readers nor writers (only another
    ANALYZE or VACUUM of the same table waits). If the commit then fails, the statistics
    roll back with the data (PostgreSQL keeps only the row estimate in ``pg_class``, which
    the next ANALYZE corrects).

    DuckDB keeps its column statistics current as part of every write and plans with hash
    joins that do not depend on them: nothing to do there. Returns the tables analyzed.
    """
    if batch.backend != "postgresql":
        return []
    tables = tables_to_analyze(conn, batch)
    for t in tables:
        conn.execute(f"ANALYZE {t}")
    batch.analyzed = tables
    return tables


@contextmanager
def write_batch(wh: Warehouse, *, action: str, target: str, actor: str | None = None,
                details: dict | None = None, timeout: float | None = None) -> Iterator[Batch]:
    """Open one all-or-nothing write transaction on ``wh`` and yield a :class:`Batch`.

    On normal exit the write hooks run, then (PostgreSQL) the statistics of the tables the
    batch changed are refreshed (:func:`refresh_statistics`), then the batch commits: a
    caller that returns from the ``with`` block has its rows committed *and* described to
    the planner. ``timeout`` (seconds) overrides ``FINLIB_DB_TIMEOUT`` for waiting on a
    busy DuckDB file.
    The audit trail is called directly, not registered as a hook, so no batch can skip it:
    it reserves the entry's seq when the batch opens and appends the entry last, after the
    registered hooks and before the statistics.
    """
    _import_hook_modules()
    with wh.transaction(timeout=timeout) as conn:
        batch = Batch(conn=conn, action=action, actor=actor or current_user(), target=target,
                      details=dict(details or {}))
        audit_trail.on_begin(conn, batch)
        yield batch
        for hook in list(_HOOKS):
            hook(conn, batch)
        audit_trail.on_write(conn, batch)
        refresh_statistics(conn, batch)
