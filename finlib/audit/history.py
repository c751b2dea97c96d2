"""Every version of a row, and the data as it stood after any entry.

A live row was written by entry ``added_seq`` (its latest ``audit_added`` record, else its
table's baseline); a row that a replace or delete removed lives on in ``<table>_history``
with ``removed_seq``, and was written by the latest ``audit_added`` record of its row hash
before ``removed_seq`` (else the baseline). So the table as of entry ``S`` is::

    live rows with added_seq <= S
    UNION ALL history rows with added_seq <= S < removed_seq

:func:`materialise_as_of` writes every canonical table as of ``S`` into a throw-away DuckDB
file, where the ordinary metric code runs unchanged (``finlib kpis --as-of S``). It reads
each table once; on a 10-million-row ledger that is a copy of the ledger (seconds on
DuckDB, longer from PostgreSQL): an occasional, auditor's operation.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lazy_loader as lazy

from finlib.audit.trail import added_seq_sql, history_table, row_hash_sql
from finlib.errors import FinlibError
from finlib.warehouse.db import Connection, Warehouse
from finlib.warehouse.schema import CANONICAL_TABLES, TABLES, create_table_sql

duckdb = lazy.load("duckdb")


def _baseline(conn: Connection, table: str) -> int | None:
    if not conn.table_exists("audit_tables"):
        return None
    v = conn.scalar("SELECT baseline_seq FROM audit_tables WHERE table_name = :t", {"t": table})
    return None if v is None else int(v)


def _added_join(conn: Connection, table: str) -> str:
    return (f"LEFT JOIN (SELECT row_hash, max(added_seq) AS m FROM audit_added WHERE table_name = '{table}' "
            f"GROUP BY row_hash) a ON a.row_hash = {row_hash_sql(conn, table, 't')}")


def as_of_sql(conn: Connection, table: str, seq: int) -> str:
    """SELECT of ``table``'s canonical columns as they stood after entry ``seq``."""
    cols = TABLES[table].column_names
    sel = ", ".join(f"t.{c}" for c in cols)
    base = _baseline(conn, table)
    if base is None:  # never written under the trail: as it is
        return f"SELECT {sel} FROM {table} AS t"
    live = f"SELECT {sel} FROM {table} AS t {_added_join(conn, table)} WHERE COALESCE(a.m, {base}) <= {int(seq)}"
    hist = history_table(table)
    if not conn.table_exists(hist):
        return live
    added = added_seq_sql(conn, table, "t", base, before="t.removed_seq")
    return (f"{live} UNION ALL SELECT {sel} FROM {hist} AS t "
            f"WHERE t.removed_seq > {int(seq)} AND {added} <= {int(seq)}")


def _check_seq(conn: Connection, seq: int) -> None:
    newest = conn.scalar("SELECT COALESCE(max(seq), 0) FROM audit_log") if conn.table_exists("audit_log") else 0
    if seq < 1 or seq > int(newest or 0):
        raise FinlibError(f"--as-of {seq}: the audit trail has entries 1..{newest}; "
                          "`finlib audit log` lists them")


def materialise_as_of(wh: Warehouse, seq: int, path: Path) -> Warehouse:
    """Write every canonical table as of entry ``seq`` into a new DuckDB file at ``path``."""
    out = duckdb.connect(str(path))
    try:
        for name in CANONICAL_TABLES:
            out.execute(create_table_sql(TABLES[name], "duckdb"))
        with wh.connect(read_only=True) as conn:
            _check_seq(conn, seq)
            for name in CANONICAL_TABLES:
                if not conn.table_exists(name):
                    continue
                sql = as_of_sql(conn, name, seq)
                data = conn.raw.sql(sql).to_arrow_table() if conn.backend == "duckdb" else conn.query_df(sql)
                if len(data) == 0:
                    continue
                cols = ", ".join(TABLES[name].column_names)
                out.register("_asof", data)
                out.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _asof")
                out.unregister("_asof")
    finally:
        out.close()
    return Warehouse.from_url(f"duckdb://{path}")


@contextmanager
def warehouse_as_of(wh: Warehouse, seq: int) -> Iterator[Warehouse]:
    """A temporary DuckDB warehouse holding the data as it stood after entry ``seq``."""
    with tempfile.TemporaryDirectory(prefix="finlib-asof-") as d:
        yield materialise_as_of(wh, seq, Path(d) / f"as-of-{seq}.duckdb")


# ------------------------------------------------------------------------------- row history
def _key_filter(table: str, key: str) -> tuple[str, dict]:
    pk = TABLES[table].primary_key
    if not pk:
        raise FinlibError(f"{table} has no primary key: `audit history` needs one "
                          "(use `finlib audit log --table` for its batches)")
    parts = [p.strip() for p in key.split(",")]
    if len(parts) != len(pk):
        raise FinlibError(f"{table}'s key is ({', '.join(pk)}): give {len(pk)} value(s) separated by commas")
    where = " AND ".join(f"CAST(t.{c} AS VARCHAR) = :k{i}" for i, c in enumerate(pk))
    return where, {f"k{i}": v for i, v in enumerate(parts)}


def row_history(wh: Warehouse, table: str, key: str) -> list[dict]:
    """Every version of the row of ``table`` with primary key ``key`` (oldest first): its
    values, the entry that wrote it and the one that removed it (seq, actor, time, action,
    reason)."""
    if table not in CANONICAL_TABLES:
        raise FinlibError(f"{table!r} is not a canonical table")
    where, params = _key_filter(table, key)
    cols = TABLES[table].column_names
    versions: list[dict] = []
    with wh.connect(read_only=True) as conn:
        entries = _entries(conn)
        hist = history_table(table)
        base = _baseline(conn, table)
        if conn.table_exists(hist):
            added = added_seq_sql(conn, table, "t", base, before="t.removed_seq")
            rows = conn.query(f"SELECT {', '.join('t.' + c for c in cols)}, {added}, t.removed_seq "
                              f"FROM {hist} AS t WHERE {where} ORDER BY t.removed_seq", params)
            for r in rows:
                versions.append(_version(cols, r[:-2], r[-2], r[-1], entries))
        added = (f"COALESCE(a.m, {base})" if base is not None else "0")
        join = _added_join(conn, table) if base is not None else ""
        rows = conn.query(f"SELECT {', '.join('t.' + c for c in cols)}, {added} FROM {table} AS t {join} "
                          f"WHERE {where}", params)
        for r in rows:
            versions.append(_version(cols, r[:-1], r[-1], None, entries))
    versions.sort(key=lambda v: (v["added_seq"] or 0, v["removed_seq"] or 1 << 62))
    return versions


def _entries(conn: Connection) -> dict[int, dict]:
    if not conn.table_exists("audit_log"):
        return {}
    out = {}
    for seq, ts, actor, action, target, details in conn.query(
            "SELECT seq, CAST(ts AS VARCHAR), actor, action, target, CAST(details AS VARCHAR) FROM audit_log"):
        d = json.loads(details) if details else {}
        out[int(seq)] = {"seq": int(seq), "ts": ts, "actor": actor, "action": action, "target": target,
                         "reason": d.get("reason"), "file": d.get("file_name") or d.get("file"),
                         "replace": d.get("replace") or d.get("mode")}
    return out


def _version(cols, values, added_seq, removed_seq, entries) -> dict:
    def jsonable(v):
        return v if v is None or isinstance(v, (int, float, str, bool)) else str(v)

    return {"state": "removed" if removed_seq is not None else "current",
            "added_seq": None if added_seq is None else int(added_seq),
            "removed_seq": None if removed_seq is None else int(removed_seq),
            "added_by": entries.get(int(added_seq)) if added_seq else None,
            "removed_by": entries.get(int(removed_seq)) if removed_seq is not None else None,
            "row": {c: jsonable(v) for c, v in zip(cols, values, strict=True)}}
