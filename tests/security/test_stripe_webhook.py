"""Stripe webhook events over a real tornado server, signed per Stripe's documented scheme
(``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">``): a paid invoice is
accepted once and shows in the revenue figures without an ingest; every bad case is
refused with nothing written, and every call is recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
import tornado.httpserver
import tornado.web

from finlib.alerts import list_alerts
from finlib.integrations import stripe_webhook as sw
from finlib.metrics.facts import invoiced
from finlib.warehouse.db import get_warehouse
from tests.alerts.test_channels import free_port
from tests.metrics.conftest import load_tiny

from .helpers import finlib

SECRET = "whsec_test_" + "a" * 24


def stripe_sign(payload: bytes, secret: str = SECRET, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def invoice_event(event_id="evt_1", kind="invoice.paid", invoice="in_live_1", customer="c1", cents=123456,
                  when="2024-04-03"):
    ts = int(dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC).timestamp())
    return json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": {
        "id": invoice, "object": "invoice", "customer": customer, "subscription": "s2",
        "created": ts, "period_start": ts, "period_end": ts + 29 * 86400, "amount_due": cents,
        "currency": "usd", "status": "paid"}}}).encode()


class Server:
    def __init__(self, wh, port):
        self.port = port
        self.loop = None
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(asyncio.new_event_loop())
            app = tornado.web.Application([(sw.ENDPOINT, sw.StripeWebhookHandler, {"wh": wh})])
            self.http = tornado.httpserver.HTTPServer(app)
            self.http.listen(port, "127.0.0.1")
            self.loop = asyncio.get_event_loop()
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def post(self, body: bytes, signature: str | None):
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{sw.ENDPOINT}", data=body, headers=headers,
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        self.loop.call_soon_threadsafe(self.http.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def live(duckdb_url, monkeypatch):
    monkeypatch.setenv(sw.ENV_SECRET, SECRET)
    wh = get_warehouse()
    load_tiny(wh)
    srv = Server(wh, free_port())
    yield wh, srv
    srv.stop()


def _invoice_rows(wh):
    with wh.connect(read_only=True) as c:
        return c.query("SELECT invoice_id, customer_id, amount, status FROM invoices WHERE invoice_id LIKE 'in_live%'")


def _calls(wh):
    with wh.connect(read_only=True) as c:
        return c.query("SELECT status, signature_valid, source, latency_ms FROM api_calls ORDER BY called_at")


def test_a_signed_paid_invoice_is_accepted_once_and_reaches_revenue(live):
    wh, srv = live
    before = invoiced(wh, "2024-04").set_index("period")["invoiced"].iloc[0]
    body = invoice_event()
    status, reply = srv.post(body, stripe_sign(body))
    assert status == 200, reply
    assert _invoice_rows(wh) == [("in_live_1", "c1", Decimal("1234.56"), "paid")]
    after = invoiced(wh, "2024-04").set_index("period")["invoiced"].iloc[0]
    assert after == pytest.approx(before + 1234.56)
    # replay of the same event (even re-signed) is refused and changes nothing
    status, reply = srv.post(body, stripe_sign(body))
    assert status == 400 and "already processed" in reply["message"]
    assert len(_invoice_rows(wh)) == 1
    # a later event for the same invoice (voided) updates the row through the same path
    void = invoice_event("evt_2", "invoice.voided")
    assert srv.post(void, stripe_sign(void))[0] == 200
    assert _invoice_rows(wh)[0][3] == "void"
    calls = _calls(wh)
    assert [c[0] for c in calls] == [200, 400, 200]
    assert all(c[1] is True and c[2] == "127.0.0.1" and c[3] > 0 for c in calls)


@pytest.mark.parametrize("case", ["bad_signature", "wrong_secret", "no_header", "stale", "malformed",
                                  "unknown_type", "unknown_customer"])
def test_bad_events_are_refused_logged_and_write_nothing(live, case, caplog):
    wh, srv = live
    body = invoice_event(f"evt_{case}")
    sig = stripe_sign(body)
    expect = 401
    if case == "bad_signature":
        sig = sig[:-4] + ("0000" if not sig.endswith("0000") else "1111")
    elif case == "wrong_secret":
        sig = stripe_sign(body, secret="whsec_someone_else")
    elif case == "no_header":
        sig = None
    elif case == "stale":
        sig = stripe_sign(body, t=int(time.time()) - 301)
    elif case == "malformed":
        body = b'{"id": "evt_x", "type": "invoice.paid", "data": '
        sig, expect = stripe_sign(body), 400
    elif case == "unknown_type":
        body = body.replace(b'"invoice.paid"', b'"charge.refunded"')
        sig, expect = stripe_sign(body), 400
    elif case == "unknown_customer":
        body = invoice_event("evt_ghost", customer="cus_nobody")
        sig, expect = stripe_sign(body), 422
    caplog.set_level("INFO", logger="finlib.security")
    status, reply = srv.post(body, sig)
    assert status == expect, reply
    assert _invoice_rows(wh) == []
    with wh.connect(read_only=True) as c:
        assert c.scalar("SELECT count(*) FROM webhook_events") == 0
    (call,) = _calls(wh)
    assert call[0] == expect and call[1] is (False if expect == 401 else True)
    assert any("refused" in r.getMessage() for r in caplog.records)
    security = [a for a in list_alerts(wh) if a["rule"] == sw.SECURITY_RULE]
    if expect == 401:
        assert any("security alert" in r.getMessage() for r in caplog.records)
        assert len(security) == 1 and security[0]["severity"] == "critical"
        assert security[0]["entity"]["source"] == "127.0.0.1"
    else:
        assert security == []
    assert SECRET not in caplog.text


def test_handle_event_uses_the_given_clock_for_the_tolerance(live):
    wh, _ = live
    body = invoice_event("evt_clock")
    sig = stripe_sign(body, t=1_700_000_000)
    assert sw.handle_event(body, sig, SECRET, wh, now=1_700_000_000 + 299).status == 200
    body2 = invoice_event("evt_clock2", invoice="in_live_2")
    sig2 = stripe_sign(body2, t=1_700_000_000)
    assert sw.handle_event(body2, sig2, SECRET, wh, now=1_700_000_000 + 301).status == 401


def test_a_burst_from_one_source_is_rate_limited(live, monkeypatch):
    wh, _ = live
    monkeypatch.setattr(sw, "RATE", "3/minute")
    body = b"{}"
    got = [sw.handle_event(body, "t=1,v1=00", SECRET, wh, source="10.9.9.9").status for _ in range(5)]
    assert got == [401, 401, 401, 429, 429]
    assert sw.handle_event(body, "t=1,v1=00", SECRET, wh, source="10.9.9.8").status == 401
    kinds = sorted((a["entity"]["source"], a["entity"]["kind"]) for a in list_alerts(wh)
                   if a["rule"] == sw.SECURITY_RULE)
    assert kinds == [("10.9.9.8", "bad_signature"), ("10.9.9.9", "bad_signature"), ("10.9.9.9", "rate_limited")]
    r = finlib("api", "usage", "--json")
    assert r.returncode == 0, r.stderr
    usage = {u["source"]: u for u in json.loads(r.stdout)}
    assert usage["10.9.9.9"]["calls"] == 5 and usage["10.9.9.9"]["rate_limited"] == 2
    assert usage["10.9.9.9"]["bad_signature"] == 3 and usage["10.9.9.8"]["refused"] == 1


def subscription_event(event_id, kind, sub="sub_live_1", ended_at=None, unit=12000, interval="year"):
    start = int(dt.datetime(2024, 4, 1, tzinfo=dt.UTC).timestamp())
    return json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": {
        "id": sub, "object": "subscription", "customer": "c3", "start_date": start, "ended_at": ended_at,
        "currency": "usd", "status": "active" if ended_at is None else "canceled",
        "items": {"data": [{"quantity": 2, "price": {"product": "p1", "unit_amount": unit,
                                                      "recurring": {"interval": interval}}}]}}}}).encode()


def test_subscription_events_create_update_and_end_the_canonical_row(live):
    wh, srv = live
    created = subscription_event("evt_s1", "customer.subscription.created")
    assert srv.post(created, stripe_sign(created))[0] == 200
    ended = int(dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp())
    deleted = subscription_event("evt_s2", "customer.subscription.deleted", ended_at=ended)
    with wh.connect(read_only=True) as c:
        row = c.query("SELECT customer_id, product_id, mrr, billing_period, end_date FROM subscriptions "
                      "WHERE subscription_id = 'sub_live_1'")
    assert row == [("c3", "p1", Decimal("20.00"), "annual", None)]  # 2 x 120.00 a year = 20.00 a month
    assert srv.post(deleted, stripe_sign(deleted))[0] == 200
    with wh.connect(read_only=True) as c:
        end = c.scalar("SELECT end_date FROM subscriptions WHERE subscription_id = 'sub_live_1'")
    assert str(end) == "2024-06-01"
