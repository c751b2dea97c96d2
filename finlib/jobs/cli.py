"""``finlib run``, ``finlib schedule``, ``finlib reports`` and ``finlib jobs``.

``finlib --help`` imports this module to list its commands, so each command imports the
jobs modules it runs when it runs (the one place, besides the other areas' ``cli.py``,
where imports sit inside functions).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import click
from croniter import croniter
from rich.console import Console
from rich.table import Table

from finlib import config
from finlib.errors import JobError, JobRunError
from finlib.periods import parse_period


def _now_option(f):
    return click.option(
        "--now", "now", default=None, hidden=True,
        help="pretend the clock says this ISO time (tests, dry runs)",
    )(f)


def _parse_now(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    t = dt.datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _run_due_once(console, executor, workers, address, now, catch_up_days, quiet=False):
    from finlib.jobs.batch import Display, Planned, execute
    from finlib.jobs.schedule import due_runs
    from finlib.jobs.spec import load_jobs

    reports = config.reports_dir()
    jobs = load_jobs(include_disabled=False)
    due = due_runs(jobs, reports, now=now, catch_up_days=catch_up_days)
    items = [Planned(job=d.job, variant=d.variant, period=d.period, trigger="due", scheduled_for=d.scheduled_for)
             for d in due]
    if not items:
        return []
    with Display(console=console, quiet=quiet) as display:
        return execute(items, reports, executor=executor, workers=workers, address=address,
                       display=display, now=now)


@click.command()
@click.argument("jobs", nargs=-1)
@click.option("--all", "all_jobs", is_flag=True, help="every enabled job in parameters/jobs/")
@click.option("--due", is_flag=True, help="only jobs whose schedule fell due since their last success")
@click.option("--period", default=None, help="YYYY-MM (default: the last closed month)")
@click.option("--workers", "-w", type=int, default=1, show_default=True, help="parallel runs (local executor)")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--address", default=None, help="dask scheduler, e.g. tcp://10.0.0.5:8786")
@click.option("--catch-up-days", type=float, default=None, help="override every job's catch-up window (--due)")
@click.option("--quiet", "-q", is_flag=True, help="no progress lines, only the summary")
@_now_option
def run(jobs, all_jobs, due, period, workers, executor, address, catch_up_days, quiet, now):
    """Run JOBS (names of parameters/jobs/*.yaml), --all, or --due; archive every run.

    Exits non-zero if any run failed; the other runs still complete and are archived.
    """
    from finlib.jobs.batch import Display, execute, plan, summary_table
    from finlib.jobs.spec import load_jobs

    if sum(bool(x) for x in (jobs, all_jobs, due)) != 1:
        raise click.UsageError("give job names, --all or --due (exactly one of them)")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    reports = config.reports_dir()
    now_t = _parse_now(now)
    if due:
        if period:
            raise click.UsageError("--period does not combine with --due (each slot has its period)")
        outcomes = _run_due_once(console, executor, workers, address, now_t, catch_up_days, quiet)
        if not outcomes:
            console.print("nothing is due")
            return
    else:
        loaded = load_jobs(jobs or None, include_disabled=bool(jobs))
        if not loaded:
            console.print("no enabled jobs in parameters/jobs/")
            return
        p = parse_period(period, today=now_t.date() if now_t else None) if period else None
        items = plan(loaded, p, now=now_t)
        with Display(console=console, quiet=quiet) as display:
            outcomes = execute(items, reports, executor=executor, workers=workers, address=address,
                               display=display, now=now_t)
    console.print(summary_table(outcomes, reports))
    bad = [o for o in outcomes if o.status in ("failed", "error")]
    if bad:
        raise JobRunError(f"{len(bad)} of {len(outcomes)} run(s) failed: "
                          + ", ".join(f"{o.key} ({o.message[:80]})" for o in bad))


@click.command()
@click.option("--interval", type=float, default=60, show_default=True, help="seconds between checks")
@click.option("--workers", "-w", type=int, default=1, show_default=True)
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--address", default=None)
@click.option("--catch-up-days", type=float, default=None)
@click.option("--once", is_flag=True, help="check once and exit (what `finlib run --due` does)")
@_now_option
def schedule(interval, workers, executor, address, catch_up_days, once, now):
    """Run due jobs in a loop, in the foreground (Ctrl-C stops it).

    Safe to run on several machines sharing reports/: per job+period locks and the
    archive keep any job and period from running twice.
    """
    from finlib.jobs.batch import summary_table

    console = Console()
    console.print(f"scheduler: checking every {interval:g}s; archive {config.reports_dir()}")
    failures = 0
    while True:
        try:
            outcomes = _run_due_once(console, executor, workers, address, _parse_now(now), catch_up_days)
            if outcomes:
                console.print(summary_table(outcomes, config.reports_dir()))
                failures += sum(o.status in ("failed", "error") for o in outcomes)
        except JobError as exc:  # a broken spec must not kill the scheduler
            console.print(f"[red]error:[/] {exc}")
        if once:
            if failures:
                raise JobRunError(f"{failures} run(s) failed")
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            console.print("scheduler stopped")
            return


@click.group()
def reports():
    """Browse the report archive (reports/)."""


@reports.command("list")
@click.option("--job", default=None)
@click.option("--status", type=click.Choice(["succeeded", "failed"]), default=None)
@click.option("--period", default=None, help="YYYY-MM")
@click.option("--limit", "-n", type=int, default=50, show_default=True)
def reports_list(job, status, period, limit):
    """Runs, newest first."""
    from finlib.jobs.archive import load_catalogue

    rows = [r for r in load_catalogue(config.reports_dir())
            if (not job or r["job"] == job) and (not status or r["status"] == status)
            and (not period or r["period"] == period)]
    t = Table(title=f"{len(rows)} run(s)" + (f", showing {limit}" if len(rows) > limit else ""),
              title_justify="left")
    for col in ("run id", "job", "period", "variant", "status", "seconds", "alerts"):
        t.add_column(col)
    for r in rows[:limit]:
        colour = "green" if r["status"] == "succeeded" else "red"
        t.add_row(r["run_id"], r["job"], r["period"], r["variant"] or "", f"[{colour}]{r['status']}[/]",
                  f"{r['duration_s']:.1f}" if r.get("duration_s") is not None else "", str(r["alerts"]))
    Console().print(t)


@reports.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="print the manifest as JSON")
def reports_show(run_id, as_json):
    """One run's manifest (RUN_ID or a unique prefix of it)."""
    from finlib.jobs.archive import find_run, read_manifest

    path = find_run(config.reports_dir(), run_id)
    m = read_manifest(path)
    if as_json:
        click.echo(json.dumps(m, indent=2))
        return
    t = Table(show_header=False, title=f"{m['title']} · {m['run_id']}", title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    err = m.get("error") or {}
    rows = [
        ("status", m["status"] + (f"  {err.get('type')}: {err.get('message')}" if err else "")),
        ("job / period", f"{m['job']} / {m['period']}" + (f"  [{m['variant_label']}]" if m.get("variant_label") else "")),
        ("started / ended", f"{m['started_at']} → {m['ended_at']} ({m['duration_s']:.1f}s)"),
        ("timings", ", ".join(f"{k} {v:.2f}" for k, v in m["timings"].items())),
        ("attempts", str(len(m["attempts"]))),
        ("parameters", json.dumps(m["parameters"])),
        ("code", f"{m['code'].get('git_commit')} dirty={m['code'].get('git_dirty')} finlib {m['code'].get('finlib_version')}"),
        ("warehouse", json.dumps(m["warehouse"].get("fingerprint")) if m["warehouse"].get("fingerprint") is not None
         else f"null ({m['warehouse'].get('reason')})"),
        ("scraps", ", ".join(m.get("scraps") or [])),
        ("alerts", str(len(m.get("alerts") or [])) + (f" ({m['alerts_check'].get('note')})" if m.get("alerts_check", {}).get("note") else "")),
        ("outputs", "\n".join(f"{k}  {v['bytes']:,} B  sha256 {v['sha256'][:16]}…" for k, v in m["outputs"].items())),
        ("folder", str(path)),
    ]
    for k, v in rows:
        t.add_row(k, v)
    Console().print(t)


@click.group()
def jobs():
    """Job specs in parameters/jobs/."""


@jobs.command("list")
@_now_option
def jobs_list(now):
    """Every job with its schedule, matrix, next slot and last success."""
    from finlib.jobs.archive import load_catalogue
    from finlib.jobs.spec import jobs_dir, load_jobs

    loaded = load_jobs()
    now_t = _parse_now(now) or dt.datetime.now(dt.UTC)
    last_ok: dict[str, str] = {}
    for r in load_catalogue(config.reports_dir()):
        if r["status"] == "succeeded":
            last_ok.setdefault(r["job"], r["run_id"])
    t = Table(title=f"{len(loaded)} job(s) in {jobs_dir()}", title_justify="left")
    for col in ("job", "title", "notebook", "schedule", "next slot", "runs", "last success", "enabled"):
        t.add_column(col)
    for j in loaded:
        nxt = ""
        if j.spec.schedule:
            nxt = croniter(j.spec.schedule, now_t.astimezone(ZoneInfo(j.spec.timezone))).get_next(dt.datetime)
            nxt = nxt.strftime("%Y-%m-%d %H:%M %Z")
        t.add_row(j.name, j.spec.title, j.spec.notebook, j.spec.schedule or "(manual)", nxt,
                  str(len(j.variants())), last_ok.get(j.name, ""), "yes" if j.spec.enabled else "no")
    Console().print(t)


@jobs.command("validate")
@click.argument("names", nargs=-1)
def jobs_validate(names):
    """Check job specs (all, or NAMES): keys, cron, notebook, parameters. Runs nothing."""
    from finlib.jobs.spec import jobs_dir, load_jobs

    loaded = load_jobs(names or None)
    for j in loaded:
        click.echo(f"ok  {j.name}  ({j.path.name}: {len(j.variants())} run(s) per period, "
                   f"notebook declares {', '.join(j.notebook_parameters) or 'no parameters'})")
    click.echo(f"{len(loaded)} job spec(s) valid in {jobs_dir()}")
