"""``finlib alerts``: check the rules for a period, list alerts, acknowledge one.

::

    finlib alerts check [--period YYYY-MM] [--json] [--no-deliver]
    finlib alerts list [--state open|acknowledged|resolved] [--period YYYY-MM] [--json]
    finlib alerts ack ID [--user NAME]

``--period`` defaults to the last closed month. ``--json`` prints a JSON array (one object
per alert: ``id, rule, period, entity, value, threshold, severity, state, message, details,
report_link, ...``); without it a table.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from finlib.periods import parse_period
from finlib.warehouse.db import get_warehouse


def _emit_json(items) -> None:
    click.echo(json.dumps(items, indent=2, default=str, sort_keys=False))


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.4f}" if abs(x) < 10 else f"{x:,.2f}"
    return str(x)


def _table(alerts: list[dict], title: str) -> None:
    console = Console()
    if not console.is_terminal:  # piped or logged: don't squeeze the table to 80 columns
        console = Console(width=max(console.width, 160))
    if not alerts:
        console.print(f"{title}: none")
        return
    colour = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
    t = Table(title=title, show_lines=False)
    for col in ("id", "severity", "state", "rule", "period", "entity", "value", "threshold",
                "message"):
        t.add_column(col, overflow="fold", no_wrap=col in ("id", "severity", "state", "rule",
                                                           "period"),
                     justify="right" if col in ("value", "threshold") else "left")
    for a in alerts:
        entity = ", ".join(f"{k}={v}" for k, v in a["entity"].items()) or "(company)"
        t.add_row(a["id"], f"[{colour.get(a['severity'], '')}]{a['severity']}[/]", a["state"],
                  a["rule"], a["period"][:7], entity, _fmt(a["value"]), _fmt(a["threshold"]),
                  a.get("message") or "")
    console.print(t)


def _pending(alerts: list[dict]) -> list[str]:
    out = []
    for a in alerts:
        for ch, d in (a.get("deliveries") or {}).items():
            if d["delivered_at"] is None and d["attempts"] > 0:
                out.append(f"{a['id']} on {ch}: {d['last_error']}")
    return out


@click.group()
def alerts() -> None:
    """Alert rules (parameters/alerts.yaml): check a period, list and acknowledge alerts."""


@alerts.command("check")
@click.option("--period", "period", default=None, metavar="YYYY-MM",
              help="month to evaluate (default: the last closed month)")
@click.option("--json", "as_json", is_flag=True, help="print a JSON array")
@click.option("--no-deliver", is_flag=True, help="store alerts but send nothing")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="alert configuration (default parameters/alerts.yaml)")
def check_cmd(period, as_json, no_deliver, config_path) -> None:
    """Evaluate every enabled rule for a period, store alerts and deliver new ones."""
    from finlib.alerts.engine import check

    p = parse_period(period)
    result = check(get_warehouse(), p, deliver=not no_deliver, config=config_path)
    if as_json:
        _emit_json(result)
        return
    new = sum(1 for a in result if a.get("new"))
    _table(result, f"Alerts for {p:%Y-%m}: {len(result)} firing, {new} new")
    for line in _pending(result):
        click.secho(f"not yet delivered (will retry): {line}", fg="yellow", err=True)


@alerts.command("list")
@click.option("--state", type=click.Choice(["open", "acknowledged", "resolved"]), default=None)
@click.option("--period", default=None, metavar="YYYY-MM")
@click.option("--json", "as_json", is_flag=True, help="print a JSON array")
def list_cmd(state, period, as_json) -> None:
    """List stored alerts, newest period first."""
    from finlib.alerts.engine import list_alerts

    result = list_alerts(get_warehouse(), state=state, period=period)
    if as_json:
        _emit_json(result)
        return
    _table(result, f"Alerts{' (' + state + ')' if state else ''}")


@alerts.command("ack")
@click.argument("alert_id")
@click.option("--user", default=None, help="who acknowledges (default: the login name)")
@click.option("--json", "as_json", is_flag=True, help="print the alert as JSON")
def ack_cmd(alert_id, user, as_json) -> None:
    """Acknowledge an alert by id (or a unique prefix of 6+ characters)."""
    from finlib.alerts.engine import acknowledge

    a = acknowledge(get_warehouse(), alert_id, user)
    if as_json:
        _emit_json(a)
        return
    click.echo(f"{a['id']} {a['rule']} {a['period'][:7]}: {a['state']} "
               f"by {a['acknowledged_by']} at {a['acknowledged_at']}")
