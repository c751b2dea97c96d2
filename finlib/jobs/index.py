"""``reports/index.html`` and ``reports/runs.json``: the catalogue of every run.

The page is one self-contained file (vanilla JS, no network, readable from ``file://``):
the runs are embedded as compact JSON (columns + rows, jobs and statuses as small
integers; the start time is read from the sortable run id), filtered, sorted and paged in
the browser, so 10,000 runs stay well under a megabyte and open instantly.
``runs.json`` beside it holds the full rows for machines and makes the next rebuild
incremental (see :func:`finlib.jobs.archive.catalogue`). Both are written atomically,
under a lock, after each run.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path
from typing import Any

from filelock import FileLock

from finlib.jobs import archive


def _compact(rows: list[dict[str, Any]]) -> dict[str, Any]:
    jobs = sorted({r["job"] for r in rows})
    titles = {}
    for r in rows:
        titles.setdefault(r["job"], r.get("title") or r["job"])
    statuses = sorted({r["status"] or "unknown" for r in rows})
    jidx = {j: i for i, j in enumerate(jobs)}
    sidx = {s: i for i, s in enumerate(statuses)}
    out_rows = []
    for r in rows:
        d = r.get("duration_s")
        out_rows.append([
            r["run_id"], jidx[r["job"]], r["period"], r.get("variant") or "",
            sidx[r["status"] or "unknown"], round(d) if isinstance(d, (int, float)) else None,
            r.get("alerts") or 0, (r.get("error") or "")[:80],
        ])
    return {
        "jobs": jobs,
        "titles": [titles[j] for j in jobs],
        "statuses": statuses,
        "columns": ["run_id", "job", "period", "variant", "status", "duration_s", "alerts", "error"],
        "rows": out_rows,
    }


def render_index(rows: list[dict[str, Any]], generated_at: str | None = None) -> str:
    template = resources.files("finlib.jobs").joinpath("templates/index.html").read_text("utf-8")
    generated_at = generated_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = json.dumps(_compact(rows), separators=(",", ":"), ensure_ascii=False)
    # no string in the data can end the script element or open a comment inside it
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return template.replace("__GENERATED_AT__", generated_at).replace("__RUNS_JSON__", data)


def rebuild_index(reports: Path, lock_timeout: float = 120) -> Path:
    """Bring ``runs.json`` and ``index.html`` up to date; returns the index path."""
    reports.mkdir(parents=True, exist_ok=True)
    (reports / ".locks").mkdir(exist_ok=True)
    with FileLock(str(reports / ".locks" / "index.lock"), timeout=lock_timeout):
        rows = archive.load_catalogue(reports)
        cols = list(archive.CATALOGUE_FIELDS)
        runs = {
            "schema": "finlib.runs/1",
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "columns": cols,
            "rows": [[r.get(c) for c in cols] for r in rows],
        }
        archive.write_atomic(reports / "runs.json", json.dumps(runs, separators=(",", ":")))
        archive.write_atomic(reports / "index.html", render_index(rows))
    return reports / "index.html"
