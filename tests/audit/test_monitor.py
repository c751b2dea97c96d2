"""Monitoring alerts: unusual access, failed deliveries and refused API calls raise alerts that
are stored once and delivered through real channels (a JSON-lines file, a real HTTP receiver)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from finlib.access.log import record_access
from finlib.alerts import list_alerts
from finlib.audit.access import read
from finlib.audit.monitor import (
    MonitoringSettings,
    api_summary,
    evaluate,
    integration_summary,
    load_settings,
    percentile,
    watch,
    watch_for_batch,
)
from finlib.cli import main
from finlib.errors import ConfigError
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from tests.alerts.conftest import write_config
from tests.alerts.test_channels import Hook, free_port

TOKEN = "hooktoken-SENTINEL-9f8e7d6c"
SMTP_PASSWORD = "smtp-pw-SENTINEL-1a2b3c4d"
STRIPE_SECRET = "whsec_U0VOVElORUwtc3RyaXBlLXNlY3JldA=="
T0 = dt.datetime(2026, 3, 4, 9, 0)  # a Wednesday, 09:00 UTC


@pytest.fixture
def wh(any_db_url, tmp_path, monkeypatch):
    params = tmp_path / "parameters"
    params.mkdir()
    monkeypatch.setenv("FINLIB_PARAMETERS", str(params))
    monkeypatch.setenv("FINLIB_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("FINLIB_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
    w = get_warehouse()
    init_db(w)
    return w


def channels(tmp_path, monkeypatch, port: int | None = None) -> str:
    chans = {"log": {"type": "jsonl", "path": str(tmp_path / "alerts.jsonl")}}
    if port is not None:
        monkeypatch.setenv("TEST_MON_HOOK_URL", f"http://127.0.0.1:{port}/services/{TOKEN}")
        chans["hook"] = {"type": "webhook", "url_env": "TEST_MON_HOOK_URL", "timeout": 3}
    return write_config(tmp_path / "parameters", channels=chans)


def log_lines(tmp_path) -> list[dict]:
    p = tmp_path / "alerts.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def audit_entries(wh) -> int:
    with wh.connect(read_only=True) as conn:
        return int(conn.scalar("SELECT count(*) FROM audit_log"))


def failed_logins(wh, n, user="eve", address="10.0.0.9", start=T0, step_s=60):
    for i in range(n):
        record_access(wh, user, "login", None, address, "failed", ts=start + dt.timedelta(seconds=i * step_s),
                      method="password", reason="wrong password")


def test_a_failed_login_burst_raises_one_alert_delivered_once_to_file_and_webhook(wh, tmp_path, monkeypatch):
    port = free_port()
    hook = Hook(port)
    try:
        cfg = channels(tmp_path, monkeypatch, port)
        failed_logins(wh, 5)
        record_access(wh, "ana", "login", None, "10.0.0.7", "ok", ts=T0)
        first = watch(wh, since=T0 - dt.timedelta(hours=1), alerts_cfg=cfg)
        entries = audit_entries(wh)
        again = watch(wh, since=T0 - dt.timedelta(hours=2), alerts_cfg=cfg)  # overlapping span
    finally:
        hook.stop()
    assert audit_entries(wh) == entries  # nothing new, nothing to send: nothing written
    assert len(first["new"]) == 1 and first["new_critical"] == 1
    (a,) = first["alerts"]
    assert a["rule"] == "failed_login" and a["entity"] == {"user": "eve", "day": "2026-03-04"}
    assert a["value"] == 5 and a["severity"] == "critical" and a["period"] == "2026-03-01"
    assert "eve" in a["message"] and "10.0.0.9" in a["message"] and "5 failed logins" in a["message"]
    assert again["new"] == [] and again["new_critical"] == 0 and [x["id"] for x in again["alerts"]] == [a["id"]]
    stored = list_alerts(wh)
    assert [x["id"] for x in stored] == [a["id"]]
    assert {ch: d["delivered_at"] is not None for ch, d in stored[0]["deliveries"].items()} == {
        "log": True, "hook": True}
    assert [x["id"] for x in log_lines(tmp_path)] == [a["id"]]
    assert len(hook.posts) == 1 and a["id"] in hook.posts[0][2]["text"] and "eve" in hook.posts[0][2]["text"]
    deliveries = [r for r in read(wh, kind="integration") if r["action"] == "deliver"]
    assert {r["target"] for r in deliveries} == {"jsonl:log", "webhook:hook"}
    jsonl = next(r for r in deliveries if r["target"] == "jsonl:log")
    assert jsonl["details"]["bytes"] == (tmp_path / "alerts.jsonl").stat().st_size
    assert all(r["details"]["duration_s"] >= 0 for r in deliveries)


def test_below_the_threshold_no_alert(wh, tmp_path, monkeypatch):
    cfg = channels(tmp_path, monkeypatch)
    failed_logins(wh, 4)
    failed_logins(wh, 4, start=T0 + dt.timedelta(hours=1))  # 8 in all, never 5 within 15 min
    res = watch(wh, since=T0 - dt.timedelta(hours=1), alerts_cfg=cfg)
    assert res["alerts"] == [] and res["new"] == [] and list_alerts(wh) == [] and log_lines(tmp_path) == []


def test_password_spraying_from_one_address_is_an_address_alert(wh, tmp_path, monkeypatch):
    cfg = channels(tmp_path, monkeypatch)
    for i, user in enumerate(["ana", "bob", "cy", "dan", "eve", "fay"]):
        failed_logins(wh, 1, user=user, address="198.51.100.4", start=T0 + dt.timedelta(seconds=30 * i))
    res = watch(wh, since=T0 - dt.timedelta(hours=1), alerts_cfg=cfg)
    assert [(a["rule"], a["entity"]) for a in res["alerts"]] == [
        ("failed_login", {"address": "198.51.100.4", "day": "2026-03-04"})]
    assert "6 failed logins from address 198.51.100.4 naming 6 users" in res["alerts"][0]["message"]


AFTER_HOURS = {"timezone": "Europe/Berlin", "start": "08:00", "end": "19:00",
               "days": ["mon", "tue", "wed", "thu", "fri"], "exempt_users": ["stripe-webhook"]}


@pytest.mark.parametrize(("utc", "raises"), [
    (dt.datetime(2026, 3, 4, 9, 30), False),   # Wednesday 10:30 in Berlin
    (dt.datetime(2026, 3, 4, 19, 30), True),   # Wednesday 20:30 in Berlin
    (dt.datetime(2026, 3, 7, 9, 30), True),    # Saturday 10:30 in Berlin
    (dt.datetime(2026, 3, 4, 6, 59), True),    # Wednesday 07:59 in Berlin
    (dt.datetime(2026, 3, 4, 7, 0), False),    # Wednesday 08:00 in Berlin: inside
])
def test_after_hours_access_raises_in_hours_does_not(wh, tmp_path, monkeypatch, utc, raises):
    cfg = channels(tmp_path, monkeypatch)
    record_access(wh, "ana", "open-dashboard", "department.ipynb", "10.0.0.7", "ok", ts=utc)
    record_access(wh, "stripe-webhook", "open-report", "r1", None, "ok", ts=utc)  # exempt
    settings = MonitoringSettings.model_validate({"rules": {"after_hours": AFTER_HOURS}})
    res = watch(wh, since=utc - dt.timedelta(hours=1), settings=settings, alerts_cfg=cfg)
    if raises:
        (a,) = res["alerts"]
        assert a["rule"] == "after_hours" and a["entity"]["user"] == "ana"
        assert "outside working hours" in a["message"] and "department.ipynb" in a["message"]
        assert [x["id"] for x in log_lines(tmp_path)] == [a["id"]]
    else:
        assert res["alerts"] == [] and log_lines(tmp_path) == []
    unconfigured = evaluate(wh, utc - dt.timedelta(hours=1), MonitoringSettings())
    assert [r for r in unconfigured if r["rule"] == "after_hours"] == []


def test_after_hours_is_off_when_not_configured_even_at_night(wh, tmp_path, monkeypatch):
    cfg = channels(tmp_path, monkeypatch)
    night = dt.datetime(2026, 3, 8, 2, 0)  # Sunday 02:00
    record_access(wh, "ana", "open-dashboard", "department.ipynb", "10.0.0.7", "ok", ts=night)
    assert load_settings().rules.after_hours is None  # no monitoring.yaml: the defaults
    assert watch(wh, since=night - dt.timedelta(hours=1), alerts_cfg=cfg)["alerts"] == []


@pytest.mark.parametrize(("n", "raises"), [(10, False), (11, True)])
def test_bulk_exports_raise_above_the_limit(wh, tmp_path, monkeypatch, n, raises):
    cfg = channels(tmp_path, monkeypatch)
    for i in range(n):
        record_access(wh, "bob", "export" if i % 2 else "export-csv", f"gl_entries/{i}", "10.0.0.8", "ok",
                      ts=T0 + dt.timedelta(minutes=5 * i))
    res = watch(wh, since=T0 - dt.timedelta(hours=1), alerts_cfg=cfg)
    if raises:
        (a,) = res["alerts"]
        assert a["rule"] == "bulk_export" and a["entity"]["user"] == "bob" and a["value"] == 11
        assert a["severity"] == "warning" and res["new_critical"] == 0
        assert "11 exports by bob" in a["message"]
    else:
        assert res["alerts"] == []


def test_a_failing_delivery_is_recorded_and_raises_once_never_through_itself(wh, tmp_path, monkeypatch):
    cfg = channels(tmp_path, monkeypatch, free_port())  # nothing listens on the hook's port
    failed_logins(wh, 5)
    first = watch(wh, since=T0 - dt.timedelta(hours=1), alerts_cfg=cfg)
    second = watch(wh, since=T0 - dt.timedelta(hours=1), alerts_cfg=cfg)  # retries the hook, fails again
    by_rule = {a["rule"]: a for a in list_alerts(wh)}
    assert sorted(by_rule) == ["failed_login", "integration_failure"]
    fail = by_rule["integration_failure"]
    assert fail["entity"]["source"] == "webhook:hook" and fail["id"] in first["new"]
    assert "delivery via webhook:hook failed" in fail["message"]
    assert list(fail["deliveries"]) == ["log"]  # never routed to the failing channel
    assert fail["deliveries"]["log"]["delivered_at"] is not None
    assert by_rule["failed_login"]["deliveries"]["hook"]["delivered_at"] is None  # still pending
    assert second["new"] == []
    assert sorted(x["rule"] for x in log_lines(tmp_path)) == ["failed_login", "integration_failure"]
    hook_recs = [r for r in read(wh, kind="integration") if r["target"] == "webhook:hook"]
    assert len(hook_recs) == 2 and all(r["outcome"] == "failed" for r in hook_recs)
    assert all(r["details"]["bytes"] == 0 and r["details"]["duration_s"] >= 0 for r in hook_recs)
    assert fail["value"] == 2  # the count was refreshed, the alert not repeated
    dump = json.dumps([list_alerts(wh), read(wh), log_lines(tmp_path)], default=str)
    assert TOKEN not in dump and "services/" not in fail["message"]


def test_alert_text_carries_no_secret_even_when_typed_as_a_user_name(wh, tmp_path, monkeypatch):
    port = free_port()
    hook = Hook(port)
    try:
        cfg = channels(tmp_path, monkeypatch, port)
        failed_logins(wh, 5, user=SMTP_PASSWORD)  # someone typed the password into the name field
        res = watch(wh, since=T0 - dt.timedelta(hours=1), alerts_cfg=cfg)
    finally:
        hook.stop()
    (a,) = res["alerts"]
    assert a["message"].startswith("5 failed logins of user *** within")
    stored = json.dumps([a, list_alerts(wh)], default=str)
    sent = json.dumps([[body for _, _, body in hook.posts], log_lines(tmp_path)])  # the URL path is the token
    for secret in (SMTP_PASSWORD, TOKEN, STRIPE_SECRET):
        assert secret not in stored and secret not in sent


def test_stripe_signature_failures_reach_the_channels_once(wh, tmp_path, monkeypatch):
    from finlib.integrations.stripe_webhook import handle_event

    cfg = channels(tmp_path, monkeypatch)
    for _ in range(3):
        out = handle_event(b'{"id": "evt_1"}', "t=1,v1=00", STRIPE_SECRET, wh, source="203.0.113.5")
        assert out.status == 401
    (a,) = list_alerts(wh)
    assert a["rule"] == "api_security" and a["severity"] == "critical"
    assert a["deliveries"]["log"]["delivered_at"] is None  # pending: the request is not held up
    res = watch(wh, alerts_cfg=cfg)
    assert res["deliveries"]["delivered"] == 1
    (line,) = log_lines(tmp_path)
    assert line["id"] == a["id"] and "203.0.113.5" in line["message"] and "bad signature" in line["message"]
    assert STRIPE_SECRET not in json.dumps(line)
    watch(wh, alerts_cfg=cfg)
    assert len(log_lines(tmp_path)) == 1


def _calls(wh, rows):
    from finlib.security import outbound

    with wh.connect() as conn:
        conn.execute(outbound.API_CALLS_DDL)
        for r in rows:
            conn.execute("INSERT INTO api_calls VALUES (:at, :d, :e, :s, :st, :lat, :sig, NULL, NULL)", r)


def test_refused_api_call_bursts_raise_and_the_usage_summary_has_percentiles(wh, tmp_path, monkeypatch, capsys):
    cfg = channels(tmp_path, monkeypatch)
    rows = [{"at": T0 + dt.timedelta(seconds=10 * i), "d": "inbound", "e": "/webhooks/stripe",
             "s": "203.0.113.9", "st": 401, "lat": float(i + 1), "sig": False} for i in range(20)]
    rows += [{"at": T0, "d": "inbound", "e": "/webhooks/stripe", "s": "198.51.100.1", "st": 200 if i < 18 else 429,
              "lat": float(10 * (i + 1)), "sig": True} for i in range(20)]
    rows += [{"at": T0, "d": "outbound", "e": "http://127.0.0.1:9", "s": "hook", "st": 0, "lat": 3.0, "sig": False}]
    _calls(wh, rows)
    res = watch(wh, since=T0 - dt.timedelta(hours=1), alerts_cfg=cfg)
    (a,) = res["alerts"]
    assert a["rule"] == "api_refusals" and a["entity"]["source"] == "203.0.113.9" and a["value"] == 20
    by = {(r["direction"], r["source"]): r for r in api_summary(wh)}
    bad, good, out = by[("inbound", "203.0.113.9")], by[("inbound", "198.51.100.1")], by[("outbound", "hook")]
    assert (bad["calls"], bad["failures"], bad["bad_signature"], bad["rate_limited"]) == (20, 20, 20, 0)
    assert (good["calls"], good["failures"], good["bad_signature"], good["rate_limited"]) == (20, 2, 0, 2)
    assert (good["p50_ms"], good["p95_ms"]) == (100.0, 190.0)
    assert (out["failures"], out["bad_signature"]) == (1, 0)
    assert main(["audit", "api", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["api_calls"]) == 3 and "integrations" in doc


def test_percentile_is_nearest_rank():
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(1, 101)), 95) == 95 and percentile(list(range(1, 101)), 50) == 50
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 95) == 4


def test_integration_summary_counts_rows_bytes_and_failures():
    recs = [{"kind": "integration", "target": "smtp:email", "action": "deliver", "outcome": o,
             "details": {"rows": 2, "bytes": b, "duration_s": d}}
            for o, b, d in [("ok", 100, 0.1), ("failed", 0, 2.0), ("ok", 50, 0.3)]]
    (s,) = integration_summary(recs)
    assert (s["count"], s["failed"], s["rows"], s["bytes"], s["p50_s"], s["p95_s"]) == (3, 1, 6, 150, 0.3, 2.0)


def test_watch_command_exits_5_on_a_new_critical_alert_then_0(wh, tmp_path, monkeypatch, capsys):
    channels(tmp_path, monkeypatch)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    failed_logins(wh, 5, start=now - dt.timedelta(minutes=10))
    assert main(["audit", "watch"]) == 5
    out = capsys.readouterr().out
    assert "NEW [critical]" in out and "failed_login" in out
    assert main(["audit", "watch", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["new"] == []
    assert main(["audit", "access"]) == 0
    assert "unusual: [critical] failed_login" in capsys.readouterr().out


def test_the_batch_hook_raises_and_never_raises_itself(wh, tmp_path, monkeypatch):
    channels(tmp_path, monkeypatch)
    failed_logins(wh, 5, start=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10))
    res = watch_for_batch(None)
    assert res["status"] == "ok" and res["new"] == 1
    assert [x["rule"] for x in log_lines(tmp_path)] == ["failed_login"]
    (tmp_path / "parameters" / "monitoring.yaml").write_text("rules: {failed_login: {count: one}}\n")
    broken = watch_for_batch(None)
    assert broken["status"] == "error" and "monitoring.yaml" in broken["note"]


@pytest.mark.parametrize(("text", "expected"), [
    ("rules: {after_hours: {timezone: Mars/Olympus}}\n", "rules.after_hours.timezone"),
    ("rules: {after_hours: {start: 9:30}}\n", "in quotes"),
    ("rules: {after_hours: {start: '19:00', end: '08:00'}}\n", "must be before end"),
    ("rules: {failed_login: {cout: 5}}\n", "rules.failed_login.cout: unknown key"),
    ("rules: {after_hours: {days: [monday]}}\n", "rules.after_hours.days.0"),
    ("rules: [\n", "not valid YAML"),
])
def test_monitoring_settings_are_validated_naming_file_and_key(tmp_path, monkeypatch, text, expected, capsys,
                                                               duckdb_url):
    monkeypatch.setenv("FINLIB_PARAMETERS", str(tmp_path))
    (tmp_path / "monitoring.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "monitoring.yaml" in str(err.value) and expected in str(err.value)
    assert main(["audit", "watch"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out and "monitoring.yaml" in captured.err + captured.out


def test_the_shipped_monitoring_file_is_valid():
    from finlib.config import project_root

    s = load_settings(project_root() / "parameters" / "monitoring.yaml")
    assert s.rules.after_hours is None and s.rules.failed_login.count == 5


def test_a_real_finlib_run_batch_raises_and_delivers_the_monitoring_alerts(tmp_path, monkeypatch):
    """The scheduler needs nothing more: `finlib run` (here one real papermill run) raises them."""
    import yaml

    from tests.jobs.conftest import Project

    p = Project(tmp_path / "proj")
    p.finlib("db", "init", check=True)
    (p.root / "parameters" / "alerts.yaml").write_text(yaml.safe_dump(
        {"version": 1, "channels": {"log": {"type": "jsonl", "path": "data/alerts.jsonl"}}}))
    p.job("quick", "notebook: notebooks/quick.ipynb\ntitle: Quick\nparameters: {period: last_closed_month}\n")
    p.use_env(monkeypatch)
    wh = get_warehouse()
    failed_logins(wh, 6, user="mallory", start=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20))
    p.finlib("run", "quick", "--period", "2024-03", check=True)
    lines = [json.loads(x) for x in (p.root / "data" / "alerts.jsonl").read_text().splitlines()]
    assert [(x["rule"], x["entity"]["user"]) for x in lines] == [("failed_login", "mallory")]
    assert (p.root / "data" / "alerts.jsonl").stat().st_mode & 0o077 == 0
