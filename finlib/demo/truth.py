"""The demo truth file: where it lives, writing it atomically, reading it back.

The truth is stored in the warehouse itself (system table ``warehouse_meta``, key
``demo_truth``) on every backend, and for a DuckDB warehouse also as a file beside it
(``data/warehouse.duckdb`` -> ``data/warehouse.truth.json``) for people and other tools.
The keys are the contract of ``docs/CONTRACTS.md`` ("Demo truth file").
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from finlib.errors import DemoDataError, WarehouseError
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.schema import DEMO_TRUTH_KEY


def truth_path(wh) -> Path | None:
    """The truth file of a DuckDB warehouse ``wh`` (None for other backends)."""
    if wh.backend != "duckdb":
        return None
    if wh.path is None or str(wh.path) == ":memory:":
        return None
    return wh.path.with_name(wh.path.stem + ".truth.json")


def store_truth(batch, truth: dict) -> None:
    """Store ``truth`` in ``warehouse_meta`` inside an open write batch (so the demo data
    and its truth are committed together, or not at all)."""
    batch.delete("warehouse_meta", "key = :k", {"k": DEMO_TRUTH_KEY})
    batch.execute("INSERT INTO warehouse_meta (key, value, updated_at) VALUES (:k, :v, :t)",
                  {"k": DEMO_TRUTH_KEY, "v": json.dumps(truth, indent=2, sort_keys=False),
                   "t": dt.datetime.now().replace(microsecond=0)})


def write_truth_file(wh, truth: dict) -> Path | None:
    """Write ``truth`` beside a DuckDB warehouse (temporary file, then ``os.replace``).
    Returns the file path (None for other backends)."""
    path = truth_path(wh)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".truth-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(truth, indent=2, sort_keys=False) + "\n")
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
        wh = get_warehouse()

    try:
        with wh.connect(read_only=wh.backend == "duckdb") as conn:
            text = (conn.scalar("SELECT value FROM warehouse_meta WHERE key = :k", {"k": DEMO_TRUTH_KEY})
                    if conn.table_exists("warehouse_meta") else None)
    except WarehouseError:
        text = None  # no warehouse yet: fall back to the file, then to the message below
    if text:
        return json.loads(text)
    path = truth_path(wh)
    if path is not None and path.exists():
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    raise DemoDataError(
        f"No demo truth in {wh.display_url}: the warehouse was not filled by "
        "`finlib demo-data` (run `finlib demo-data --scale small --seed 42`)."
    )
