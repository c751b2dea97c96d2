"""Outbound calls: Standard Webhooks signatures, inert alert text, a record of every call.

Signatures follow the Standard Webhooks specification (https://www.standardwebhooks.com):
``webhook-id`` (unique per message), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), made with the
``standardwebhooks`` package from a ``whsec_...`` secret held in the environment. A receiver
verifies them with the same package (docs/SECURITY.md shows one).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import secrets
import time
from urllib.parse import urlsplit

from standardwebhooks import Webhook

log = logging.getLogger("finlib.api")

API_CALLS_DDL = (
    "CREATE TABLE IF NOT EXISTS api_calls (called_at TIMESTAMP NOT NULL, direction VARCHAR NOT NULL, "
    "endpoint VARCHAR NOT NULL, source VARCHAR NOT NULL, status INTEGER NOT NULL, "
    "latency_ms DOUBLE PRECISION NOT NULL, signature_valid BOOLEAN, event_type VARCHAR, "
    "detail VARCHAR)")

#: outbound calls made by this process and not yet written to ``api_calls``
PENDING: list[dict] = []

_LOCAL_NAMES = {"localhost", "localhost.localdomain"}


def is_local_host(host: str) -> bool:
    """Whether ``host`` is this machine (a loopback name or address)."""
    h = host.strip().strip("[]").lower()
    if h in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def endpoint_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL: no user, path or query (where tokens live)."""
    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname or ''}" + (f":{p.port}" if p.port else "")


def escape_slack(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack's message formatting asks, so text from the data
    (a campaign or customer name) is shown as written and never read as markup or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(secret: str | None, body: bytes, msg_id: str | None = None,
         now: dt.datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for ``body`` ({} when there is no secret)."""
    if not secret:
        return {}
    msg_id = msg_id or "msg_" + secrets.token_hex(12)
    now = now or dt.datetime.now(dt.UTC)
    signature = Webhook(secret).sign(msg_id, now, body.decode("utf-8"))
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature}


class CallTimer:
    """Times one outbound call and logs it (endpoint with secrets redacted, source, status,
    latency, whether it was signed) on the ``finlib.api`` logger."""

    def __init__(self, source: str, endpoint: str, signed: bool):
        self.source, self.endpoint, self.signed = source, endpoint, signed
        self.status: int | None = None
        self._t = time.perf_counter()

    def done(self) -> dict:
        rec = {"called_at": dt.datetime.now(dt.UTC).replace(tzinfo=None), "direction": "outbound",
               "source": self.source, "endpoint": self.endpoint, "status": self.status or 0,
               "latency_ms": round((time.perf_counter() - self._t) * 1000, 1),
               "signature_valid": self.signed}
        log.info("api call %s", {k: v for k, v in rec.items() if k != "called_at"})
        PENDING.append(rec)
        return rec


def flush_calls(wh) -> int:
    """Write the outbound calls recorded so far to ``api_calls`` (status 0: no response)."""
    recs = PENDING[:]
    if not recs:
        return 0
    with wh.connect() as conn:
        conn.execute(API_CALLS_DDL)
        for r in recs:
            conn.execute("INSERT INTO api_calls VALUES (:called_at, :direction, :endpoint, :source, :status, "
                         ":latency_ms, :signature_valid, NULL, NULL)", r)
    del PENDING[:len(recs)]
    return len(recs)
