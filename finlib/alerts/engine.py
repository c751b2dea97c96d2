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
from collections import defaultdict
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from finlib.alerts import store
from finlib.alerts.channels import make_channel
from finlib.alerts.config import AlertsConfig, load_config
from finlib.alerts.rules import Finding
from finlib.alerts.rules import evaluate as rules_evaluate
from finlib.errors import AlertError
from finlib.metrics.core import finite_or_none
from finlib.periods import parse_period
from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import current_user

log = logging.getLogger("finlib.alerts")


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


def _apply_overrides(cfg: AlertsConfig, rules, overrides) -> dict:
    """The rule settings to evaluate: ``rules`` (default every rule) with ``overrides``."""
    names = list(cfg.rules) if rules is None else ([rules] if isinstance(rules, str) else list(rules))
    unknown = sorted(set(names) - set(cfg.rules)) + sorted(set(overrides or {}) - set(cfg.rules))
    if unknown:
        raise AlertError(f"unknown alert rule(s) {sorted(set(unknown))}; known rules are "
                         f"{sorted(cfg.rules)}")
    out = {}
    for name in names:
        rule_cfg = cfg.rules[name]
        change = (overrides or {}).get(name)
        if change:
            if not isinstance(change, dict):
                raise AlertError(f"overrides[{name!r}] must be a mapping such as "
                                 "{'threshold': 0.2}")
            try:
                rule_cfg = type(rule_cfg).model_validate({**rule_cfg.model_dump(), **change})
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                     for e in exc.errors())
                raise AlertError(f"overrides[{name!r}]: {problems}") from None
        if rule_cfg.enabled:
            out[name] = rule_cfg
    return out


def _findings_to_rows(cfg: AlertsConfig, configs: dict, findings: list[Finding]) -> list[dict]:
    rows = []
    for f in findings:
        rule_cfg = configs[f.rule]
        severity = rule_cfg.data_issue_severity if f.data_issue else rule_cfg.severity
        rows.append({
            "id": store.alert_id(f.rule, f.entity, f.period), "rule": f.rule,
            "entity": f.entity, "severity": severity, "value": f.value,
            "threshold": f.threshold, "details": f.details, "message": f.message,
            "report_link": render_link(cfg, f),
            "channels": _channels_for(cfg, f.rule, severity),
            "data_issue": f.data_issue,
        })
    return rows


def evaluate(wh, period: date | str | None = None, rules=None,
             overrides: dict[str, dict] | None = None,
             config: AlertsConfig | str | Path | None = None) -> list[dict]:
    """Evaluate the alert rules for ``period`` **without storing or sending anything**.

    The read-only twin of :func:`check`, for dashboards and notebooks: the same rules, the
    same findings and the same stable ids, on one read-only connection. Nothing is written
    (no ``alerts`` or ``alert_deliveries`` row, no audit entry, no delivery), so it is safe
    on a read-only DuckDB file or a read-only PostgreSQL role, and as often as a page
    re-renders.

    Parameters
    ----------
    wh : Warehouse or Connection
        A :class:`~finlib.warehouse.db.Warehouse` (a short read-only connection is opened)
        or an already open connection (``wh.connect(read_only=True)``), which is used as is.
    period : date or str, optional
        The month (``YYYY-MM`` or a first-of-month date); default the last closed month.
    rules : str or iterable of str, optional
        The rules to evaluate (default: every rule). A rule disabled in the configuration
        is skipped unless ``overrides`` sets ``{"enabled": True}`` for it. An unknown rule
        name is an :class:`~finlib.errors.AlertError`.
    overrides : dict, optional
        Per-rule setting changes for this evaluation only, e.g.
        ``{"budget_variance": {"threshold": 0.05}}``. Validated like the YAML file (an
        unknown key or a bad value is an ``AlertError``). Thresholds keep the rule's units
        (fractions: 0.05 = 5 %; ``campaign_roi`` a ROI ratio, 2.0 = 200 %).
    config : AlertsConfig or path, optional
        Default ``parameters/alerts.yaml``.

    Returns
    -------
    list of dict
        One item per finding, in rule order, with the keys :func:`check` returns: ``id``
        (sha256 of rule + entity + period, the same id ``check`` stores), ``rule``,
        ``period`` (YYYY-MM-DD), ``entity`` (ids as strings), ``value``, ``threshold``,
        ``severity``, ``state``, ``message``, ``details``, ``report_link``, ``first_seen``,
        ``last_seen``, ``acknowledged_by``, ``acknowledged_at``, ``deliveries``, ``new``;
        plus ``data_issue`` (bool: a zero budget, cost without customers …).

        ``state`` is the state :func:`check` would leave the alert in: ``"new"`` when the
        alert has never been stored (``check`` would store it ``open`` and deliver it;
        ``new`` is then True), otherwise the stored state (``open`` or ``acknowledged``,
        with the stored timestamps and deliveries); a stored ``resolved`` alert that fires
        again is reported ``open`` (``check`` re-opens it). A warehouse without the
        ``alerts`` table (never checked) gives ``"new"`` for everything.

    Notes
    -----
    Values follow each rule's docstring in :mod:`finlib.alerts.rules` (USD, fractions,
    ROI ratios). Alerts stored for the period that no longer fire are not listed (``check``
    would resolve them); use :func:`list_alerts` for history.
    """
    cfg = config if isinstance(config, AlertsConfig) else load_config(config)
    p = parse_period(period)
    configs = _apply_overrides(cfg, rules, overrides)
    if hasattr(wh, "query_df"):  # an open connection
        return _evaluate_on(wh, cfg, configs, p)
    with wh.connect(read_only=True) as conn:
        return _evaluate_on(conn, cfg, configs, p)


def _evaluate_on(conn, cfg: AlertsConfig, configs: dict, p: date) -> list[dict]:
    rows = _findings_to_rows(cfg, configs, rules_evaluate(conn, p, configs))
    stored = store.lookup(conn, [r["id"] for r in rows])
    out = []
    for r in rows:
        s = stored.get(r["id"])
        state = "new" if s is None else ("open" if s["state"] == "resolved" else s["state"])
        item = {
            "id": r["id"], "rule": r["rule"], "period": p.isoformat(),
            "entity": store.json_entity(r["entity"]),
            "value": finite_or_none(r["value"]),
            "threshold": finite_or_none(r["threshold"]),
            "severity": r["severity"], "state": state, "message": r["message"],
            "details": store.json_details(r["details"]), "report_link": r["report_link"],
            "first_seen": s["first_seen"] if s else None,
            "last_seen": s["last_seen"] if s else None,
            "acknowledged_by": s["acknowledged_by"] if s else None,
            "acknowledged_at": s["acknowledged_at"] if s else None,
            "deliveries": s["deliveries"] if s else {},
            "new": s is None, "data_issue": bool(r["data_issue"]),
        }
        out.append(item)
    return out


def rule_settings(config: AlertsConfig | str | Path | None = None) -> dict[str, dict]:
    """Every rule's settings from ``parameters/alerts.yaml`` (defaults filled in), read-only.

    Returns ``{rule: {"enabled", "severity", "threshold", …}}`` so views and notebooks can
    show the tolerance a rule applies (e.g. ``rule_settings()["budget_variance"]
    ["threshold"]``) without reaching into :mod:`finlib.alerts.config`.
    """
    cfg = config if isinstance(config, AlertsConfig) else load_config(config)
    return {name: rule.model_dump() for name, rule in cfg.rules.items()}


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
        acknowledged_by, acknowledged_at, deliveries, new, data_issue``.
        :func:`evaluate` returns the same items without storing anything.
    """
    cfg = config if isinstance(config, AlertsConfig) else load_config(config)
    p = parse_period(period)
    enabled = {n: c for n, c in cfg.rules.items() if c.enabled}
    with wh.connect(read_only=True) as conn:
        store._require_tables(conn)
        findings = rules_evaluate(conn, p, enabled)
    rows = _findings_to_rows(cfg, enabled, findings)
    outcome = store.save(wh, p, rows, evaluated_rules=enabled)
    log.info("alerts %s: %d firing (%d new, %d resolved)", p.isoformat(), len(rows),
             len(outcome["new"]), len(outcome["resolved"]))
    if deliver:
        deliver_pending(wh, cfg)
    fired = store.list_alerts(wh, ids=[r["id"] for r in rows])
    new = set(outcome["new"])
    issues = {r["id"]: bool(r["data_issue"]) for r in rows}
    for a in fired:
        a["new"] = a["id"] in new
        a["data_issue"] = issues.get(a["id"], False)
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
    return store.acknowledge(wh, alert_id, user or current_user())

