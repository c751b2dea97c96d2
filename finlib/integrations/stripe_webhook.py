"""Stripe webhook events for live revenue: verified, idempotent, through the normal ingest.

:func:`handle_event` is the whole logic (pure: bytes in, an HTTP status out);
:class:`StripeWebhookHandler` is a tornado ``RequestHandler`` a server mounts at
``/webhooks/stripe``::

    app = tornado.web.Application([(r"/webhooks/stripe", StripeWebhookHandler, {"wh": wh})])

Each request is, in order:

1. rate limited per source address (:data:`RATE`, the ``limits`` package): 429;
2. verified with the ``stripe`` library's signature check (``Stripe-Signature: t=…,v1=…``,
   HMAC-SHA256 of ``t.payload`` with the endpoint secret ``FINLIB_STRIPE_WEBHOOK_SECRET``,
   300 s tolerance): 401 when the signature or timestamp is wrong or missing;
3. parsed: 400 for malformed JSON or an event type not in :data:`HANDLED`;
4. claimed by its event id in the ``webhook_events`` system table: 400 for a replayed id;
5. mapped to a canonical ``invoices`` or ``subscriptions`` row with the Stripe mappings
   (``parameters/mappings/stripe_invoices.yaml``, ``stripe_subscriptions.yaml``) and loaded
   by :func:`finlib.ingest.ingest_file` (the same validation and the same audited write path
   as a CSV ingest, ``--replace keys``): 422 when the data breaks a rule, the claim released.

An accepted invoice event changes billings (:func:`finlib.metrics.facts.invoiced`, the
executive page's Billings tile, :func:`finlib.views.executive.billings`) at once. It posts no
recognised revenue: that is earned over the invoice's service period and comes from the
revenue schedule (``revenue_recognized``), so booking it from single invoice events would
recognise a year paid in advance in the month it was billed.

Every request is recorded in the ``api_calls`` system table (endpoint, source, status,
latency, whether the signature was valid); refusals are logged on ``finlib.security`` and a
signature failure or a burst is logged at WARNING as a security alert. Nothing from the
payload beyond the event id and type is logged.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import stripe
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from tornado.web import RequestHandler

from finlib.alerts import store as alert_store
from finlib.audit import monitor
from finlib.errors import FinlibError, IngestError, ValidationError
from finlib.ingest.loader import ingest_file
from finlib.ingest.mapping import load_mapping
from finlib.security import outbound
from finlib.warehouse.db import Warehouse, get_warehouse
from finlib.warehouse.load import write_batch

log = logging.getLogger("finlib.security")

ENV_SECRET = "FINLIB_STRIPE_WEBHOOK_SECRET"
ENDPOINT = "/webhooks/stripe"
TOLERANCE_S = 300
RATE = "120/minute"
INVOICE_EVENTS = {"invoice.finalized": "open", "invoice.paid": "paid", "invoice.voided": "void"}
SUBSCRIPTION_EVENTS = {"customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted"}
HANDLED = set(INVOICE_EVENTS) | SUBSCRIPTION_EVENTS
USER = "stripe-webhook"

SYSTEM_DDL = (
    "CREATE TABLE IF NOT EXISTS webhook_events (event_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, "
    "event_type VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL, outcome VARCHAR NOT NULL)",
    outbound.API_CALLS_DDL,
)

_limiter = MovingWindowRateLimiter(MemoryStorage())


@dataclass
class Outcome:
    status: int
    message: str
    event_id: str | None = None
    event_type: str | None = None
    signature_valid: bool | None = None


def ensure_tables(wh: Warehouse) -> None:
    with wh.connect() as conn:
        for ddl in SYSTEM_DDL:
            conn.execute(ddl)


def _record_call(wh: Warehouse, out: Outcome, source: str, latency_ms: float) -> None:
    with wh.connect() as conn:
        conn.execute("INSERT INTO api_calls VALUES (:at, 'inbound', :ep, :src, :st, :lat, :sig, :et, :d)",
                     {"at": dt.datetime.now(dt.UTC).replace(tzinfo=None), "ep": ENDPOINT, "src": source,
                      "st": out.status, "lat": round(latency_ms, 2), "sig": out.signature_valid,
                      "et": out.event_type, "d": out.message[:300]})


def _verify(payload: bytes, signature: str | None, secret: str, now: float | None) -> None:
    if now is None:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=TOLERANCE_S)
        return
    stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=None)
    ts = int(dict(p.split("=", 1) for p in signature.split(",") if "=" in p)["t"])
    if abs(now - ts) > TOLERANCE_S:
        raise stripe.SignatureVerificationError("Timestamp outside the tolerance zone", signature,
                                                payload)


def _day(unix) -> str:
    return dt.datetime.fromtimestamp(int(unix), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def invoice_row(event_type: str, obj: dict) -> dict:
    """An invoice object as a row of the Stripe invoice export (the mapping's source columns)."""
    status = INVOICE_EVENTS[event_type]
    return {"id": obj["id"], "customer": obj["customer"], "subscription": obj.get("subscription") or "",
            "created": _day(obj["created"]), "period_start": _day(obj["period_start"]),
            "period_end": _day(obj["period_end"]), "amount_due": obj["amount_due"],
            "currency": obj["currency"], "status": {"open": "open", "paid": "paid", "void": "void"}[status]}


def subscription_row(event_type: str, obj: dict) -> dict:
    """A subscription object as a row of ``stripe_subscriptions.yaml``'s source columns."""
    items = obj["items"]["data"]
    cents = 0.0
    for it in items:
        price = it["price"]
        per = {"month": 1, "year": 12}[price["recurring"]["interval"]] * int(price["recurring"].get("interval_count", 1))
        cents += int(price["unit_amount"]) * int(it.get("quantity", 1)) / per
    ended = obj.get("ended_at") or (obj.get("canceled_at") if event_type.endswith("deleted") else None)
    return {"id": obj["id"], "customer": obj["customer"], "product": items[0]["price"]["product"],
            "start_date": _day(obj["start_date"]), "ended_at": _day(ended) if ended else "",
            "mrr_cents": round(cents), "currency": obj["currency"],
            "interval": items[0]["price"]["recurring"]["interval"]}


def _load_row(wh: Warehouse, table: str, mapping: str, row: dict, event_id: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="finlib-stripe-"))
    try:
        path = folder / f"stripe-{event_id}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            w.writeheader()
            w.writerow(row)
        ingest_file(wh, table, path, mapping=load_mapping(mapping), replace="keys", user=USER)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _claim(wh: Warehouse, event_id: str, event_type: str) -> bool:
    try:
        with write_batch(wh, action="webhook", target="webhook_events", actor=USER,
                         details={"event_id": event_id, "event_type": event_type}) as b:
            if b.conn.scalar("SELECT count(*) FROM webhook_events WHERE event_id = :id", {"id": event_id}):
                return False
            b.execute("INSERT INTO webhook_events VALUES (:id, 'stripe', :t, :at, 'processing')",
                      {"id": event_id, "t": event_type, "at": dt.datetime.now(dt.UTC).replace(tzinfo=None)})
    except FinlibError as exc:
        if "constraint" in str(exc).lower() or "duplicate" in str(exc).lower():
            return False
        raise
    return True


def _settle(wh: Warehouse, event_id: str, outcome: str | None) -> None:
    with wh.connect() as conn:
        if outcome is None:
            conn.execute("DELETE FROM webhook_events WHERE event_id = :id", {"id": event_id})
        else:
            conn.execute("UPDATE webhook_events SET outcome = :o WHERE event_id = :id",
                         {"o": outcome, "id": event_id})


def handle_event(payload: bytes, signature_header: str | None, secret: str | None,
                 wh: Warehouse | None = None, now: float | None = None, source: str = "unknown") -> Outcome:
    """Verify, deduplicate and load one Stripe event; record the call. Never raises for
    anything the sender controls; returns the HTTP status and a short message."""
    wh = wh or get_warehouse()
    t0 = time.perf_counter()
    ensure_tables(wh)
    out = _handle(payload, signature_header, secret, wh, now, source)
    if out.status >= 400:
        level = logging.WARNING if out.signature_valid is False or out.status == 429 else logging.INFO
        log.log(level, "stripe webhook refused (%s) from %s: %s%s", out.status, source, out.message,
                " [security alert]" if level == logging.WARNING else "")
    else:
        log.info("stripe webhook %s %s accepted from %s", out.event_type, out.event_id, source)
    _record_call(wh, out, source, (time.perf_counter() - t0) * 1000)
    if out.signature_valid is False or out.status == 429:
        raise_security_alert(wh, "rate_limited" if out.status == 429 else "bad_signature", source, out.message)
    return out


def api_usage(wh: Warehouse, days: int = 30) -> list[dict]:
    """Calls recorded in ``api_calls`` over the last ``days`` days, per endpoint and source."""
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)
    with wh.connect(read_only=True) as conn:
        if not conn.table_exists("api_calls"):
            return []
        df = conn.query_df("SELECT endpoint, source, status, signature_valid, latency_ms, called_at "
                           "FROM api_calls WHERE called_at >= :since", {"since": since})
    out = []
    for (endpoint, source), g in df.groupby(["endpoint", "source"], sort=True):
        out.append({"endpoint": endpoint, "source": source, "calls": len(g),
                    "ok": int((g["status"] < 400).sum()), "refused": int((g["status"] >= 400).sum()),
                    "bad_signature": int((g["signature_valid"] == False).sum()),  # noqa: E712
                    "rate_limited": int((g["status"] == 429).sum()),
                    "median_ms": float(g["latency_ms"].median()), "max_ms": float(g["latency_ms"].max()),
                    "last_call": g["called_at"].max()})
    return out


SECURITY_RULE = monitor.SECURITY_RULE


def _security_channels() -> list[str]:
    try:
        return monitor.alert_channels("critical")
    except FinlibError as exc:  # no or a broken alerts.yaml: stored, shown by `alerts list`
        log.warning("api_security alert not routed to any channel: %s", exc)
        return []


def raise_security_alert(wh: Warehouse, kind: str, source: str, message: str) -> str:
    """Store (or refresh) a critical ``api_security`` alert for this source, kind and month
    in the ``alerts`` table, with a pending delivery on every channel that
    :func:`finlib.audit.monitor.alert_channels` names for a critical alert.

    The request is not held up by the delivery: ``finlib audit watch`` (scheduled) and the
    next ``finlib run`` batch send it, as they send every pending alert. A refresh (the same
    source, kind and month again) updates the count and is not delivered again, so a flood
    of bad requests from one source is one message. ``finlib alerts ack`` closes it."""
    today = dt.date.today()
    period = today.replace(day=1)
    entity = {"endpoint": ENDPOINT, "source": source, "kind": kind}
    aid = alert_store.alert_id(SECURITY_RULE, entity, period)
    with wh.connect(read_only=True) as conn:
        seen = conn.scalar("SELECT count(*) FROM api_calls WHERE source = :s AND CAST(called_at AS DATE) >= :p "
                           "AND (signature_valid = FALSE OR status = 429)", {"s": source, "p": period})
    alert_store.save(wh, period, [{
        "id": aid, "rule": SECURITY_RULE, "entity": entity, "severity": "critical", "value": float(seen or 1),
        "threshold": 0.0, "details": {"last": message, "on": today.isoformat()},
        "message": monitor.scrub(f"Stripe webhook {kind.replace('_', ' ')} from {source} ({seen} this month)"),
        "report_link": None, "channels": _security_channels()}], evaluated_rules=[])
    return aid


def _handle(payload, signature, secret, wh, now, source) -> Outcome:
    if not _limiter.hit(parse_limit(RATE), "stripe", source):
        return Outcome(429, f"rate limit {RATE} exceeded for this source")
    if not secret:
        return Outcome(503, f"the endpoint is not configured ({ENV_SECRET} is not set)")
    try:
        _verify(payload, signature, secret, now)
    except (stripe.SignatureVerificationError, KeyError, ValueError, AttributeError):
        return Outcome(401, "signature verification failed (bad signature or stale timestamp)",
                       signature_valid=False)
    try:
        event = json.loads(payload)
        event_id, event_type, obj = event["id"], event["type"], event["data"]["object"]
        if not isinstance(event_id, str) or not isinstance(obj, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return Outcome(400, "malformed event JSON", signature_valid=True)
    if event_type not in HANDLED:
        return Outcome(400, f"unhandled event type {event_type!r}", event_id, event_type, True)
    try:
        if event_type in INVOICE_EVENTS:
            table, mapping, row = "invoices", "stripe_invoices", invoice_row(event_type, obj)
        else:
            table, mapping, row = "subscriptions", "stripe_subscriptions", subscription_row(event_type, obj)
    except (KeyError, TypeError, ValueError, OverflowError, IndexError):
        return Outcome(400, "the event's object lacks the fields of its type", event_id, event_type, True)
    if not _claim(wh, event_id, event_type):
        return Outcome(400, f"event {event_id} was already processed (replay)", event_id, event_type, True)
    try:
        _load_row(wh, table, mapping, row, event_id)
    except (ValidationError, IngestError) as exc:
        _settle(wh, event_id, None)
        problems = getattr(exc, "problems", None) or []
        why = "; ".join(f"{p['column']}: {p['rule']}" for p in problems[:5]) or type(exc).__name__
        return Outcome(422, f"the {table} row breaks the ingest rules ({why}); nothing written",
                       event_id, event_type, True)
    except BaseException:
        _settle(wh, event_id, None)
        raise
    _settle(wh, event_id, "accepted")
    return Outcome(200, "accepted", event_id, event_type, True)


class StripeWebhookHandler(RequestHandler):
    """``POST /webhooks/stripe``: the signature is this endpoint's only credential."""

    def initialize(self, wh: Warehouse | None = None, secret: str | None = None) -> None:
        self.wh = wh
        self.secret = secret

    def check_xsrf_cookie(self) -> None:  # a server-to-server call, authenticated by signature
        return None

    def post(self) -> None:
        out = handle_event(self.request.body, self.request.headers.get("Stripe-Signature"),
                           self.secret or os.environ.get(ENV_SECRET), self.wh,
                           source=self.request.remote_ip or "unknown")
        self.set_status(out.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": out.status, "message": out.message}))
