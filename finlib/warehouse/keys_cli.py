"""``finlib db encrypt`` and ``finlib db rotate-key``: encrypt a DuckDB warehouse in place."""

from __future__ import annotations

import os
from pathlib import Path

import click

from finlib import config
from finlib.errors import ConfigError
from finlib.warehouse import encryption
from finlib.warehouse.db import Connection, get_warehouse
from finlib.warehouse.status import fingerprint


def _fingerprint_of(path: Path, key: str | None) -> str:
    wh = get_warehouse(f"duckdb://{path}")
    if key is None:
        raw = encryption.duckdb.connect(str(path), read_only=True)
    else:
        raw = encryption.open_encrypted(path, key, read_only=True)
    try:
        return fingerprint(wh, Connection(raw, "duckdb"))
    finally:
        raw.close()


def _duckdb_path() -> Path:
    wh = get_warehouse()
    if wh.backend != "duckdb" or wh.path is None or str(wh.path) == ":memory:":
        raise ConfigError("Only a DuckDB warehouse file is encrypted by finlib; PostgreSQL encrypts "
                          "at rest with its storage (see docs/SECURITY.md).")
    return wh.path


def _finish(path: Path, backup: Path, fp: str, delete_backup: bool, what: str) -> None:
    click.echo(f"{path}: {what}; fingerprint {fp} checked")
    if delete_backup:
        backup.unlink()
        click.echo(f"the original copy {backup.name} was deleted")
    else:
        click.echo(f"the original is kept as {backup} (private to you): delete it once you have "
                   "checked the new file")


@click.command("encrypt")
@click.option("--delete-original", is_flag=True,
              help="Delete the plaintext original once the encrypted copy checks out.")
def encrypt_cmd(delete_original: bool) -> None:
    """Encrypt the plaintext DuckDB warehouse with FINLIB_DB_KEY."""
    path = _duckdb_path()
    key = config.db_key()
    if key is None:
        raise ConfigError("Set FINLIB_DB_KEY to the key to encrypt the warehouse with.")
    if not path.exists():
        raise ConfigError(f"No warehouse at {path}.")
    if encryption.is_encrypted(path):
        raise ConfigError(f"{path} is already encrypted; use `finlib db rotate-key` to change its key.")
    backup = encryption.reencrypt(path, None, key, _fingerprint_of)
    _finish(path, backup, _fingerprint_of(path, key), delete_original, "encrypted")


@click.command("rotate-key")
@click.option("--delete-original", is_flag=True,
              help="Delete the copy under the old key once the new file checks out.")
def rotate_key_cmd(delete_original: bool) -> None:
    """Re-encrypt the warehouse from FINLIB_DB_KEY to FINLIB_DB_NEW_KEY (or a prompted key)."""
    path = _duckdb_path()
    old = config.db_key()
    if old is None:
        raise ConfigError("Set FINLIB_DB_KEY to the warehouse's current key.")
    new = os.environ.get("FINLIB_DB_NEW_KEY") or click.prompt(
        "New key", hide_input=True, confirmation_prompt=True)
    backup = encryption.reencrypt(path, old, new, _fingerprint_of)
    _finish(path, backup, _fingerprint_of(path, new), delete_original,
            "re-encrypted under the new key (set FINLIB_DB_KEY to it)")
