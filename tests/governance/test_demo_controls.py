"""On the demo company every planted control failure is found and no planted near miss is
(last closed month; the ledger-tie near miss sits in the month before)."""

from __future__ import annotations

import pytest

from finlib.governance.runner import evaluate_controls

END = "2026-10"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from finlib.demo import generate, load_truth
    from finlib.demo.controls_plant import plant_report
    from finlib.warehouse.db import get_warehouse

    base = tmp_path_factory.mktemp("controls-demo")
    wh = get_warehouse(f"duckdb://{base / 'warehouse.duckdb'}")
    generate(wh, "small", 42, end=END)
    truth = load_truth(wh)["controls"]
    report = plant_report(wh, base / "reports")
    truth = {**truth, "failures": truth["failures"] + report["failures"],
             "near_misses": truth["near_misses"] + report["near_misses"]}
    found: dict[str, set] = {}
    results = {}
    for period in sorted({x["period"] for x in truth["failures"] + truth["near_misses"]}):
        results[period] = evaluate_controls(wh, period, reports=base / "reports")
        found[period] = {(r["control"], r["entity"]) for r in results[period] if r["status"] == "fail"}
    return truth, found, results


def test_every_control_has_a_planted_failure_and_a_near_miss(demo):
    truth, _, _ = demo
    from finlib.governance.registry import CONTROLS

    assert {f["control"] for f in truth["failures"]} == set(CONTROLS)
    assert {n["control"] for n in truth["near_misses"]} == set(CONTROLS)
    assert {f["period"] for f in truth["failures"]} == {END}


def test_every_planted_failure_is_found(demo):
    truth, found, _ = demo
    missed = [f for f in truth["failures"] if (f["control"], f["entity"]) not in found[f["period"]]]
    assert not missed


def test_no_near_miss_is_flagged(demo):
    truth, found, _ = demo
    flagged = [n for n in truth["near_misses"] if (n["control"], n["entity"]) in found[n["period"]]]
    assert not flagged


def test_nothing_but_the_planted_failures_fails_in_the_last_closed_month(demo):
    truth, found, _ = demo
    assert found[END] == {(f["control"], f["entity"]) for f in truth["failures"]}


def test_failures_carry_their_evidence(demo):
    _, _, results = demo
    for r in results[END]:
        if r["status"] == "fail":
            assert r["evidence"], f"{r['control']} {r['entity']} has no evidence"
            assert r["frameworks"]
