"""``finlib db``: create and inspect the warehouse."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.status import warehouse_status


@click.group()
def db() -> None:
    """Create and inspect the warehouse (FINLIB_DB_URL)."""


@db.command("init")
def init_cmd() -> None:
    """Create every table of the canonical schema (idempotent)."""
    wh = get_warehouse()
    created = init_db(wh)
    click.echo(f"{wh.display_url}: {len(created)} tables created"
               + (f" ({', '.join(created)})" if created else " (schema already present)"))


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_cmd(as_json: bool) -> None:
    """Tables with row counts, the last ingest and the data fingerprint."""
    st = warehouse_status(get_warehouse())
    if as_json:
        click.echo(json.dumps(st, indent=2, default=str))
        return

    console = Console()
    console.print(f"warehouse   {st['warehouse']}")
    table = Table(show_header=True, header_style="bold")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for t in st["tables"]:
        name = t["table"] + (" (system)" if t["system"] else "")
        table.add_row(name, "missing" if t["rows"] is None else f"{t['rows']:,}")
    console.print(table)
    span = st.get("ledger_periods")
    console.print(f"ledger      {span['first'][:7]} .. {span['last'][:7]}" if span else "ledger      empty")
    demo = st.get("demo")
    if demo:
        console.print(f"demo data   scale {demo['scale']}, seed {demo['seed']}, "
                      f"{str(demo['first_period'])[:7]} .. {str(demo['last_closed_month'])[:7]}, "
                      f"loaded {demo['loaded_at']}")
    li = st["last_ingest"]
    if li:
        console.print(f"last ingest {li['started_at']}  {li['table']} <- {li['file']}  "
                      f"{li['rows'] or 0:,} rows, {li['outcome']} (by {li['user']})")
    else:
        console.print("last ingest none (no file loaded with `finlib ingest` yet)")
    console.print(f"fingerprint {st['fingerprint']}")
