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

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from finlib.warehouse.db import Connection, Warehouse
from finlib.warehouse.schema import TABLES

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
    from finlib.audit.identity import current_actor

    return current_actor().name


# Audit attachment points besides the write hooks: a *begin* hook runs when a batch opens
# (``hook(conn, batch)``), a *delete* hook just before :meth:`Batch.delete` removes rows
# (``hook(batch, table, where, params)``), so the rows can be kept in history first.
_BEGIN_HOOKS: list[WriteHook] = []
_DELETE_HOOKS: list[Callable[..., None]] = []


def register_begin_hook(hook: WriteHook) -> WriteHook:
    if hook not in _BEGIN_HOOKS:
        _BEGIN_HOOKS.append(hook)
    return hook


def register_delete_hook(hook: Callable[..., None]) -> Callable[..., None]:
    if hook not in _DELETE_HOOKS:
        _DELETE_HOOKS.append(hook)
    return hook


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
            _copy_to_postgres(self.conn.raw, table, cols, data)
        self._count(table, n)
        return n

    def delete(self, table: str, where: str = "TRUE", params: dict | None = None) -> int:
        n = self.conn.scalar(f"SELECT count(*) FROM {table} WHERE {where}", params) or 0
        for hook in list(_DELETE_HOOKS):
            hook(self, table, where, params)
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
        n = copy_arrow_batches(self.conn.raw, table, columns, batches)
        self._count(table, n)
        return n

    def execute(self, sql: str, params: dict | None = None) -> None:
        """Any other statement (UPDATE of system tables, ...). Prefer the methods above."""
        self.conn.execute(sql, params)


def _copy_to_postgres(raw, table: str, cols: list[str], data) -> None:
    """Stream rows into PostgreSQL with COPY (text CSV), chunked to bound memory."""
    import pandas as pd

    df = data.to_pandas() if hasattr(data, "to_pandas") else data
    chunk = 100_000
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp:
            for start in range(0, len(df), chunk):
                part = df.iloc[start:start + chunk]
                buf = io.StringIO()
                part.to_csv(buf, header=False, index=False, na_rep="\\N",
                            date_format="%Y-%m-%d %H:%M:%S")
                cp.write(buf.getvalue())
    del pd


def copy_arrow_batches(raw, table: str, cols: list[str], batches) -> int:
    """Stream pyarrow RecordBatches into a PostgreSQL table with one ``COPY`` (CSV text).

    Empty strings are written quoted and NULLs unquoted, so PostgreSQL tells them apart.
    """
    import pyarrow.csv as pacsv

    opts = pacsv.WriteOptions(include_header=False)
    n = 0
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)") as cp:
            for rb in batches:
                if rb.num_rows == 0:
                    continue
                buf = io.BytesIO()
                pacsv.write_csv(rb, buf, opts)
                cp.write(buf.getvalue())
                n += rb.num_rows
    return n


@contextmanager
def write_batch(wh: Warehouse, *, action: str, target: str, actor: str | None = None,
                details: dict | None = None, timeout: float | None = None) -> Iterator[Batch]:
    """Open one all-or-nothing write transaction on ``wh`` and yield a :class:`Batch`.

    ``timeout`` (seconds) overrides ``FINLIB_DB_TIMEOUT`` for waiting on a busy DuckDB file.
    The audit trail's hooks are installed here (not by whoever imports it), so every batch
    is audited.
    """
    import finlib.audit.trail  # noqa: F401 - registers the audit hooks (idempotent)

    with wh.transaction(timeout=timeout) as conn:
        batch = Batch(conn=conn, action=action, actor=actor or current_user(), target=target,
                      details=dict(details or {}))
        for hook in list(_BEGIN_HOOKS):
            hook(conn, batch)
        yield batch
        for hook in list(_HOOKS):
            hook(conn, batch)
