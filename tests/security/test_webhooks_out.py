"""Alert webhooks signed per Standard Webhooks, verified by the ``standardwebhooks``
package on a real HTTP receiver; alert text from the data arrives inert."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from finlib.alerts import check, list_alerts
from finlib.alerts.channels import WebhookChannel
from tests.alerts.conftest import write_config
from tests.alerts.test_channels import free_port
from tests.alerts.test_store import feature_overruns

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class VerifyingReceiver:
    """A real HTTP receiver that verifies each request as the docs show."""

    def __init__(self, port, secret):
        self.accepted, self.refused = [], []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = Webhook(secret).verify(body, dict(self.headers))
                except WebhookVerificationError as exc:
                    rec.refused.append(str(exc))
                    self.send_response(401)
                else:
                    rec.accepted.append(({k.lower(): v for k, v in self.headers.items()}, payload))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _cfg(tmp_path, port, monkeypatch, secret):
    monkeypatch.setenv("TEST_HOOK_URL", f"http://127.0.0.1:{port}/hook")
    monkeypatch.setenv("TEST_HOOK_SECRET", secret)
    return write_config(tmp_path, channels={"hook": {
        "type": "webhook", "url_env": "TEST_HOOK_URL", "secret_env": "TEST_HOOK_SECRET", "timeout": 5}})


def test_signed_webhooks_verify_with_the_standard_verifier(duck, tmp_path, monkeypatch):
    feature_overruns(duck)
    port = free_port()
    rx = VerifyingReceiver(port, SECRET)
    try:
        fired = check(duck, "2024-05", config=_cfg(tmp_path, port, monkeypatch, SECRET))
    finally:
        rx.stop()
    assert fired and len(rx.accepted) == len(fired) and rx.refused == []
    ids = {h["webhook-id"] for h, _ in rx.accepted}
    assert len(ids) == len(fired)  # one id per message
    assert all(h["webhook-signature"].startswith("v1,") for h, _ in rx.accepted)
    with duck.connect(read_only=True) as c:  # every outbound call recorded, no token in it
        calls = c.query("SELECT direction, endpoint, source, status, signature_valid FROM api_calls")
    assert calls == [("outbound", f"http://127.0.0.1:{port}", "hook", 204, True)] * len(fired)


def test_a_wrong_secret_is_refused_by_the_receiver_and_stays_pending(duck, tmp_path, monkeypatch):
    feature_overruns(duck)
    port = free_port()
    rx = VerifyingReceiver(port, SECRET)
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    try:
        fired = check(duck, "2024-05", config=_cfg(tmp_path, port, monkeypatch, other))
    finally:
        rx.stop()
    assert rx.accepted == [] and len(rx.refused) == len(fired)

    rows = [a["deliveries"]["hook"] for a in list_alerts(duck)]
    assert all(r["delivered_at"] is None and "401" in r["last_error"] for r in rows)
    assert not any(other in (r["last_error"] or "") for r in rows)


def test_markup_in_alert_text_arrives_escaped(duck, tmp_path, monkeypatch):

    evil = '<img src=x onerror=alert(1)> & <https://evil.example|click>'
    payload = WebhookChannel.payload({"id": "a1", "severity": "critical", "rule": "r", "period": "2024-05",
                                      "message": f"campaign {evil} overspent", "entity": {"campaign": evil}})
    text = json.dumps(payload)
    assert "<img" not in text and "<https" not in text
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;https://evil.example|click&gt;" in payload["text"]
    assert payload["blocks"][0]["text"]["text"] == payload["text"]


@pytest.mark.parametrize("secret", [SECRET])
def test_missing_signing_secret_keeps_alerts_pending(duck, tmp_path, monkeypatch, secret):
    feature_overruns(duck)
    port = free_port()
    rx = VerifyingReceiver(port, secret)
    cfg = _cfg(tmp_path, port, monkeypatch, secret)
    monkeypatch.delenv("TEST_HOOK_SECRET")
    try:
        check(duck, "2024-05", config=cfg)
    finally:
        rx.stop()
    assert rx.accepted == [] and rx.refused == []  # nothing unsigned was sent
