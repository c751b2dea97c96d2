"""``finlib db``: create and inspect the warehouse."""

from __future__ import annotations

import click

from finlib.warehouse.db import get_warehouse


@click.group()
def db() -> None:
    """Create and inspect the warehouse (FINLIB_DB_URL)."""


@db.command("init")
def init_cmd() -> None:
    """Create every table of the canonical schema (idempotent)."""
    from finlib.warehouse.init import init_db

    wh = get_warehouse()
    created = init_db(wh)
    click.echo(f"{wh.display_url}: {len(created)} tables created"
               + (f" ({', '.join(created)})" if created else " (schema already present)"))
