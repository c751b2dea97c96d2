"""Revenue recognition controls on hand-built subscriptions (March 2024, 31 days)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.governance.conftest import put
from tests.governance.helpers import failures


@pytest.fixture
def books(wh):
    put(wh, "subscriptions", [{"subscription_id": s} for s in ("S1", "S2", "S3", "S4", "S5", "S6")])
    put(wh, "invoices", [
        # S1: a monthly invoice, recognised exactly
        {"invoice_id": "I1", "subscription_id": "S1", "service_start": date(2024, 3, 1),
         "service_end": date(2024, 3, 31), "amount": 310},
        # S2: an annual invoice over 366 days from 15 Jan: 10.00 a day, March = 310.00 (daily)
        #     and 3660 / 12 = 305.00 (monthly: Jan 17/31 + 11 whole months + Jan 14/31 = 12 months)
        {"invoice_id": "I2", "subscription_id": "S2", "service_start": date(2024, 1, 15),
         "service_end": date(2025, 1, 14), "amount": 3660},
        # S3: billed in March for April: revenue recognised before service starts
        {"invoice_id": "I3", "subscription_id": "S3", "issued_on": date(2024, 3, 25),
         "service_start": date(2024, 4, 1), "service_end": date(2024, 4, 30), "amount": 300},
        # S4: only a void invoice covers March
        {"invoice_id": "I4", "subscription_id": "S4", "service_start": date(2024, 3, 1),
         "service_end": date(2024, 3, 31), "amount": 50, "status": "void"},
        # S5: March service invoiced on 1 April: recognised ahead of billing
        {"invoice_id": "I5", "subscription_id": "S5", "issued_on": date(2024, 4, 1),
         "service_start": date(2024, 3, 1), "service_end": date(2024, 3, 31), "amount": 310},
        # S6: March service billed 309.50, recognised 310.00: 0.50 ahead, inside the tolerance
        {"invoice_id": "I6", "subscription_id": "S6", "service_start": date(2024, 3, 1),
         "service_end": date(2024, 3, 31), "amount": 309.50},
    ])
    put(wh, "revenue_recognized", [
        {"subscription_id": "S1", "amount": 310},
        {"subscription_id": "S2", "amount": 310.40},  # 0.40 off the daily schedule: inside 1.00
        {"subscription_id": "S3", "amount": 100},
        {"subscription_id": "S4", "amount": 50},
        {"subscription_id": "S5", "amount": 310},
        {"subscription_id": "S6", "amount": 310},
    ])
    return wh


def test_revenue_schedule_flags_revenue_before_service_and_on_void_invoices_only(books):
    f = failures(books, "revenue_schedule")
    assert set(f) == {"subscription S3", "subscription S4"}
    assert f["subscription S3"]["value"] == 100 and f["subscription S3"]["expected"] == 0
    assert f["subscription S4"]["expected"] == 0, "a void invoice schedules nothing"
    ev = f["subscription S4"]["evidence"]
    assert {e["source"] for e in ev} == {"invoices", "revenue_recognized"}
    assert any(e.get("invoice_id") == "I4" and e["status"] == "void" for e in ev)


def test_revenue_schedule_near_miss_inside_the_tolerance_passes_and_a_tighter_one_fails(books):
    assert "subscription S2" not in failures(books, "revenue_schedule")
    tight = failures(books, "revenue_schedule", tolerance=0.10)
    assert tight["subscription S2"]["expected"] == pytest.approx(310.00, abs=0.005)
    assert tight["subscription S2"]["value"] == pytest.approx(310.40)


def test_monthly_convention_spreads_equal_whole_months(books):
    f = failures(books, "revenue_schedule", convention="monthly")
    # 3660 over 12 equal months = 305.00 in March; 310.40 recognised is 5.40 off
    assert f["subscription S2"]["expected"] == pytest.approx(305.00, abs=0.005)
    assert "subscription S1" not in f, "a whole calendar month is one month under either convention"


def test_revenue_outside_any_invoice_is_expected_to_be_zero(books):
    put(books, "subscriptions", [{"subscription_id": "S9"}])
    put(books, "revenue_recognized", [{"subscription_id": "S9", "amount": 75}])
    f = failures(books, "revenue_schedule")
    assert f["subscription S9"]["value"] == 75 and f["subscription S9"]["expected"] == 0


def test_deferred_revenue_flags_revenue_ahead_of_billing_only(books):
    f = failures(books, "deferred_revenue")
    # S4's revenue sits on a void invoice: never billed; S6 is 0.50 ahead: inside the tolerance;
    # S3 was billed in March (for April) and S2 a year ahead
    assert set(f) == {"subscription S4", "subscription S5"}
    assert f["subscription S5"]["value"] == 310 and f["subscription S5"]["expected"] == 0
    assert "ahead of billing" in f["subscription S5"]["message"]


def test_deferred_revenue_counts_billing_up_to_the_period_end(books):
    # in April the late invoice is billed: S5 is no longer ahead (April adds no revenue)
    assert set(failures(books, "deferred_revenue", period=date(2024, 4, 1))) == {"subscription S4"}


def test_revenue_ledger_tie_passes_within_tolerance_and_fails_on_a_gap(books):
    total = 310 + 310.40 + 100 + 50 + 310 + 310
    put(books, "gl_entries", [{"period": date(2024, 3, 1), "account_id": "4000", "amount": round(total - 0.60, 2),
                               "source_system": "billing", "created_by": "billing-sync"}])
    assert failures(books, "revenue_ledger_tie") == {}
    put(books, "gl_entries", [{"period": date(2024, 3, 1), "account_id": "4000", "amount": 250,
                               "source_system": "manual", "is_manual": True, "created_by": "ana", "approved_by": "bo"}])
    f = failures(books, "revenue_ledger_tie")
    assert set(f) == {"company"}
    assert f["company"]["value"] == pytest.approx(total) and f["company"]["expected"] == pytest.approx(total + 249.40)
    assert any(e.get("source_system") == "manual" and e.get("amount") == 250 for e in f["company"]["evidence"])


def test_revenue_ledger_tie_ignores_cost_accounts(books):
    total = 310 + 310.40 + 100 + 50 + 310 + 310
    put(books, "gl_entries", [{"period": date(2024, 3, 1), "account_id": "4000", "amount": total},
                              {"period": date(2024, 3, 1), "account_id": "6000", "amount": 9999}])
    assert failures(books, "revenue_ledger_tie") == {}
