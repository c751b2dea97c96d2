"""Evaluate, store and deliver: :func:`check` is what the job runner calls after every run.

``check(wh, period)``
    1. reads and validates ``parameters/alerts.yaml`` (:mod:`finlib.alerts.config`);
    2. runs every enabled rule for the period on one short read connection
       (:mod:`finlib.alerts.rules`);
    3. stores the result in one transaction (:func:`finlib.alerts.store.save`): new alerts
       inserted ``open`` with a pending delivery per channel, re-fired alerts refreshed,
       alerts of the period that stopped firing ``resolved``;
    4. with ``deliver=True``, sends every pending delivery of every period (not only this
       one, so a delivery that failed last time is retried now) and records each outcome.
       Network I/O happens outside any warehouse transaction.

The return value is the list of alerts firing for the period, as stored (with their state
and delivery status).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

from finlib import periods as _periods
from finlib.alerts import store
from finlib.alerts.channels import make_channel
from finlib.alerts.config import AlertsConfig, load_config
from finlib.alerts.rules import RULES, Finding, evaluate
from finlib.errors import AlertError, ConfigError
from finlib.warehouse.db import Warehouse

log = logging.getLogger("finlib.alerts")

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def last_closed_month(today: date | None = None) -> date:
    """The first day of the month before ``today``'s month."""
    return _periods.last_closed_month(today)


def parse_period(value: date | datetime | str | None) -> date:
    """``YYYY-MM``, ``YYYY-MM-01`` or a date → the first day of that month.

    ``None`` means the last closed month. A day other than the first is an error (a period
    is a month, and guessing which one hides mistakes). Raises :class:`AlertError`.
    """
    try:
        return _periods.parse_period(value)
    except ConfigError as exc:
        raise AlertError(str(exc)) from None


class _Blank(dict):
    def __missing__(self, key):
        return ""


def render_link(cfg: AlertsConfig, f: Finding) -> str | None:
    template = cfg.rules[f.rule].link
    if not template:
        return None
    values = _Blank(base=cfg.report_base.rstrip("/"), rule=f.rule, period=f.period.isoformat(),
                    month=f.period.strftime("%Y-%m"), **f.entity)
    return template.format_map(values)


def _channels_for(cfg: AlertsConfig, rule: str, severity: str) -> list[str]:
    allowed = cfg.rules[rule].channels
    return [name for name, ch in cfg.channels.items()
            if ch.enabled and (allowed is None or name in allowed) and ch.accepts(severity)]


def check(wh: Warehouse, period: date | str | None = None, deliver: bool = True,
          config: AlertsConfig | str | Path | None = None) -> list[dict]:
    """Evaluate the alert rules for ``period``, store the alerts and deliver new ones.

    Parameters
    ----------
    wh : Warehouse
        The warehouse (DuckDB or PostgreSQL) with the canonical and system tables.
    period : date or str, optional
        The month to evaluate (``YYYY-MM`` or a first-of-month date); default the last
        closed month.
    deliver : bool
        Send pending deliveries (new alerts, and earlier ones whose channel was down).
    config : AlertsConfig or path, optional
        Default ``parameters/alerts.yaml``.

    Returns
    -------
    list of dict
        The alerts firing for the period: ``id, rule, period (YYYY-MM-DD), entity, value,
        threshold, severity, state, message, details, report_link, first_seen, last_seen,
        acknowledged_by, acknowledged_at, deliveries, new``.
    """
    cfg = config if isinstance(config, AlertsConfig) else load_config(config)
    p = parse_period(period)
    enabled = {n: c for n, c in cfg.rules.items() if c.enabled}
    with wh.connect(read_only=True) as conn:
        store._require_tables(conn)
        findings = evaluate(conn, p, enabled)
    rows = []
    for f in findings:
        rule_cfg = cfg.rules[f.rule]
        severity = rule_cfg.data_issue_severity if f.data_issue else rule_cfg.severity
        rows.append({
            "id": store.alert_id(f.rule, f.entity, f.period), "rule": f.rule,
            "entity": f.entity, "severity": severity, "value": f.value,
            "threshold": f.threshold, "details": f.details, "message": f.message,
            "report_link": render_link(cfg, f),
            "channels": _channels_for(cfg, f.rule, severity),
        })
    outcome = store.save(wh, p, rows, evaluated_rules=enabled)
    log.info("alerts %s: %d firing (%d new, %d resolved)", p.isoformat(), len(rows),
             len(outcome["new"]), len(outcome["resolved"]))
    if deliver:
        deliver_pending(wh, cfg)
    fired = store.list_alerts(wh, ids=[r["id"] for r in rows])
    new = set(outcome["new"])
    for a in fired:
        a["new"] = a["id"] in new
    order = {r["id"]: i for i, r in enumerate(rows)}
    fired.sort(key=lambda a: order.get(a["id"], 0))
    return fired


def deliver_pending(wh: Warehouse, cfg: AlertsConfig | None = None) -> dict[str, int]:
    """Send every undelivered alert on every enabled channel; return counts per outcome.

    A channel that fails leaves its alerts pending (with ``last_error``), to be retried by
    the next call. Messages in logs and ``last_error`` never contain secrets.
    """
    cfg = cfg or load_config()
    channels = cfg.enabled_channels()
    claimed = store.claim_pending(wh, channels)
    by_channel: dict[str, list[dict]] = defaultdict(list)
    for alert, ch in claimed:
        by_channel[ch].append(alert)
    outcomes: list[tuple[str, str, str | None]] = []
    for name, alerts in by_channel.items():
        channel = make_channel(name, channels[name])
        try:
            result = channel.send(alerts)
        except Exception as exc:  # noqa: BLE001 - a channel bug must not lose alerts
            msg = channel.redact(f"{type(exc).__name__}: {exc}")
            result = {a["id"]: msg for a in alerts}
        for a in alerts:
            err = result.get(a["id"], "channel returned no outcome")
            outcomes.append((a["id"], name, err))
        failed = [e for e in result.values() if e]
        if failed:
            log.warning("alerts: channel %s could not deliver %d alert(s), will retry: %s",
                        name, len(failed), failed[0])
        else:
            log.info("alerts: channel %s delivered %d alert(s)", name, len(alerts))
    store.record_deliveries(wh, outcomes)
    ok = sum(1 for *_, e in outcomes if e is None)
    return {"delivered": ok, "failed": len(outcomes) - ok}


def list_alerts(wh: Warehouse, state: str | None = None,
                period: date | str | None = None) -> list[dict]:
    """Stored alerts (newest period first), optionally only one state or one period."""
    return store.list_alerts(wh, state=state, period=period)


def acknowledge(wh: Warehouse, alert_id: str, user: str | None = None) -> dict:
    """Acknowledge an alert (id or a unique prefix of 6+ characters) as ``user``."""
    from finlib.warehouse.load import current_user

    return store.acknowledge(wh, alert_id, user or current_user())


__all__ = [
    "RULES",
    "acknowledge",
    "check",
    "deliver_pending",
    "last_closed_month",
    "list_alerts",
    "parse_period",
]
