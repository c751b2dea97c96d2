"""``/webhooks/stripe`` on the dashboard server: no login, its signature is its credential,
and an accepted ``invoice.paid`` reaches the revenue figures without a manual ingest."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from finlib.metrics.facts import invoiced
from tests.dashboards.conftest import DEMO_END, STRIPE_SECRET
from tests.security.test_stripe_webhook import invoice_event, stripe_sign

pytestmark = [pytest.mark.browser]


def post(server, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["Stripe-Signature"] = signature
    req = urllib.request.Request(server.url + "webhooks/stripe", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def test_a_signed_invoice_paid_event_reaches_revenue_without_an_ingest(real_server, demo_env):
    wh = demo_env.wh
    with wh.connect(read_only=True) as conn:
        customer, subscription = conn.query(
            "SELECT customer_id, min(subscription_id) FROM subscriptions GROUP BY customer_id "
            "ORDER BY customer_id LIMIT 1")[0]

    def figure():
        df = invoiced(wh, DEMO_END).set_index("period")["invoiced"]
        return float(df.iloc[-1]) if len(df) else 0.0

    before = figure()
    event = json.loads(invoice_event("evt_dash_1", invoice="in_dash_1", customer=str(customer), cents=4242400,
                                     when=f"{DEMO_END}-15"))
    event["data"]["object"]["subscription"] = str(subscription)
    body = json.dumps(event).encode()
    # unsigned, wrongly signed: refused, nothing written
    assert post(real_server, body, None)[0] == 401
    assert post(real_server, body, stripe_sign(body, "whsec_wrong_" + "x" * 24))[0] == 401
    assert figure() == pytest.approx(before)
    status, headers, reply = post(real_server, body, stripe_sign(body, STRIPE_SECRET))
    assert status == 200, reply
    assert "Server" not in headers and headers["X-Frame-Options"] == "DENY"
    assert figure() == pytest.approx(before + 42424.0)
    # the secret stays in the server: it is not in the environment kernels inherit
    assert STRIPE_SECRET not in real_server.log()
