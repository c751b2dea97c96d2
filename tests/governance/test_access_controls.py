"""Segregation of duties on manual journal entries (March 2024)."""

from __future__ import annotations

from datetime import date

from tests.governance.conftest import P, put
from tests.governance.helpers import failures


def test_segregation_of_duties_flags_unapproved_and_self_approved_manual_entries(wh):
    put(wh, "gl_entries", [
        {"entry_id": "E1", "period": P, "account_id": "6000", "amount": 100, "is_manual": True,
         "created_by": "ana", "approved_by": "bo"},            # approved by someone else
        {"entry_id": "E2", "period": P, "account_id": "6000", "amount": 200, "is_manual": True,
         "created_by": "ana", "approved_by": None},            # no approver
        {"entry_id": "E3", "period": P, "account_id": "6000", "amount": 300, "is_manual": True,
         "created_by": "ana", "approved_by": "Ana "},          # the creator, spelt differently
        {"entry_id": "E4", "period": P, "account_id": "6000", "amount": 400, "is_manual": False,
         "created_by": "ap-sync", "approved_by": None},        # a system posting needs no approver
        {"entry_id": "E5", "period": date(2024, 2, 1), "account_id": "6000", "amount": 500, "is_manual": True,
         "created_by": "bo", "approved_by": "bo"},             # another month
        {"entry_id": "E6", "period": P, "account_id": "6000", "amount": 600, "is_manual": True,
         "created_by": "ana", "approved_by": "  "},            # blank is no approver
    ])
    f = failures(wh, "segregation_of_duties")
    assert set(f) == {"entry E2", "entry E3", "entry E6"}
    assert "no approver" in f["entry E2"]["message"]
    assert "same person" in f["entry E3"]["message"]
    assert f["entry E3"]["evidence"][0]["entry_id"] == "E3"
    assert f["entry E3"]["frameworks"][0] == "SOX 404 ITGC: access"


def test_segregation_of_duties_passes_with_approved_entries_only(wh):
    put(wh, "gl_entries", [{"entry_id": "E1", "period": P, "account_id": "6000", "amount": 100, "is_manual": True,
                            "created_by": "ana", "approved_by": "bo"}])
    assert failures(wh, "segregation_of_duties") == {}
