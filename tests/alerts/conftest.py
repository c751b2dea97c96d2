"""Tiny hand-built warehouses for the alert tests (real DuckDB files, real PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import yaml

from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch

_ids = itertools.count(1)

DEFAULTS = {
    "gl_entries": lambda r: {
        "entry_id": f"e{next(_ids)}",
        "posted_at": datetime.combine(r["period"], datetime.min.time()) + timedelta(days=4),
        "currency": "USD", "is_manual": False, "feature_id": None, "campaign_id": None},
    "customers": lambda r: {
        "name": r["customer_id"], "segment": "SMB", "region": "EU", "industry": "software",
        "acquisition_channel": "web", "acquisition_campaign_id": None, "cs_tier": "pooled"},
    "subscriptions": lambda r: {
        "product_id": "p1", "end_date": None, "currency": "USD", "billing_period": "monthly"},
    "features": lambda r: {
        "product_id": "p1", "name": r["feature_id"], "team": "core",
        "started_on": date(2023, 1, 1), "released_on": None},
    "dev_costs": lambda r: {"milestone_id": None, "hours": 0.0},
    "marketing_campaigns": lambda r: {
        "name": r["campaign_id"], "started_on": date(2023, 1, 1), "product_id": None},
    "kpi_targets": lambda r: {"dimension": None},
    "revenue_recognized": lambda r: {"subscription_id": None},
    "products": lambda r: {"name": r["product_id"], "launched_on": date(2023, 1, 1)},
}


def put(wh, table: str, rows: list[dict]) -> None:
    """Append ``rows`` to ``table`` (missing columns get harmless defaults)."""
    full = [{**DEFAULTS.get(table, lambda r: {})(r), **r} for r in rows]
    df = pd.DataFrame(full).astype(object)
    with write_batch(wh, action="test", target=table) as b:
        b.append(table, df)


def d(s: str) -> date:
    return date.fromisoformat(s)


@pytest.fixture
def wh(any_db_url):
    w = get_warehouse()
    init_db(w)
    return w


@pytest.fixture
def duck(duckdb_url):
    w = get_warehouse()
    init_db(w)
    return w


def write_config(folder, rules: dict | None = None, channels: dict | None = None,
                 **top) -> str:
    """Write an alerts.yaml into ``folder`` and return its path."""
    data = {"version": 1, "rules": rules or {}, "channels": channels or {}, **top}
    path = folder / "alerts.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.fixture
def params_dir(tmp_path, monkeypatch):
    folder = tmp_path / "parameters"
    folder.mkdir()
    monkeypatch.setenv("FINLIB_PARAMETERS", str(folder))
    return folder


def base_dims(wh, departments=(("d1", "Sales"),), accounts=(("a1", "opex", "software"),)):
    put(wh, "departments", [{"department_id": i, "name": n} for i, n in departments])
    put(wh, "accounts", [{"account_id": i, "name": f"acct {i}", "account_type": t, "category": c}
                         for i, t, c in accounts])
