"""`finlib run` end to end: one shared batch of real papermill runs, many assertions.

The batch (``finlib run --all --workers 2``) holds: a good report with a chart and scraps
(two matrix variants), a notebook that raises, one whose cell outlives its timeout, one
whose kernel is killed once (retried, then succeeds) and one whose kernel is killed every
time (archived failed after its retries).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time

import pytest

from finlib.jobs import archive

PERIOD = "2024-03"


@pytest.fixture(scope="module")
def batch(module_project):
    p = module_project
    p.job("ok", """\
        notebook: notebooks/ok.ipynb
        title: Fixture report
        parameters: {period: last_closed_month, scale: 2.0}
        matrix: {department: [Sales, Marketing]}
        retries: 0
    """)
    p.job("fail", """\
        notebook: notebooks/fail.ipynb
        title: Failing report
        parameters: {period: last_closed_month}
    """)
    p.job("slow", """\
        notebook: notebooks/slow.ipynb
        title: Slow report
        parameters: {period: last_closed_month, seconds: 120}
        timeout: 3
        retries: 2
    """)
    p.job("crash_once", f"""\
        notebook: notebooks/crash.ipynb
        title: Crashes once
        parameters: {{period: last_closed_month, marker: "{p.root / 'crash_once.count'}", kill_times: 1}}
        retries: 2
        retry_backoff: 0.2
    """)
    p.job("crash_always", f"""\
        notebook: notebooks/crash.ipynb
        title: Crashes always
        parameters: {{period: last_closed_month, marker: "{p.root / 'crash_always.count'}", kill_times: 99}}
        retries: 1
        retry_backoff: 0.2
    """)
    stale = p.reports / "ok" / PERIOD / f"{archive.TMP_PREFIX}20240101T000000000Z-dead00"  # a crashed run's
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 3 * 86400,) * 2)
    proc = p.finlib("run", "--all", "--workers", "2", "--period", PERIOD, timeout=400)
    manifests = {}
    for job, _period, _run_id, path in archive.iter_run_dirs(p.reports):
        m = archive.read_manifest(path)
        manifests[(job, m["variant_label"])] = {**m, "path": path}
    return p, proc, manifests


def test_the_command_exits_non_zero_but_every_run_completes(batch):
    p, proc, manifests = batch
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "3 of 6 run(s) failed" in proc.stderr
    assert set(manifests) == {("ok", "department=Sales"), ("ok", "department=Marketing"), ("fail", ""),
                              ("slow", ""), ("crash_once", ""), ("crash_always", "")}
    for job in ("ok", "fail", "slow", "crash_once", "crash_always"):
        assert job in proc.stdout  # the summary table
    assert not list(p.reports.glob(f"*/*/{archive.TMP_PREFIX}*")), "no temporary folder is left behind"
    # (the stale one planted before the run was swept at its start)


def test_scraps_are_readable_from_the_archived_notebook_with_scrapbook(batch):
    import scrapbook as sb

    _, _, manifests = batch
    m = manifests[("ok", "department=Sales")]
    assert m["status"] == "succeeded"
    nb = sb.read_notebook(str(m["path"] / "notebook.ipynb"))
    assert nb.scraps["kpis"].data == {"revenue": 7000.0, "period": "2024-03-01", "department": "Sales"}
    assert m["kpis"]["department"] == "Sales"
    assert m["parameters"] == {"period": "2024-03-01", "scale": 2.0, "department": "Sales"}
    assert sorted(m["scraps"]) == ["alerts", "data_as_of", "kpis"]
    assert m["alerts"][0]["rule"] == "budget_variance" and m["alerts"][0]["source"] == "notebook"
    assert m["data_as_of"] == "2024-02-01T06:00:00+00:00"


def test_manifest_records_provenance_and_phase_timings(batch):
    _, _, manifests = batch
    m = manifests[("ok", "department=Marketing")]
    for key in ("job", "parameters", "status", "started_at", "ended_at", "duration_s", "code", "warehouse",
                "outputs", "alerts", "timings", "run_id", "kernel"):
        assert key in m
    assert m["code"]["finlib_version"]
    assert m["warehouse"]["fingerprint"] is None and m["warehouse"]["reason"]  # no warehouse in this project
    assert set(m["timings"]) >= {"setup_s", "kernel_start_s", "execution_s", "scraps_s", "alerts_s", "html_s",
                                 "finish_s"}
    assert m["alerts_check"]["scope"] == "batch"  # the rules ran once for the batch, before the runs
    assert m["warehouse_row"]["written"] is False and "no warehouse" in m["warehouse_row"]["reason"]
    assert 0 < m["timings"]["kernel_start_s"] < m["duration_s"]
    assert re.fullmatch(r"\d{8}T\d{9}Z-[0-9a-f]{6}", m["run_id"])
    assert m["path"].name == m["run_id"] and m["path"].parent.name == PERIOD


def test_manifest_hashes_match_the_archived_files(batch):
    _, _, manifests = batch
    for m in manifests.values():
        assert set(m["outputs"]) == {"report.html", "notebook.ipynb"}
        for name, info in m["outputs"].items():
            data = (m["path"] / name).read_bytes()
            assert info["sha256"] == hashlib.sha256(data).hexdigest()
            assert info["bytes"] == len(data)


def test_a_raising_notebook_is_archived_failed_showing_the_failing_cell(batch):
    _, _, manifests = batch
    m = manifests[("fail", "")]
    assert m["status"] == "failed"
    assert m["error"]["type"] == "PapermillExecutionError" and "planted failure" in m["error"]["message"]
    assert len(m["attempts"]) == 1  # a failing cell is not retried
    nb = json.loads((m["path"] / "notebook.ipynb").read_text())
    failed = [c for c in nb["cells"] if c["metadata"].get("finlib", {}).get("failed")]
    assert len(failed) == 1 and "planted failure" in "".join(failed[0]["source"])
    assert failed[0]["outputs"][-1]["output_type"] == "error"
    html = (m["path"] / "report.html").read_text()
    assert "This run failed" in html and "The cell that failed" in html and "planted failure" in html


def test_a_cell_timeout_is_enforced_and_not_retried(batch):
    _, _, manifests = batch
    m = manifests[("slow", "")]
    assert m["status"] == "failed" and m["error"]["type"] == "CellTimeoutError"
    assert len(m["attempts"]) == 1
    assert m["timings"]["execution_s"] < 30  # the cell wanted 120 s
    nb = json.loads((m["path"] / "notebook.ipynb").read_text())
    failed = [c for c in nb["cells"] if c["metadata"].get("finlib", {}).get("failed")]
    assert failed and "time.sleep" in "".join(failed[0]["source"])
    assert failed[0]["outputs"][-1]["ename"] == "CellTimeoutError"


def test_a_killed_kernel_is_retried_and_the_retry_succeeds(batch):
    _, _, manifests = batch
    m = manifests[("crash_once", "")]
    assert m["status"] == "succeeded"
    assert [a["error"]["type"] if a["error"] else None for a in m["attempts"]] == ["DeadKernelError", None]
    assert m["kpis"] == {"attempts_seen": 2}


def test_a_kernel_killed_every_time_is_archived_failed_after_its_retries(batch):
    _, _, manifests = batch
    m = manifests[("crash_always", "")]
    assert m["status"] == "failed" and m["error"]["type"] == "DeadKernelError"
    assert len(m["attempts"]) == 2  # retries: 1
    assert (m["path"] / "report.html").exists() and (m["path"] / "notebook.ipynb").exists()


def test_html_report_hides_code_is_small_and_uses_the_shared_plotly(batch):
    p, _, manifests = batch
    m = manifests[("ok", "department=Sales")]
    html = (m["path"] / "report.html").read_text()
    assert "sb.glue" not in html and "viz.show(" not in html and "import scrapbook" not in html
    assert 'class="jp-InputPrompt' not in html and 'class="jp-InputArea-editor' not in html and "The cell that failed" not in html
    assert '<script src="../../../_static/plotly.min.js"></script>' in html
    assert len(html.encode()) < 60_000  # the JupyterLab styles are shared too, not inlined
    # one chart, drawn by the shared script from a JSON block: no plotly.js library, no inline script
    assert html.count('class="finlib-chart-data"') == 1 and "Plotly.newPlot" not in html
    assert '<script defer="" src="../../../_static/finlib-charts.js"></script>' in html
    assert (p.reports / "_static" / "finlib-charts.js").is_file()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)  # no inline script
    css = re.search(r'<link href="\.\./\.\./\.\./_static/(report-[0-9a-f]{10}\.css)" rel="stylesheet"', html)
    assert css and (p.reports / "_static" / css.group(1)).is_file()
    assert "require.min.js" not in html and "mathjax" not in html.lower()
    for needle in ("Fixture report", "generated at", "data as of", "Parameters", "Alerts (1)", "Contents",
                   'href="#Revenue-by-month"', "department=Sales"):
        assert needle in html, needle


def test_index_lists_every_run_and_reports_commands_read_the_archive(batch):
    p, _, manifests = batch
    index = (p.reports / "index.html").read_text()
    for m in manifests.values():
        assert m["run_id"] in index
    runs = json.loads((p.reports / "runs.json").read_text())
    assert len(runs["rows"]) == 6
    out = p.finlib("reports", "list", "--status", "failed", check=True).stdout
    assert "crash_always" in out and "crash_once" not in out
    rid = manifests[("crash_once", "")]["run_id"]
    out = p.finlib("reports", "show", rid[:24], check=True).stdout
    assert "crash_once" in out and "succeeded" in out and "sha256" in out
    assert json.loads(p.finlib("reports", "show", rid, "--json", check=True).stdout)["run_id"] == rid


def test_a_second_run_never_overwrites_the_first(batch):
    p, _, manifests = batch
    before = {m["run_id"] for m in manifests.values()}
    p.finlib("run", "fail", "--period", PERIOD)
    runs = [rid for job, period, rid, _ in archive.iter_run_dirs(p.reports) if job == "fail"]
    assert len(runs) == 2 and manifests[("fail", "")]["run_id"] in runs
    assert before <= {rid for _, _, rid, _ in archive.iter_run_dirs(p.reports)}


@pytest.mark.browser
def test_report_renders_its_chart_offline_in_headless_chromium(batch, browser):
    _, _, manifests = batch
    report = manifests[("ok", "department=Sales")]["path"] / "report.html"
    page = browser.new_page()
    try:
        page.route("http*://**", lambda route: route.abort())  # prove it works offline
        page.goto(report.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)
        assert page.locator(".js-plotly-plot").count() == 1
        assert page.locator(".jp-InputArea-editor").count() == 0  # no code cells
        assert "$5k" in page.locator(".js-plotly-plot").inner_text()  # the house money axis
        # the shared stylesheet applied (lab layout classes styled), offline
        assert page.evaluate("getComputedStyle(document.querySelector('.jp-OutputArea-output')).display") != ""
        assert page.evaluate("getComputedStyle(document.body).getPropertyValue('--jp-layout-color0')").strip()
        reports = report.parents[3]
        runs = json.loads((reports / "runs.json").read_text())
        failed = sum(1 for row in runs["rows"] if row[runs["columns"].index("status")] == "failed")
        page.goto((reports / "index.html").as_uri())
        page.select_option("#f-status", "failed")
        assert page.locator("#rows tr").count() == failed >= 4
    finally:
        page.close()
