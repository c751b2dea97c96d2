"""Connecting to the warehouse: one small adapter over DuckDB and PostgreSQL.

Connections are short: open one for an operation, close it after. DuckDB lets one process
write *or* several processes read a file at a time; a conflicting open is retried with
back-off for ``FINLIB_DB_TIMEOUT`` seconds and then fails with :class:`WarehouseBusyError`,
never corrupting anything.

SQL is written once, with ``:name`` placeholders, in the common subset of DuckDB and
PostgreSQL; :func:`translate_params` rewrites placeholders for each driver.

Example
-------
>>> wh = Warehouse.from_url("duckdb:///tmp/w.duckdb")        # doctest: +SKIP
>>> with wh.connect(read_only=True) as conn:                # doctest: +SKIP
...     df = conn.query_df("SELECT * FROM customers WHERE segment = :s", {"s": "SMB"})
>>> with wh.transaction() as conn:                          # doctest: +SKIP
...     conn.execute("DELETE FROM alerts WHERE state = :st", {"st": "resolved"})
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import lazy_loader as lazy

from finlib import config
from finlib.errors import ConfigError, WarehouseBusyError, WarehouseError
from finlib.warehouse import encryption

PARAM_RE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
#: set (to ``1``) in a dashboard kernel's environment: every connection it opens is read-only
READ_ONLY_ENV = "FINLIB_DB_READ_ONLY"

# Loaded on first use: `import finlib.warehouse.db` stays cheap (no pandas, no drivers).
duckdb = lazy.load("duckdb")
pd = lazy.load("pandas")
psycopg = lazy.load("psycopg")



def translate_params(sql: str, backend: str) -> str:
    """Rewrite ``:name`` placeholders to ``$name`` (DuckDB) or ``%(name)s`` (psycopg).

    ``::`` casts are left alone. For psycopg, literal ``%`` is escaped.
    """
    if backend == "duckdb":
        return PARAM_RE.sub(r"$\1", sql)
    sql = sql.replace("%", "%%")
    return PARAM_RE.sub(r"%(\1)s", sql)


class Connection:
    """A thin, backend-neutral wrapper. ``raw`` is the driver connection."""

    def __init__(self, raw: Any, backend: str):
        self.raw = raw
        self.backend = backend

    # -- statements ----------------------------------------------------------------
    def _run(self, sql: str, params: dict | None, read):
        """Run one statement with ``:name`` placeholders; return ``read(cursor)`` (read
        before a PostgreSQL cursor closes). Driver errors become :class:`WarehouseError`
        with the statement."""
        try:
            if self.backend == "duckdb":
                cur = self.raw.execute(translate_params(sql, "duckdb"), params) if params else self.raw.execute(sql)
                return read(cur)
            with self.raw.cursor() as cur:
                cur.execute(translate_params(sql, "postgresql") if params else sql, params or None)
                return read(cur)
        except Exception as exc:
            raise WarehouseError(f"{exc}\n  in SQL: {_short(sql)}") from exc

    def execute(self, sql: str, params: dict | None = None) -> Connection:
        self._run(sql, params, lambda cur: None)
        return self

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        on_duckdb = self.backend == "duckdb"  # a PostgreSQL statement without a result has no rows
        return self._run(sql, params, lambda cur: cur.fetchall() if on_duckdb or cur.description else [])

    def scalar(self, sql: str, params: dict | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def query_df(self, sql: str, params: dict | None = None):
        """Run a query and return a pandas DataFrame (DECIMAL columns stay Decimal on PG,
        become float64 on DuckDB only if the SQL casts them; cast in SQL for floats)."""
        def read(cur):
            if self.backend == "duckdb":
                return cur.df()
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

        return self._run(sql, params, read)

    def table_exists(self, name: str) -> bool:
        if self.backend == "duckdb":
            sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = :n AND table_schema = 'main'"
        else:
            sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = :n AND table_schema = current_schema()"
        return bool(self.scalar(sql, {"n": name}))

    def columns(self, table: str) -> list[str]:
        schema = "'main'" if self.backend == "duckdb" else "current_schema()"
        rows = self.query(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_name = :t AND table_schema = {schema} ORDER BY ordinal_position",
            {"t": table},
        )
        return [r[0] for r in rows]


def _short(sql: str, n: int = 300) -> str:
    s = " ".join(sql.split())
    return s if len(s) <= n else s[:n] + " ..."


@dataclass(frozen=True)
class Warehouse:
    """A warehouse location. Cheap to create; opens nothing until asked."""

    url: str
    backend: str  # 'duckdb' | 'postgresql'
    path: Path | None = None  # DuckDB file
    dsn: str | None = None  # PostgreSQL conninfo for psycopg
    read_only: bool = False  # every connection read-only, even a transaction (dashboard kernels)

    @classmethod
    def from_url(cls, url: str | None = None) -> Warehouse:
        """The warehouse at ``url`` (default ``FINLIB_DB_URL``); read-only when
        ``FINLIB_DB_READ_ONLY=1`` (what the dashboard server sets for its kernels)."""
        wh = cls._from_url(url or config.db_url())
        if os.environ.get(READ_ONLY_ENV) == "1":
            wh = cls(url=wh.url, backend=wh.backend, path=wh.path, dsn=wh.dsn, read_only=True)
        return wh

    @classmethod
    def _from_url(cls, url: str) -> Warehouse:
        if url.startswith("duckdb://"):
            # duckdb:///abs/path (like file:///), duckdb://rel/path (relative to the project)
            raw = url[len("duckdb://"):]
            if raw in (":memory:", "/:memory:"):
                return cls(url=url, backend="duckdb", path=Path(":memory:"))
            p = Path("/" + raw.lstrip("/")) if raw.startswith("/") else config.project_root() / raw
            return cls(url=url, backend="duckdb", path=p)
        if url.startswith(("postgresql", "postgres")):
            parsed = urlparse(url)
            scheme = parsed.scheme.split("+")[0]
            dsn = parsed._replace(scheme="postgresql" if scheme in ("postgresql", "postgres") else scheme).geturl()
            return cls(url=url, backend="postgresql", dsn=dsn)
        raise ConfigError(
            f"FINLIB_DB_URL={url!r} is not understood: use duckdb:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DBNAME"
        )

    # -- display -------------------------------------------------------------------
    @property
    def display_url(self) -> str:
        """The URL with any password masked (safe to print or log)."""
        if self.backend == "duckdb":
            return f"duckdb://{self.path}"
        p = urlparse(self.url)
        if p.password:
            netloc = p.netloc.replace(f":{p.password}@", ":***@")
            return p._replace(netloc=netloc).geturl()
        return self.url

    # -- connecting ----------------------------------------------------------------
    def _open(self, read_only: bool, timeout: float | None = None):
        read_only = read_only or self.read_only
        if self.backend == "duckdb":
            assert self.path is not None
            if str(self.path) != ":memory:":
                if read_only and not self.path.exists():
                    raise WarehouseError(
                        f"No warehouse at {self.path}. Create one with `finlib db init` "
                        "or `finlib demo-data`."
                    )
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = config.db_key() if str(self.path) != ":memory:" else None
            wait = config.db_timeout() if timeout is None else timeout
            deadline = time.monotonic() + wait
            delay = 0.05
            while True:
                try:
                    if key is not None:  # encrypted with FINLIB_DB_KEY (finlib.warehouse.encryption)
                        return encryption.open_encrypted(self.path, key, read_only)
                    return duckdb.connect(str(self.path), read_only=read_only)
                except duckdb.CatalogException as exc:
                    raise (encryption.explain_plain_open_error(self.path, exc)
                           or WarehouseError(f"Cannot open {self.path}: {exc}")) from None
                except duckdb.IOException as exc:
                    msg = str(exc)
                    if "lock" not in msg.lower():
                        raise WarehouseError(f"Cannot open {self.path}: {msg}") from exc
                    if time.monotonic() >= deadline:
                        raise WarehouseBusyError(
                            f"The warehouse {self.path} is busy: another process is writing to it "
                            f"(waited {wait:.0f} s). Try again when it finishes, or "
                            "raise FINLIB_DB_TIMEOUT."
                        ) from exc
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
                except duckdb.ConnectionException as exc:
                    # same process already has the file open with another configuration
                    raise WarehouseError(f"Cannot open {self.path}: {exc}") from exc
        try:
            conn = psycopg.connect(self.dsn, connect_timeout=max(1, int(config.db_timeout() if timeout is None else timeout)))
        except psycopg.OperationalError as exc:
            raise WarehouseError(f"Cannot connect to {self.display_url}: {exc}") from exc
        if read_only:
            conn.read_only = True
        return conn

    @contextmanager
    def connect(self, read_only: bool = False, timeout: float | None = None) -> Iterator[Connection]:
        """Open a connection for one operation. On PostgreSQL the work is committed on
        normal exit and rolled back on error; on DuckDB statements autocommit unless run
        inside :meth:`transaction`. ``timeout`` (seconds) overrides ``FINLIB_DB_TIMEOUT`` for
        how long a busy DuckDB file is waited for."""
        raw = self._open(read_only, timeout)
        conn = Connection(raw, self.backend)
        try:
            yield conn
            if self.backend == "postgresql" and not read_only:
                raw.commit()
        except BaseException:
            if self.backend == "postgresql":
                raw.rollback()
            raise
        finally:
            raw.close()

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[Connection]:
        """One all-or-nothing transaction: committed on normal exit, rolled back on error.
        ``timeout`` as in :meth:`connect`."""
        raw = self._open(read_only=False, timeout=timeout)
        conn = Connection(raw, self.backend)
        try:
            if self.backend == "duckdb":
                raw.execute("BEGIN TRANSACTION")
            yield conn
            try:
                raw.commit()
            except Exception as exc:  # any driver error at commit (e.g. a deferred
                # PostgreSQL foreign key) becomes the one WarehouseError callers handle
                raise WarehouseError(f"the transaction could not be committed, nothing was written: "
                                     f"{exc}") from exc
        except BaseException:
            try:
                raw.rollback()
            except Exception:  # noqa: BLE001 - a failed rollback must not mask the original error
                pass
            raise
        finally:
            raw.close()

    def exists(self) -> bool:
        if self.backend == "duckdb":
            return self.path is not None and (str(self.path) == ":memory:" or self.path.exists())
        return True


def get_warehouse(url: str | None = None) -> Warehouse:
    """The warehouse named by ``url`` or ``FINLIB_DB_URL`` (default ``data/warehouse.duckdb``)."""
    return Warehouse.from_url(url)
