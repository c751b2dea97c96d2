"""Every notebook runs top to bottom under papermill on small demo data, records the
documented scraps with plausible values, and is committed clean (no outputs)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.notebooks.conftest import NAMES, NOTEBOOKS, PERIOD, ROOT

#: docs/SCRAPS.md: the scraps each notebook records
SCRAPS = {
    "product_roi": {"kpis", "feature_roi", "team_roi", "adoption", "launch_roi", "milestones", "alerts",
                    "period", "data_as_of"},
    "retention_roi": {"kpis", "revenue_at_risk", "at_risk_customers", "churn_model", "campaigns", "expansion",
                      "clv", "alerts", "period", "data_as_of"},
    "budget_variance": {"kpis", "variance_by_department", "variance_lines", "utilisation", "alerts", "period",
                        "data_as_of"},
    "executive": {"kpis", "revenue_vs_target", "forecast", "cost_by_department", "cross_domain_roi",
                  "budget_utilisation", "trends", "alerts", "period", "data_as_of"},
    "department": {"kpis", "tables", "alerts", "department", "period", "data_as_of"},
}
ALERT_KEYS = {"id", "rule", "severity", "state", "entity", "message", "value", "threshold", "period"}


def _nb(name):
    import nbformat

    return nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)


# -- committed notebooks -----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    nb = _nb(name)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has outputs"
            assert cell.execution_count is None, f"{name}: a code cell has an execution count"
        assert "execution" not in cell.metadata and "papermill" not in cell.metadata
    assert nb.metadata.kernelspec == {"name": "finlib", "display_name": "Python (finlib)", "language": "python"}
    assert "papermill" not in nb.metadata


def test_notebooks_match_their_generator():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_notebooks.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", NAMES)
def test_first_code_cell_is_the_typed_and_commented_parameters_cell(name):
    import papermill as pm

    nb = _nb(name)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    params = pm.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    lines = [ln for ln in first.source.splitlines() if ln.strip()]
    assert len(params) == len(lines), "papermill could not parse every line of the parameters cell"
    assert params["period"]["default"] == '"last_closed_month"'
    assert params["interactive"]["inferred_type_name"] == "bool" and params["interactive"]["default"] == "True"
    for p in params.values():
        assert p["inferred_type_name"] != "None", f"{name}: {p['name']} has no type"
        assert p["help"], f"{name}: {p['name']} has no # help comment"
    if name == "department":
        assert params["department"]["default"] == '"Sales"'


def test_papermill_help_notebook_lists_the_parameters():
    out = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(NOTEBOOKS / "department.ipynb")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("period", "department", "segment", "interactive"):
        assert f"  {name}:" in out.stdout


def test_job_specs_for_the_notebooks_are_valid():
    from finlib.jobs.spec import load_jobs

    jobs = {j.name: j for j in load_jobs()}
    for name in NAMES:
        job = jobs[name]
        assert job.spec.parameters["period"] == "last_closed_month"
        assert job.spec.parameters["interactive"] is False
        assert job.spec.schedule and job.spec.audience and job.spec.retries >= 1
    assert [v["department"] for v in jobs["department"].variants()] == [
        "Sales", "Marketing", "Product", "Customer Success"]


# -- executed notebooks: scraps ----------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_records_the_documented_scraps(name, scraps_of):
    s = scraps_of(name)
    assert set(s) == SCRAPS[name]
    assert s["period"] == PERIOD
    assert isinstance(s["kpis"], dict) and s["kpis"]["period"] == PERIOD
    assert isinstance(s["data_as_of"], str) and s["data_as_of"].startswith("2026-")
    assert isinstance(s["alerts"], list)
    for a in s["alerts"]:
        assert ALERT_KEYS <= set(a)
        assert a["severity"] in ("info", "warning", "critical")
    json.dumps(s)  # every scrap is plain JSON


def test_kpis_match_finlib_headline_figures(scraps_of, small_warehouse):
    from finlib.metrics.kpis import headline_kpis

    h = headline_kpis(small_warehouse.wh, PERIOD)
    ex = scraps_of("executive")["kpis"]
    ret = scraps_of("retention_roi")["kpis"]
    for key in ("mrr", "arr", "recognised_revenue", "revenue_target", "nrr", "cac"):
        assert ex[key] == pytest.approx(h[key]), key
    for key in ("mrr", "arr", "nrr", "grr", "logo_churn"):
        assert ret[key] == pytest.approx(h[key]), key
    dep = scraps_of("department")
    assert dep["department"] == "Marketing"
    assert dep["kpis"]["cac"] == pytest.approx(h["cac"])
    assert {"campaigns", "cac_by_channel"} <= set(dep["tables"])


def test_executive_scraps_are_consistent(scraps_of):
    s = scraps_of("executive")
    rvt = s["revenue_vs_target"]
    assert rvt["actual"] == pytest.approx(s["kpis"]["recognised_revenue"])
    assert rvt["favourable"] is (rvt["actual"] >= rvt["target"])
    assert {r["domain"] for r in s["cross_domain_roi"]} == {"Sales", "Marketing", "Product", "Customer Success"}
    assert len(s["forecast"]) >= 1 and all(f["pi_lower"] <= f["mean"] <= f["pi_upper"] for f in s["forecast"])
    # the archive is empty: every trend month is computed live (and marked so)
    sources = {t["source"] for t in s["trends"]}
    assert sources <= {"live", "n/a"} and "live" in sources
    assert len({t["period"] for t in s["trends"]}) == 6
    # open alerts: the demo plants a revenue-target breach in the last month
    assert any(a["rule"] == "revenue_target" for a in s["alerts"])


def test_budget_variance_scraps_add_up(scraps_of):
    s = scraps_of("budget_variance")
    k = s["kpis"]
    assert k["opex_actual"] == pytest.approx(sum(r["actual"] for r in s["variance_by_department"]))
    assert k["opex_variance"] == pytest.approx(k["opex_actual"] - k["opex_budget"])
    assert k["threshold"] == pytest.approx(0.10)  # parameters/alerts.yaml
    assert k["lines_over_threshold"] == len(s["variance_lines"])
    assert all(abs(r["variance_pct"]) > 0.10 for r in s["variance_lines"])
    assert {a["rule"] for a in s["alerts"]} <= {"budget_variance", "cost_control"}


def test_product_scraps_are_plausible(scraps_of, small_warehouse):
    from finlib.demo import load_truth

    s = scraps_of("product_roi")
    k = s["kpis"]
    assert k["dev_cost_to_date"] == pytest.approx(sum(r["cost"] for r in s["feature_roi"]))
    assert k["product_roi"] == pytest.approx((k["attributed_arr"] - k["dev_cost_to_date"]) / k["dev_cost_to_date"])
    truth = load_truth(small_warehouse.wh)["adoption"]
    planted = [r for r in s["adoption"] if r["feature_id"] == truth["feature_id"]]
    assert planted, "the planted adoption feature is among the modelled features"
    assert planted[0]["ci_low"] <= truth["effect_mrr"] <= planted[0]["ci_high"]


def test_retention_scraps_are_plausible(scraps_of):
    s = scraps_of("retention_roi")
    assert 0.5 < s["churn_model"]["auc"] <= 1.0
    assert {r["band"] for r in s["revenue_at_risk"]} >= {"red", "amber", "green"}
    risks = [r["expected_arr_lost"] for r in s["at_risk_customers"]]
    assert risks == sorted(risks, reverse=True) and len(risks) == 15
    assert {r["segment"] for r in s["clv"]} == {"SMB", "Mid-Market", "Enterprise"}
    assert s["alerts"] == []


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_with_interactive_widgets(name, runs):
    """interactive=True builds the ipywidgets controls and Output sections without error."""
    import nbformat

    params = {"period": PERIOD, "interactive": True}
    if name == "department":
        params["department"] = "Customer Success"
        params["segment"] = "SMB"
    nb = nbformat.read(str(runs.run(name, **params)), as_version=4)
    widget_views = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                    if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget_views) >= 3  # the controls and at least two sections
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_a_period_without_data_fails_the_job_with_a_short_message(runs):
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as err:
        runs.run("budget_variance", period="2031-01", interactive=False)
    assert "No data for 2031-01" in str(err.value)
