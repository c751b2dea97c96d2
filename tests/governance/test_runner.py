"""Running controls: stored results with evidence, control_failure alerts through the alert
store, configuration errors and the command's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finlib.cli import main
from finlib.governance.config import load_config, parse_config
from finlib.governance.errors import ControlsConfigError
from finlib.governance.runner import run_controls
from tests.governance.conftest import P, put

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sod(wh):
    put(wh, "gl_entries", [
        {"entry_id": "E1", "period": P, "account_id": "6000", "amount": 100, "is_manual": True,
         "created_by": "ana", "approved_by": "ana"},
        {"entry_id": "E2", "period": P, "account_id": "6000", "amount": 100, "is_manual": True,
         "created_by": "ana", "approved_by": "bo"}])
    return wh


def _rows(wh, sql):
    with wh.connect(read_only=True) as c:
        return c.query(sql)


def test_results_are_stored_one_row_per_finding_with_evidence(sod):
    out = run_controls(sod, P, deliver=False)
    assert out["failed"] == 1
    rows = _rows(sod, "SELECT control, status, entity, evidence, frameworks, run_id FROM control_results "
                      "ORDER BY control")
    assert len(rows) == len(out["results"]) == 9, "eight passes and one failure"
    fail = [r for r in rows if r[1] == "fail"]
    assert [(r[0], r[2]) for r in fail] == [("segregation_of_duties", "entry E1")]
    assert json.loads(fail[0][3])[0]["entry_id"] == "E1"
    assert "SOX 404 ITGC: access" in json.loads(fail[0][4])
    assert {r[5] for r in rows} == {out["run_id"]}


def test_failures_raise_control_failure_alerts_that_resolve_when_fixed(sod):
    run_controls(sod, P, deliver=False)
    alerts = _rows(sod, "SELECT rule, entity, state FROM alerts")
    assert [(a[0], json.loads(a[1]), a[2]) for a in alerts] == [
        ("control_failure", {"control": "segregation_of_duties", "entity": "entry E1"}, "open")]
    run_controls(sod, P, deliver=False)  # the same failure again: the same alert, not a second one
    assert len(_rows(sod, "SELECT alert_id FROM alerts")) == 1
    with sod.transaction() as c:  # the entry gets its second approver
        c.execute("UPDATE gl_entries SET approved_by = 'bo' WHERE entry_id = 'E1'")
    out = run_controls(sod, P, deliver=False)
    assert out["failed"] == 0
    assert _rows(sod, "SELECT state FROM alerts") == [("resolved",)]


def test_a_partial_run_does_not_resolve_other_controls_alerts(sod):
    run_controls(sod, P, deliver=False)
    run_controls(sod, P, ["dev_cost_tie"], deliver=False)
    assert _rows(sod, "SELECT state FROM alerts") == [("open",)]


def test_the_repository_configuration_is_valid_and_complete():
    cfg = load_config(ROOT / "parameters" / "controls.yaml")
    assert cfg.enabled() == ["revenue_schedule", "deferred_revenue", "revenue_ledger_tie", "dev_cost_tie",
                             "campaign_spend_tie", "budget_coverage", "segregation_of_duties", "roi_reproducible",
                             "closed_period_changes"]
    assert cfg.controls["revenue_schedule"].tolerance == 1.00


@pytest.mark.parametrize(("data", "expected"), [
    ({"controls": {"revenue_schedule": {"tolerence": 2}}}, "controls.revenue_schedule.tolerence: unknown key"),
    ({"controls": {"revenue_schedule": {"convention": "weekly"}}}, "controls.revenue_schedule.convention"),
    ({"controls": {"revenue_shedule": {}}}, "controls.revenue_shedule: unknown control"),
    ({"evidence": 3}, "evidence: unknown key"),
    ({"controls": {"budget_coverage": {"materiality": -1}}}, "controls.budget_coverage.materiality"),
])
def test_a_bad_key_is_one_clear_error_naming_the_file(data, expected):
    with pytest.raises(ControlsConfigError) as exc:
        parse_config(data, "parameters/controls.yaml")
    assert str(exc.value).startswith("parameters/controls.yaml: invalid controls configuration")
    assert expected in str(exc.value)


def test_command_exit_codes_and_json(sod, capsys, tmp_path, monkeypatch):
    assert main(["controls", "run", "--period", "2024-03", "--json", "--no-deliver",
                 "--control", "dev_cost_tie"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["control"], r["status"], r["period"]) for r in out] == [("dev_cost_tie", "pass", "2024-03")]
    assert main(["controls", "run", "--period", "2024-03", "--json", "--no-deliver"]) == 3
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    fail = [r for r in out if r["status"] == "fail"]
    assert len(out) == 9 and len(fail) == 1
    assert set(fail[0]) >= {"control", "period", "status", "entity", "value", "expected", "message", "frameworks"}
    assert fail[0]["entity"] == "entry E1" and fail[0]["frameworks"][0] == "SOX 404 ITGC: access"
    assert main(["controls", "run", "--period", "2024-3x"]) == 2
    assert main(["controls", "run", "--period", "2024-03", "--control", "nope"]) == 2
    bad = tmp_path / "params"
    bad.mkdir()
    (bad / "controls.yaml").write_text("controls:\n  dev_cost_tie: {tolerance: 1, colour: red}\n")
    monkeypatch.setenv("FINLIB_PARAMETERS", str(bad))
    assert main(["controls", "run", "--period", "2024-03"]) == 2
    assert "controls.yaml" in capsys.readouterr().err


def test_period_commands(sod, capsys):
    assert main(["period", "close", "2024-03"]) == 0
    assert main(["period", "close", "2024-03"]) == 2
    assert main(["period", "reopen", "2024-03"]) == 2, "--reason is required"
    assert main(["period", "reopen", "2024-03", "--reason", "late invoice"]) == 0
    assert main(["period", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status[0]["state"] == "reopened" and status[0]["last_reason"] == "late invoice"
