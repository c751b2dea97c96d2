"""Closing and reopening periods: a closed period refuses changes; after a reopen (reason
recorded) the change is listed by ``closed_period_changes``. Real DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from datetime import date

import pandas as pd
import pytest

from finlib.governance.errors import PeriodClosedError, PeriodStateError
from finlib.governance.periods_close import close_period, period_status, reopen_period
from finlib.warehouse.load import write_batch
from tests.governance.conftest import P, put
from tests.governance.helpers import failures

FEB = date(2024, 2, 1)


def _ledger(wh):
    with wh.connect(read_only=True) as c:
        return sorted((r[0], float(r[1])) for r in c.query("SELECT entry_id, amount FROM gl_entries"))


def _replace_march(wh, amount: float, action: str = "ingest") -> None:
    """What `finlib ingest gl_entries ... --replace period=2024-03` does: delete the month, load it."""
    with write_batch(wh, action=action, target="gl_entries", actor="ana") as b:
        b.delete("gl_entries", "period = :p", {"p": P})
        b.append("gl_entries", pd.DataFrame([{
            "entry_id": "M1", "posted_at": dt.datetime(2024, 3, 5), "period": P, "account_id": "6000",
            "department_id": "D1", "amount": amount, "currency": "USD", "is_manual": False}]).astype(object))


@pytest.fixture
def closed(wh):
    put(wh, "gl_entries", [{"entry_id": "M1", "period": P, "account_id": "6000", "amount": 100,
                            "posted_at": dt.datetime(2024, 3, 5)},
                           {"entry_id": "F1", "period": FEB, "account_id": "6000", "amount": 50}])
    _replace_march(wh, 100)  # a change before the first close: not listed later
    out = close_period(wh, "2024-03", actor="controller")
    assert out["rows"]["gl_entries"] == 1
    return wh


def test_a_closed_period_refuses_a_replace_and_the_warehouse_is_unchanged(closed):
    before = _ledger(closed)
    with pytest.raises(PeriodClosedError) as exc:
        _replace_march(closed, 125)
    msg = str(exc.value)
    assert "2024-03 is closed" in msg and "finlib period reopen 2024-03 --reason" in msg
    assert _ledger(closed) == before


def test_a_closed_period_refuses_a_plain_load_into_it(closed):
    with pytest.raises(PeriodClosedError):
        put(closed, "gl_entries", [{"entry_id": "M2", "period": P, "account_id": "6000", "amount": 1}])


def test_writing_back_identical_rows_or_other_months_is_allowed(closed):
    _replace_march(closed, 100)  # same content: nothing changes
    put(closed, "gl_entries", [{"entry_id": "A1", "period": date(2024, 4, 1), "account_id": "6000", "amount": 5}])
    put(closed, "gl_entries", [{"entry_id": "F2", "period": FEB, "account_id": "6000", "amount": 5}])
    assert failures(closed, "closed_period_changes") == {}


def test_reopen_records_who_when_why_and_the_change_is_listed(closed):
    with pytest.raises(PeriodStateError, match="reason"):
        reopen_period(closed, "2024-03", "  ")
    reopen_period(closed, "2024-03", "vendor credit note booked late", actor="cfo")
    _replace_march(closed, 125)
    st = period_status(closed).set_index("period").loc["2024-03"]
    assert st["state"] == "reopened" and st["last_actor"] == "cfo"
    assert st["last_reason"] == "vendor credit note booked late" and st["changes_after_close"] == 1
    f = failures(closed, "closed_period_changes")
    assert len(f) == 1
    (entity, r), = f.items()
    assert entity.startswith("period 2024-03 · batch ")
    assert "vendor credit note booked late" in r["message"] and "ana" in r["message"]
    ev = r["evidence"]
    change = next(e for e in ev if e["source"] == "period_changes")
    assert (change["table_name"], change["rows_before"], change["rows_after"]) == ("gl_entries", 1, 1)
    assert [e["action"] for e in ev if e["source"] == "period_closes"] == ["close", "reopen"]
    # February was never closed: its changes are not listed, and no other month has findings
    assert failures(closed, "closed_period_changes", period=FEB) == {}


def test_closing_again_protects_the_corrected_data_and_keeps_the_history(closed):
    reopen_period(closed, "2024-03", "correction", actor="cfo")
    _replace_march(closed, 125)
    close_period(closed, "2024-03", actor="controller")
    with pytest.raises(PeriodClosedError):
        _replace_march(closed, 130)
    _replace_march(closed, 125)  # the corrected content again: no change
    assert len(failures(closed, "closed_period_changes")) == 1


def test_close_and_reopen_refuse_what_does_not_fit_the_state(closed):
    with pytest.raises(PeriodStateError, match="already closed"):
        close_period(closed, "2024-03")
    with pytest.raises(PeriodStateError, match="not closed"):
        reopen_period(closed, "2024-02", "why not")
    with pytest.raises(PeriodStateError, match="not ended"):
        close_period(closed, "2024-05", today=date(2024, 5, 20))


def test_the_demo_generator_cannot_overwrite_a_closed_period(closed):
    from finlib.demo import generate

    with pytest.raises(PeriodClosedError):
        generate(closed, "small", 42, end="2024-06", force=True)
    assert _ledger(closed)[0] == ("F1", 50.0)


def test_an_ingest_replace_into_a_closed_period_is_refused_and_recorded_as_rejected(wh, tmp_path):
    from finlib.ingest.loader import ingest_file

    csv = tmp_path / "budgets.csv"
    csv.write_text("period,department_id,account_id,amount\n2024-03-01,D1,6000,100.00\n")
    ingest_file(wh, "budgets", csv)
    close_period(wh, "2024-03", actor="controller")
    csv.write_text("period,department_id,account_id,amount\n2024-03-01,D1,6000,150.00\n")
    with pytest.raises(PeriodClosedError, match="2024-03 is closed.*finlib period reopen 2024-03"):
        ingest_file(wh, "budgets", csv, replace="period=2024-03")
    with wh.connect(read_only=True) as c:
        assert float(c.scalar("SELECT amount FROM budgets")) == 100.0
        assert c.query("SELECT outcome FROM ingest_batches ORDER BY started_at") == [("accepted",), ("rejected",)]
    reopen_period(wh, "2024-03", "budget revision approved by the board")
    ingest_file(wh, "budgets", csv, replace="period=2024-03")
    (entity, r), = failures(wh, "closed_period_changes").items()
    change = next(e for e in r["evidence"] if e["source"] == "period_changes")
    assert change["table_name"] == "budgets" and change["action"] == "ingest"
    assert entity == f"period 2024-03 · batch {change['batch_id']}"
    with wh.connect(read_only=True) as c:  # the batch id is the ingest batch's id
        assert c.scalar("SELECT count(*) FROM ingest_batches WHERE batch_id = :b", {"b": change["batch_id"]}) == 1


def test_fingerprints_from_another_database_version_block_writes_until_refreshed(closed):
    from finlib.governance.periods_close import refresh_fingerprints

    with closed.transaction() as c:  # as if taken by another version of the database
        c.execute("UPDATE period_fingerprints SET fingerprint = 'old-method:' || fingerprint")
    with pytest.raises(PeriodStateError, match="finlib period refresh"):
        put(closed, "gl_entries", [{"entry_id": "A1", "period": date(2024, 4, 1), "account_id": "6000", "amount": 5}])
    assert refresh_fingerprints(closed) == 1
    put(closed, "gl_entries", [{"entry_id": "A1", "period": date(2024, 4, 1), "account_id": "6000", "amount": 5}])
    with pytest.raises(PeriodClosedError):  # still closed, still guarded
        _replace_march(closed, 125)
