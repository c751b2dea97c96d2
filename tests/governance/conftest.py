"""Hand-built books for the control tests (real DuckDB files, real PostgreSQL).

The period under test is March 2024 (31 days). Every control has rows that must fail and
rows that must not (near misses inside the tolerance, approved manual entries, a campaign
still running ...); the tests name them.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch

P = date(2024, 3, 1)
_ids = itertools.count(1)

DEFAULTS = {
    "gl_entries": lambda r: {
        "entry_id": f"e{next(_ids)}",
        "posted_at": datetime.combine(r["period"], datetime.min.time()) + timedelta(days=4),
        "department_id": "D1", "currency": "USD", "is_manual": False, "feature_id": None, "campaign_id": None,
        "created_by": "ap-sync", "approved_by": None, "source_system": "ap", "memo": None, "vendor": None},
    "subscriptions": lambda r: {
        "customer_id": "C1", "product_id": "p1", "start_date": date(2023, 1, 1), "end_date": None, "mrr": 310,
        "currency": "USD", "billing_period": "monthly"},
    "invoices": lambda r: {"customer_id": "C1", "currency": "USD", "status": "paid",
                           "issued_on": r["service_start"]},
    "revenue_recognized": lambda r: {"customer_id": "C1", "period": P},
    "features": lambda r: {"product_id": "p1", "name": r["feature_id"], "team": "core",
                           "started_on": date(2023, 1, 1), "released_on": None, "budget": 10_000},
    "dev_costs": lambda r: {"milestone_id": None, "hours": 0.0, "period": P},
    "marketing_campaigns": lambda r: {"name": r["campaign_id"], "channel": "Paid Search",
                                      "started_on": date(2024, 1, 1), "product_id": None},
    "budgets": lambda r: {"period": P},
}


def put(wh, table: str, rows: list[dict], action: str = "test") -> None:
    """Append ``rows`` to ``table`` (missing columns get harmless defaults)."""
    full = [{**DEFAULTS.get(table, lambda r: {})(r), **r} for r in rows]
    df = pd.DataFrame(full).astype(object)
    with write_batch(wh, action=action, target=table) as b:
        b.append(table, df)


@pytest.fixture
def wh(any_db_url):
    w = get_warehouse()
    init_db(w)
    put(w, "departments", [{"department_id": "D1", "name": "Sales"}, {"department_id": "D2", "name": "Product"},
                           {"department_id": "D3", "name": "Marketing"}])
    put(w, "accounts", [
        {"account_id": "4000", "name": "Subscription revenue", "account_type": "revenue", "category": "subscription"},
        {"account_id": "6000", "name": "Salaries", "account_type": "opex", "category": "salaries"},
        {"account_id": "6200", "name": "Advertising", "account_type": "opex", "category": "advertising"},
        {"account_id": "6300", "name": "Contractors", "account_type": "opex", "category": "contractors"}])
    put(w, "products", [{"product_id": "p1", "name": "Core", "launched_on": date(2020, 1, 1)}])
    put(w, "customers", [{"customer_id": "C1", "name": "Acme", "segment": "SMB", "region": "EU",
                          "industry": "software", "signup_date": date(2023, 1, 1), "acquisition_channel": "web",
                          "acquisition_campaign_id": None, "cs_tier": "pooled", "csm_owner": None}])
    return w


@pytest.fixture
def controls_config():
    """The repository's parameters/controls.yaml, validated."""
    from finlib.governance.config import load_config

    return load_config()
