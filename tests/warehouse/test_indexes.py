"""PostgreSQL's secondary indexes: declared in the schema, created by ``finlib db init``,
used by the planner; DuckDB gets none."""

from __future__ import annotations

import pytest

from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import INDEXES, TABLES


def test_every_reference_to_a_customer_or_subscription_is_indexed():
    """Removing customers or subscriptions (a replace, ``demo-data --force``) makes
    PostgreSQL look up each removed row in every referencing table: each such column leads
    an index (or the primary key)."""
    leading = {(ix.table, ix.columns[0]) for ix in INDEXES}
    leading |= {(t.name, t.primary_key[0]) for t in TABLES.values() if t.primary_key}
    missing = [f"{t.name}.{c.name}" for t in TABLES.values() for c in t.columns
               if c.references in ("customers.customer_id", "subscriptions.subscription_id")
               and (t.name, c.name) not in leading]
    assert missing == []


def test_every_index_names_real_columns_and_says_why():
    for ix in INDEXES:
        assert set(ix.columns) <= set(TABLES[ix.table].column_names), ix.name
        assert len(ix.why) > 40, ix.name
    assert len({ix.name for ix in INDEXES}) == len(INDEXES)


@pytest.mark.postgres
def test_db_init_creates_every_declared_index_on_postgresql_once(postgres_url):
    wh = get_warehouse()
    init_db(wh)
    init_db(wh)  # idempotent: an older warehouse gets what is missing
    with wh.connect(read_only=True) as conn:
        rows = dict(conn.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"))
    for ix in INDEXES:
        assert ix.name in rows, ix.name
        assert f"({', '.join(ix.columns)})" in rows[ix.name]
        assert (ix.where is not None) == (" WHERE " in rows[ix.name]), ix.name


def test_duckdb_gets_no_secondary_index(duckdb_url):
    wh = get_warehouse()
    init_db(wh)
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM duckdb_indexes()") == 0


@pytest.mark.postgres
def test_the_planner_finds_a_customers_rows_and_a_month_of_the_ledger_by_index(postgres_url):
    """The lookups the foreign-key checks run for each removed customer, and a one-month
    ledger read, are index scans on freshly loaded (and analyzed) tables."""
    import pandas as pd

    wh = get_warehouse()
    init_db(wh)
    n = 1000
    ids = [f"c{i:05d}" for i in range(n)]
    months = [f"2024-{m:02d}-01" for m in range(1, 13)]
    with write_batch(wh, action="test", target="customers") as b:
        b.append("departments", pd.DataFrame({"department_id": ["d1"], "name": ["Sales"]}))
        b.append("accounts", pd.DataFrame({"account_id": ["a1"], "name": ["Software"], "account_type": ["opex"],
                                           "category": ["software"]}))
        b.append("customers", pd.DataFrame({
            "customer_id": ids, "name": ids, "segment": "SMB", "region": "EMEA", "industry": "Software",
            "signup_date": "2024-01-01", "acquisition_channel": "organic", "cs_tier": "pooled"}))
        b.append("health_scores", pd.DataFrame({
            "customer_id": ids * 12, "scored_on": [m for m in months for _ in ids],
            "score": 50.0, "usage_score": 50.0, "support_score": 50.0, "sentiment_score": 50.0,
            "payment_score": 50.0}))
        b.append("gl_entries", pd.DataFrame({
            "entry_id": [f"e{i}" for i in range(12 * n)], "posted_at": [m for m in months for _ in ids],
            "period": [m for m in months for _ in ids], "account_id": "a1", "department_id": "d1",
            "amount": 10, "currency": "USD", "is_manual": False}))
    with wh.connect(read_only=True) as conn:
        def plan(sql: str) -> str:
            return "\n".join(r[0] for r in conn.query("EXPLAIN " + sql))

        assert "ix_health_scores_customer_id_scored_on" in plan(
            "SELECT 1 FROM ONLY health_scores x WHERE customer_id = 'c00001' FOR KEY SHARE OF x")
        assert "ix_gl_entries_period" in plan("SELECT sum(amount) FROM gl_entries WHERE period = DATE '2024-03-01'")
