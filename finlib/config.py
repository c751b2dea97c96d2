"""Where things live and how they are configured.

All settings come from the environment (secrets included, never from files in the repo):

``FINLIB_HOME``       project root (default: the checkout this package lives in, else cwd)
``FINLIB_DB_URL``     warehouse URL: ``duckdb:///ABS/PATH`` or ``duckdb://REL/PATH`` (default
                      ``data/warehouse.duckdb``)
                      or ``postgresql+psycopg://user:pass@host:port/db``
``FINLIB_DB_TIMEOUT`` seconds to wait for a busy DuckDB file before failing (default 15)
``FINLIB_REPORTS``    report archive folder (default ``reports/``)
``FINLIB_PARAMETERS`` job and rule folder (default ``parameters/``)
``FINLIB_DB_KEY``     key of an encrypted DuckDB warehouse (unset: the file is plaintext)
``FINLIB_REPORTING_CURRENCY`` ISO 4217 code every money figure is reported in (default ``USD``)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml


def project_root() -> Path:
    env = os.environ.get("FINLIB_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists() and (here / "finlib").is_dir():
        return here
    return Path.cwd().resolve()


def data_dir() -> Path:
    return project_root() / "data"


def default_db_url() -> str:
    return f"duckdb://{data_dir() / 'warehouse.duckdb'}"


def db_url() -> str:
    return os.environ.get("FINLIB_DB_URL") or default_db_url()


def db_timeout() -> float:
    return float(os.environ.get("FINLIB_DB_TIMEOUT", "15"))


def db_key() -> str | None:
    """The DuckDB warehouse's encryption key (``FINLIB_DB_KEY``), or None when unset."""
    return os.environ.get("FINLIB_DB_KEY") or None


def reports_dir() -> Path:
    env = os.environ.get("FINLIB_REPORTS")
    return Path(env).resolve() if env else project_root() / "reports"


def parameters_dir() -> Path:
    env = os.environ.get("FINLIB_PARAMETERS")
    return Path(env).resolve() if env else project_root() / "parameters"


def read_parameters_yaml(path: Path, error: type[Exception], what: str, default_name: str) -> Any:
    """Parse the YAML parameters file ``path`` (e.g. ``parameters/alerts.yaml``).

    A missing file or invalid YAML raises ``error`` with one message that names the file
    (and the line and column of a YAML error): ``what`` names the configuration in it,
    ``default_name`` the file to create under ``parameters/``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found (set FINLIB_PARAMETERS or "
                    f"create parameters/{default_name})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{path}:{at}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def parameters_mapping(data: Any, where: str, error: type[Exception]) -> dict:
    """The top level of a parsed parameters file: a mapping (an empty file is an empty one);
    anything else raises ``error`` naming ``where``."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def reporting_currency() -> str:
    """The ISO 4217 code that every reported money figure is converted to (default ``USD``)."""
    code = os.environ.get("FINLIB_REPORTING_CURRENCY", "USD").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"FINLIB_REPORTING_CURRENCY must be a three-letter ISO 4217 code, not {code!r}")
    return code


def check_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone (``UTC``, ``Europe/Berlin``); else ValueError with a
    message fit for a validation error (a settings validator's use)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, too long
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Berlin)") from None
    return name
