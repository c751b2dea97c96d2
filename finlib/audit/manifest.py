"""What a report manifest carries from the audit trail: the head and the parameters' hash."""

from __future__ import annotations

import json
import os
from pathlib import Path

from finlib.audit.parameters import parameters_state
from finlib.audit.verify import head_of
from finlib.warehouse.db import Warehouse


def audit_stamp(db_url: str | None = None) -> dict:
    """``{"head": {"seq", "hash"}, "parameters_sha256": …}``; a ``reason`` instead of the head
    when the warehouse cannot be read (never raises)."""
    out: dict = {"parameters_sha256": parameters_state()["sha256"]}
    try:
        wh = Warehouse.from_url(db_url)
        if wh.backend == "duckdb" and wh.path is not None and str(wh.path) != ":memory:" and not wh.path.exists():
            out["reason"] = f"no warehouse at {wh.path}"
        else:
            out["head"] = head_of(wh)
    except Exception as exc:  # noqa: BLE001 - stamping must never fail a run
        out["reason"] = f"{type(exc).__name__}: {exc}"
    return out


def stamp_manifest(path: Path, db_url: str | None = None) -> None:
    """Add ``audit`` (see :func:`audit_stamp`) to the manifest at ``path``, atomically.
    Never raises: a manifest that cannot be stamped is left as it was."""
    try:
        if not path.exists():
            return
        m = json.loads(path.read_text(encoding="utf-8"))
        if "audit" in m:
            return
        m["audit"] = audit_stamp(db_url)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(m, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError):
        return
