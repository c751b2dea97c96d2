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


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def reporting_currency() -> str:
    """The ISO 4217 code that every reported money figure is converted to (default ``USD``)."""
    code = os.environ.get("FINLIB_REPORTING_CURRENCY", "USD").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"FINLIB_REPORTING_CURRENCY must be a three-letter ISO 4217 code, not {code!r}")
    return code
