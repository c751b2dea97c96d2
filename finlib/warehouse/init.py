"""Creating the canonical schema (``finlib db init``)."""

from __future__ import annotations

from finlib.warehouse.db import Warehouse
from finlib.warehouse.schema import TABLES, create_all_sql


def init_db(wh: Warehouse) -> list[str]:
    """Create every canonical and system table that does not exist yet. Idempotent.

    Returns the names of the tables created by this call.
    """
    with wh.transaction() as conn:
        existing = {name for name in TABLES if conn.table_exists(name)}
        for stmt in create_all_sql(wh.backend):
            conn.execute(stmt)
    return [name for name in TABLES if name not in existing]
