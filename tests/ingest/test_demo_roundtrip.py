"""The demo company passes every ingest rule: its tables, exported to CSV, load into an
empty warehouse unchanged (so the demo and real loads follow one set of rules)."""

from __future__ import annotations

import duckdb

from finlib.demo import generate
from finlib.ingest.loader import ingest_file
from finlib.warehouse.create import init_db
from finlib.warehouse.db import Warehouse
from finlib.warehouse.schema import CANONICAL_TABLES, LOAD_ORDER
from finlib.warehouse.status import fingerprint


def test_demo_tables_exported_to_csv_load_through_every_rule(tmp_path):
    demo = Warehouse.from_url(f"duckdb://{tmp_path / 'demo.duckdb'}")
    generate(demo, "small", 3, "2026-10")
    order = ["fx_rates"] + [t for t in LOAD_ORDER if t in CANONICAL_TABLES and t != "fx_rates"]
    with duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True) as con:
        for t in order:
            con.execute(f"COPY {t} TO '{tmp_path / t}.csv' (HEADER)")
    target = Warehouse.from_url(f"duckdb://{tmp_path / 'loaded.duckdb'}")
    init_db(target)
    for t in order:
        ingest_file(target, t, tmp_path / f"{t}.csv")
    assert fingerprint(target) == fingerprint(demo)
