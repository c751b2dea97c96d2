"""Creating the canonical schema (``finlib db init``)."""

from __future__ import annotations

from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import TABLES, create_all_sql


def init_db(wh: Warehouse) -> list[str]:
    """Create every canonical and system table that does not exist yet. Idempotent.

    Runs through :func:`finlib.warehouse.load.write_batch` like every other write, so write
    hooks (the audit trail) see schema creation too.

    Returns the names of the tables created by this call.
    """
    with write_batch(wh, action="db-init", target="schema") as b:
        existing = {name for name in TABLES if b.conn.table_exists(name)}
        for stmt in create_all_sql(wh.backend):
            b.execute(stmt)
        for name in sorted(existing):  # a nullable column added to the schema since (invoices.kind)
            have = set(b.conn.columns(name))
            for col in TABLES[name].columns:
                if col.nullable and col.name not in have:
                    b.execute(f"ALTER TABLE {name} ADD COLUMN {col.name} {col.sql_type}")
        created = [name for name in TABLES if name not in existing]
        b.details["created"] = created
    return created
