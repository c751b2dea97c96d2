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
import threading
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


class _Host:
    """One in-memory DuckDB instance holding an encrypted file attached, shared by every
    connection this process opens to that file in that mode (DuckDB allows a file to be
    attached once per process; the extension is loaded once)."""

    def __init__(self, raw, read_only: bool, key_hash: int):
        self.raw, self.read_only, self.key_hash, self.refs = raw, read_only, key_hash, 0


class SharedConnection:
    """A DuckDB connection (a cursor of the shared instance); :meth:`close` releases the
    instance, which detaches the file when its last connection closes."""

    def __init__(self, cursor, release):
        self._cursor, self._release = cursor, release

    def __getattr__(self, name):
        return getattr(self._cursor, name)

    def close(self) -> None:
        if self._release is not None:
            self._cursor.close()
            self._release()
            self._release = None


_HOSTS: dict[str, _Host] = {}
_LOCK = threading.Lock()


def _attach(path: Path, key: str, read_only: bool):
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
        return raw
    except BaseException:
        raw.close()
        raise


def open_encrypted(path: Path, key: str, read_only: bool):
    """A connection to the DuckDB file ``path`` encrypted with ``key``, with the file as the
    default database. Raises :class:`WarehouseError` with a one-line message (never the key)
    when the key is wrong or the file is not encrypted; lock conflicts with other processes
    surface as ``duckdb.IOException`` for the caller's retry loop. Connections in one process
    share one instance per file (as DuckDB's own connection cache does for plain files); a
    read-write and a read-only connection cannot be open at once, as with plain files."""
    name = str(Path(path).resolve())
    with _LOCK:
        host = _HOSTS.get(name)
        if host is not None and (host.read_only != read_only or host.key_hash != hash(key)):
            raise WarehouseError(f"Cannot open {path}: this process already has it open "
                                 f"{'read-only' if host.read_only else 'for writing'}.")
        if host is None:
            host = _HOSTS[name] = _Host(_attach(path, key, read_only), read_only, hash(key))
        cursor = host.raw.cursor()
        try:
            cursor.execute(f"USE {ALIAS}")
        except BaseException:
            cursor.close()
            raise
        host.refs += 1

    def release() -> None:
        with _LOCK:
            host.refs -= 1
            if host.refs == 0:
                _HOSTS.pop(name, None)
                host.raw.close()

    return SharedConnection(cursor, release)


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
