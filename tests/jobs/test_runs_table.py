"""The warehouse's ``runs`` table: one row per run, written through write_batch, never
failing a run when the warehouse is busy."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

from finlib.jobs import archive
from finlib.jobs.papermill_run import record_run_row
from finlib.warehouse.db import Warehouse


def _rows(url: str) -> list[tuple]:
    with Warehouse.from_url(url).connect(read_only=True) as conn:
        return conn.query("SELECT run_id, job, period, status, started_at, finished_at, report_path, "
                          "fingerprint, details FROM runs ORDER BY run_id")


def test_each_run_writes_its_row_and_the_manifest_says_so(project):
    project.finlib("db", "init", check=True)
    project.job("quick", """\
        notebook: notebooks/quick.ipynb
        title: Quick
        parameters: {period: last_closed_month}
        matrix: {label: [a, b]}
    """)
    project.finlib("run", "quick", "--period", "2024-03", check=True)
    manifests = [archive.read_manifest(p) for *_, p in archive.iter_run_dirs(project.reports)]
    assert len(manifests) == 2
    rows = {r[0]: r for r in _rows(project.env["FINLIB_DB_URL"])}
    for m in manifests:
        assert m["warehouse_row"] == {"written": True, "reason": None}
        assert m["alerts_check"]["scope"] == "batch"  # the rules ran once for the batch
        run_id, job, period, status, started, finished, report_path, fingerprint, details = rows[m["run_id"]]
        assert (job, str(period), status) == ("quick", "2024-03-01", "succeeded")
        assert started <= finished
        assert (project.reports / report_path).is_file()
        assert fingerprint == m["warehouse"]["fingerprint"]
        assert json.loads(details)["variant"] == m["variant_label"]


def test_a_busy_warehouse_is_recorded_not_fatal(project):
    project.finlib("db", "init", check=True)
    url = project.env["FINLIB_DB_URL"]
    wh = Warehouse.from_url(url)
    now = dt.datetime.now(dt.UTC)
    row = {"run_id": "20240402T060000123Z-abcdef", "job": "quick", "period": "2024-03", "status": "failed",
           "started_at": now, "finished_at": now, "report_path": "quick/2024-03/x/report.html",
           "fingerprint": None, "details": {"variant": ""}}
    # another process holds the DuckDB file open for writing (an ingest, say)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
        "sys.stdin.readline()"), str(wh.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        t = time.perf_counter()
        result = record_run_row(url, row, wait_s=0.5)
        waited = time.perf_counter() - t
    finally:
        holder.communicate("\n", timeout=30)
    assert waited < 5  # brief, not the warehouse's 15 s default
    assert result["written"] is False and result["reason"]
    assert record_run_row(url, row, wait_s=0.3) == {"written": True, "reason": None}
    assert [r[0] for r in _rows(url)] == [row["run_id"]]


def test_no_warehouse_means_no_row_and_a_reason(tmp_path):
    now = dt.datetime.now(dt.UTC)
    result = record_run_row(f"duckdb://{tmp_path / 'none.duckdb'}", {
        "run_id": "r", "job": "j", "period": "2024-03", "status": "succeeded", "started_at": now})
    assert result["written"] is False and "no warehouse" in result["reason"]
    assert not (tmp_path / "none.duckdb").exists()
