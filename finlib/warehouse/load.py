"""The one loading path: every write to the warehouse goes through :func:`write_batch`.

A batch is one transaction. Callers (ingestion, the demo generator, alert storage, the
job runner) append DataFrames or Arrow tables, delete rows for a replace, or run an
``INSERT ... SELECT``; on normal exit every registered *write hook* runs inside the same
transaction (the audit trail hooks in here) and the batch commits. On any error nothing is
written.

>>> with write_batch(wh, action="ingest", actor="ana", target="customers") as b:  # doctest: +SKIP
...     b.append("customers", df)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import lazy_loader as lazy

from finlib.audit import trail as audit_trail
from finlib.audit.identity import current_actor
from finlib.warehouse.db import Connection, Warehouse
from finlib.warehouse.schema import TABLES

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
        """Any other statement (UPDATE of system tables, ...). Prefer the methods above."""
        self.conn.execute(sql, params)


@contextmanager
def write_batch(wh: Warehouse, *, action: str, target: str, actor: str | None = None,
                details: dict | None = None, timeout: float | None = None) -> Iterator[Batch]:
    """Open one all-or-nothing write transaction on ``wh`` and yield a :class:`Batch`.

    ``timeout`` (seconds) overrides ``FINLIB_DB_TIMEOUT`` for waiting on a busy DuckDB file.
    The audit trail is called directly, not registered as a hook, so no batch can skip it:
    it reserves the entry's seq when the batch opens and appends the entry last, after the
    registered hooks.
    """
    with wh.transaction(timeout=timeout) as conn:
        batch = Batch(conn=conn, action=action, actor=actor or current_user(), target=target,
                      details=dict(details or {}))
        audit_trail.on_begin(conn, batch)
        yield batch
        for hook in list(_HOOKS):
            hook(conn, batch)
        audit_trail.on_write(conn, batch)
