"""Execute one run and archive it: the function every executor ships to a worker.

:func:`run_one` takes a plain, picklable request dict (see :func:`finlib.jobs.batch.plan`)
and returns the run's manifest. It never raises for a notebook problem: a failing cell
(``PapermillExecutionError``), a cell timeout (nbclient ``CellTimeoutError``), a dead
kernel (``DeadKernelError``, retried with back-off) or a kernel that would not start
(retried) all end in a run archived as *failed*, with the executed notebook and its HTML.

Sequence (all writes go to ``<job>/<period>/.tmp-<run_id>/``, renamed when complete)::

    fingerprint warehouse -> papermill (retry on dead kernel) -> mark failing cell
    -> read scraps -> alerts -> report.html -> `runs` row -> manifest.json -> rename

Alerts: the runner evaluates the rules once per period for a whole batch, before it
dispatches the runs (the rules read only the warehouse, which runs do not change), and
passes the result in ``req["alerts_shared"]``; every run records it in its manifest and
report. A request without it (a run started on its own) evaluates the rules itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import platform
import shutil
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lazy_loader as lazy

from finlib.alerts import check
from finlib.jobs import archive
from finlib.jobs.kernel import IPCKernelManager
from finlib.jobs.report import notebook_to_html
from finlib.periods import parse_period
from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.status import fingerprint

# papermill, nbclient, nbformat and scrapbook take seconds to import: loaded on first use.
nbclient = lazy.load("nbclient")
nbformat = lazy.load("nbformat")
pm = lazy.load("papermill")
sb = lazy.load("scrapbook")

log = logging.getLogger("finlib.jobs")

SUCCEEDED = "succeeded"
FAILED = "failed"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds")


class _Tracker:
    """nbclient hooks: when the kernel became ready and which cell is running."""

    def __init__(self, emit: Callable[..., None], n_cells: int):
        self.kernel_ready: float | None = None
        self.cell_index: int | None = None
        self.emit = emit
        self.n_cells = n_cells

    def on_notebook_start(self, notebook=None, **_):
        self.kernel_ready = time.perf_counter()
        self.emit("running", cell=0, cells=self.n_cells)

    def on_cell_start(self, cell=None, cell_index=None, **_):
        self.cell_index = cell_index
        self.emit("running", cell=(cell_index or 0) + 1, cells=self.n_cells)


def warehouse_fingerprint(db_url: str | None) -> dict[str, Any]:
    """``{"value": ..., "reason": None}`` or ``{"value": None, "reason": why}``.

    Uses :func:`finlib.warehouse.status.fingerprint`; never creates a warehouse file as a
    side effect.
    """
    try:
        wh = Warehouse.from_url(db_url)
        if not wh.exists():
            return {"value": None, "reason": f"no warehouse at {wh.path}"}
        value = fingerprint(wh)
        if hasattr(value, "_asdict"):
            value = value._asdict()
        elif hasattr(value, "__dataclass_fields__"):
            value = dataclasses.asdict(value)
        return {"value": json.loads(json.dumps(value, default=str)), "reason": None}
    except Exception as exc:  # noqa: BLE001 - a fingerprint must never fail a run
        return {"value": None, "reason": f"{type(exc).__name__}: {exc}"}


def evaluate_alerts(db_url: str | None, period: str) -> tuple[list[dict], dict[str, Any]]:
    """Run :func:`finlib.alerts.check` for ``period``; never raises (a failure is noted)."""
    try:
        wh = Warehouse.from_url(db_url)
        found = check(wh, parse_period(period)) or []
        items = [dict(a) if not isinstance(a, dict) else a for a in found]
        items = json.loads(json.dumps(items, default=str))
        for a in items:
            a.setdefault("source", "rules")
        return items, {"status": "ok", "note": None}
    except Exception as exc:  # noqa: BLE001
        note = f"alert rules failed: {type(exc).__name__}: {exc}"
        log.warning(note)
        return [], {"status": "error", "note": note}


def _execute_attempt(req: dict, out_nb: Path, emit: Callable[..., None]) -> dict[str, Any]:
    """One papermill execution. Returns timings and the error (or ``None``)."""
    t_setup = time.perf_counter()
    nb_in = nbformat.read(req["notebook"], as_version=4)
    tracker = _Tracker(emit, n_cells=len(nb_in.cells) + (1 if req["parameters"] else 0))
    t0 = time.perf_counter()
    setup_s = t0 - t_setup
    error = None
    try:
        pm.execute_notebook(
            req["notebook"],
            str(out_nb),
            parameters=req["parameters"],
            kernel_name=req["kernel"],
            progress_bar=False,
            log_output=False,
            start_timeout=req["start_timeout"],
            execution_timeout=req["timeout"],
            kernel_manager_class=IPCKernelManager,
            on_notebook_start=tracker.on_notebook_start,
            on_cell_start=tracker.on_cell_start,
            # the kernel's working directory: the notebook's folder (no chdir of this
            # process, which may run other tasks in threads, e.g. a dask worker)
            resources={"metadata": {"path": str(Path(req["notebook"]).parent)}},
        )
    except pm.PapermillExecutionError as exc:
        error = {"type": "PapermillExecutionError", "ename": exc.ename, "message": f"{exc.ename}: {exc.evalue}",
                 "cell_index": None, "retryable": False}
    except nbclient.exceptions.CellTimeoutError as exc:
        error = {"type": "CellTimeoutError", "ename": "CellTimeoutError",
                 "message": f"a cell ran longer than the job's timeout of {req['timeout']:g} s ({exc})".strip(),
                 "cell_index": tracker.cell_index, "retryable": False}
    except nbclient.exceptions.DeadKernelError as exc:
        error = {"type": "DeadKernelError", "ename": "DeadKernelError",
                 "message": f"the kernel died (often out of memory or killed): {exc}",
                 "cell_index": tracker.cell_index, "retryable": True}
    except Exception as exc:  # noqa: BLE001 - kernel would not start, papermill/nbclient internals, I/O
        started = tracker.kernel_ready is not None
        error = {"type": type(exc).__name__, "ename": type(exc).__name__,
                 "message": (str(exc) or repr(exc)) if started
                 else f"the kernel did not start within {req['start_timeout']:g} s: {exc}",
                 "cell_index": tracker.cell_index, "retryable": not started,
                 "traceback": traceback.format_exc(limit=8)}
    t1 = time.perf_counter()
    ready = tracker.kernel_ready
    return {
        "error": error,
        "setup_s": round(setup_s, 3),
        "kernel_start_s": round((ready or t1) - t0, 3),
        "execution_s": round(t1 - ready, 3) if ready else 0.0,
    }


def _mark_failure(out_nb: Path, req: dict, error: dict) -> None:
    """Make the failing cell visible in the executed notebook (and so in the HTML)."""
    if out_nb.exists():
        nb = nbformat.read(str(out_nb), as_version=4)
    else:  # papermill never wrote it (kernel did not start): archive the input
        nb = nbformat.read(req["notebook"], as_version=4)
    idx = None
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            idx = i
            break
    if idx is None and error.get("cell_index") is not None and error["cell_index"] < len(nb.cells):
        idx = error["cell_index"]
        cell = nb.cells[idx]
        if cell.cell_type == "code":
            cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                "error", ename=error["ename"], evalue=error["message"],
                traceback=[f"{error['ename']}: {error['message']}"]))
    if idx is None:
        banner = nbformat.v4.new_markdown_cell(
            f"**This run failed before any cell ran:** {error['type']}: {error['message']}")
        banner.metadata["finlib"] = {"failed": True}
        nb.cells.insert(0, banner)
    else:
        nb.cells[idx].setdefault("metadata", {})["finlib"] = {"failed": True}
        error["cell_index"] = idx
    nb.metadata.setdefault("finlib", {})["error"] = {k: error[k] for k in ("type", "message", "cell_index")}
    nbformat.write(nb, str(out_nb))


def read_scraps(nb_path: Path) -> dict[str, Any]:
    """Scraps glued in the executed notebook (name -> data), read with scrapbook."""
    try:
        nb = sb.read_notebook(str(nb_path))
        return {name: scrap.data for name, scrap in nb.scraps.items()}
    except Exception as exc:  # noqa: BLE001 - a run with unreadable scraps is still archived
        log.warning("could not read scraps from %s: %s", nb_path, exc)
        return {}


def _alerts_from_scrap(scraps: dict[str, Any]) -> list[dict]:
    raw = scraps.get("alerts")
    if isinstance(raw, dict):
        raw = raw.get("items") or raw.get("alerts") or [raw]
    out = []
    for a in raw or []:
        item = dict(a) if isinstance(a, dict) else {"message": str(a)}
        item.setdefault("source", "notebook")
        out.append(item)
    return json.loads(json.dumps(out, default=str))


def _alert_key(a: dict) -> tuple:
    entity = a.get("entity")
    entity = json.dumps(entity, sort_keys=True, default=str) if isinstance(entity, dict) else str(entity)
    return (a.get("rule"), entity, str(a.get("period") or "")[:7])


def merge_alerts(rules: list[dict], notebook: list[dict]) -> list[dict]:
    """The rules' alerts, then the notebook's own alerts that the rules did not already
    raise (same rule, entity and month): one line per alert in the manifest and report."""
    seen = {_alert_key(a) for a in rules}
    return list(rules) + [a for a in notebook if a.get("rule") is None or _alert_key(a) not in seen]


def record_run_row(db_url: str | None, row: dict[str, Any], wait_s: float = 5.0) -> dict[str, Any]:
    """Write the run's row to the warehouse's ``runs`` table (one short transaction through
    :func:`finlib.warehouse.load.write_batch`, so the audit hook sees it).

    Never fails the run: when the warehouse is busy (a DuckDB file is locked by a writer)
    it waits up to ``wait_s`` seconds, then gives up; the result says what happened and
    goes into the manifest (``warehouse_row``): ``{"written": true}`` or
    ``{"written": false, "reason": ...}``.
    """

    if not db_url:
        return {"written": False, "reason": "no warehouse configured"}
    try:
        wh = Warehouse.from_url(db_url)
        if not wh.exists():
            return {"written": False, "reason": f"no warehouse at {wh.path}"}
        values = {
            **row,
            "period": parse_period(row["period"]) if row.get("period") else None,
            "started_at": _naive_utc(row["started_at"]),
            "finished_at": _naive_utc(row.get("finished_at")),
            "details": json.dumps(row.get("details"), sort_keys=True, default=str),
        }
        cols = ["run_id", "job", "period", "status", "started_at", "finished_at", "report_path",
                "fingerprint", "details"]
        # a run's bookkeeping row waits only briefly for a busy DuckDB file
        with write_batch(wh, action="run", target="runs", timeout=wait_s,
                         details={"run_id": row["run_id"], "job": row["job"],
                                  "period": row["period"], "status": row["status"]}) as batch:
            batch.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES "
                          f"({', '.join(':' + c for c in cols)})", {c: values.get(c) for c in cols})
            batch.rows_written["runs"] = batch.rows_written.get("runs", 0) + 1
        return {"written": True, "reason": None}
    except Exception as exc:  # noqa: BLE001 - bookkeeping must never fail a run
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("run %s: row not written to the warehouse's runs table: %s", row.get("run_id"), reason)
        return {"written": False, "reason": reason[:500]}


def _naive_utc(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def run_one(req: dict, progress: Any = None) -> dict[str, Any]:
    """Execute and archive one run; return its manifest (plus ``path``)."""
    logging.getLogger("papermill").setLevel(logging.WARNING)
    key = req["key"]

    def emit(state: str, **info: Any) -> None:
        if progress is not None:
            try:
                progress.put_nowait({"key": key, "state": state, **info})
            except Exception:  # noqa: BLE001, S110 - progress is best effort, never fails a run
                pass

    reports = Path(req["reports"])
    started = _now()
    t_start = time.perf_counter()
    tmp = archive.temp_run_dir(reports, req["job"], req["period"], req["run_id"])
    out_nb = tmp / archive.NOTEBOOK
    timings: dict[str, float] = {}
    emit("starting")

    t = time.perf_counter()
    fp = warehouse_fingerprint(req.get("db_url"))
    timings["fingerprint_s"] = round(time.perf_counter() - t, 3)

    attempts: list[dict] = []
    result: dict[str, Any] = {}
    for attempt in range(req["retries"] + 1):
        if attempt:
            delay = req["retry_backoff"] * (2 ** (attempt - 1))
            emit("retrying", attempt=attempt + 1, delay=delay)
            time.sleep(delay)
            if out_nb.exists():
                out_nb.unlink()
        result = _execute_attempt(req, out_nb, emit)
        attempts.append({
            "attempt": attempt + 1,
            "error": None if result["error"] is None else
            {k: result["error"][k] for k in ("type", "message")},
            "kernel_start_s": result["kernel_start_s"], "execution_s": result["execution_s"],
        })
        if result["error"] is None or not result["error"]["retryable"]:
            break
    error = result["error"]
    timings["setup_s"] = result["setup_s"]
    timings["kernel_start_s"] = result["kernel_start_s"]
    timings["execution_s"] = result["execution_s"]
    status = SUCCEEDED if error is None else FAILED
    if error is not None:
        _mark_failure(out_nb, req, error)
        error = {k: v for k, v in error.items() if k != "retryable"}

    t = time.perf_counter()
    scraps = read_scraps(out_nb) if out_nb.exists() else {}
    timings["scraps_s"] = round(time.perf_counter() - t, 3)

    emit("alerts")
    t = time.perf_counter()
    shared = req.get("alerts_shared")
    if shared is not None:  # evaluated once for the batch by the runner
        alerts, alerts_check = list(shared["alerts"]), dict(shared["check"])
    else:
        alerts, alerts_check = evaluate_alerts(req.get("db_url"), req["period"])
        alerts_check["scope"] = "run"
    alerts = merge_alerts(alerts, _alerts_from_scrap(scraps))
    timings["alerts_s"] = round(time.perf_counter() - t, 3)

    data_as_of = scraps.get("data_as_of") or _as_of(fp) or "unknown"
    emit("html")
    t = time.perf_counter()
    try:
        nb = nbformat.read(str(out_nb), as_version=4)
        html = notebook_to_html(nb, {
            "title": req["title"], "job": req["job"], "period": req["period"],
            "variant": req["variant_label"], "status": status, "run_id": req["run_id"],
            "generated_at": _now().strftime("%Y-%m-%d %H:%M UTC"), "data_as_of": str(data_as_of),
            "parameters": req["parameters"], "alerts": alerts, "alerts_note": alerts_check.get("note"),
            "error": error, "static": "../../../" + archive.STATIC,
            "stylesheet": archive.ensure_stylesheet(reports),
        })
        archive.write_atomic(tmp / archive.REPORT, html)
    except Exception as exc:  # noqa: BLE001
        status = FAILED
        error = error or {"type": "ReportError", "message": f"HTML conversion failed: {type(exc).__name__}: {exc}",
                          "cell_index": None}
        log.warning("HTML conversion failed for %s: %s", key, exc)
    timings["html_s"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    outputs = {}
    for name in (archive.REPORT, archive.NOTEBOOK):
        p = tmp / name
        if p.exists():
            outputs[name] = {"sha256": archive.sha256_file(p), "bytes": p.stat().st_size}
    ended = _now()
    row = {
        "run_id": req["run_id"], "job": req["job"], "period": req["period"], "status": status,
        "started_at": started, "finished_at": ended,
        "report_path": f"{req['job']}/{req['period']}/{req['run_id']}/{archive.REPORT}",
        "fingerprint": fp["value"] if isinstance(fp["value"], str) else
        (json.dumps(fp["value"], sort_keys=True, default=str) if fp["value"] is not None else None),
        "details": {"variant": req["variant_label"], "title": req["title"], "trigger": req["trigger"],
                    "duration_s": round(time.perf_counter() - t_start, 3), "attempts": len(attempts),
                    "alerts": len(alerts), "error": (error or {}).get("type"),
                    "git_commit": (req.get("code") or {}).get("git_commit"), "host": socket.gethostname()},
    }
    warehouse_row = record_run_row(req.get("db_url"), row, wait_s=float(req.get("row_wait_s", 5.0)))
    timings["finish_s"] = round(time.perf_counter() - t, 3)
    manifest = {
        "schema": archive.MANIFEST_SCHEMA,
        "run_id": req["run_id"],
        "job": req["job"],
        "title": req["title"],
        "period": req["period"],
        "variant": req["variant"],
        "variant_label": req["variant_label"],
        "notebook": req["notebook_rel"],
        "kernel": req["kernel"],
        "audience": req["audience"],
        "parameters": req["parameters"],
        "status": status,
        "error": error,
        "attempts": attempts,
        "trigger": req["trigger"],
        "scheduled_for": req.get("scheduled_for"),
        "started_at": _iso(started),
        "ended_at": _iso(ended),
        "duration_s": round(time.perf_counter() - t_start, 3),
        "timings": timings,
        "code": req["code"],
        "warehouse": {"url": req.get("db_display_url"), "fingerprint": fp["value"], "reason": fp["reason"]},
        "data_as_of": data_as_of,
        "outputs": outputs,
        "scraps": sorted(scraps),
        "kpis": _jsonable(scraps.get("kpis")),
        "alerts": alerts,
        "alerts_check": alerts_check,
        "warehouse_row": warehouse_row,
        "host": {"name": socket.gethostname(), "python": platform.python_version()},
    }
    archive.write_atomic(tmp / archive.MANIFEST, json.dumps(manifest, indent=2, default=str))
    final = archive.run_dir(reports, req["job"], req["period"], req["run_id"])
    try:
        archive.publish(tmp, final)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    emit("archived", status=status)
    return {**manifest, "path": str(final)}


def _as_of(fp: dict[str, Any]) -> str | None:
    v = fp.get("value")
    if isinstance(v, dict):
        for k in ("data_as_of", "as_of", "last_ingest_at", "loaded_at", "updated_at"):
            if v.get(k):
                return str(v[k])
    return None


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)
