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
``FINLIB_DB_URL``                  the warehouse, read by the notebooks (see finlib.config)
``FINLIB_SESSION_KEY``             key of the login cookies and kernel grants (else random per run)
``FINLIB_TLS_CERT``                PEM certificate (chain): serve HTTPS only
                                   (``FINLIB_DASHBOARD_CERTFILE`` is the older name)
``FINLIB_TLS_KEY``                 PEM private key for the certificate (``FINLIB_DASHBOARD_KEYFILE``)

Every request needs a finlib login (``finlib users add``; ``finlib.dashboards.auth``) on every
address; ``--no-auth`` (loopback only, logged loudly) is for development.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from finlib import config
from finlib.dashboards.app import FinlibVoila
from finlib.errors import ConfigError

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


def serve(options: ServeOptions) -> int:
    """Run Voilà in this process until interrupted (SIGINT/SIGTERM). Returns an exit code."""
    options.check()
    _scrub_environment()
    os.environ.setdefault("FINLIB_DB_URL", config.db_url())  # every kernel reads the same warehouse
    os.environ["FINLIB_DASHBOARD"] = "1"
    FinlibVoila.launch_instance(argv=options.argv(), config=options.secret_config())
    return 0
