"""What is due: cron schedules against the archive (the archive is the only state).

A job's cron expression (in its ``timezone``) produces *slots*. Each slot belongs to a
period: the month before the slot's month (a report due on 2 April covers March). A slot
is *satisfied* when the archive holds a successful run of the same job, matrix variant and
period that started at or after the slot (or was started for it: ``scheduled_for``). A
recently failed run (younger than ``failed_retry_after``) also holds the slot, so a broken
notebook is retried once an hour, not on every scheduler tick.

Only slots inside the catch-up window (``catch_up_days`` before ``now``) count: a machine
that was off for a weekend runs what it missed, one that was off for a year does not
replay the year. Each unsatisfied (job, variant, period) is one due run, oldest first.

Everything takes ``now`` as an argument, so tests drive it with a controlled clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from finlib.jobs import archive
from finlib.jobs.spec import Job, variant_label
from finlib.periods import last_closed_month

DEFAULT_FAILED_RETRY_AFTER = dt.timedelta(hours=1)


@dataclass(frozen=True)
class DueRun:
    job: Job
    variant: dict[str, Any]
    period: dt.date
    scheduled_for: dt.datetime  # the latest unsatisfied slot of this period (UTC)


def _parse(ts: str | None) -> dt.datetime | None:
    if not ts:
        return None
    t = dt.datetime.fromisoformat(ts)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def slots(job: Job, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Cron fire times in ``(start, end]``, as UTC datetimes."""
    if not job.spec.schedule:
        return []
    tz = ZoneInfo(job.spec.timezone)
    it = croniter(job.spec.schedule, start.astimezone(tz))
    out = []
    while True:
        t = it.get_next(dt.datetime)
        if t > end:
            return out
        out.append(t.astimezone(dt.UTC))


def period_of_slot(slot: dt.datetime, job: Job) -> dt.date:
    return last_closed_month(slot.astimezone(ZoneInfo(job.spec.timezone)).date())


def _holds(run: dict[str, Any], slot: dt.datetime, now: dt.datetime, failed_retry_after: dt.timedelta,
           manifests: dict[str, dict]) -> bool:
    started = _parse(run.get("started_at"))
    scheduled = _parse(manifests.get(run["run_id"], {}).get("scheduled_for"))
    effective = max(t for t in (started, scheduled) if t is not None) if (started or scheduled) else None
    if effective is None or effective < slot:
        return False
    if run.get("status") == "succeeded":
        return True
    # a failed run holds the slot for a while (clock skew: a run "in the future" is recent)
    return started is None or now - started < failed_retry_after


def due_runs(
    jobs: list[Job],
    reports: Path,
    now: dt.datetime | None = None,
    catch_up_days: float | None = None,
    failed_retry_after: dt.timedelta = DEFAULT_FAILED_RETRY_AFTER,
) -> list[DueRun]:
    """The runs due at ``now`` (default: the real clock), oldest period first."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    groups = archive.last_runs(reports)
    manifests: dict[str, dict] = {}
    out: list[DueRun] = []
    for job in jobs:
        if not job.spec.enabled or not job.spec.schedule:
            continue
        window = dt.timedelta(days=job.spec.catch_up_days if catch_up_days is None else catch_up_days)
        fire_times = slots(job, now - window, now)
        for variant in job.variants():
            label = variant_label(variant)
            pending: dict[dt.date, dt.datetime] = {}
            for slot in fire_times:
                period = period_of_slot(slot, job)
                runs = groups.get((job.name, label, f"{period:%Y-%m}"), [])
                for r in runs:  # scheduled_for lives only in manifests: read those we need
                    if r["run_id"] not in manifests:
                        try:
                            manifests[r["run_id"]] = archive.read_manifest(
                                archive.run_dir(reports, job.name, r["period"], r["run_id"]))
                        except (OSError, ValueError):
                            manifests[r["run_id"]] = {}
                if not any(_holds(r, slot, now, failed_retry_after, manifests) for r in runs):
                    pending[period] = max(slot, pending.get(period, slot))
            for period in sorted(pending):
                out.append(DueRun(job=job, variant=variant, period=period, scheduled_for=pending[period]))
    return out


def is_still_due(due: DueRun, reports: Path, now: dt.datetime,
                 failed_retry_after: dt.timedelta = DEFAULT_FAILED_RETRY_AFTER) -> bool:
    """Re-check one due run against the archive (called once its lock is held)."""
    label = variant_label(due.variant)
    runs = [r for _, p, rid, path in archive.iter_run_dirs(reports)
            if _ == due.job.name and p == f"{due.period:%Y-%m}"
            for r in [_row(path)] if r is not None and (r.get("variant") or "") == label]
    manifests = {r["run_id"]: r["_manifest"] for r in runs}
    return not any(_holds(r, due.scheduled_for, now, failed_retry_after, manifests) for r in runs)


def _row(path: Path) -> dict | None:
    try:
        m = archive.read_manifest(path)
    except (OSError, ValueError):
        return None
    row = archive.summarise(m)
    row["_manifest"] = m
    return row
