"""The warehouse: canonical schema, connections, monthly facts, loading."""

from finlib.warehouse.db import Connection, Warehouse, get_warehouse  # noqa: F401
