"""The archive's guarantees and the index at scale (no kernels: fast)."""

from __future__ import annotations

import datetime as dt
import json
import random
import time

import pytest

from finlib.errors import JobError
from finlib.jobs import archive
from finlib.jobs.index import rebuild_index


def test_run_ids_sort_by_start_time_and_are_unique():
    t0 = dt.datetime(2024, 4, 2, 6, 0, tzinfo=dt.UTC)
    ids = [archive.new_run_id(t0 + dt.timedelta(milliseconds=i)) for i in range(50)]
    assert ids == sorted(ids)
    assert len({archive.new_run_id(t0) for _ in range(200)}) == 200


def test_publish_never_overwrites_an_existing_run(tmp_path):
    tmp = archive.temp_run_dir(tmp_path, "job", "2024-03", "r1")
    (tmp / "manifest.json").write_text("{}")
    final = archive.publish(tmp, archive.run_dir(tmp_path, "job", "2024-03", "r1"))
    tmp2 = archive.temp_run_dir(tmp_path, "job", "2024-03", "r1")
    with pytest.raises(JobError, match="refusing to overwrite"):
        archive.publish(tmp2, final)


def test_temporary_folders_are_invisible_to_the_catalogue(tmp_path):
    tmp = archive.temp_run_dir(tmp_path, "job", "2024-03", "r9")
    (tmp / "manifest.json").write_text(json.dumps({"run_id": "r9", "status": "succeeded"}))
    assert archive.load_catalogue(tmp_path) == []


def _stubs(reports, n):
    rnd = random.Random(7)
    jobs = ["product_roi", "retention_roi", "budget_variance", "executive", "department"]
    t0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    for i in range(n):
        job = jobs[i % 5]
        started = t0 + dt.timedelta(hours=i)
        period = f"{started:%Y-%m}"
        run_id = archive.new_run_id(started)
        d = reports / job / period / run_id
        d.mkdir(parents=True)
        status = "failed" if rnd.random() < 0.05 else "succeeded"
        (d / "manifest.json").write_text(json.dumps({
            "run_id": run_id, "job": job, "title": job.replace("_", " ").title(), "period": period,
            "variant_label": "department=Sales" if job == "department" else "", "status": status,
            "started_at": started.isoformat(), "duration_s": 12.3, "alerts": [{}] * (i % 3),
            "error": {"type": "PapermillExecutionError", "message": "boom"} if status == "failed" else None,
        }))


def test_index_of_10000_runs_is_small_and_fast_to_rebuild(tmp_path):
    reports = tmp_path / "reports"
    _stubs(reports, 10_000)
    t = time.perf_counter()
    rebuild_index(reports)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    rebuild_index(reports)
    warm = time.perf_counter() - t
    size = (reports / "index.html").stat().st_size
    print(f"\n10,000 runs: index.html {size / 1e6:.2f} MB, runs.json "
          f"{(reports / 'runs.json').stat().st_size / 1e6:.2f} MB, cold rebuild {cold:.2f}s, warm {warm:.2f}s")
    assert size < 1_000_000
    assert cold < 20 and warm < 3
    html = (reports / "index.html").read_text()
    data = json.loads(html.split('id="runs-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["rows"]) == 10_000 and data["jobs"][0] == "budget_variance"
    assert len(archive.load_catalogue(reports)) == 10_000


def test_notebook_alerts_already_raised_by_the_rules_are_listed_once():
    from finlib.jobs.papermill_run import merge_alerts

    rules = [{"rule": "cac", "entity": {}, "period": "2026-10-01", "source": "rules"},
             {"rule": "budget_variance", "entity": {"department_id": "D10", "account_id": "6100"},
              "period": "2026-10-01", "source": "rules"}]
    notebook = [{"rule": "budget_variance", "entity": {"account_id": "6100", "department_id": "D10"},
                 "period": "2026-10-01", "source": "notebook"},
                {"rule": "budget_variance", "entity": {"department_id": "D20", "account_id": "6100"},
                 "period": "2026-10-01", "source": "notebook"},
                {"message": "free text from the notebook", "source": "notebook"}]
    merged = merge_alerts(rules, notebook)
    assert len(merged) == 4
    assert [a["source"] for a in merged] == ["rules", "rules", "notebook", "notebook"]
    assert merged[2]["entity"]["department_id"] == "D20"


def test_stale_temporary_folders_of_crashed_runs_are_swept_and_fresh_ones_kept(tmp_path):
    import os

    old = archive.temp_run_dir(tmp_path, "job", "2024-03", "r-old")
    (old / "notebook.ipynb").write_text("{}")
    fresh = archive.temp_run_dir(tmp_path, "job", "2024-03", "r-fresh")
    published = archive.run_dir(tmp_path, "job", "2024-03", "r-done")
    published.mkdir()
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(published, (two_days_ago, two_days_ago))
    assert archive.sweep_stale_temp(tmp_path) == [old]
    assert not old.exists() and fresh.exists() and published.exists()


def test_alert_entities_read_as_names_and_ids_not_a_dict():
    from finlib.jobs.report import entity_label

    budget = {"entity": {"account_id": "6100", "department_id": "D10"},
              "details": {"department": "Sales", "account": "Software subscriptions"}}
    assert entity_label(budget) == "department Sales (D10) · account Software subscriptions (6100)"
    assert entity_label({"entity": {"department_id": "D10", "account_id": "6100"}}) == "department D10 · account 6100"
    assert entity_label({"entity": {}}) == "company"
    assert entity_label({"entity": {"channel": "Paid Social"}}) == "channel Paid Social"
    assert entity_label({"entity": "F13"}) == "F13"


def test_the_shared_stylesheet_is_written_once_under_a_content_hash(tmp_path):
    from finlib.jobs.report import stylesheet

    name, css = stylesheet()
    assert archive.ensure_stylesheet(tmp_path) == name
    target = tmp_path / archive.STATIC / name
    assert target.read_text() == css and ".jp-Notebook" in css and ".highlight" in css
    assert "url(http" not in css and "@import" not in css  # self-contained: works offline
    mtime = target.stat().st_mtime_ns
    archive.ensure_stylesheet(tmp_path)
    assert target.stat().st_mtime_ns == mtime


def test_progress_lines_show_the_matrix_variant():
    import io

    from rich.console import Console

    from finlib.jobs.batch import Display

    out = io.StringIO()
    display = Display(console=Console(file=out, force_terminal=False, width=200))
    with display:
        key = "department[department=Sales]@2026-10"
        display.add(key)
        display.event({"key": key, "state": "running", "cell": 3, "cells": 9})
        display.event({"key": key, "state": "done", "status": "succeeded"})
    assert "department[department=Sales]@2026-10" in out.getvalue()


def test_the_index_data_block_cannot_be_ended_by_a_run_error():
    """A run's error text is data: it can neither close the JSON block nor open a comment in
    it, and it reads back exactly."""
    import json as _json
    import re as _re

    from finlib.jobs.index import render_index

    hostile = 'boom <!--<script>alert(1)</script> & "x" </script><img src=x onerror=alert(2)>'
    html = render_index([{"run_id": "r1", "job": "j", "period": "2026-10", "variant": "",
                          "status": "failed", "duration_s": 1.0, "alerts": 0, "error": hostile}])
    block = _re.search(r'<script type="application/json" id="runs-data">(.*?)</script>', html, _re.S).group(1)
    assert "<" not in block and ">" not in block
    assert _json.loads(block)["rows"][0][-1] == hostile[:80]  # the index keeps 80 characters of an error
