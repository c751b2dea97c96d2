"""Money in the reporting currency (docs/CURRENCY.md): ledger lines at the rate of their
period, MRR at the rate of the month end it measures, recognised revenue in its
subscription's currency, reporting-currency rows at exactly 1, a missing rate a clear error.

Hand-built warehouse (reporting currency USD), EUR rates (USD per EUR)::

    rate_date   2024-01-01  2024-02-01  2024-02-15  2024-03-01
    EUR         1.10        1.20        1.25        1.30

    customer  subscription                      Jan-31          Feb-29          Mar-31
    u1        s_u1  50 USD from 2024-01-05      50              50              50
    e1        s_e1 100 EUR from 2024-01-10      100 x 1.10=110  100 x 1.25=125  100 x 1.30=130
    total MRR (USD)                             160             175             180

End of February converts at 1.25: the latest rate on or before February's *last* day (the
15 February rate), while February's ledger lines and recognised revenue convert at 1.20,
the rate on or before the period's *first* day.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from finlib.governance.config import load_config
from finlib.governance.runner import evaluate_controls
from finlib.metrics import facts
from finlib.metrics.facts import MissingRateError
from finlib.metrics.kpis import headline_kpis
from finlib.models.attribution import campaign_uplift
from finlib.models.forecast import revenue_series
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch


def _put(wh, table: str, rows: list[dict]) -> None:
    with write_batch(wh, action="test", target=table) as b:
        b.append(table, pd.DataFrame(rows).astype(object))


def _company(wh) -> None:
    init_db(wh)
    _put(wh, "departments", [{"department_id": "d1", "name": "G&A"}, {"department_id": "d2", "name": "Sales"}])
    _put(wh, "accounts", [{"account_id": "rent", "name": "Rent", "account_type": "opex", "category": "rent"},
                          {"account_id": "rev", "name": "Revenue", "account_type": "revenue",
                           "category": "subscription"}])
    _put(wh, "products", [{"product_id": "p1", "name": "Core", "launched_on": date(2023, 1, 1)}])
    _put(wh, "customers", [
        {"customer_id": c, "name": c, "segment": "SMB", "region": "EU", "industry": "SaaS", "signup_date": s,
         "acquisition_channel": "web", "acquisition_campaign_id": None, "cs_tier": "pooled", "csm_owner": None}
        for c, s in (("u1", date(2024, 1, 5)), ("e1", date(2024, 1, 10)))])
    _put(wh, "subscriptions", [
        {"subscription_id": "s_u1", "customer_id": "u1", "product_id": "p1", "start_date": date(2024, 1, 5),
         "end_date": None, "mrr": 50.0, "currency": "USD", "billing_period": "monthly"},
        {"subscription_id": "s_e1", "customer_id": "e1", "product_id": "p1", "start_date": date(2024, 1, 10),
         "end_date": None, "mrr": 100.0, "currency": "EUR", "billing_period": "monthly"}])
    _put(wh, "fx_rates", [{"rate_date": d, "currency": "EUR", "rate_to_reporting": r} for d, r in (
        (date(2024, 1, 1), 1.10), (date(2024, 2, 1), 1.20), (date(2024, 2, 15), 1.25), (date(2024, 3, 1), 1.30))])
    _put(wh, "invoices", [
        {"invoice_id": i, "customer_id": c, "subscription_id": sub, "issued_on": date(2024, 2, day),
         "service_start": date(2024, 2, 1), "service_end": date(2024, 2, 29), "amount": amt,
         "currency": cur, "status": st}
        for i, c, sub, day, amt, cur, st in (
            ("i1", "e1", "s_e1", 1, 100.0, "EUR", "paid"), ("i2", "u1", "s_u1", 3, 50.0, "USD", "open"),
            ("i3", "e1", "s_e1", 20, 999.0, "EUR", "void"), ("i4", "e1", "s_e1", 25, -10.0, "EUR", "paid"))])
    _put(wh, "revenue_recognized", [
        {"period": date(2024, 2, 1), "customer_id": "e1", "subscription_id": "s_e1", "amount": 100.0},  # EUR
        {"period": date(2024, 2, 1), "customer_id": "u1", "subscription_id": None, "amount": 50.0}])  # USD
    gl = [("d1", "rent", 1000.0, "EUR"), ("d1", "rent", 300.0, "USD"), ("d1", "rev", 100.0, "EUR")]
    _put(wh, "gl_entries", [
        {"entry_id": f"g{i}", "posted_at": pd.Timestamp("2024-02-10"), "period": date(2024, 2, 1),
         "account_id": a, "department_id": dep, "amount": amt, "currency": cur, "feature_id": None,
         "campaign_id": None, "is_manual": False}
        for i, (dep, a, amt, cur) in enumerate(gl)])


@pytest.fixture
def eur_wh(any_db_url):
    wh = get_warehouse()
    _company(wh)
    return wh


def test_eur_subscriptions_report_mrr_in_usd_at_the_month_end_rate(eur_wh):
    m = facts.mrr_monthly(eur_wh, "2024-01", "2024-03")
    assert [round(x, 2) for x in m["mrr"]] == [160.0, 175.0, 180.0]
    assert facts.mrr_by_customer(eur_wh, "2024-02").set_index("customer_id")["mrr"].round(2).to_dict() == {
        "e1": 125.0, "u1": 50.0}
    mv = facts.mrr_movements(eur_wh, "2024-01", "2024-03")
    # an unchanged EUR price moves with the rate: +15 in February, +5 in March (expansion)
    assert [round(x, 2) for x in mv["new"]] == [160.0, 0.0, 0.0]
    assert [round(x, 2) for x in mv["expansion"]] == [0.0, 15.0, 5.0]
    assert all(Decimal(x) == 0 for x in mv["identity_residual"])
    k = headline_kpis(eur_wh, "2024-02")
    assert (k["mrr"], k["arr"], k["currency"]) == (175.0, 2100.0, "USD")
    # February's new paying customers: none (both started paying in January)
    assert k["new_customers"] == 0


def test_ledger_and_recognised_revenue_convert_at_the_rate_of_their_period(eur_wh):
    led = facts.ledger_by_line(eur_wh, "2024-02").set_index("account_id")["amount"].round(2).to_dict()
    assert led == {"rent": 1000 * 1.20 + 300.0, "rev": 120.0}  # the 1 February rate, not 15 February
    assert facts.department_costs(eur_wh, "2024-02")["cost"].round(2).tolist() == [1500.0]
    assert facts.budget_vs_actual(eur_wh, "2024-02")["actual"].round(2).tolist() == [1500.0, 120.0]
    # revenue_recognized has no currency: a row is in its subscription's (EUR 100 -> 120),
    # a row without a subscription in the reporting currency (50)
    assert facts.recognised_revenue(eur_wh, "2024-02")["revenue"].round(2).tolist() == [170.0]
    assert facts.revenue_to_date(eur_wh, "2024-02", date(2024, 2, 29)) == pytest.approx(120.0)
    # invoices: EUR 100 and the EUR -10 credit note at February's rate 1.20, USD 50, void left out
    inv = facts.invoiced(eur_wh, "2024-02")
    assert inv["invoiced"].round(2).tolist() == [(100 - 10) * 1.20 + 50] and inv["invoices"].tolist() == [3]


def test_a_missing_rate_is_a_clear_error_never_a_rate_of_one(eur_wh):
    _put(eur_wh, "subscriptions", [
        {"subscription_id": "s_g", "customer_id": "u1", "product_id": "p1", "start_date": date(2024, 2, 1),
         "end_date": None, "mrr": 10.0, "currency": "GBP", "billing_period": "monthly"}])
    with pytest.raises(MissingRateError, match=r"No exchange rate for GBP on or before 2024-02-29"):
        facts.mrr_monthly(eur_wh, "2024-02")
    with pytest.raises(MissingRateError, match="GBP"):
        headline_kpis(eur_wh, "2024-02")
    # before the first EUR rate there is no rate either: a December line is refused, not taken at 1
    _put(eur_wh, "gl_entries", [
        {"entry_id": "old", "posted_at": pd.Timestamp("2023-12-10"), "period": date(2023, 12, 1),
         "account_id": "rent", "department_id": "d1", "amount": 10.0, "currency": "EUR", "feature_id": None,
         "campaign_id": None, "is_manual": False}])
    with pytest.raises(MissingRateError, match=r"EUR on or before 2023-12-01"):
        facts.ledger_by_line(eur_wh, "2023-12")
    # months that need no missing rate are unaffected
    assert facts.ledger_by_line(eur_wh, "2024-02")["amount"].sum() == pytest.approx(1620.0)


def test_reporting_currency_rows_convert_at_one_without_a_rate(eur_wh, monkeypatch):
    # reported in EUR: EUR rows convert at exactly 1 (the EUR rows of fx_rates are not read)
    # and the row without a subscription is in the reporting currency, now EUR: 100 + 50
    monkeypatch.setenv("FINLIB_REPORTING_CURRENCY", "EUR")
    assert facts.recognised_revenue(eur_wh, "2024-02")["revenue"].tolist() == [150.0]
    # USD rows now need a USD rate, and fx_rates has none
    with pytest.raises(MissingRateError, match="No exchange rate for USD on or before 2024-02-01"):
        facts.ledger_by_line(eur_wh, "2024-02")


# ---- the demo company -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def medium_demo(tmp_path_factory):
    """``finlib demo-data --scale medium`` into a temporary DuckDB file (last closed month
    2026-10, the month the figures below are stated for)."""
    from finlib.cli import main

    path = tmp_path_factory.mktemp("medium") / "warehouse.duckdb"
    url = f"duckdb://{path}"
    mp = pytest.MonkeyPatch()
    mp.setenv("FINLIB_DB_URL", url)
    try:
        assert main(["demo-data", "--scale", "medium", "--end", "2026-10", "--quiet"]) == 0
    finally:
        mp.undo()
    return get_warehouse(url)


def _hand_converted(wh, department: str, period: date) -> tuple[Decimal, Decimal]:
    """(converted, as stored) sum of the department's ledger lines of ``period``, by hand:
    each line × the EUR/GBP rate with the latest rate_date on or before the period's first
    day (USD at 1), in exact decimals."""
    with wh.connect(read_only=True) as conn:
        lines = conn.query(
            "SELECT CAST(g.amount AS VARCHAR), g.currency FROM gl_entries g "
            "JOIN departments d ON d.department_id = g.department_id "
            "WHERE d.name = :dep AND g.period = :p", {"dep": department, "p": period})
        fx = conn.query("SELECT rate_date, currency, CAST(rate_to_reporting AS VARCHAR) FROM fx_rates")
    rates: dict[str, Decimal] = {}
    for cur in {c for _, c in lines} - {"USD"}:
        rate_date, rate = max((d, Decimal(r)) for d, c, r in fx if c == cur and d <= period)
        rates[cur] = rate
    converted = sum(Decimal(a) * (rates[c] if c != "USD" else 1) for a, c in lines)
    return converted, sum(Decimal(a) for a, _ in lines)


def test_ga_october_2026_counts_the_eur_and_gbp_lines_at_their_rates(medium_demo):
    p = date(2026, 10, 1)
    converted, stored = _hand_converted(medium_demo, "G&A", p)
    # the demo's controls plant adds USD lines to G&A that month (ids GCTL-...): counted apart so
    # the published figures of the books themselves stay checkable
    with medium_demo.connect(read_only=True) as conn:
        planted = Decimal(str(conn.scalar(
            "SELECT CAST(COALESCE(SUM(g.amount), 0) AS VARCHAR) FROM gl_entries g JOIN departments d "
            "ON d.department_id = g.department_id WHERE d.name = 'G&A' AND g.period = :p "
            "AND g.entry_id LIKE 'GCTL-%' AND g.currency = 'USD'", {"p": p})))
    assert stored - planted == Decimal("646748.56")  # what was shown when EUR and GBP were added as USD
    assert round(converted - planted, 2) == Decimal("668756.08")
    costs = facts.department_costs(medium_demo, p).set_index("department")["cost"]
    assert round(costs["G&A"], 2) == float(round(converted, 2))
    assert costs["G&A"] == pytest.approx(float(converted), abs=1e-6)
    led = facts.ledger_by_line(medium_demo, p)
    assert led.loc[led["department"] == "G&A", "amount"].sum() == pytest.approx(float(converted), abs=1e-6)
    bva = facts.budget_vs_actual(medium_demo, p)
    assert bva.loc[bva["department"] == "G&A", "actual"].sum() == pytest.approx(float(converted), abs=1e-6)


def test_large_amounts_convert_without_overflow(eur_wh):
    """A subscription of 900 million EUR a month: 1.08 billion USD at the end of February
    (10^8 and more overflows a 64-bit DECIMAL product; the conversion widens first)."""
    _put(eur_wh, "customers", [
        {"customer_id": "big", "name": "big", "segment": "Enterprise", "region": "EU", "industry": "SaaS",
         "signup_date": date(2024, 2, 1), "acquisition_channel": "web", "acquisition_campaign_id": None,
         "cs_tier": "dedicated", "csm_owner": None}])
    _put(eur_wh, "subscriptions", [
        {"subscription_id": "s_big", "customer_id": "big", "product_id": "p1", "start_date": date(2024, 2, 1),
         "end_date": None, "mrr": 900_000_000.0, "currency": "EUR", "billing_period": "monthly"}])
    got = facts.mrr_by_customer(eur_wh, "2024-02").set_index("customer_id")["mrr"]
    assert got["big"] == 900_000_000 * 1.25


def test_the_revenue_forecast_models_converted_revenue(eur_wh):
    """February: 100 EUR at February's rate 1.20 plus 50 USD = 170 USD (the raw sum, 150,
    added euros to dollars); the series is the executive chart's."""
    s = revenue_series(eur_wh, "2024-02-01")
    assert list(s.index) == [pd.Timestamp("2024-02-01")]
    assert s.iloc[0] == pytest.approx(170.0)
    assert s.iloc[0] == pytest.approx(float(facts.recognised_revenue(eur_wh, "2024-02")["revenue"].iloc[0]))


def test_campaign_arr_converts_each_members_mrr_at_the_assignment_rate(eur_wh):
    """The treatment member pays 100 EUR; assigned on 20 February, after the 15 February rate
    1.25: treated ARR = 12 x 125 = 1500 USD (1200 when euros were added as dollars)."""
    _put(eur_wh, "retention_campaigns", [
        {"campaign_id": "rc1", "name": "save", "started_on": date(2024, 2, 1), "ended_on": date(2024, 3, 31),
         "cost": 100.0, "target_segment": None}])
    _put(eur_wh, "retention_campaign_members", [
        {"campaign_id": "rc1", "customer_id": "e1", "arm": "treatment", "assigned_on": date(2024, 2, 20)},
        {"campaign_id": "rc1", "customer_id": "u1", "arm": "control", "assigned_on": date(2024, 2, 20)}])
    got = campaign_uplift(eur_wh, "rc1")
    assert got.members.set_index("customer_id")["mrr_start"].to_dict() == pytest.approx({"e1": 125.0, "u1": 50.0})
    assert got.treated_arr == pytest.approx(1500.0)


def test_the_revenue_ledger_tie_compares_converted_figures(eur_wh):
    """February: sub-ledger 100 EUR x 1.20 + 50 USD = 170 USD; ledger revenue 100 EUR x 1.20 =
    120 USD. The control reports 170 against 120 (not the raw 150)."""
    (r,) = [x for x in evaluate_controls(eur_wh, date(2024, 2, 1), ["revenue_ledger_tie"], load_config(None), None)
            if x["control"] == "revenue_ledger_tie"]
    assert r["status"] == "fail"
    assert (r["value"], r["expected"]) == (pytest.approx(170.0), pytest.approx(120.0))
    sub = {(e["product_id"], e["currency"]): e["amount"] for e in r["evidence"] if e["source"] == "revenue_recognized"}
    assert sub == {("(no subscription)", "USD"): 50.0, ("p1", "EUR"): 100.0}
