"""E-mail alerts over TLS: STARTTLS (the default) and implicit TLS to a real aiosmtpd server
with a test CA; clear text only to a local relay, and never silently."""

from __future__ import annotations

import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from finlib.alerts import check
from finlib.errors import FinlibError
from tests.alerts.conftest import write_config
from tests.alerts.test_channels import PASSWORD, Inbox, deliveries, free_port, smtp_server
from tests.alerts.test_store import feature_overruns

from .certs import make_pki

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


@pytest.fixture
def smtp_env(monkeypatch):
    monkeypatch.setenv("TEST_SMTP_USER", "finlib")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)


def _cfg(tmp_path, port, **extra):
    return write_config(tmp_path, channels={"email": {
        "type": "smtp", "host": "127.0.0.1", "port": port, "from": "finlib@example.com",
        "to": ["cfo@example.com"], "username_env": "TEST_SMTP_USER",
        "password_env": "TEST_SMTP_PASSWORD", "timeout": 5, **extra}})


def _tls_server(port, inbox, pki, implicit=False):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.cert, pki.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.password.decode() == PASSWORD, handled=False)

    if implicit:
        # the whole connection is TLS (aiosmtpd does not count it as such for AUTH)
        c = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=ctx,
                       authenticator=authenticator, auth_required=True, auth_require_tls=False)
    else:
        c = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                       authenticator=authenticator, auth_required=True, auth_require_tls=True)
    c.start()
    return c


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_mail_goes_over_verified_tls(duck, tmp_path, pki, smtp_env, mode):
    feature_overruns(duck)
    inbox, port = Inbox(), free_port()
    server = _tls_server(port, inbox, pki, implicit=mode == "ssl")
    try:
        cfg = _cfg(tmp_path, port, tls=mode, cafile=str(pki.ca))
        check(duck, "2024-05", config=cfg)
    finally:
        server.stop()
    assert len(inbox.messages) == 1
    assert all(d["delivered_at"] for d in deliveries(duck, "email"))


def test_starttls_is_the_default_and_an_untrusted_server_gets_nothing(duck, tmp_path, pki, smtp_env):
    """No tls setting: STARTTLS with the system CAs, which do not trust the test CA; the
    password and the mail are never sent, the alert stays pending with the reason."""
    feature_overruns(duck)
    inbox, port = Inbox(), free_port()
    server = _tls_server(port, inbox, pki)
    try:
        check(duck, "2024-05", config=_cfg(tmp_path, port))
    finally:
        server.stop()
    assert inbox.messages == []
    rows = deliveries(duck, "email")
    assert rows and not any(d["delivered_at"] for d in rows)
    assert any("CERTIFICATE_VERIFY_FAILED" in (d["last_error"] or "") for d in rows), rows
    assert not any(PASSWORD in (d["last_error"] or "") for d in rows)


def test_a_server_without_starttls_is_refused_not_used_in_clear(duck, tmp_path, smtp_env):
    feature_overruns(duck)
    inbox, port = Inbox(), free_port()
    server = smtp_server(port, inbox)  # plain SMTP, no STARTTLS offered
    try:
        check(duck, "2024-05", config=_cfg(tmp_path, port, tls="starttls"))
    finally:
        server.stop()
    assert inbox.messages == []
    assert any("STARTTLS" in (d["last_error"] or "") for d in deliveries(duck, "email"))


def test_clear_text_only_for_a_local_relay_unless_forced(duck, tmp_path):
    feature_overruns(duck)
    cfg = write_config(tmp_path, channels={"email": {
        "type": "smtp", "host": "smtp.example.com", "port": 25, "from": "a@example.com",
        "to": ["b@example.com"], "tls": "none"}})
    with pytest.raises(FinlibError, match="only allowed for a local relay"):
        check(duck, "2024-05", config=cfg)
    forced = write_config(tmp_path, channels={"email": {
        "type": "smtp", "host": "127.0.0.2", "port": 25, "from": "a@example.com",
        "to": ["b@example.com"], "tls": "none"}})
    check(duck, "2024-05", config=forced)  # loopback: allowed (delivery fails, nothing listens)
