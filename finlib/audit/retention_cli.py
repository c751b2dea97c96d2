"""``finlib retention``: plan, apply and legal holds (policy: parameters/retention.yaml)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict

import click


def _wh():
    from finlib.warehouse.db import get_warehouse

    return get_warehouse()


def _today(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: write the date as YYYY-MM-DD") from None


@click.group("retention")
def retention() -> None:
    """Keep records for their retention period; archive and delete what is past it."""


_today_opt = click.option("--today", default=None, metavar="YYYY-MM-DD",
                          help="Evaluate the policy as on this day (default: today, UTC).")


@retention.command("plan")
@_today_opt
@click.option("--json", "as_json", is_flag=True)
def plan_cmd(today, as_json) -> None:
    """List what is past its retention period, and what holds keep."""
    from finlib.audit.retention import plan

    items = plan(_wh(), _today(today))
    if as_json:
        click.echo(json.dumps([asdict(i) for i in items]))
        return
    for i in items:
        click.echo(f"{i.table:<20} keep {i.years} y  before {i.cutoff or '-':<10}  past {i.past:>9,}  "
                   f"held {i.held:>7,}  {i.note}")


@retention.command("apply")
@_today_opt
@click.option("--json", "as_json", is_flag=True)
def apply_cmd(today, as_json) -> None:
    """Archive to Parquet (with a sha256 manifest), then delete, what is past retention."""
    from finlib.audit.retention import apply

    items = apply(_wh(), _today(today))
    if as_json:
        click.echo(json.dumps([asdict(i) for i in items]))
        return
    for i in items:
        if i.archive:
            click.echo(f"{i.table}: {i.past:,} rows archived to {i.archive['path']} and deleted ({i.held:,} held)")


@retention.group("hold")
def hold() -> None:
    """Legal holds: rows that apply never deletes."""


def _scope(f):
    f = click.option("--reason", required=True)(f)
    f = click.option("--key", default=None, help="Primary-key value(s), comma-separated.")(f)
    f = click.option("--period", default=None, metavar="YYYY-MM")(f)
    return click.option("--table", required=True)(f)


@hold.command("add")
@_scope
def hold_add(table, period, key, reason) -> None:
    from finlib.audit.retention import add_hold

    click.echo(f"hold {add_hold(_wh(), table, reason, period=period, key=key)} placed on {table} "
               f"{period or key}")


@hold.command("release")
@_scope
def hold_release(table, period, key, reason) -> None:
    from finlib.audit.retention import release_hold

    n = release_hold(_wh(), table, reason, period=period, key=key)
    click.echo(f"{n} hold(s) on {table} {period or key} released")
