"""Plan runs, hold their locks, hand them to an executor, show progress, summarise.

One lock per job + variant + period (``reports/.locks/``, :mod:`filelock`) is held in this
process from before a run starts until it is archived. Scheduled runs (``--due``) *try*
the lock: if another scheduler holds it they skip, and once they hold it they re-check the
archive, so two schedulers never run the same job and period twice. Manual runs wait for
the lock and then run (a manual run always makes a new archived run).

Per batch, before any run starts: temporary folders left by crashed runs (older than a
day) are swept, and the alert rules are evaluated (and new alerts delivered) once per
period; every run of the batch records that result in its manifest and report. The rules
read only the warehouse, which runs never change, so evaluating them once instead of after
each of the batch's runs gives the same alerts without holding the DuckDB write lock while
other runs' kernels are reading. Then the monitoring rules (unusual access, failed
integrations, refused API calls: :mod:`finlib.audit.monitor`) are evaluated once per batch
and every pending alert delivered, so a scheduler raises them without extra setup.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from finlib import __version__, config
from finlib.audit.monitor import watch_for_batch
from finlib.jobs import archive
from finlib.jobs.index import rebuild_index
from finlib.jobs.kernel import choose_kernel
from finlib.jobs.papermill_run import evaluate_alerts
from finlib.jobs.pool import get_executor
from finlib.jobs.schedule import DueRun, is_still_due
from finlib.jobs.spec import Job, resolve_parameters, variant_label, variant_slug, waves
from finlib.periods import last_closed_month
from finlib.warehouse.db import Warehouse


@dataclass
class Planned:
    job: Job
    variant: dict[str, Any]
    period: dt.date
    trigger: str = "manual"  # manual | due
    scheduled_for: dt.datetime | None = None


@dataclass
class Outcome:
    key: str
    job: str
    variant: str
    period: str
    status: str  # succeeded | failed | skipped | error
    run_id: str | None = None
    duration_s: float | None = None
    attempts: int = 0
    alerts: int = 0
    message: str = ""
    path: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)


def code_provenance(root: Path | None = None) -> dict[str, Any]:
    """Git commit (and whether the tree had uncommitted changes) plus finlib's version."""
    root = root or config.project_root()
    commit = dirty = None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=False).stdout.strip() or None
        if commit:
            dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                        capture_output=True, text=True, timeout=20, check=False).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return {"git_commit": commit, "git_dirty": dirty, "finlib_version": __version__}


def plan(jobs: list[Job], period: dt.date | None = None, now: dt.datetime | None = None) -> list[Planned]:
    """Every variant of every job for ``period`` (default: the last closed month)."""
    today = (now or dt.datetime.now(dt.UTC)).date()
    p = period or last_closed_month(today)
    return [Planned(job=j, variant=v, period=p) for j in jobs for v in j.variants()]


def make_request(item: Planned, reports: Path, code: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    job, spec = item.job, item.job.spec
    run_id = run_id or archive.new_run_id()
    period = f"{item.period:%Y-%m}"
    label = variant_label(item.variant)

    nb_meta = json.loads(job.notebook_path.read_text(encoding="utf-8")).get("metadata", {})
    try:
        wh = Warehouse.from_url()
        db_url, db_display = wh.url, wh.display_url
    except Exception:  # noqa: BLE001
        db_url = db_display = None
    try:
        nb_rel = str(job.notebook_path.resolve().relative_to(config.project_root().resolve()))
    except ValueError:
        nb_rel = str(job.notebook_path)
    return {
        "key": f"{job.name}{'[' + label + ']' if label else ''}@{period}",
        "job": job.name,
        "title": spec.title + (f" – {', '.join(map(str, item.variant.values()))}" if item.variant else ""),
        "notebook": str(job.notebook_path),
        "notebook_rel": nb_rel,
        "period": period,
        "variant": item.variant,
        "variant_label": label,
        "parameters": resolve_parameters(job, item.variant, item.period, run_id),
        "kernel": choose_kernel(nb_meta.get("kernelspec", {}).get("name"), spec.kernel),
        "timeout": spec.timeout,
        "start_timeout": spec.start_timeout,
        "retries": spec.retries,
        "retry_backoff": spec.retry_backoff,
        "audience": spec.audience,
        "reports": str(reports),
        "run_id": run_id,
        "trigger": item.trigger,
        "scheduled_for": item.scheduled_for.isoformat() if item.scheduled_for else None,
        "code": code,
        "db_url": db_url,
        "db_display_url": db_display,
    }


def lock_path(reports: Path, job: str, variant: dict, period: str) -> Path:
    d = reports / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{job}__{variant_slug(variant)}__{period}.lock"


class Display:
    """One line per run (rich), redrawn in place on a terminal; plain lines otherwise."""

    def __init__(self, console=None, quiet: bool = False):
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.state: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.live = None

    def __enter__(self):
        if self.console.is_terminal and not self.quiet:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)

    def add(self, key: str) -> None:
        with self.lock:
            self.state[key] = {"state": "queued", "t0": None, "info": ""}
        self._refresh()

    def event(self, ev: dict[str, Any]) -> None:
        with self.lock:
            s = self.state.setdefault(ev["key"], {"state": "queued", "t0": None, "info": ""})
            if s["t0"] is None and ev["state"] not in ("queued", "submitted"):
                s["t0"] = time.monotonic()
            s["state"] = ev.get("status") or ev["state"]
            if "cells" in ev:
                s["info"] = f"cell {ev['cell']}/{ev['cells']}"
            elif ev["state"] == "retrying":
                s["info"] = f"kernel died, attempt {ev['attempt']} in {ev['delay']:g}s"
            elif ev["state"] in ("html", "alerts"):
                s["info"] = ev["state"]
            if ev["state"] in ("done", "skipped", "error"):
                s["t1"] = time.monotonic()
                s["info"] = ""
        self._refresh()
        if self.live is None and not self.quiet and ev["state"] in ("done", "skipped", "error"):
            self.console.print(self._line(ev["key"], self.state[ev["key"]]))

    def _line(self, key: str, s: dict[str, Any]) -> str:
        colour = {"succeeded": "green", "failed": "red", "skipped": "yellow", "error": "red"}.get(s["state"], "cyan")
        t = (s.get("t1") or time.monotonic()) - s["t0"] if s["t0"] else 0.0
        # keys look like department[department=Sales]@2024-03: escaped, or rich reads the
        # brackets as a style tag and the variant disappears from the line
        return f"[{colour}]{s['state']:>10}[/] {escape(key)}  {t:6.1f}s  {escape(s['info'])}"

    def _render(self):
        with self.lock:
            return Text.from_markup("\n".join(self._line(k, s) for k, s in self.state.items()) or "no runs")

    def _refresh(self):
        if self.live is not None:
            self.live.update(self._render())


def execute(
    items: list[Planned],
    reports: Path | None = None,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    display: Display | None = None,
    now: dt.datetime | None = None,
    lock_wait: float = -1,
    shared_alerts: bool = True,
) -> list[Outcome]:
    """Run ``items`` and return one :class:`Outcome` each (in plan order).

    Locks: ``due`` items try their lock and re-check the archive; others wait.
    The alert rules run once per period before the runs (``shared_alerts=False``: after
    each run, in the run's worker). Jobs run in waves so that a job's ``after`` jobs of the
    same batch finish first (the executive summary reads the domain runs). The index is
    rebuilt after each run.
    """
    reports = (reports or config.reports_dir()).resolve()
    reports.mkdir(parents=True, exist_ok=True)
    archive.sweep_stale_temp(reports)
    archive.ensure_static(reports)
    runner = get_executor(executor, workers=workers, address=address)
    code = code_provenance()
    display = display or Display(quiet=True)
    outcomes: dict[str, Outcome] = {}
    requests: list[dict] = []
    locks: dict[str, Any] = {}
    order: list[str] = []
    for item in items:
        req = make_request(item, reports, code)
        key = req["key"]
        order.append(key)
        display.add(key)
        lock = FileLock(str(lock_path(reports, item.job.name, item.variant, req["period"])))
        try:
            lock.acquire(timeout=0 if item.trigger == "due" else lock_wait)
        except Timeout:
            outcomes[key] = Outcome(key, item.job.name, req["variant_label"], req["period"], "skipped",
                                    message="another scheduler is running it")
            display.event({"key": key, "state": "skipped"})
            continue
        if item.trigger == "due" and item.scheduled_for is not None:
            due = DueRun(item.job, item.variant, item.period, item.scheduled_for)
            if not is_still_due(due, reports, now or dt.datetime.now(dt.UTC)):
                lock.release()
                outcomes[key] = Outcome(key, item.job.name, req["variant_label"], req["period"], "skipped",
                                        message="already run by another scheduler")
                display.event({"key": key, "state": "skipped"})
                continue
        locks[key] = lock
        requests.append(req)
    if requests and shared_alerts:
        evaluated: dict[str, dict[str, Any]] = {}
        for req in requests:
            if req["period"] not in evaluated:
                display.event({"key": req["key"], "state": "alerts"})
                evaluated[req["period"]] = evaluate_batch_alerts(req["db_url"], req["period"])
            req["alerts_shared"] = evaluated[req["period"]]
    if requests:
        watch_for_batch(requests[0]["db_url"])

    after = {item.job.name: list(item.job.spec.after) for item in items}
    groups = waves([r["job"] for r in requests], after)
    ordered = [[r for r in requests if r["job"] in set(g)] for g in groups]
    try:
        for req, result in (pair for wave in ordered for pair in runner.run(wave, display.event)):
            key = req["key"]
            lock = locks.pop(key, None)
            if lock is not None:
                lock.release()
            if isinstance(result, BaseException):
                outcomes[key] = Outcome(key, req["job"], req["variant_label"], req["period"], "error",
                                        run_id=req["run_id"], message=f"{type(result).__name__}: {result}")
                display.event({"key": key, "state": "error"})
                continue
            err = result.get("error") or {}
            outcomes[key] = Outcome(
                key, req["job"], req["variant_label"], req["period"], result["status"],
                run_id=result["run_id"], duration_s=result["duration_s"], attempts=len(result["attempts"]),
                alerts=len(result.get("alerts") or []), path=result.get("path"),
                message=(f"{err.get('type')}: {err.get('message')}" if err else ""), manifest=result,
            )
            display.event({"key": key, "state": "done", "status": result["status"]})
            rebuild_index(reports)
    finally:
        for lock in locks.values():
            lock.release()
    if not requests:
        rebuild_index(reports)
    return [outcomes[k] for k in order if k in outcomes]


def evaluate_batch_alerts(db_url: str | None, period: str) -> dict[str, Any]:
    """Evaluate (and deliver) the alert rules for ``period`` once for a batch of runs."""
    t = time.perf_counter()
    alerts, check = evaluate_alerts(db_url, period)
    check = {**check, "scope": "batch", "evaluated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
             "seconds": round(time.perf_counter() - t, 3)}
    return {"alerts": alerts, "check": check}


def summary_table(outcomes: list[Outcome], reports: Path):
    t = Table(title=f"{len(outcomes)} run(s) · archive {reports / 'index.html'}", title_justify="left")
    for col, kw in (("job", {}), ("variant", {}), ("period", {}), ("status", {}), ("attempts", {"justify": "right"}),
                    ("seconds", {"justify": "right"}), ("alerts", {"justify": "right"}), ("run id / problem", {})):
        t.add_column(col, **kw)
    colours = {"succeeded": "green", "failed": "red", "error": "red", "skipped": "yellow"}
    for o in outcomes:
        t.add_row(o.job, o.variant, o.period, f"[{colours.get(o.status, 'white')}]{o.status}[/]",
                  str(o.attempts or ""), f"{o.duration_s:.1f}" if o.duration_s is not None else "",
                  str(o.alerts), (o.run_id or "") + (f"\n{o.message[:200]}" if o.message else ""))
    return t
