"""Monitoring: unusual access, failed integrations and refused API calls become alerts.

The rules read three logs (``access_log`` access and integration records, ``api_calls``)
over a span of time and turn what they find into alerts in the ``alerts`` table, delivered
through the channels of ``parameters/alerts.yaml`` exactly as metric alerts are (one
pending ``alert_deliveries`` row per channel, sent by :func:`finlib.alerts.deliver_pending`,
retried while a channel is down). Settings: ``parameters/monitoring.yaml`` (validated; a
missing file means the defaults below, with the after-hours rule off).

Rules (alert rule name, default settings):

``failed_login`` (critical)
    ``count`` (5) failed logins of one user within ``window_minutes`` (15); also that many
    from one address naming more than one user (password spraying).
``bulk_export`` (warning)
    more than ``max_exports`` (10) exports by one user within ``window_minutes`` (60).
``after_hours`` (warning, off unless configured)
    any access that let a user in at a local time outside ``start``–``end`` on ``days`` in
    ``timezone``; ``exempt_users`` (service accounts) are skipped.
``integration_failure`` (warning)
    an integration record with outcome ``failed``: an alert delivery that failed (per
    channel) or an ingest that was rejected (per file), per UTC day.
``api_refusals`` (critical)
    ``count`` (20) refused inbound calls (status >= 400) from one source within
    ``window_minutes`` (10).
``api_security`` (critical; raised by the Stripe webhook itself)
    a signature failure or a rate-limit hit, one per source, kind and month.

Identity: an alert is one rule × entity × period (:func:`finlib.alerts.store.alert_id`). The
entity holds who (``user`` or ``address``, the integration ``source``, the API ``endpoint``
and ``source``) and the ``day`` of the finding, the period is that day's month: evaluating
an overlapping span again finds the same alerts, refreshes their count and never delivers
them twice. These alerts are events, not states: a later evaluation that no longer sees them
(its span starts after them) does not resolve them; ``finlib alerts ack`` closes them.

No loop: an ``integration_failure`` alert about a delivery channel is never routed to that
channel (it goes to every other enabled channel), and there is at most one per channel and
day, refreshed while the channel keeps failing. So a failing channel cannot make itself
send alerts about itself, and two failing channels produce one alert each per day.

When: ``finlib audit watch`` (for a scheduler, e.g. every five minutes) and the start of
every ``finlib run`` batch (:func:`watch_for_batch`) evaluate the rules over the last
``lookback_hours`` (24), store, and deliver every pending alert; then, once, the alerts about
deliveries that failed in that pass are raised and delivered on the channels that worked.

Alert text names the user, address, source and count, never a secret: messages hold no
request payload, and any value of an environment variable whose name says KEY, SECRET,
TOKEN or PASSWORD is replaced by ``***`` in the message, entity and details before an alert
is stored (a password typed into the user-name field stays in ``access_log``, which is not
sent anywhere, but never reaches an alert).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finlib import config
from finlib.alerts import store
from finlib.alerts.config import AlertsConfig, load_config
from finlib.alerts.engine import deliver_pending
from finlib.alerts.rules import Severity
from finlib.audit.access import bursts, read, unusual_access
from finlib.errors import ConfigError, FinlibError
from finlib.warehouse.db import Warehouse

log = logging.getLogger("finlib.monitor")

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RULES = ("failed_login", "bulk_export", "after_hours", "integration_failure", "api_refusals")
SECURITY_RULE = "api_security"
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD", re.IGNORECASE)


class NewCriticalAlerts(FinlibError):
    """``finlib audit watch`` raised at least one new critical alert (exit status 5)."""

    exit_code = 5


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    severity: Severity = "warning"


class FailedLogins(_Rule):
    severity: Severity = "critical"
    count: int = Field(5, ge=2, description="failed logins within the window that raise an alert")
    window_minutes: int = Field(15, ge=1)


class BulkExports(_Rule):
    max_exports: int = Field(10, ge=1, description="more exports than this within the window raise")
    window_minutes: int = Field(60, ge=1)


class AfterHours(_Rule):
    """Working hours: ``start`` <= local time < ``end`` on ``days`` in ``timezone``."""

    timezone: str = "UTC"
    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(19, 0)
    days: list[Day] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1)
    exempt_users: list[str] = Field(default_factory=list, description="service accounts")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, v):
        if isinstance(v, int):  # YAML reads an unquoted 9:30 as a number (570)
            raise ValueError(f"{v} is a number: write the time in quotes, e.g. \"09:30\"")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return config.check_time_zone(v)

    @model_validator(mode="after")
    def _order(self):
        if self.start >= self.end:
            raise ValueError(f"start ({self.start:%H:%M}) must be before end ({self.end:%H:%M})")
        return self

    def local(self, ts_utc: dt.datetime) -> dt.datetime:
        return ts_utc.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(self.timezone))

    def inside(self, ts_utc: dt.datetime) -> bool:
        """Whether the naive UTC time ``ts_utc`` falls within working hours."""
        t = self.local(ts_utc)
        return DAYS[t.weekday()] in self.days and self.start <= t.time().replace(tzinfo=None) < self.end

    def local_day(self, ts_utc: dt.datetime) -> dt.date:
        return self.local(ts_utc).date()

    def describe(self) -> str:
        return f"{','.join(self.days)} {self.start:%H:%M}-{self.end:%H:%M} {self.timezone}"


class IntegrationFailures(_Rule):
    pass


class ApiRefusals(_Rule):
    severity: Severity = "critical"
    count: int = Field(20, ge=2)
    window_minutes: int = Field(10, ge=1)


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failed_login: FailedLogins = Field(default_factory=FailedLogins)
    bulk_export: BulkExports = Field(default_factory=BulkExports)
    after_hours: AfterHours | None = None
    integration_failure: IntegrationFailures = Field(default_factory=IntegrationFailures)
    api_refusals: ApiRefusals = Field(default_factory=ApiRefusals)


class MonitoringSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    lookback_hours: int = Field(24, ge=1, le=24 * 366)
    channels: list[str] | None = Field(None, description="channels of alerts.yaml; default every enabled one")
    rules: Rules = Field(default_factory=Rules)

    @field_validator("rules", mode="before")
    @classmethod
    def _no_null(cls, v):
        return {} if v is None else v


def settings_path() -> Path:
    return config.parameters_dir() / "monitoring.yaml"


def load_settings(path: Path | str | None = None) -> MonitoringSettings:
    """``parameters/monitoring.yaml`` validated (the defaults when the file is missing).

    A bad key or value is a :class:`~finlib.errors.ConfigError` naming the file and key."""
    p = Path(path) if path else settings_path()
    if not p.exists():
        return MonitoringSettings()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}") from None
    data = config.parameters_mapping(data, str(p), ConfigError)
    try:
        return MonitoringSettings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"])
            msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
            problems.append(f"{loc}: {msg}")
        raise ConfigError(f"{p}: invalid monitoring settings:\n  " + "\n  ".join(problems)) from None


# ---- findings -> alert rows ----------------------------------------------------------------

def scrub(text: str) -> str:
    """``text`` with the value of every secret-named environment variable replaced by ***."""
    for name, value in os.environ.items():
        if value and len(value) >= 6 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "***")
    return text


def _hm(ts: dt.datetime) -> str:
    return f"{ts:%H:%M}"


def access_findings(records: list[dict], s: MonitoringSettings) -> list[dict]:
    """Alert rows (without channels) for the access rules that are enabled."""
    r = s.rules
    ah = r.after_hours if r.after_hours is not None and r.after_hours.enabled else None
    found = unusual_access(records, failed_logins=r.failed_login.count, window_min=r.failed_login.window_minutes,
                           bulk_exports=r.bulk_export.max_exports, export_window_min=r.bulk_export.window_minutes,
                           after_hours=ah)
    rows = []
    for f in found:
        day = f["day"]
        if f["rule"] == "failed_login":
            if not r.failed_login.enabled:
                continue
            severity, win = r.failed_login.severity, r.failed_login.window_minutes
            if f["user"] is not None:
                entity = {"user": f["user"], "day": day.isoformat()}
                msg = (f"{f['count']} failed logins of user {f['user']} within {win} min on {day} "
                       f"({_hm(f['from'])}-{_hm(f['to'])} UTC) from {f['address'] or 'an unknown address'}")
            else:
                entity = {"address": f["address"], "day": day.isoformat()}
                msg = (f"{f['count']} failed logins from address {f['address']} naming {len(f['users'])} users "
                       f"within {win} min on {day} ({_hm(f['from'])}-{_hm(f['to'])} UTC)")
        elif f["rule"] == "bulk_export":
            if not r.bulk_export.enabled:
                continue
            severity = r.bulk_export.severity
            entity = {"user": f["user"], "day": day.isoformat()}
            msg = (f"{f['count']} exports by {f['user']} within {r.bulk_export.window_minutes} min on {day} "
                   f"({_hm(f['from'])}-{_hm(f['to'])} UTC; more than {r.bulk_export.max_exports})")
        else:  # after_hours
            severity = ah.severity
            entity = {"user": f["user"], "day": day.isoformat()}
            msg = (f"{f['user']} used the workbench {f['count']} time(s) outside working hours "
                   f"({ah.describe()}) on {day} (local): {'; '.join(f['actions'])}")
        rows.append(_row(f["rule"], entity, day, severity, f["count"], f["limit"], msg,
                         {"from": f["from"].isoformat(), "to": f["to"].isoformat(), "address": f["address"],
                          "users": f["users"]}))
    return rows


def integration_findings(records: list[dict], s: MonitoringSettings) -> list[dict]:
    """One alert row per failing integration source and UTC day."""
    rule = s.rules.integration_failure
    if not rule.enabled:
        return []
    groups: dict[tuple[str, dt.date], list[dict]] = defaultdict(list)
    for rec in records:
        if rec["kind"] == "integration" and rec["outcome"] == "failed":
            groups[(rec["target"] or "?", rec["ts"].date())].append(rec)
    rows = []
    for (source, day), recs in sorted(groups.items()):
        last = recs[-1]
        what = "delivery" if last["action"] == "deliver" else last["action"]
        error = str(last["details"].get("error") or "")[:200]
        msg = (f"{what} via {source} failed {len(recs)} time(s) on {day} (UTC)"
               + (f"; last error: {error}" if error else ""))
        row = _row("integration_failure", {"source": source, "day": day.isoformat()}, day, rule.severity,
                   len(recs), 1, msg, {"first": recs[0]["ts"].isoformat(), "last": last["ts"].isoformat(),
                                       "action": last["action"]})
        if last["action"] == "deliver" and ":" in source:
            row["not_channel"] = source.split(":", 1)[1]  # never about a channel through itself
        rows.append(row)
    return rows


def api_findings(wh: Warehouse, since: dt.datetime, s: MonitoringSettings) -> list[dict]:
    """Bursts of refused inbound calls per endpoint and source."""
    rule = s.rules.api_refusals
    if not rule.enabled:
        return []
    with wh.connect(read_only=True) as conn:
        if not conn.table_exists("api_calls"):
            return []
        calls = conn.query("SELECT endpoint, source, called_at FROM api_calls WHERE direction = 'inbound' "
                           "AND status >= 400 AND called_at >= :s ORDER BY called_at", {"s": since})
    groups: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for endpoint, source, at in calls:
        groups[(endpoint, source)].append(at)
    rows = []
    for (endpoint, source), times in sorted(groups.items()):
        for day, b in bursts(times, rule.count, dt.timedelta(minutes=rule.window_minutes)).items():
            rows.append(_row("api_refusals", {"endpoint": endpoint, "source": source, "day": day.isoformat()},
                             day, rule.severity, b["count"], rule.count,
                             f"{b['count']} refused calls to {endpoint} from {source} within "
                             f"{rule.window_minutes} min on {day} ({_hm(b['from'])}-{_hm(b['to'])} UTC)",
                             {"from": b["from"].isoformat(), "to": b["to"].isoformat()}))
    return rows


def _scrubbed(v):
    if isinstance(v, str):
        return scrub(v)
    if isinstance(v, list):
        return [_scrubbed(x) for x in v]
    if isinstance(v, dict):
        return {k: _scrubbed(x) for k, x in v.items()}
    return v


def _row(rule, entity, day, severity, value, threshold, message, details) -> dict:
    period = day.replace(day=1)
    entity = _scrubbed(entity)
    return {"id": store.alert_id(rule, entity, period), "rule": rule, "period": period, "entity": entity,
            "severity": severity, "value": float(value), "threshold": float(threshold),
            "message": scrub(message), "details": _scrubbed(details), "report_link": None}


# ---- channels, storing, delivering ----------------------------------------------------------

def alert_channels(severity: str, settings: MonitoringSettings | None = None,
                   alerts_cfg: AlertsConfig | None = None, exclude: str | None = None) -> list[str]:
    """The channels of ``parameters/alerts.yaml`` a monitoring alert of ``severity`` goes to:
    ``settings.channels`` (default every channel) that are enabled and accept the severity,
    without ``exclude`` (the channel an alert is about)."""
    settings = settings or load_settings()
    alerts_cfg = alerts_cfg or load_config()
    unknown = sorted(set(settings.channels or []) - set(alerts_cfg.channels))
    if unknown:
        raise ConfigError(f"{settings_path()}: channels {unknown} are not channels of "
                          f"{alerts_cfg.path or 'alerts.yaml'} ({sorted(alerts_cfg.channels)})")
    return [n for n, ch in alerts_cfg.channels.items()
            if ch.enabled and ch.accepts(severity) and n != exclude
            and (settings.channels is None or n in settings.channels)]


def store_alerts(wh: Warehouse, rows: list[dict], settings: MonitoringSettings | None = None,
                 alerts_cfg: AlertsConfig | None = None) -> dict:
    """Store ``rows``: new ones ``open`` with a pending delivery per channel; known ones
    refreshed only when their count changed (so an unchanged re-evaluation writes nothing).
    Never resolves anything. Returns ``{"new": [ids], "refreshed": [ids]}``."""
    if not rows:
        return {"new": [], "refreshed": []}
    settings = settings or load_settings()
    alerts_cfg = alerts_cfg or load_config()
    rows = list({r["id"]: r for r in rows}.values())
    with wh.connect(read_only=True) as conn:
        store._require_tables(conn)
        known = store.lookup(conn, [r["id"] for r in rows])
    todo = [r for r in rows if r["id"] not in known or known[r["id"]]["value"] != r["value"]
            or known[r["id"]]["state"] == "resolved"]
    by_period: dict[dt.date, list[dict]] = defaultdict(list)
    for r in todo:
        r["channels"] = alert_channels(r["severity"], settings, alerts_cfg, exclude=r.get("not_channel"))
        by_period[r["period"]].append(r)
    new: list[str] = []
    for period, part in sorted(by_period.items()):
        new += store.save(wh, period, part, evaluated_rules=[])["new"]
    refreshed = [r["id"] for r in todo if r["id"] not in new]
    for r in todo:
        if r["id"] in new:
            log.warning("monitoring alert [%s] %s: %s", r["severity"], r["rule"], r["message"])
    return {"new": new, "refreshed": refreshed}


def evaluate(wh: Warehouse, since: dt.datetime, settings: MonitoringSettings | None = None) -> list[dict]:
    """The alert rows the rules find from ``since`` (naive UTC) on; nothing is written."""
    settings = settings or load_settings()
    records = read(wh, since=since)
    return (access_findings(records, settings) + integration_findings(records, settings)
            + api_findings(wh, since, settings))


def _pending(wh: Warehouse, alerts_cfg: AlertsConfig) -> int:
    """Undelivered (alert, enabled channel) pairs, read-only: a watch with nothing to send
    writes nothing (no ``alert-delivery`` entry in the audit trail every few minutes)."""
    names = sorted(alerts_cfg.enabled_channels())
    if not names:
        return 0
    marks = ", ".join(f":c{i}" for i in range(len(names)))
    with wh.connect(read_only=True) as conn:
        store._require_tables(conn)
        return int(conn.scalar(
            "SELECT count(*) FROM alert_deliveries d JOIN alerts a ON a.alert_id = d.alert_id "
            f"WHERE d.delivered_at IS NULL AND a.state <> 'resolved' AND d.channel IN ({marks})",
            {f"c{i}": n for i, n in enumerate(names)}) or 0)


def watch(wh: Warehouse, since: dt.datetime | None = None, deliver: bool = True,
          settings: MonitoringSettings | None = None, alerts_cfg: AlertsConfig | str | Path | None = None,
          now: dt.datetime | None = None) -> dict:
    """Evaluate the monitoring rules, store what they find and deliver pending alerts.

    ``since``: naive UTC (default ``now - lookback_hours``). With ``deliver``, every pending
    alert (these and any other) is sent; the failures of that pass are then evaluated once
    more and their new alerts sent in a second, last pass on the channels that did not fail
    in the first (no loop, and a failing channel is tried once per watch).

    Returns ``{"since", "alerts": [stored alert dicts of the findings], "new": [ids],
    "new_critical": n, "deliveries": {"delivered", "failed"}}``.
    """
    settings = settings or load_settings()
    alerts_cfg = alerts_cfg if isinstance(alerts_cfg, AlertsConfig) else load_config(alerts_cfg)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    since = since or now - dt.timedelta(hours=settings.lookback_hours)
    rows = evaluate(wh, since, settings)
    out = store_alerts(wh, rows, settings, alerts_cfg)
    ids = [r["id"] for r in rows]
    sent = {"delivered": 0, "failed": 0}
    if deliver and _pending(wh, alerts_cfg):
        before = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
        sent = deliver_pending(wh, alerts_cfg)
        if sent["failed"]:
            records = read(wh, since=since, kind="integration")
            failing = {r["target"].split(":", 1)[-1] for r in records
                       if r["ts"] >= before and r["action"] == "deliver" and r["outcome"] == "failed"}
            second = integration_findings(records, settings)
            more = store_alerts(wh, second, settings, alerts_cfg)
            out["new"] += more["new"]
            ids += [r["id"] for r in second]
            if more["new"]:  # the last pass: only on the channels that did not just fail
                working = AlertsConfig(alerts_cfg.path, alerts_cfg.report_base, alerts_cfg.rules,
                                       {n: c for n, c in alerts_cfg.channels.items() if n not in failing})
                again = deliver_pending(wh, working)
                sent = {k: sent[k] + again[k] for k in sent}
    alerts = store.list_alerts(wh, ids=list(dict.fromkeys(ids))) if ids else []
    critical = sum(1 for a in alerts if a["id"] in out["new"] and a["severity"] == "critical")
    return {"since": since.isoformat(sep=" ", timespec="seconds"), "alerts": alerts, "new": out["new"],
            "new_critical": critical, "deliveries": sent}


def watch_for_batch(db_url: str | None) -> dict:
    """:func:`watch` for the job runner: never raises; a failure is logged and returned."""
    t = time.perf_counter()
    try:
        wh = Warehouse.from_url(db_url)
        if not wh.exists():
            return {"status": "skipped", "note": "no warehouse"}
        res = watch(wh)
        return {"status": "ok", "new": len(res["new"]), "seconds": round(time.perf_counter() - t, 3)}
    except Exception as exc:  # noqa: BLE001 - monitoring must not stop a batch of reports
        note = f"monitoring rules failed: {type(exc).__name__}: {exc}"
        log.warning(note)
        return {"status": "error", "note": note}


# ---- summaries ---------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the value at rank ceil(p/100 × n) of the sorted values."""
    if not values:
        return None
    v = sorted(values)
    return float(v[max(1, math.ceil(p / 100 * len(v))) - 1])


def api_summary(wh: Warehouse, since: dt.datetime | None = None) -> list[dict]:
    """Calls in ``api_calls`` per direction, endpoint and source: ``calls``, ``failures``
    (status 0 = no response, or >= 400), ``bad_signature`` (inbound signature invalid),
    ``rate_limited`` (429), latency ``p50_ms`` / ``p95_ms`` (nearest rank), ``last_call``."""
    with wh.connect(read_only=True) as conn:
        if not conn.table_exists("api_calls"):
            return []
        where, params = ("WHERE called_at >= :s", {"s": since}) if since else ("", None)
        rows = conn.query("SELECT direction, endpoint, source, status, latency_ms, signature_valid, called_at "
                          f"FROM api_calls {where} ORDER BY called_at", params)
    groups: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)
    for d, e, s, *rest in rows:
        groups[(d, e, s)].append(tuple(rest))
    out = []
    for (d, e, s), calls in sorted(groups.items()):
        lat = [float(c[1]) for c in calls]
        out.append({"direction": d, "endpoint": e, "source": s, "calls": len(calls),
                    "failures": sum(1 for c in calls if c[0] == 0 or c[0] >= 400),
                    "bad_signature": sum(1 for c in calls if d == "inbound" and c[2] is False),
                    "rate_limited": sum(1 for c in calls if c[0] == 429),
                    "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
                    "last_call": max(c[3] for c in calls).isoformat(sep=" ", timespec="seconds")})
    return out


def integration_summary(records: list[dict]) -> list[dict]:
    """Integration records per source and action: ``count``, ``failed``, ``rows``, ``bytes``,
    duration ``p50_s`` / ``p95_s`` (nearest rank)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        if r["kind"] == "integration":
            groups[(r["target"] or "?", r["action"])].append(r)
    out = []
    for (source, action), recs in sorted(groups.items()):
        dur = [float(r["details"]["duration_s"]) for r in recs if r["details"].get("duration_s") is not None]
        out.append({"source": source, "action": action, "count": len(recs),
                    "failed": sum(1 for r in recs if r["outcome"] == "failed"),
                    "rows": sum(int(r["details"].get("rows") or 0) for r in recs),
                    "bytes": sum(int(r["details"].get("bytes") or 0) for r in recs),
                    "p50_s": percentile(dur, 50), "p95_s": percentile(dur, 95)})
    return out
