"""roi_reproducible: archived figures recomputed from the warehouse, on both backends."""

from __future__ import annotations

import json
import math

import pytest

from finlib.governance.controls.reports import relative_difference
from tests.governance.helpers import failures

END = "2026-10"


def _archive_copy(reports, run_id, drop=(), **change):
    """A copy of an archived run with another id, kpis ``drop``ped and its manifest patched."""
    from finlib.jobs.archive import new_run_id

    src = next(reports.glob(f"*/{END}/{run_id}"))
    rid = new_run_id()
    dst = src.parent / rid
    dst.mkdir()
    nb = json.loads((src / "notebook.ipynb").read_text())
    data = nb["cells"][0]["outputs"][0]["data"]["application/scrapbook.scrap.json+json"]["data"]
    for k in drop:
        data.pop(k)
    (dst / "notebook.ipynb").write_text(json.dumps(nb))
    man = {**json.loads((src / "manifest.json").read_text()), "run_id": rid, **change}
    (dst / "manifest.json").write_text(json.dumps(man))
    return rid


@pytest.fixture
def archived(any_db_url, tmp_path):
    from finlib.demo import generate
    from finlib.demo.controls_plant import plant_report
    from finlib.warehouse.db import get_warehouse

    wh = get_warehouse()
    generate(wh, "small", 42, end=END)
    planted = plant_report(wh, tmp_path / "reports", END)
    return wh, tmp_path / "reports", planted


def test_a_figure_off_by_5_percent_fails_and_one_off_by_0_3_percent_does_not(archived):
    wh, reports, planted = archived
    f = failures(wh, "roi_reproducible", period=END, reports=reports)
    rid = planted["run_id"]
    assert set(f) == {f"report {rid} · roi_marketing"}
    r = f[f"report {rid} · roi_marketing"]
    assert r["value"] == pytest.approx(r["expected"] * 1.05)
    ev = r["evidence"][0]
    assert ev["run_id"] == rid and ev["figure"] == "roi_marketing"
    assert ev["relative_difference"] == pytest.approx(0.05, rel=1e-6)
    # tightened below 0.3 %, the near miss fails too
    assert f"report {rid} · mrr" in failures(wh, "roi_reproducible", period=END, reports=reports,
                                             relative_tolerance=0.002)


def test_only_the_latest_succeeded_run_stands_unless_all_are_asked(archived):
    wh, reports, planted = archived
    rid = planted["run_id"]
    _archive_copy(reports, rid, drop=("roi_marketing", "mrr"))  # a later run without the two figures
    failed = _archive_copy(reports, rid, status="failed")  # the +5 % again, in a failed run
    f = failures(wh, "roi_reproducible", period=END, reports=reports)
    assert f == {}, "the latest succeeded run reproduces; older and failed runs do not count"
    f = failures(wh, "roi_reproducible", period=END, reports=reports, runs="all")
    assert set(f) == {f"report {rid} · roi_marketing"}
    assert not any(failed in e for e in f)


def test_relative_difference_conventions():
    assert relative_difference(101.0, 100.0) == pytest.approx(0.01)
    assert relative_difference(0.0, 0.0) == 0.0
    assert relative_difference(None, None) == 0.0
    assert math.isinf(relative_difference(1.0, 0.0))
    assert math.isinf(relative_difference(None, 3.0))
