"""Delivery over real servers: aiosmtpd for e-mail, http.server for the webhook.

An alert is delivered once per channel; a channel that is down keeps it pending and the
next check delivers it, exactly once. Secrets never reach logs or the warehouse.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from finlib.alerts import check, list_alerts
from tests.alerts.conftest import write_config
from tests.alerts.test_store import feature_overruns

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

PASSWORD = "s3cr3t-Pa55word"
TOKEN = "T0KEN-abcdef123456"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- a real SMTP server -----------------------------------------------------------------

class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              message_from_bytes(envelope.content)))
        return "250 OK"


def smtp_server(port, inbox, user="finlib", password=PASSWORD):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False)

    c = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                   auth_required=True, auth_require_tls=False)
    c.start()
    return c


# ---- a real HTTP server -----------------------------------------------------------------

class Hook:
    def __init__(self, port, status=200):
        self.posts = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def deliveries(wh, channel):
    return [a["deliveries"][channel] for a in list_alerts(wh)]


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("TEST_SMTP_USER", "finlib")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    return monkeypatch


def smtp_config(tmp_path, port, **extra):
    return write_config(tmp_path, channels={"email": {
        "type": "smtp", "host": "127.0.0.1", "port": port, "from": "finlib@example.com",
        "to": ["cfo@example.com", "fpa@example.com"], "username_env": "TEST_SMTP_USER",
        "password_env": "TEST_SMTP_PASSWORD", "timeout": 5, "tls": "none", **extra}})


def test_email_goes_to_a_real_smtp_server_once(duck, tmp_path, env):
    feature_overruns(duck)
    inbox = Inbox()
    port = free_port()
    server = smtp_server(port, inbox)
    try:
        cfg = smtp_config(tmp_path, port)
        fired = check(duck, "2024-05", config=cfg)
        check(duck, "2024-05", config=cfg)
    finally:
        server.stop()
    assert len(inbox.messages) == 1  # one digest, one check; the re-run sends nothing
    sender, rcpts, msg = inbox.messages[0]
    assert sender == "finlib@example.com" and rcpts == ["cfo@example.com", "fpa@example.com"]
    assert "2 new alerts" in msg["Subject"]
    body = msg.get_payload()
    for a in fired:
        assert a["id"] in body
    assert all(d["delivered_at"] for d in deliveries(duck, "email"))


def test_email_server_down_then_up_delivers_exactly_once(duck, tmp_path, env, caplog):
    caplog.set_level(logging.DEBUG)
    feature_overruns(duck)
    port = free_port()
    cfg = smtp_config(tmp_path, port)
    check(duck, "2024-05", config=cfg)  # nobody listening
    pending = deliveries(duck, "email")
    assert all(d["delivered_at"] is None and d["attempts"] == 1 for d in pending)
    assert all("refused" in d["last_error"].lower() for d in pending)
    inbox = Inbox()
    server = smtp_server(port, inbox)
    try:
        check(duck, "2024-05", config=cfg)
        check(duck, "2024-05", config=cfg)
    finally:
        server.stop()
    assert len(inbox.messages) == 1
    done = deliveries(duck, "email")
    assert all(d["delivered_at"] and d["attempts"] == 2 and d["last_error"] is None for d in done)
    assert PASSWORD not in caplog.text


def test_wrong_smtp_password_keeps_the_alert_pending_and_never_leaks_it(duck, tmp_path, env,
                                                                        caplog):
    caplog.set_level(logging.DEBUG)
    feature_overruns(duck)
    env.setenv("TEST_SMTP_PASSWORD", "wrong-" + PASSWORD)
    inbox = Inbox()
    port = free_port()
    server = smtp_server(port, inbox)
    try:
        check(duck, "2024-05", config=smtp_config(tmp_path, port))
    finally:
        server.stop()
    assert inbox.messages == []
    for d in deliveries(duck, "email"):
        assert d["delivered_at"] is None and "Authentication" in d["last_error"]
        assert PASSWORD not in d["last_error"]
    assert PASSWORD not in caplog.text


def test_missing_secret_is_a_pending_delivery_not_a_crash(duck, tmp_path, env):
    feature_overruns(duck)
    env.delenv("TEST_SMTP_PASSWORD")
    fired = check(duck, "2024-05", config=smtp_config(tmp_path, free_port()))
    assert len(fired) == 2
    for d in deliveries(duck, "email"):
        assert "TEST_SMTP_PASSWORD" in d["last_error"] and d["delivered_at"] is None


# ---- webhook -----------------------------------------------------------------------------

def webhook_config(tmp_path, port, monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_URL", f"http://127.0.0.1:{port}/services/{TOKEN}")
    return write_config(tmp_path, channels={
        "slack": {"type": "webhook", "url_env": "TEST_WEBHOOK_URL", "timeout": 5},
        "log": {"type": "jsonl", "path": str(tmp_path / "alerts.jsonl")}})


def test_webhook_posts_slack_compatible_json_once_per_alert(duck, tmp_path, monkeypatch):
    feature_overruns(duck)
    port = free_port()
    hook = Hook(port)
    try:
        cfg = webhook_config(tmp_path, port, monkeypatch)
        fired = check(duck, "2024-05", config=cfg)
        check(duck, "2024-05", config=cfg)
    finally:
        hook.stop()
    assert len(hook.posts) == 2
    for (path, ctype, payload), alert in zip(hook.posts, fired, strict=True):
        assert path == f"/services/{TOKEN}" and ctype == "application/json"
        assert alert["id"] in payload["text"] and "product_development" in payload["text"]
        assert payload["blocks"][0]["type"] == "section"
    log_lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["id"] for x in log_lines) == sorted(a["id"] for a in fired)


def test_webhook_down_then_up_delivers_exactly_once_and_log_is_unaffected(
        duck, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    feature_overruns(duck)
    port = free_port()
    cfg = webhook_config(tmp_path, port, monkeypatch)
    first = check(duck, "2024-05", config=cfg)  # webhook down, log fine
    for a in first:
        assert a["deliveries"]["slack"]["delivered_at"] is None
        assert a["deliveries"]["log"]["delivered_at"] is not None
        assert TOKEN not in (a["deliveries"]["slack"]["last_error"] or "")
    hook = Hook(port)
    try:
        check(duck, "2024-06", config=cfg)  # retried on the next check, whatever its period
        check(duck, "2024-06", config=cfg)
    finally:
        hook.stop()
    may_ids = {a["id"] for a in first}
    posted = [p["text"] for _, _, p in hook.posts]
    for aid in may_ids:
        assert sum(aid in t for t in posted) == 1
    assert len(hook.posts) == 4  # 2 from May (retried) + 2 from June, each once
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 4
    assert TOKEN not in caplog.text


def test_webhook_http_error_is_retried(duck, tmp_path, monkeypatch):
    feature_overruns(duck)
    port = free_port()
    hook = Hook(port, status=500)
    try:
        cfg = webhook_config(tmp_path, port, monkeypatch)
        check(duck, "2024-05", config=cfg)
        assert all(d["last_error"].startswith("HTTP 500") for d in deliveries(duck, "slack"))
        hook.status = 200
        check(duck, "2024-05", config=cfg)
    finally:
        hook.stop()
    assert len(hook.posts) == 4  # two failed posts, then two good ones
    assert all(d["delivered_at"] for d in deliveries(duck, "slack"))


def test_channel_min_severity_and_rule_channel_lists(duck, tmp_path):
    feature_overruns(duck)
    cfg = write_config(tmp_path, rules={"product_development": {"severity": "info",
                                                                "channels": ["all"]}},
                       channels={"all": {"type": "jsonl", "path": str(tmp_path / "all.jsonl")},
                                 "loud": {"type": "jsonl", "path": str(tmp_path / "loud.jsonl"),
                                          "min_severity": "warning"}})
    check(duck, "2024-05", config=cfg)
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "loud.jsonl").exists()


def test_a_disabled_channel_keeps_deliveries_pending_until_enabled(duck, tmp_path):
    feature_overruns(duck)
    ch = {"type": "jsonl", "path": str(tmp_path / "x.jsonl")}
    check(duck, "2024-05", config=write_config(tmp_path, channels={"x": {**ch}}),
          deliver=False)
    assert all(d["delivered_at"] is None and d["attempts"] == 0 for d in deliveries(duck, "x"))
    check(duck, "2024-05", config=write_config(tmp_path, channels={"x": {**ch, "enabled": False}}))
    assert not (tmp_path / "x.jsonl").exists()
    check(duck, "2024-05", config=write_config(tmp_path, channels={"x": ch}))
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == 2
