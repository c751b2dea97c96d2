"""``finlib archive``: encrypt and decrypt archived notebooks and exports (FINLIB_ARCHIVE_KEY)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

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
