"""The report archive: the only state the jobs need.

Layout (README.md, "Archive layout")::

    reports/
      index.html                 every run, sortable and filterable (data embedded, offline)
      runs.json                  the same catalogue for machines (rebuilt incrementally)
      _static/plotly.min.js      plotly.js, once, referenced by every report
      _static/report-<hash>.css  the reports' stylesheet, once (content-addressed: never changes)
      _static/finlib-charts.js   draws the charts of every report (reports carry no inline script)
      .locks/                    file locks (scheduler: job+variant+period; the index)
      <job>/<period>/<run_id>/   report.html, notebook.ipynb, manifest.json
      <job>/<period>/.tmp-<run_id>/   a run being written (never listed, renamed when done)

A run folder appears with one ``os.rename`` of its complete temporary folder beside it,
so readers never see half a run; a run id is never reused, so nothing is overwritten.
Published runs are immutable: the catalogue reads each manifest once and afterwards only
lists folders, which keeps rebuilding the index fast with tens of thousands of runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lazy_loader as lazy

from finlib.audit.manifest import stamp_manifest
from finlib.errors import JobError
from finlib.jobs.report import CHARTS_JS, CHARTS_JS_NAME, stylesheet

plotly = lazy.load("plotly")  # only for its version and bundled plotly.js

MANIFEST = "manifest.json"
REPORT = "report.html"
NOTEBOOK = "notebook.ipynb"
MANIFEST_SCHEMA = "finlib.run-manifest/1"
STATIC = "_static"
PLOTLY_JS = "plotly.min.js"
TMP_PREFIX = ".tmp-"


# -- ids and paths --------------------------------------------------------------------

def new_run_id(now: dt.datetime | None = None) -> str:
    """``20240402T060000123Z-3f9a1c``: UTC time to the millisecond plus 24 random bits.

    Sorts by start time as plain text; the random tail keeps ids unique across processes.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(3)


def run_dir(reports: Path, job: str, period: str, run_id: str) -> Path:
    return reports / job / period / run_id


def temp_run_dir(reports: Path, job: str, period: str, run_id: str) -> Path:
    """A fresh, empty temporary folder beside the final one (same file system)."""
    d = reports / job / period / f"{TMP_PREFIX}{run_id}"
    d.mkdir(mode=0o700, parents=True, exist_ok=False)
    return d


def publish(tmp: Path, final: Path) -> Path:
    """Make a complete run visible in one rename. Never replaces an existing run."""
    if final.exists():
        raise JobError(f"run folder {final} already exists; refusing to overwrite it")
    stamp_manifest(tmp / MANIFEST)  # the audit trail's head and the parameters' hash; never raises
    os.rename(tmp, final)
    return final


def sweep_stale_temp(reports: Path, older_than_s: float = 24 * 3600) -> list[Path]:
    """Remove temporary run folders left by crashed runs (older than ``older_than_s``)."""
    removed = []
    cutoff = time.time() - older_than_s
    for d in reports.glob(f"*/*/{TMP_PREFIX}*"):
        try:
            if d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
        except FileNotFoundError:
            pass
    return removed


# -- atomic files ---------------------------------------------------------------------

def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # private to the workbench's user
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def sha256_file(path: Path) -> str:
    """The file's sha256 (hex), streamed by :func:`hashlib.file_digest`."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def ensure_static(reports: Path) -> Path:
    """Copy plotly.js from the plotly package into ``reports/_static/`` once, and write
    the reports' shared stylesheet (:func:`ensure_stylesheet`) and chart script
    (``finlib-charts.js``, :data:`finlib.jobs.report.CHARTS_JS`)."""
    ensure_stylesheet(reports)
    charts = reports / STATIC / CHARTS_JS_NAME
    if not charts.exists() or charts.read_text(encoding="utf-8") != CHARTS_JS:
        write_atomic(charts, CHARTS_JS)
    target = reports / STATIC / PLOTLY_JS
    stamp = reports / STATIC / "plotly.version"
    version = plotly.__version__
    src = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if target.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return target
    write_atomic(target, src.read_bytes())
    write_atomic(stamp, version + "\n")
    return target


def ensure_stylesheet(reports: Path) -> str:
    """Write ``_static/report-<hash>.css`` if missing; return its file name.

    The name is a hash of the content, so an existing file is never rewritten and reports
    published with an older stylesheet keep it.
    """
    name, css = stylesheet()
    target = reports / STATIC / name
    if not target.exists():
        write_atomic(target, css)
    return name


# -- reading the archive ----------------------------------------------------------------

def read_manifest(run_path: Path) -> dict[str, Any]:
    return json.loads((run_path / MANIFEST).read_text(encoding="utf-8"))


def iter_run_dirs(reports: Path) -> Iterator[tuple[str, str, str, Path]]:
    """``(job, period, run_id, path)`` of every published run (temporary folders skipped).

    Symbolic links are not followed at any level: the workbench writes none, and a linked
    job, period or run folder would take the catalogue (and retention, which deletes what it
    lists) outside the archive."""
    if not reports.is_dir():
        return
    with os.scandir(reports) as jobs:
        for j in jobs:
            if not j.is_dir(follow_symlinks=False) or j.name.startswith((".", "_")):
                continue
            with os.scandir(j.path) as periods:
                for p in periods:
                    if not p.is_dir(follow_symlinks=False) or p.name.startswith("."):
                        continue
                    with os.scandir(p.path) as runs:
                        for r in runs:
                            if r.is_dir(follow_symlinks=False) and not r.name.startswith("."):
                                yield j.name, p.name, r.name, Path(r.path)


CATALOGUE_FIELDS = (
    "run_id", "job", "period", "variant", "status", "started_at", "duration_s",
    "alerts", "title", "trigger", "error",
)


def summarise(manifest: dict[str, Any]) -> dict[str, Any]:
    """The catalogue row of one manifest (what the index and ``reports list`` show)."""
    err = manifest.get("error") or {}
    return {
        "run_id": manifest.get("run_id"),
        "job": manifest.get("job"),
        "period": manifest.get("period"),
        "variant": manifest.get("variant_label", ""),
        "status": manifest.get("status"),
        "started_at": manifest.get("started_at"),
        "duration_s": manifest.get("duration_s"),
        "alerts": len(manifest.get("alerts") or []),
        "title": manifest.get("title", ""),
        "trigger": manifest.get("trigger", ""),
        "error": (err.get("type", "") + (": " + err["message"][:160] if err.get("message") else "")) if err else "",
    }


def catalogue(reports: Path, previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every published run, newest first.

    ``previous`` (the last ``runs.json``) lets unchanged runs skip reading their manifest:
    published runs never change, so only new folders are read; vanished ones drop out.
    """
    known = {(r["job"], r["period"], r["run_id"]): r for r in (previous or [])}
    rows = []
    for job, period, run_id, path in iter_run_dirs(reports):
        row = known.get((job, period, run_id))
        if row is None:
            try:
                row = summarise(read_manifest(path))
            except (OSError, ValueError):
                continue  # not a run folder (or unreadable): not listed
            row["job"], row["period"], row["run_id"] = job, period, run_id
        rows.append(row)
    rows.sort(key=lambda r: r["run_id"] or "", reverse=True)
    return rows


def load_catalogue(reports: Path) -> list[dict[str, Any]]:
    """Read ``runs.json`` and bring it up to date (without writing anything)."""
    return catalogue(reports, _read_runs_json(reports))


def _read_runs_json(reports: Path) -> list[dict[str, Any]] | None:
    try:
        data = json.loads((reports / "runs.json").read_text(encoding="utf-8"))
        if data.get("schema") != "finlib.runs/1":
            return None
        cols = data["columns"]
        return [dict(zip(cols, row, strict=True)) for row in data["rows"]]
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def find_run(reports: Path, run_id: str) -> Path:
    """The folder of ``run_id`` (a unique prefix is enough)."""
    hits = [p for _, _, rid, p in iter_run_dirs(reports) if rid == run_id]
    if not hits:
        hits = [p for _, _, rid, p in iter_run_dirs(reports) if rid.startswith(run_id)]
    if not hits:
        raise JobError(f"no run {run_id!r} in {reports} (see `finlib reports list`)")
    if len(hits) > 1:
        raise JobError(f"{run_id!r} matches {len(hits)} runs; give more of the id")
    return hits[0]


def last_runs(reports: Path) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Runs grouped by ``(job, variant, period)``, oldest first (the scheduler's state)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in sorted(load_catalogue(reports), key=lambda r: r["run_id"]):
        groups.setdefault((row["job"], row["variant"] or "", row["period"]), []).append(row)
    return groups
