"""The SQL facts equal an independent pandas computation (tests.metrics.reference) on the
tiny warehouse and, once the demo generator exists, on small demo data — on DuckDB and
PostgreSQL — and the MRR identity holds every month."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from finlib.metrics import facts
from finlib.periods import add_months, month_of, months_between
from finlib.warehouse.db import get_warehouse
from tests.metrics import reference


def _compare(wh, periods):
    t = reference.load_tables(wh)
    for p in periods:
        ref = reference.period_figures(t, p)
        mv = facts.mrr_movements(wh, p).iloc[0]
        for k, v in ref["movements"].items():
            assert mv[k] == pytest.approx(v, abs=1e-6), (p, k)
        assert facts.recognised_revenue(wh, p)["revenue"].iloc[0] == pytest.approx(ref["recognised_revenue"])
        led = facts.ledger_by_line(wh, p).set_index(["department_id", "account_id"])["amount"]
        pd.testing.assert_series_equal(led.sort_index(), ref["ledger"].sort_index(), check_names=False,
                                       check_index_type=False, check_dtype=False)
        bva = facts.budget_vs_actual(wh, p).set_index(["department_id", "account_id"])[["actual", "budget"]]
        pd.testing.assert_frame_equal(bva.sort_index(), ref["budget_vs_actual"].sort_index(), check_names=False,
                                      check_index_type=False, check_dtype=False)
        dc = facts.dev_costs(wh, p)
        dc = dc.groupby(["feature_id", dc["milestone_id"].fillna("")])["cost"].sum()
        pd.testing.assert_series_equal(dc.sort_index(), ref["dev_costs"].sort_index(), check_names=False,
                                       check_index_type=False, check_dtype=False)
        acq = facts.acquisition(wh, p).iloc[0]
        for k, v in ref["acquisition"].items():
            assert acq[k] == pytest.approx(v), (p, k)
        coh = facts.retention_cohort(wh, p, 12)
        if len(coh):
            from finlib.metrics.retention import revenue_retention

            rr = revenue_retention(coh)
            assert rr.nrr == pytest.approx(ref["nrr"]) and rr.grr == pytest.approx(ref["grr"])
    camp = facts.campaign_results(wh).set_index("campaign_id")["new_mrr"]
    for cid, v in ref["campaign_new_mrr"].items():
        assert camp[cid] == pytest.approx(v)


def _identity_holds(wh, start, end):
    mv = facts.mrr_movements(wh, start, end)
    assert all(Decimal(x) == 0 for x in mv["identity_residual"])
    monthly = facts.mrr_monthly(wh, start, end)
    assert (mv["mrr_end"] - monthly["mrr"]).abs().max() < 1e-6
    assert (mv["mrr_start"].iloc[1:].to_numpy() - mv["mrr_end"].iloc[:-1].to_numpy()).max(initial=0) < 1e-9


def test_sql_facts_equal_pandas_on_the_tiny_warehouse(tiny_wh):
    _compare(tiny_wh, months_between("2024-01", "2024-04"))
    _identity_holds(tiny_wh, "2023-11", "2024-05")


def _demo():
    try:
        from finlib import demo
    except ImportError:  # pragma: no cover
        return None
    return demo if hasattr(demo, "generate") else None


@pytest.mark.skipif(_demo() is None, reason="finlib.demo.generate is not available yet")
def test_sql_facts_equal_pandas_on_small_demo_data(any_db_url):
    demo = _demo()
    wh = get_warehouse()
    demo.generate(wh, "small", 7)
    truth = demo.load_truth(wh)
    first, last = month_of(truth["first_period"]), month_of(truth["last_closed_month"])
    _identity_holds(wh, first, last)
    _compare(wh, [add_months(last, -13), add_months(last, -1), last])
