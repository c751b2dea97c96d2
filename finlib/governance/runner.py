"""Running the controls of a period: evaluate, store the results, raise alerts.

``run_controls(wh, period)``
    1. reads and validates ``parameters/controls.yaml`` (:mod:`finlib.governance.config`);
    2. evaluates every enabled control (or the ones named) on one short read-only
       connection (controls that read the report archive run after it is closed);
    3. stores one ``control_results`` row per finding, plus one ``pass`` row per control
       that found nothing, all under one run id, with the evidence as JSON;
    4. raises a ``control_failure`` alert per failing entity through the alert store
       (:func:`finlib.alerts.store.save`), delivered on the channels of
       ``parameters/alerts.yaml`` (:func:`finlib.alerts.engine.deliver_pending`).

:func:`evaluate_controls` is the read-only twin (nothing stored, nothing sent).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from pathlib import Path

import pandas as pd

from finlib import config as finlib_config
from finlib.alerts import store
from finlib.alerts.config import load_config as load_alerts
from finlib.alerts.engine import deliver_pending
from finlib.errors import AlertError
from finlib.governance.config import ControlsConfig, load_config
from finlib.governance.errors import ControlsConfigError
from finlib.governance.registry import CONTROLS, Context, Outcome
from finlib.periods import format_period, parse_period
from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import current_user, write_batch

log = logging.getLogger("finlib.governance")

RESULT_FIELDS = ("control", "period", "status", "entity", "value", "expected", "message", "frameworks")
ALERT_RULE = "control_failure"


def _select(cfg: ControlsConfig, names) -> list[str]:
    if not names:
        return cfg.enabled()
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in CONTROLS]
    if unknown:
        raise ControlsConfigError(f"unknown control(s) {', '.join(unknown)}; known controls are "
                                  f"{', '.join(CONTROLS)}")
    return [n for n in CONTROLS if n in names]  # registry order


def _results(name: str, ctx: Context, outcome: Outcome, frameworks: list[str]) -> list[dict]:
    ctl = CONTROLS[name]
    base = {"control": name, "period": ctx.month, "frameworks": frameworks, "title": ctl.title}
    if not outcome.findings:
        what = f"{outcome.checked} checked, no exception" + (f" ({outcome.note})" if outcome.note else "")
        return [{**base, "status": "pass", "entity": None, "value": None, "expected": None,
                 "message": f"{ctl.title}: {what}", "evidence": [], "checked": outcome.checked}]
    return [{**base, "status": "fail", "entity": f.entity, "value": f.value, "expected": f.expected,
             "message": f.message, "evidence": f.evidence, "checked": outcome.checked}
            for f in outcome.findings]


def evaluate_controls(wh: Warehouse, period=None, controls=None, config: ControlsConfig | str | Path | None = None,
                      reports: Path | None = None) -> list[dict]:
    """Evaluate controls for ``period`` **without storing or sending anything**.

    Returns one dict per failing entity and one ``pass`` dict per control that found
    nothing, in registry order, with the keys ``control``, ``period`` (YYYY-MM), ``status``
    (pass | fail), ``entity``, ``value``, ``expected``, ``message``, ``frameworks`` (list),
    ``title``, ``checked`` (entities examined) and ``evidence`` (list of row dicts).
    """
    cfg = config if isinstance(config, ControlsConfig) else load_config(config)
    p = parse_period(period)
    names = _select(cfg, controls)
    reports = Path(reports) if reports else finlib_config.reports_dir()
    out: dict[str, list[dict]] = {}

    def run(name, conn):
        ctl = CONTROLS[name]
        settings = cfg.controls[name]
        ctx = Context(period=p, conn=conn, wh=wh, reports=reports, evidence_rows=cfg.evidence_rows)
        frameworks = list(settings.frameworks) if settings.frameworks is not None else list(ctl.frameworks)
        out[name] = _results(name, ctx, ctl.func(ctx, settings), frameworks)

    with wh.connect(read_only=True) as conn:
        for name in names:
            if CONTROLS[name].needs_connection:
                run(name, conn)
    for name in names:
        if not CONTROLS[name].needs_connection:
            run(name, None)
    return [r for name in names for r in out[name]]


def run_controls(wh: Warehouse, period=None, controls=None, *, config: ControlsConfig | str | Path | None = None,
                 reports: Path | None = None, store: bool = True, alert: bool = True, deliver: bool = True,
                 actor: str | None = None) -> dict:
    """Evaluate, store and alert. Returns ``{"run_id", "period", "results", "failed"}``.

    ``results`` as :func:`evaluate_controls`; ``failed`` the number of failing entities.
    With ``alert``, each failure is a ``control_failure`` alert (entity ``{"control",
    "entity"}``, stable id per control, entity and period); when every enabled control ran,
    alerts of the period that no longer fail are resolved.
    """
    cfg = config if isinstance(config, ControlsConfig) else load_config(config)
    p = parse_period(period)
    names = _select(cfg, controls)
    results = evaluate_controls(wh, p, names, cfg, reports)
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    actor = actor or current_user()
    if store:
        store_results(wh, run_id, p, results, actor)
    if alert and cfg.alerts.enabled:
        raise_alerts(wh, p, results, cfg, complete=set(names) >= set(cfg.enabled()), deliver=deliver)
    return {"run_id": run_id, "period": format_period(p), "results": results,
            "failed": sum(1 for r in results if r["status"] == "fail")}


def store_results(wh: Warehouse, run_id: str, period: dt.date, results: list[dict], actor: str) -> int:
    """Append one ``control_results`` row per result (evidence as JSON) in one batch."""

    at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = [{"result_id": f"{run_id}-{i:05d}", "run_id": run_id, "control": r["control"], "period": period,
             "status": r["status"], "entity": r["entity"], "value": r["value"], "expected": r["expected"],
             "message": r["message"], "frameworks": json.dumps(r["frameworks"]),
             "evidence": json.dumps(r["evidence"], default=str) if r["evidence"] else None,
             "evaluated_at": at, "actor": actor} for i, r in enumerate(results)]
    df = pd.DataFrame(rows).astype({"entity": object, "value": object, "expected": object, "evidence": object})
    with write_batch(wh, action="controls", target="control_results", actor=actor,
                     details={"run_id": run_id, "period": format_period(period), "results": len(rows),
                              "failed": sum(1 for r in results if r["status"] == "fail")}) as b:
        if not b.conn.table_exists("control_results"):
            raise ControlsConfigError("the warehouse has no control_results table: run `finlib db init` first")
        b.append("control_results", df)
    return len(rows)


def raise_alerts(wh: Warehouse, period: dt.date, results: list[dict], cfg: ControlsConfig, *,
                 complete: bool, deliver: bool = True) -> dict:
    """One ``control_failure`` alert per failing entity, through the alert store and channels."""

    try:
        acfg = load_alerts()
    except AlertError as exc:
        log.warning("controls: alerts are stored but not delivered: %s", exc)
        acfg = None
    severity = cfg.alerts.severity
    channels = []
    if acfg is not None:
        channels = [n for n, ch in acfg.channels.items()
                    if ch.enabled and ch.accepts(severity) and (cfg.alerts.channels is None or n in cfg.alerts.channels)]
    base = acfg.report_base.rstrip("/") if acfg is not None else "reports"
    rows = []
    for r in results:
        if r["status"] != "fail":
            continue
        entity = {"control": r["control"], "entity": r["entity"]}
        rows.append({"id": store.alert_id(ALERT_RULE, entity, period), "rule": ALERT_RULE, "entity": entity,
                     "severity": severity, "value": r["value"], "threshold": r["expected"],
                     "details": {"control": r["control"], "frameworks": r["frameworks"],
                                 "evidence_rows": len(r["evidence"])},
                     "message": f"control {r['control']} failed: {r['message']}",
                     "report_link": f"{base}/governance/{format_period(period)}/", "channels": channels})
    outcome = store.save(wh, period, rows, evaluated_rules=[ALERT_RULE] if complete else [])
    if deliver and acfg is not None and channels:
        deliver_pending(wh, acfg)
    return outcome
