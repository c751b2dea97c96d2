"""Outbound deliveries in the integration log: every ``Channel.send`` timed and recorded.

A failed delivery recorded here is what the ``integration_failure`` monitoring rule
(:mod:`finlib.audit.monitor`) turns into an alert; this module only records, so recording
can never trigger another delivery."""

from __future__ import annotations

import functools
import logging
import time

from finlib.audit.access import record_integration
from finlib.warehouse.db import get_warehouse

log = logging.getLogger(__name__)


def log_deliveries(channel):
    """Wrap ``channel.send`` so each call is recorded (channel type and name, outcome, alerts
    sent and failed, bytes handed to the outside (``channel.bytes_sent``), duration) in
    ``access_log`` of the configured warehouse. Recording never
    changes the delivery's outcome or raises."""
    send = channel.send
    if getattr(send, "_finlib_logged", False):
        return channel

    @functools.wraps(send)
    def logged(alerts):
        t = time.perf_counter()
        result, error = None, None
        channel.bytes_sent = 0
        try:
            result = send(alerts)
            return result
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _record(channel, alerts, result, error, time.perf_counter() - t)

    logged._finlib_logged = True  # type: ignore[attr-defined]
    channel.send = logged
    return channel


def _record(channel, alerts, result, error, seconds) -> None:
    try:
        failed = [e for e in (result or {}).values() if e] if error is None else list(alerts)
        first = error or (failed[0] if failed else None)
        redact = getattr(channel, "redact", lambda s: s)
        wh = get_warehouse()
        if not wh.exists():
            return
        record_integration(wh, source=f"{channel.cfg.type}:{channel.name}", action="deliver",
                           outcome="failed" if failed or error else "ok", rows=len(alerts),
                           bytes=int(getattr(channel, "bytes_sent", 0) or 0), duration_s=round(seconds, 3), failed=len(failed),
                           error=redact(str(first))[:500] if first else None)
    except Exception as exc:  # noqa: BLE001 - the log must never break a delivery
        log.warning("integration log: could not record a delivery on %s: %s", getattr(channel, "name", "?"), exc)
