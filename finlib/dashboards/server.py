"""Starting the dashboard server: options, the safety checks, and Voilà's configuration.

The configuration that matters is committed in ``voila.json`` beside this file and is the
*only* Voilà/Jupyter config file read (``Voila.config_file_paths`` points here), so a stray
``~/.jupyter/voila.json`` cannot change what viewers get. Per-run values (port, address,
notebook folder, pool size) are passed as command-line options, which take precedence over
the file; secrets (token, password hash) are passed as a config object, never on a command
line and never left in the environment that kernels inherit.

Settings from the environment
-----------------------------
``PORT``                           port (default 8866)
``FINLIB_DB_URL``                  the warehouse of the server itself (logins, access log); kernels
                                   never get it on PostgreSQL (see "Kernel environment")
``FINLIB_DASHBOARD_DB_URL``        PostgreSQL only, required there: the kernels' connection with
                                   ``{role}`` for the user name, e.g.
                                   ``postgresql://{role}@db.internal:5432/finlib?sslmode=verify-full``
``FINLIB_DASHBOARD_PGPASSFILE``    libpq password file with one line per dashboard login role;
                                   kernels get it as ``PGPASSFILE`` (omit with certificate auth)
``FINLIB_DASHBOARD_ROLE_PREFIX``   the ``--prefix`` given to ``finlib access pg-setup`` (``finlib``)
``FINLIB_SESSION_KEY``             key of the login cookies and kernel grants (else random per run)
``FINLIB_TLS_CERT``                PEM certificate (chain): serve HTTPS only
                                   (``FINLIB_DASHBOARD_CERTFILE`` is the older name)
``FINLIB_TLS_KEY``                 PEM private key for the certificate (``FINLIB_DASHBOARD_KEYFILE``)

Every request needs a finlib login (``finlib users add``; ``finlib.dashboards.auth``) on every
address; ``--no-auth`` (loopback only, logged loudly) is for development.

Kernel environment
------------------
Every kernel (preheated or not) is started by :class:`ScopedKernelManager`, which replaces the
environment Voilà hands it by :func:`kernel_environment`: no owner connection, no ``PG*``
variable of the server, every warehouse connection read-only (``FINLIB_DB_READ_ONLY=1``).
On PostgreSQL the kernel gets the dashboard URL template instead, and its ``FINLIB_DB_URL``
names the reader role, which cannot log in: until :mod:`finlib.dashboards.query` has
verified the viewer's grant and chosen the login role of its scope, the kernel cannot read
anything. A server on PostgreSQL without ``FINLIB_DASHBOARD_DB_URL`` refuses to start, unless
``--unsafe-owner-db`` (development only, logged loudly) hands kernels the owner connection.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from jupyter_server.services.kernels.kernelmanager import ServerKernelManager
from traitlets.config import Config

from finlib import config
from finlib.access import pg
from finlib.dashboards.app import FinlibVoila
from finlib.dashboards.query import DB_TEMPLATE_ENV, ROLE_PREFIX_ENV
from finlib.errors import ConfigError
from finlib.warehouse.db import READ_ONLY_ENV, get_warehouse

CONFIG_DIR = Path(__file__).resolve().parent  # holds voila.json
DEFAULT_PORT = 8866
DEFAULT_IP = "127.0.0.1"
#: secrets of the former shared-token login: no longer read, still kept out of kernels
TOKEN_ENV = "FINLIB_DASHBOARD_TOKEN"
PASSWORD_HASH_ENV = "FINLIB_DASHBOARD_PASSWORD_HASH"
CERTFILE_ENV = "FINLIB_TLS_CERT"
KEYFILE_ENV = "FINLIB_TLS_KEY"
OLD_CERTFILE_ENV = "FINLIB_DASHBOARD_CERTFILE"
OLD_KEYFILE_ENV = "FINLIB_DASHBOARD_KEYFILE"
DB_PASSFILE_ENV = "FINLIB_DASHBOARD_PGPASSFILE"
#: set by ``--unsafe-owner-db``: kernels get the owner connection (development only)
UNSAFE_OWNER_DB_ENV = "FINLIB_DASHBOARD_UNSAFE_OWNER_DB"
#: variables of the server that never reach a kernel (besides every ``PG*`` variable)
KERNEL_DROPPED = ("FINLIB_DB_URL", "DATABASE_URL", DB_PASSFILE_ENV, UNSAFE_OWNER_DB_ENV)
#: a variable whose name says it holds a secret (the archive and audit keys, a new database
#: key, the Stripe endpoint secret, alert channels' passwords, tokens and webhook URLs, ...)
#: never reaches a kernel, except the two below, which kernels need
SECRET_NAME_RE = re.compile(r"KEY|SECRET|TOKEN|PASSW|CREDENTIAL|WEBHOOK|PRIVATE|DSN", re.IGNORECASE)
KERNEL_SECRETS_KEPT = ("FINLIB_SESSION_KEY", "FINLIB_DB_KEY")
#: a DuckDB file's key: kernels need it to read an encrypted file, never on PostgreSQL
DB_KEY_ENV = "FINLIB_DB_KEY"

log = logging.getLogger("finlib.dashboards.server")


def default_port() -> int:
    raw = os.environ.get("PORT") or str(DEFAULT_PORT)
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"PORT={raw!r} is not a port number: use e.g. PORT=8866") from None
    if not 0 < port < 65536:
        raise ConfigError(f"PORT={port} is out of range (1-65535)")
    return port


def is_loopback(ip: str) -> bool:
    """True if ``ip`` only accepts connections from this machine."""
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:  # '' (all interfaces), a host name, garbage
        return False


@dataclass
class ServeOptions:
    """Everything that varies between runs of the dashboard server."""

    port: int = field(default_factory=default_port)
    ip: str = DEFAULT_IP
    notebooks: Path = field(default_factory=config.notebooks_dir)
    pool_size: int | None = None  # None: voila.json's default_pool_size; 0: no preheating
    certfile: str | None = field(
        default_factory=lambda: os.environ.get(CERTFILE_ENV) or os.environ.get(OLD_CERTFILE_ENV) or None)
    keyfile: str | None = field(
        default_factory=lambda: os.environ.get(KEYFILE_ENV) or os.environ.get(OLD_KEYFILE_ENV) or None)
    log_level: str | None = None
    no_auth: bool = False
    unsafe_owner_db: bool = False  # PostgreSQL: kernels get the owner connection (development only)

    def check(self) -> None:
        """Raise :class:`ConfigError` for any unsafe or impossible combination."""
        nb = Path(self.notebooks)
        if not nb.is_dir():
            raise ConfigError(f"No notebook folder at {nb}: pass --notebooks DIR")
        if self.no_auth and not is_loopback(self.ip):
            raise ConfigError(
                f"Refusing --no-auth on {self.ip or 'all interfaces'}: anyone who can reach this "
                "address could read the data. --no-auth is for 127.0.0.1 only."
            )
        if self.keyfile and not self.certfile:
            raise ConfigError(f"{KEYFILE_ENV}/--keyfile given without a certificate (--certfile)")
        for label, path in (("certificate", self.certfile), ("key", self.keyfile)):
            if path and not Path(path).is_file():
                raise ConfigError(f"TLS {label} file {path} does not exist")
        if self.pool_size is not None and self.pool_size < 0:
            raise ConfigError("--pool-size must be 0 (no preheated kernels) or more")
        if self.unsafe_owner_db and not is_loopback(self.ip):
            raise ConfigError(f"Refusing --unsafe-owner-db on {self.ip or 'all interfaces'}: kernels would read "
                              "with the owner's connection. --unsafe-owner-db is for 127.0.0.1 only.")
        if not self.unsafe_owner_db:
            check_kernel_database(os.environ)

    def argv(self) -> list[str]:
        """Voilà command-line options (no secrets: those go in :meth:`secret_config`)."""
        args = [
            f"--Voila.config_file_paths={CONFIG_DIR}",
            f"--Voila.root_dir={Path(self.notebooks).resolve()}",
            f"--Voila.port={self.port}",
            f"--Voila.ip={self.ip}",
        ]
        if self.pool_size is not None:
            if self.pool_size == 0:
                args.append("--VoilaConfiguration.preheat_kernel=False")
            else:
                args.append(f"--VoilaConfiguration.default_pool_size={self.pool_size}")
        if self.certfile:
            args.append(f"--FinlibVoila.certfile={self.certfile}")
        if self.keyfile:
            args.append(f"--FinlibVoila.keyfile={self.keyfile}")
        if self.log_level:
            args.append(f"--Voila.log_level={self.log_level}")
        if self.no_auth:
            args.append("--FinlibVoila.no_auth=True")
        return args

    def secret_config(self):
        """A traitlets Config for what must stay off argv (nothing today: logins are users)."""
        return Config()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.ip in ("", "0.0.0.0") else self.ip
        return f"{'https' if self.certfile else 'http'}://{host}:{self.port}/"


def _scrub_environment() -> None:
    """Kernels inherit this process's environment: keep the viewers' secrets out of it."""
    for name in (TOKEN_ENV, PASSWORD_HASH_ENV):
        os.environ.pop(name, None)


# -- what kernels get ------------------------------------------------------------------------


def check_dashboard_url(template: str) -> str:
    """``template`` if it is a usable kernel connection: ``postgresql://{role}@HOST[:PORT]/DB[?...]``
    with ``{role}`` as the user name and no password (passwords go in the passfile)."""
    shown = template.split("@", 1)[-1]
    if not template.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise ConfigError(f"{DB_TEMPLATE_ENV} must be a postgresql:// URL (…@{shown})")
    netloc = urlparse(template).netloc
    user = netloc.rsplit("@", 1)[0] if "@" in netloc else ""
    if user != "{role}":
        raise ConfigError(f"{DB_TEMPLATE_ENV} must name the user as {{role}} and hold no password "
                          f"(postgresql://{{role}}@{shown}); put the login roles' passwords in "
                          f"{DB_PASSFILE_ENV}")
    return template


def check_kernel_database(env: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` when kernels could not be given a connection of their scope:
    the warehouse is PostgreSQL and ``FINLIB_DASHBOARD_DB_URL`` is missing or malformed, or
    the passfile named is missing or readable by others (libpq would ignore it)."""
    if get_warehouse(env.get("FINLIB_DB_URL") or config.db_url()).backend != "postgresql":
        return
    template = env.get(DB_TEMPLATE_ENV)
    if not template:
        raise ConfigError(
            f"The warehouse is PostgreSQL, and dashboard kernels must not read it with the owner's "
            f"connection: run `finlib access pg-setup --apply`, give the login roles passwords, and set "
            f"{DB_TEMPLATE_ENV}=postgresql://{{role}}@HOST:PORT/DB (and {DB_PASSFILE_ENV}); see "
            "docs/ACCESS.md. For development on 127.0.0.1 only: --unsafe-owner-db.")
    check_dashboard_url(template)
    pg.login_role(None, env.get(ROLE_PREFIX_ENV) or pg.PREFIX)  # a valid prefix
    passfile = env.get(DB_PASSFILE_ENV)
    if passfile:
        path = Path(passfile)
        if not path.is_file():
            raise ConfigError(f"{DB_PASSFILE_ENV}={passfile}: no such file")
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{DB_PASSFILE_ENV}={passfile} is readable by others: chmod 600 it "
                              "(libpq ignores such a file)")


def kernel_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a dashboard kernel, from the one Voilà would give it (``env``: the
    server's environment plus the request's variables).

    * every connection the kernel opens is read-only (``FINLIB_DB_READ_ONLY=1``);
    * no ``PG*`` variable of the server (its password, passfile, certificate) and no
      ``DATABASE_URL``;
    * no variable whose name says it holds a secret (:data:`SECRET_NAME_RE`: the archive and
      audit keys, the Stripe secret, alert channels' credentials ...) but the session key (to
      verify grants) and ``FINLIB_DB_KEY`` (to read an encrypted DuckDB file);
    * DuckDB: ``FINLIB_DB_URL`` is the file (and ``FINLIB_DB_KEY`` its key, if encrypted);
    * PostgreSQL: ``FINLIB_DASHBOARD_DB_URL`` (the template), ``PGPASSFILE`` (the dashboard
      passfile, if any) and, until the grant chooses a login role, ``FINLIB_DB_URL`` as the
      reader role, which may not log in (so nothing is read before the grant);
    * with ``--unsafe-owner-db``: the owner's ``FINLIB_DB_URL`` (development only).
    """
    owner_url = env.get("FINLIB_DB_URL") or config.db_url()
    out = {k: v for k, v in env.items() if k not in KERNEL_DROPPED and not k.startswith("PG")
           and (k in KERNEL_SECRETS_KEPT or not SECRET_NAME_RE.search(k))}
    out[READ_ONLY_ENV] = "1"
    if env.get(UNSAFE_OWNER_DB_ENV) == "1":
        out["FINLIB_DB_URL"] = owner_url
        return out
    if get_warehouse(owner_url).backend != "postgresql":
        out["FINLIB_DB_URL"] = owner_url
        return out
    check_kernel_database(env)
    out.pop(DB_KEY_ENV, None)
    prefix = env.get(ROLE_PREFIX_ENV) or pg.PREFIX
    out[DB_TEMPLATE_ENV] = env[DB_TEMPLATE_ENV]
    out["FINLIB_DB_URL"] = env[DB_TEMPLATE_ENV].replace("{role}", pg.reader_role(prefix))
    if env.get(DB_PASSFILE_ENV):
        out["PGPASSFILE"] = env[DB_PASSFILE_ENV]
    return out


class ScopedKernelManager(ServerKernelManager):
    """Starts every dashboard kernel, preheated or not, with :func:`kernel_environment`
    (configured as the kernel manager class in ``voila.json``)."""

    async def start_kernel(self, **kw):
        kw["env"] = kernel_environment(kw.get("env") or os.environ)
        return await super().start_kernel(**kw)


def serve(options: ServeOptions) -> int:
    """Run Voilà in this process until interrupted (SIGINT/SIGTERM). Returns an exit code."""
    options.check()
    _scrub_environment()
    os.environ.setdefault("FINLIB_DB_URL", config.db_url())  # the server's own warehouse
    if options.unsafe_owner_db:
        os.environ[UNSAFE_OWNER_DB_ENV] = "1"
        log.warning("finlib dashboards: --unsafe-owner-db: KERNELS READ THE WAREHOUSE WITH THE OWNER'S "
                    "CONNECTION (no row-level security)")
    else:
        os.environ.pop(UNSAFE_OWNER_DB_ENV, None)
    os.environ["FINLIB_DASHBOARD"] = "1"
    FinlibVoila.launch_instance(argv=options.argv(), config=options.secret_config())
    return 0
