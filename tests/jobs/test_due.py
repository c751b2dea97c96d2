"""`--due` with a controlled clock, and two schedulers that must not double-run."""

from __future__ import annotations

import datetime as dt
import json

from finlib.jobs import archive
from finlib.jobs.schedule import due_runs
from finlib.jobs.spec import load_jobs

UTC = dt.UTC
MONTHLY = """\
    notebook: notebooks/quick.ipynb
    title: Quick monthly
    schedule: "0 6 2 * *"
    catch_up_days: {days}
    parameters: {{period: last_closed_month}}
"""


def t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s).replace(tzinfo=UTC)


def stub(reports, job, period, started, status="succeeded", scheduled_for=None, variant=""):
    run_id = archive.new_run_id(started)
    d = reports / job / period / run_id
    d.mkdir(parents=True)
    (d / "manifest.json").write_text(json.dumps({
        "run_id": run_id, "job": job, "period": period, "variant_label": variant, "status": status,
        "started_at": started.isoformat(), "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
        "duration_s": 1.0, "alerts": [],
    }))
    return run_id


def due(project, now, **kw):
    return [(d.job.name, f"{d.period:%Y-%m}") for d in due_runs(load_jobs(), project.reports, now=now, **kw)]


def test_missed_slots_inside_the_window_are_caught_up_oldest_first(project):
    project.job("q", MONTHLY.format(days=40))
    # slots 2030-03-02 and 2030-04-02 fall in the 40 days before 10 April; 2 Feb does not
    assert due(project, t("2030-04-10T00:00")) == [("q", "2030-02"), ("q", "2030-03")]
    assert due(project, t("2030-04-10T00:00"), catch_up_days=80) == [("q", "2030-01"), ("q", "2030-02"),
                                                                     ("q", "2030-03")]


def test_a_success_since_the_slot_satisfies_it_and_a_failure_holds_it_for_an_hour(project):
    project.job("q", MONTHLY.format(days=40))
    stub(project.reports, "q", "2030-03", t("2030-04-02T06:01"))
    stub(project.reports, "q", "2030-02", t("2030-03-01T00:00"))  # before its slot: does not count
    assert due(project, t("2030-04-10T00:00")) == [("q", "2030-02")]
    stub(project.reports, "q", "2030-02", t("2030-04-10T00:00"), status="failed")
    assert due(project, t("2030-04-10T00:30")) == []
    assert due(project, t("2030-04-10T01:30")) == [("q", "2030-02")]


def test_a_run_scheduled_for_a_slot_satisfies_it_whatever_its_clock(project):
    project.job("q", MONTHLY.format(days=40))
    stub(project.reports, "q", "2030-03", t("2026-01-01T00:00"), scheduled_for=t("2030-04-02T06:00"))
    assert ("q", "2030-03") not in due(project, t("2030-04-10T00:00"))


def test_manual_and_disabled_jobs_are_never_due(project):
    project.job("m", "notebook: notebooks/quick.ipynb\ntitle: manual\n")
    project.job("off", MONTHLY.format(days=40) + "    enabled: false\n")
    assert due_runs(load_jobs(include_disabled=False), project.reports, now=t("2030-04-10T00:00")) == []


def test_run_due_catches_up_and_never_runs_anything_twice(project):
    project.job("q", MONTHLY.format(days=40))
    first = project.finlib("run", "--due", "--now", "2030-04-10T00:00:00", check=True)
    runs = sorted((p, rid) for j, p, rid, _ in archive.iter_run_dirs(project.reports))
    assert [p for p, _ in runs] == ["2030-02", "2030-03"], first.stdout
    again = project.finlib("run", "--due", "--now", "2030-04-10T00:00:00", check=True)
    assert "nothing is due" in again.stdout
    project.finlib("run", "--due", "--now", "2030-05-03T00:00:00", check=True)  # the May slot: April
    periods = sorted(p for _, p, _, _ in archive.iter_run_dirs(project.reports))
    assert periods == ["2030-02", "2030-03", "2030-04"]
    m = archive.read_manifest(next(d for _, p, _, d in archive.iter_run_dirs(project.reports) if p == "2030-04"))
    assert m["trigger"] == "due" and m["scheduled_for"].startswith("2030-05-02T06:00")
    assert m["parameters"]["period"] == "2030-04-01"


def test_two_schedulers_started_together_run_each_job_and_period_once(project):
    project.job("q", MONTHLY.format(days=10))
    project.job("r", MONTHLY.format(days=10))
    procs = [project.popen("schedule", "--once", "--now", "2030-04-10T00:00:00") for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    runs = sorted((j, p) for j, p, _, _ in archive.iter_run_dirs(project.reports))
    assert runs == [("q", "2030-03"), ("r", "2030-03")], outs
