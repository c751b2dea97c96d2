"""The executive page's Billings tile: invoiced in the month, void excluded, converted at the
issue month's rate, and moved by a Stripe invoice event at once (no ingest)."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest

from finlib.integrations import stripe_webhook as sw
from finlib.views import executive as ex
from finlib.views.common import clear_cache
from finlib.warehouse.db import get_warehouse
from tests.security.test_stripe_webhook import invoice_event, stripe_sign

PERIOD = "2026-10"
SECRET = "whsec_test_" + "b" * 24


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from finlib.demo import generate

    base = tmp_path_factory.mktemp("billings")
    url = f"duckdb://{base / 'warehouse.duckdb'}"
    wh = get_warehouse(url)
    generate(wh, "small", 42, end=PERIOD)
    return url, wh, base


@pytest.fixture
def env(demo, monkeypatch):
    url, wh, base = demo
    monkeypatch.setenv("FINLIB_DB_URL", url)
    monkeypatch.setenv("FINLIB_REPORTS", str(base / "reports"))
    clear_cache()
    yield wh
    clear_cache()


def expected_billings(wh, period: str) -> float:
    """Billings computed here from the raw rows with pandas (not with the SQL under test):
    invoices issued in the month, not void, each × the latest rate on or before the month's
    first day (1 for the reporting currency)."""
    with wh.connect(read_only=True) as conn:
        inv = conn.query_df("SELECT issued_on, amount, currency, status FROM invoices")
        fx = conn.query_df("SELECT rate_date, currency, rate_to_reporting FROM fx_rates")
    first = pd.Timestamp(period + "-01")
    nxt = first + pd.offsets.MonthBegin(1)
    inv["issued_on"] = pd.to_datetime(inv["issued_on"])
    m = inv[(inv["issued_on"] >= first) & (inv["issued_on"] < nxt) & (inv["status"] != "void")]
    fx["rate_date"] = pd.to_datetime(fx["rate_date"])
    total = Decimal(0)
    for row in m.itertuples():
        if row.currency == "USD":
            rate = Decimal(1)
        else:
            r = fx[(fx["currency"] == row.currency) & (fx["rate_date"] <= first)].sort_values("rate_date")
            rate = Decimal(str(r["rate_to_reporting"].iloc[-1]))
        total += Decimal(str(row.amount)) * rate
    return float(total)


def eur_rate(wh, period: str) -> Decimal:
    with wh.connect(read_only=True) as conn:
        return Decimal(str(conn.scalar(
            "SELECT rate_to_reporting FROM fx_rates WHERE currency = 'EUR' AND rate_date <= :d "
            "ORDER BY rate_date DESC LIMIT 1", {"d": period + "-01"})))


def tile(period: str):
    return ex.headline_tiles(ex.load(period))["billings"]


def test_the_billings_tile_is_the_month_invoiced_net_of_voids(env):
    t = tile(PERIOD)
    assert t.value == pytest.approx(expected_billings(env, PERIOD), abs=0.005)
    assert t.previous == pytest.approx(expected_billings(env, "2026-09"), abs=0.005)
    assert t.value > 0 and t.label == "Billings"
    assert 'data-kpi="billings"' in t.to_html()
    # the scrap says the same
    assert ex.kpis(ex.load(PERIOD))["billings"] == pytest.approx(t.value)


def test_a_stripe_invoice_moves_billings_by_its_converted_amount_and_a_void_takes_it_back(env):
    with env.connect(read_only=True) as conn:
        customer, subscription = conn.query(
            "SELECT customer_id, min(subscription_id) FROM subscriptions GROUP BY customer_id "
            "ORDER BY customer_id LIMIT 1")[0]
    before = tile(PERIOD).value
    revenue_before = ex.load(PERIOD).headline["recognised_revenue"]

    def send(event_id, kind):
        event = json.loads(invoice_event(event_id, kind=kind, invoice="in_bill_eur", customer=str(customer),
                                         cents=1234567, when=f"{PERIOD}-20"))
        event["data"]["object"].update({"subscription": str(subscription), "currency": "eur"})
        body = json.dumps(event).encode()
        out = sw.handle_event(body, stripe_sign(body, SECRET), SECRET, env, source="127.0.0.1")
        assert out.status == 200, out.message
        clear_cache()

    send("evt_bill_1", "invoice.finalized")
    after = tile(PERIOD).value
    assert Decimal(str(round(after - before, 6))) == pytest.approx(Decimal("12345.67") * eur_rate(env, PERIOD),
                                                                   abs=Decimal("0.01"))
    assert after == pytest.approx(expected_billings(env, PERIOD), abs=0.005)
    # billings are not revenue: recognised revenue has not moved
    assert ex.load(PERIOD).headline["recognised_revenue"] == pytest.approx(revenue_before)
    send("evt_bill_2", "invoice.voided")
    assert tile(PERIOD).value == pytest.approx(before, abs=0.005)
