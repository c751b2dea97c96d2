"""``finlib controls run|list`` and ``finlib period close|reopen|status``.

Exit status of ``controls run``: 0 when no control failed, 3 when any failed, 2 on a usage
error (bad option, period, control name or ``parameters/controls.yaml``).
"""

from __future__ import annotations

import json

import click

from finlib.errors import ConfigError


def _period(value: str):
    from finlib.periods import parse_period

    try:
        return parse_period(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def controls() -> None:
    """Financial controls over a period, with evidence (parameters/controls.yaml)."""


@controls.command("run")
@click.option("--period", "period", required=True, help="the month, YYYY-MM")
@click.option("--control", "names", multiple=True, help="only this control (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print a JSON list of results")
@click.option("--no-deliver", is_flag=True, help="store alerts but do not send them")
@click.option("--no-store", is_flag=True, help="evaluate only: store no result and raise no alert")
def run(period: str, names: tuple[str, ...], as_json: bool, no_deliver: bool, no_store: bool) -> None:
    """Evaluate every enabled control for one period; exit 3 when any failed."""
    from finlib.governance.runner import RESULT_FIELDS, run_controls
    from finlib.warehouse.db import get_warehouse

    p = _period(period)
    out = run_controls(get_warehouse(), p, list(names) or None, store=not no_store, alert=not no_store,
                       deliver=not no_deliver)
    results = out["results"]
    if as_json:
        click.echo(json.dumps([{**{k: r[k] for k in RESULT_FIELDS}, "run_id": out["run_id"],
                                "evidence_rows": len(r["evidence"]), "evidence": r["evidence"]} for r in results],
                              indent=2, default=str))
    else:
        _table(results, out)
    if out["failed"]:
        from finlib.governance.errors import ControlsFailed

        n = out["failed"]
        raise ControlsFailed(f"{n} failing entit{'y' if n == 1 else 'ies'} in {out['period']} (run {out['run_id']}); "
                             "see `finlib controls run --json` or the governance report for the evidence")


def _table(results: list[dict], out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Controls {out['period']} (run {out['run_id']})", show_lines=False)
    for col in ("control", "status", "entity", "value", "expected", "message"):
        t.add_column(col, overflow="fold")
    def fmt(x) -> str:
        return "" if x is None else f"{x:,.2f}"

    for r in results:
        t.add_row(r["control"], "[red]fail[/red]" if r["status"] == "fail" else "[green]pass[/green]",
                  r["entity"] or "", fmt(r["value"]), fmt(r["expected"]), r["message"])
    con = Console(width=200)
    con.print(t)
    failed = out["failed"]
    con.print(f"{failed} failing entit{'y' if failed == 1 else 'ies'}; results stored as run {out['run_id']}"
              if failed else f"all controls passed; results stored as run {out['run_id']}")


@controls.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_controls(as_json: bool) -> None:
    """The controls, what makes each fail and the frameworks it maps to."""
    from finlib.governance.config import load_config
    from finlib.governance.registry import CONTROLS

    cfg = load_config()
    rows = [{"control": n, "enabled": cfg.controls[n].enabled, "entity": c.entity, "fails_when": c.fails_when,
             "frameworks": cfg.controls[n].frameworks or list(c.frameworks)} for n, c in CONTROLS.items()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['control']:<24} {'on ' if r['enabled'] else 'off'} {r['entity']}: {r['fails_when']}")
        click.echo(f"{'':<28}{'; '.join(r['frameworks'])}")


@click.group()
def period() -> None:
    """Close and reopen periods (a closed period refuses every change to its rows)."""


@period.command("close")
@click.argument("month")
def close(month: str) -> None:
    """Close MONTH (YYYY-MM): record who and when; later loads into it are refused."""
    from finlib.governance.periods_close import close_period
    from finlib.warehouse.db import get_warehouse

    out = close_period(get_warehouse(), _period(month))
    click.echo(f"period {out['period']} closed by {out['actor']} ({sum(out['rows'].values())} rows fingerprinted)")


@period.command("reopen")
@click.argument("month")
@click.option("--reason", required=True, help="why the closed period must change (recorded)")
def reopen(month: str, reason: str) -> None:
    """Reopen MONTH with a reason; every change until it is closed again is recorded."""
    from finlib.governance.periods_close import reopen_period
    from finlib.warehouse.db import get_warehouse

    out = reopen_period(get_warehouse(), _period(month), reason)
    click.echo(f"period {out['period']} reopened by {out['actor']}: {out['reason']}")


@period.command("refresh")
def refresh() -> None:
    """Re-take the fingerprints of closed periods (once, after upgrading the database)."""
    from finlib.governance.periods_close import refresh_fingerprints
    from finlib.warehouse.db import get_warehouse

    n = refresh_fingerprints(get_warehouse())
    click.echo(f"fingerprints of {n} period(s) re-taken")


@period.command("status")
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> None:
    """Every period ever closed: state, who and when, changes after close."""
    from finlib.governance.periods_close import period_status
    from finlib.warehouse.db import get_warehouse

    df = period_status(get_warehouse())
    if as_json:
        click.echo(df.to_json(orient="records", date_format="iso"))
    elif df.empty:
        click.echo("no period has been closed")
    else:
        click.echo(df.to_string(index=False))
