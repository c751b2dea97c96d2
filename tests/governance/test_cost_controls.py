"""Cost allocation controls on hand-built ledgers (March 2024)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.governance.conftest import P, put
from tests.governance.helpers import failures

FEB = date(2024, 2, 1)


@pytest.fixture
def features(wh):
    put(wh, "features", [{"feature_id": f} for f in ("F1", "F2", "F3")])
    put(wh, "dev_costs", [{"feature_id": "F1", "cost": 1000}, {"feature_id": "F2", "cost": 500},
                          {"feature_id": "F2", "cost": 700, "period": FEB}])
    put(wh, "gl_entries", [
        {"period": P, "account_id": "6000", "department_id": "D2", "feature_id": "F1", "amount": 600},
        {"period": P, "account_id": "6300", "department_id": "D2", "feature_id": "F1", "amount": 400.40},
        {"period": P, "account_id": "6300", "department_id": "D2", "feature_id": "F2", "amount": 450},
        {"period": FEB, "account_id": "6300", "department_id": "D2", "feature_id": "F2", "amount": 700},
        {"period": P, "account_id": "6300", "department_id": "D2", "feature_id": "F3", "amount": 200},
    ])
    return wh


def test_dev_cost_tie_flags_features_whose_costs_and_ledger_disagree(features):
    f = failures(features, "dev_cost_tie")
    # F1: 1000 vs 1000.40, inside the tolerance; F2: 500 vs 450; F3: ledger lines without dev cost
    assert set(f) == {"feature F2", "feature F3"}
    assert (f["feature F2"]["value"], f["feature F2"]["expected"]) == (500, 450)
    assert (f["feature F3"]["value"], f["feature F3"]["expected"]) == (0, 200)
    sources = {e["source"] for e in f["feature F2"]["evidence"]}
    assert sources == {"dev_costs", "gl_entries"}
    assert all(e["period"] == "2024-03-01" for e in f["feature F2"]["evidence"]), "only the period's rows"


def test_dev_cost_tie_in_a_month_that_ties(features):
    assert failures(features, "dev_cost_tie", period=FEB) == {}


@pytest.fixture
def campaigns(wh):
    put(wh, "marketing_campaigns", [
        {"campaign_id": "K1", "ended_on": date(2024, 3, 20), "spend": 900},
        {"campaign_id": "K2", "ended_on": date(2024, 3, 31), "spend": 1000},
        {"campaign_id": "K3", "ended_on": None, "spend": 1000},           # still running
        {"campaign_id": "K4", "ended_on": date(2024, 4, 10), "spend": 1000},  # ends after March
        {"campaign_id": "K5", "ended_on": date(2024, 2, 10), "spend": 300.90},  # 0.90 off: inside 1.00
    ])
    put(wh, "gl_entries", [
        {"period": FEB, "account_id": "6200", "department_id": "D3", "campaign_id": "K1", "amount": 500},
        {"period": P, "account_id": "6200", "department_id": "D3", "campaign_id": "K1", "amount": 400},
        {"period": P, "account_id": "6200", "department_id": "D3", "campaign_id": "K2", "amount": 800},
        {"period": P, "account_id": "6200", "department_id": "D3", "campaign_id": "K3", "amount": 300},
        {"period": P, "account_id": "6200", "department_id": "D3", "campaign_id": "K4", "amount": 300},
        {"period": FEB, "account_id": "6200", "department_id": "D3", "campaign_id": "K5", "amount": 300},
    ])
    return wh


def test_campaign_spend_tie_checks_finished_campaigns_only(campaigns):
    f = failures(campaigns, "campaign_spend_tie")
    assert set(f) == {"campaign K2"}, "K3 is still running, K4 ends after March, K5 is inside the tolerance"
    assert (f["campaign K2"]["value"], f["campaign K2"]["expected"]) == (1000, 800)
    ev = f["campaign K2"]["evidence"]
    assert ev[0]["source"] == "marketing_campaigns" and any(e["source"] == "gl_entries" for e in ev)


def test_campaign_spend_tie_once_a_campaign_has_ended(campaigns):
    assert set(failures(campaigns, "campaign_spend_tie", period=date(2024, 4, 1))) == {"campaign K2", "campaign K4"}


@pytest.fixture
def costs(wh):
    put(wh, "budgets", [{"department_id": "D1", "account_id": "6000", "amount": 4000}])
    put(wh, "gl_entries", [
        {"period": P, "account_id": "6000", "department_id": "D1", "amount": 5000},  # budgeted (over: not this control)
        {"period": P, "account_id": "6300", "department_id": "D2", "amount": 3000},  # unbudgeted
        {"period": P, "account_id": "6300", "department_id": "D2", "amount": 2000},
        {"period": P, "account_id": "6000", "department_id": "D2", "amount": 999.99},  # under the floor
        {"period": P, "account_id": "6200", "department_id": "D3", "amount": 1000},  # exactly on the floor
        {"period": P, "account_id": "4000", "department_id": "D1", "amount": 50000},  # revenue: not a cost
        {"period": FEB, "account_id": "6300", "department_id": "D1", "amount": 7000},  # another month
    ])
    return wh


def test_budget_coverage_flags_material_unbudgeted_cost_lines(costs):
    f = failures(costs, "budget_coverage")
    assert set(f) == {"department D2 · account 6300"}
    r = f["department D2 · account 6300"]
    assert r["value"] == 5000 and r["expected"] is None
    assert sorted(e["amount"] for e in r["evidence"]) == [2000, 3000]


def test_budget_coverage_materiality_is_configurable(costs):
    f = failures(costs, "budget_coverage", materiality=500)
    assert set(f) == {"department D2 · account 6300", "department D2 · account 6000", "department D3 · account 6200"}
