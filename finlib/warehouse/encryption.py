"""An encrypted DuckDB warehouse: DuckDB's own database encryption (AES-256-GCM).

When ``FINLIB_DB_KEY`` is set, every connection to a DuckDB warehouse goes through
:func:`open_encrypted`: an in-memory DuckDB instance ``ATTACH``es the file with the key and
makes it the default database, so every statement reads and writes it unchanged. Pages, the
write-ahead log and temporary files are encrypted; the key never reaches a log or message.

Writing needs DuckDB's OpenSSL-backed ``httpfs`` extension (DuckDB refuses to write with its
built-in read-only crypto module). It is loaded from the ``duckdb-ext-httpfs`` wheel (the
official extension binary, whose signature DuckDB checks on ``LOAD``), else from DuckDB's
own extension directory; nothing is ever downloaded. Reading works without it, with
DuckDB's built-in AES, an order of magnitude slower; so the extension is loaded for reads too.

:func:`encrypt` and :func:`rotate_key` rewrite a whole file (``COPY FROM DATABASE``) next to
the original, check that the copy has the same data fingerprint, then swap it in; the
original stays as ``<file>.bak-<time>`` until the caller removes it (``finlib db`` keeps it
unless told otherwise).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import lazy_loader as lazy

from finlib.errors import ConfigError, WarehouseError

duckdb = lazy.load("duckdb")

ALIAS = "wh"
_EXT_WHEEL = "duckdb_ext"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def httpfs_path() -> Path | None:
    """The ``httpfs`` extension shipped by the ``duckdb-ext-httpfs`` wheel for the installed
    DuckDB, or None."""
    spec = importlib.util.find_spec(_EXT_WHEEL)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).glob(f"extensions/v{duckdb.__version__}/*/httpfs.duckdb_extension"))
        if found:
            return found[0]
    return None


def _load_httpfs(raw) -> None:
    raw.execute("SET autoinstall_known_extensions = false")  # never download anything
    path = httpfs_path()
    try:
        raw.execute(f"LOAD {_quote(str(path))}" if path else "LOAD httpfs")
    except Exception as exc:  # noqa: BLE001 - any failure means: no writable encryption here
        raise WarehouseError(
            f"Writing an encrypted warehouse needs DuckDB's httpfs extension for DuckDB "
            f"{duckdb.__version__}, which is not installed: pip install "
            f"'duckdb-ext-httpfs=={duckdb.__version__}.*'") from exc


def open_encrypted(path: Path, key: str, read_only: bool):
    """Open the DuckDB file ``path`` encrypted with ``key`` as the default database of a new
    in-memory instance. Raises :class:`WarehouseError` with a one-line message (never the
    key) when the key is wrong or the file is not encrypted; lock conflicts surface as
    ``duckdb.IOException`` for the caller's retry loop."""
    raw = duckdb.connect()
    try:
        try:  # OpenSSL's AES is ~15x faster than the built-in module, for reads too
            _load_httpfs(raw)
        except WarehouseError:
            if not read_only:
                raise
        opts = f"ENCRYPTION_KEY {_quote(key)}" + (", READ_ONLY" if read_only else "")
        try:
            raw.execute(f"ATTACH {_quote(str(path))} AS {ALIAS} ({opts})")
        except duckdb.IOException as exc:
            if "wrong encryption key" in str(exc).lower():
                raise WarehouseError(
                    f"FINLIB_DB_KEY does not open the warehouse {path}: wrong key.") from None
            raise
        except duckdb.Error as exc:
            if "is not encrypted" in str(exc):
                raise WarehouseError(
                    f"The warehouse {path} is not encrypted but FINLIB_DB_KEY is set: unset it, "
                    "or encrypt the file with `finlib db encrypt`.") from None
            raise WarehouseError(f"Cannot open {path}: {_scrub(str(exc), key)}") from None
        raw.execute(f"USE {ALIAS}")
        return raw
    except BaseException:
        raw.close()
        raise


def _scrub(message: str, key: str) -> str:
    return message.replace(key, "***") if key else message


def explain_plain_open_error(path: Path, exc: Exception) -> WarehouseError | None:
    """The one-line error for opening an encrypted file without ``FINLIB_DB_KEY``."""
    if "encrypted database" in str(exc) and "without a key" in str(exc):
        return WarehouseError(
            f"The warehouse {path} is encrypted: set FINLIB_DB_KEY to its key.")
    return None


def is_encrypted(path: Path) -> bool:
    """Whether the DuckDB file at ``path`` is encrypted (reads the header only)."""
    raw = duckdb.connect()
    try:
        raw.execute(f"ATTACH {_quote(str(path))} AS probe (READ_ONLY)")
    except duckdb.Error as exc:
        if "without a key" in str(exc):
            return True
        raise WarehouseError(f"Cannot open {path}: {exc}") from None
    finally:
        raw.close()
    return False


def _copy(src: Path, src_key: str | None, dst: Path, dst_key: str) -> None:
    raw = duckdb.connect()
    try:
        _load_httpfs(raw)
        src_opts = f"ENCRYPTION_KEY {_quote(src_key)}, READ_ONLY" if src_key else "READ_ONLY"
        try:
            raw.execute(f"ATTACH {_quote(str(src))} AS src ({src_opts})")
        except duckdb.Error as exc:
            raise WarehouseError(f"Cannot open {src}: {_scrub(_scrub(str(exc), src_key or ''), dst_key)}"
                                 ) from None
        raw.execute(f"ATTACH {_quote(str(dst))} AS dst (ENCRYPTION_KEY {_quote(dst_key)})")
        raw.execute("COPY FROM DATABASE src TO dst")
        raw.execute("DETACH dst")
    finally:
        raw.close()


def reencrypt(path: Path, old_key: str | None, new_key: str, fingerprint_of) -> Path:
    """Rewrite the DuckDB file ``path`` encrypted with ``new_key`` (``old_key`` None: the file
    is plaintext). ``fingerprint_of(path, key)`` computes the data fingerprint of a file.

    The new file is written beside the original and swapped in only when its fingerprint
    equals the original's; the original is kept as the returned backup path (private to
    the user). On any failure the original is untouched and the partial copy removed.
    """
    if not new_key:
        raise ConfigError("The new key is empty.")
    if old_key is not None and old_key == new_key:
        raise ConfigError("The new key is the same as the current one.")
    path = Path(path)
    if not path.exists():
        raise WarehouseError(f"No warehouse at {path}.")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    tmp = path.with_name(path.name + f".new-{stamp}")
    backup = path.with_name(path.name + f".bak-{stamp}")
    before = fingerprint_of(path, old_key)
    try:
        _copy(path, old_key, tmp, new_key)
        os.chmod(tmp, 0o600)
        after = fingerprint_of(tmp, new_key)
        if after != before:
            raise WarehouseError(
                f"The re-encrypted copy does not check out (fingerprint {after} != {before}); "
                f"{path} is unchanged.")
    except BaseException:
        for p in (tmp, Path(str(tmp) + ".wal")):
            p.unlink(missing_ok=True)
        raise
    os.replace(path, backup)
    os.chmod(backup, 0o600)
    os.replace(tmp, path)
    return backup
