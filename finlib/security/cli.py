"""``finlib archive``: encrypt and decrypt archived notebooks and exports (FINLIB_ARCHIVE_KEY)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from finlib import crypto


@click.group()
def archive() -> None:
    """Encrypted archive files (FINLIB_ARCHIVE_KEY, keys newest first, comma-separated)."""


@archive.command("decrypt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the plaintext here (mode 0600) instead of standard output.")
def decrypt_cmd(file: Path, output: Path | None) -> None:
    """Decrypt FILE with the key its header names (for auditors)."""
    if output is not None:
        crypto.decrypt_file(file, output)
        click.echo(f"{output}: decrypted", err=True)
        return
    sys.stdout.buffer.write(crypto.read_bytes(file))


@archive.command("encrypt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def encrypt_cmd(file: Path) -> None:
    """Encrypt FILE in place under the newest key."""
    if crypto.is_encrypted(file):
        click.echo(f"{file}: already encrypted")
        return
    crypto.encrypt_file(file)
    click.echo(f"{file}: encrypted (key id {crypto.key_id(crypto.keys_from_env()[0])})")


@archive.command("new-key")
def new_key_cmd() -> None:
    """Print a fresh random key (put it first in FINLIB_ARCHIVE_KEY)."""
    click.echo(crypto.new_key())


@click.group()
def api() -> None:
    """API usage and security: inbound webhook calls recorded in the api_calls table."""


@api.command("usage")
@click.option("--days", type=int, default=30, show_default=True, help="Look back this many days.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def usage_cmd(days: int, as_json: bool) -> None:
    """Calls per endpoint and source: total, accepted, refused, bad signatures, rate limited,
    median and worst latency."""
    from finlib.integrations.stripe_webhook import api_usage
    from finlib.warehouse.db import get_warehouse

    rows = api_usage(get_warehouse(), days)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"no API calls recorded in the last {days} days")
        return
    table = Table(show_header=True, header_style="bold")
    for col in ("endpoint", "source", "calls", "ok", "refused", "bad signature", "rate limited",
                "median ms", "max ms", "last call"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["endpoint"], r["source"], str(r["calls"]), str(r["ok"]), str(r["refused"]),
                      str(r["bad_signature"]), str(r["rate_limited"]), f"{r['median_ms']:.1f}",
                      f"{r['max_ms']:.1f}", str(r["last_call"])[:19])
    Console().print(table)
