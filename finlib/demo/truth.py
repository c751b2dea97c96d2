"""The demo truth file: where it lives, writing it atomically, reading it back.

DuckDB warehouse ``data/warehouse.duckdb`` -> ``data/warehouse.truth.json`` (beside it).
PostgreSQL ``postgresql://user@host:port/db`` -> ``data/demo-truth-<host>-<port>-<db>.json``
under the project's ``data/`` folder (``FINLIB_HOME``). The keys are the contract of
``docs/CONTRACTS.md`` ("Demo truth file").
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from finlib import config
from finlib.errors import DemoDataError


def truth_path(wh) -> Path:
    """Where the truth file of warehouse ``wh`` lives."""
    if wh.backend == "duckdb":
        if wh.path is None or str(wh.path) == ":memory:":
            return config.data_dir() / "memory.truth.json"
        return wh.path.with_name(wh.path.stem + ".truth.json")
    p = urlparse(wh.url)
    db = (p.path or "/").lstrip("/") or "postgres"
    raw = f"{p.hostname or 'localhost'}-{p.port or 5432}-{db}"
    return config.data_dir() / f"demo-truth-{re.sub(r'[^A-Za-z0-9_.-]', '_', raw)}.json"


def write_truth(wh, truth: dict) -> Path:
    """Write ``truth`` beside the warehouse (temporary file, then ``os.replace``)."""
    path = truth_path(wh)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".truth-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(truth, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_truth(wh=None) -> dict:
    """The planted truth of the demo data in warehouse ``wh`` (default: FINLIB_DB_URL).

    Raises
    ------
    DemoDataError
        When no truth file exists (the warehouse was not filled by ``finlib demo-data``).
    """
    if wh is None:
        from finlib.warehouse.db import get_warehouse

        wh = get_warehouse()
    path = truth_path(wh)
    if not path.exists():
        raise DemoDataError(
            f"No demo truth file at {path}: the warehouse {wh.display_url} was not filled by "
            "`finlib demo-data` (run `finlib demo-data --scale small --seed 42`)."
        )
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
