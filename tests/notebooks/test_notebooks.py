"""The notebooks' contract, tested on the committed notebooks and on a hand-edited copy:

* the ``parameters`` cell: typed names with a ``# help`` comment (papermill's inspection);
* a clean plain-papermill run on small demo data records the scraps of ``docs/SCRAPS.md``
  with plausible values;
* run top to bottom with nbclient in the ``finlib`` kernel (as an analyst would, widgets
  on), every notebook leaves its section DataFrames as named variables in the kernel, and
  a control change re-runs the cells below it in place;
* committed without outputs, with stable metadata.

Nothing compares a notebook with a template: analysts edit them freely.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.conftest import NAMES, NOTEBOOKS, PERIOD, ROOT, static_params

#: docs/SCRAPS.md: the scraps each notebook records
SCRAPS = {
    "product_roi": {"kpis", "feature_roi", "team_roi", "adoption", "launch_roi", "launch_uplift",
                    "launch_comparison", "milestones", "alerts", "period", "data_as_of"},
    "retention_roi": {"kpis", "revenue_at_risk", "at_risk_customers", "churn_model", "campaigns", "expansion",
                      "satisfaction_roi", "nrr_by_band", "clv", "alerts", "period", "data_as_of"},
    "budget_variance": {"kpis", "variance_by_department", "variance_lines", "utilisation", "alerts", "period",
                        "data_as_of"},
    "executive": {"kpis", "revenue_vs_target", "forecast", "cost_by_department", "cross_domain_roi",
                  "budget_utilisation", "trends", "alerts", "period", "data_as_of"},
    "department": {"kpis", "tables", "alerts", "department", "period", "data_as_of"},
}
ALERT_KEYS = {"id", "rule", "severity", "state", "entity", "message", "value", "threshold", "period"}

#: what each notebook leaves in the kernel: variable name -> type name
NAMESPACE = {
    "product_roi": {"frames": "Frames", "kpis": "dict", "features": "DataFrame", "teams": "DataFrame",
                    "adoption": "DataFrame", "launches": "DataFrame", "launch_uplift": "DataFrame",
                    "launch_comparison": "DataFrame", "launch_trend": "DataFrame", "milestones": "DataFrame",
                    "customer_costs": "DataFrame", "alerts": "list"},
    "retention_roi": {"frames": "Frames", "kpis": "dict", "at_risk": "DataFrame", "at_risk_customers": "DataFrame",
                      "churn_model": "dict", "campaigns": "DataFrame", "expansion": "DataFrame",
                      "expansion_by_tier": "DataFrame", "satisfaction_roi": "DataFrame", "nrr_by_band": "DataFrame",
                      "churn_by_score": "DataFrame", "clv": "DataFrame"},
    "budget_variance": {"frames": "Frames", "kpis": "dict", "by_department": "DataFrame", "lines": "DataFrame",
                        "trend": "DataFrame", "utilisation": "DataFrame", "alerts": "list"},
    "executive": {"frames": "Frames", "kpis": "dict", "revenue_vs_target": "dict", "forecast": "DataFrame",
                  "costs": "DataFrame", "roi": "DataFrame", "utilisation": "DataFrame", "trends": "DataFrame",
                  "alerts": "list"},
    "department": {"frames": "Frames", "kpis": "dict", "tables": "dict", "alerts": "list"},
}


def _nb(name):
    return nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)


def check_parameters_cell(path: Path) -> dict:
    """The first code cell is tagged ``parameters`` and every line is a typed name with help."""
    import papermill as pm

    nb = nbformat.read(str(path), as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    params = pm.inspect_notebook(str(path))
    lines = [ln for ln in first.source.splitlines() if ln.strip()]
    assert len(params) == len(lines), "papermill could not parse every line of the parameters cell"
    assert params["period"]["default"] == '"last_closed_month"'
    assert params["interactive"]["inferred_type_name"] == "bool" and params["interactive"]["default"] == "True"
    for p in params.values():
        assert p["inferred_type_name"] != "None", f"{path.name}: {p['name']} has no type"
        assert p["help"], f"{path.name}: {p['name']} has no # help comment"
    return params


def check_scraps(name: str, s: dict) -> None:
    """The scraps of ``docs/SCRAPS.md``, plain JSON, for the demo's last month."""
    assert set(s) == SCRAPS[name]
    assert s["period"] == PERIOD
    assert isinstance(s["kpis"], dict) and s["kpis"]["period"] == PERIOD
    assert isinstance(s["data_as_of"], str) and s["data_as_of"].startswith("2026-")
    assert isinstance(s["alerts"], list)
    for a in s["alerts"]:
        assert ALERT_KEYS <= set(a)
        assert a["severity"] in ("info", "warning", "critical")
    json.dumps(s)  # every scrap is plain JSON


def kernel_namespace(path: Path, env: dict, names, parameters: dict, after: str = "") -> dict:
    """Run ``path`` top to bottom with nbclient in the ``finlib`` kernel (``parameters`` set
    right after the parameters cell, as papermill would), then one extra cell: ``after``,
    then a report of ``type(name).__name__`` for ``names`` (``None`` when undefined) and of
    the ``repr`` of what ``after`` assigned to ``report``. The report is written to a file: in
    a live page (widgets on) the extra cell's output goes into its output widget."""
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in parameters.items())))
    out = Path(env["FINLIB_REPORTS"]).parent / f"namespace-{path.stem}-{abs(hash(after))}.json"
    nb.cells.append(nbformat.v4.new_code_cell(
        "report = None\n" + after + "\nimport json as _json, pathlib as _pathlib\n"
        f"_pathlib.Path({str(out)!r}).write_text(_json.dumps({{'types': {{n: type(globals()[n]).__name__ "
        f"if n in globals() else None for n in {sorted(names)!r}}}, 'report': report}}, default=str))"))
    with pytest.MonkeyPatch.context() as mp:  # the kernel inherits this environment
        for k, v in env.items():
            mp.setenv(k, v)
        NotebookClient(nb, kernel_name="finlib", timeout=300,
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0]
    return json.loads(out.read_text())


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


def test_no_generator_or_template_stands_behind_the_notebooks():
    assert not (ROOT / "tools" / "build_notebooks.py").exists()


@pytest.mark.parametrize("name", NAMES)
def test_first_code_cell_is_the_typed_and_commented_parameters_cell(name):
    params = check_parameters_cell(NOTEBOOKS / f"{name}.ipynb")
    if name == "department":
        assert params["department"]["default"] == '"Sales"'


@pytest.mark.parametrize("name", NAMES)
def test_the_dashboard_machinery_is_one_line_of_the_notebook(name):
    """Only the setup cell mentions the dashboard (its import and ``live.page``)."""
    code = [c.source for c in _nb(name).cells if c.cell_type == "code"]
    machinery = re.compile(r"live\b|finlib\.dashboards|query\.|preheat|revalidate|errors\.install|under_voila")
    lines = [ln for src in code for ln in src.splitlines() if machinery.search(ln)]
    assert len(lines) == 2 and lines[0] == "from finlib.dashboards import live", lines
    assert re.match(r"live\.page\(\w+, globals\(\), interactive\)", lines[1]), lines


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
    check_scraps(name, scraps_of(name))


def test_scraps_table_matches_docs_scraps_md():
    """Every scrap the tests expect is documented in docs/SCRAPS.md, under its notebook."""
    doc = (ROOT / "docs" / "SCRAPS.md").read_text(encoding="utf-8")
    for name, scraps in SCRAPS.items():
        section = doc.split(f"## {name}.ipynb", 1)[1].split("\n## ", 1)[0]
        every = doc.split("## Scraps every notebook records", 1)[1].split("\n## ", 1)[0]
        for scrap in scraps:
            assert f"| `{scrap}` |" in section or f"| `{scrap}` |" in every, (name, scrap)


# -- in the kernel: the section frames are named variables ------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_running_the_notebook_leaves_the_section_frames_as_named_variables(name, small_warehouse):
    got = kernel_namespace(NOTEBOOKS / f"{name}.ipynb", small_warehouse.env, NAMESPACE[name], {"period": PERIOD})
    assert got["types"] == NAMESPACE[name]


def test_a_control_change_reruns_the_cells_below_and_rebinds_their_variables(small_warehouse):
    """The live page re-runs the analysis cells: after picking 2026-06 in the period control,
    ``kpis`` and ``by_department`` are the figures of 2026-06."""
    after = ("page = globals()['__finlib_live_page__']\n"
             "page.controls.dropdowns['period'].value = '2026-06'\n"
             "report = [period, kpis['period'], frames.period, float(by_department['actual'].sum())]")
    got = kernel_namespace(NOTEBOOKS / "budget_variance.ipynb", small_warehouse.env, ["by_department"],
                           {"period": PERIOD}, after=after)
    assert got["report"][:3] == ["2026-06", "2026-06", "2026-06"]
    from finlib.views import budget_variance as bv
    from finlib.views.common import clear_cache

    with pytest.MonkeyPatch.context() as mp:
        for k, v in small_warehouse.env.items():
            mp.setenv(k, v)
        clear_cache()
        want = float(bv.variance_by_department(bv.load("2026-06"))["actual"].sum())
        clear_cache()
    assert got["report"][3] == pytest.approx(want) and want > 0


# -- a notebook edited by hand still passes --------------------------------------------------------


@pytest.fixture(scope="module")
def edited_notebook(tmp_path_factory) -> Path:
    """retention_roi.ipynb as an analyst might leave it: an extra markdown cell, an extra
    analysis cell filtering a section's frame, a section moved up."""
    nb = _nb("retention_roi")
    cells = nb.cells
    at = next(i for i, c in enumerate(cells) if c.source.startswith("at_risk_customers ="))
    cells.insert(at + 1, nbformat.v4.new_markdown_cell("Only the Enterprise customers among them:"))
    cells.insert(at + 2, nbformat.v4.new_code_cell(
        'enterprise_at_risk = at_risk_customers[at_risk_customers["segment"] == "Enterprise"]\n'
        "rr.at_risk_customers_table(enterprise_at_risk)"))
    clv_md = next(i for i, c in enumerate(cells) if c.source.startswith("## Customer lifetime value"))
    moved = cells[clv_md:clv_md + 2]
    del cells[clv_md:clv_md + 2]
    at_risk_md = next(i for i, c in enumerate(cells) if c.source.startswith("## Revenue at risk"))
    cells[at_risk_md:at_risk_md] = moved
    path = tmp_path_factory.mktemp("edited") / "retention_roi.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_a_hand_edited_notebook_keeps_its_parameters_contract(edited_notebook):
    check_parameters_cell(edited_notebook)


def test_a_hand_edited_notebook_runs_under_plain_papermill_and_records_the_scraps(edited_notebook, small_warehouse,
                                                                                 tmp_path):
    import papermill as pm
    import scrapbook as sb

    out = tmp_path / "out.ipynb"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in small_warehouse.env.items():
            mp.setenv(k, v)
        pm.execute_notebook(str(edited_notebook), str(out), parameters=static_params("retention_roi"),
                            kernel_name="finlib", progress_bar=False, cwd=str(NOTEBOOKS), execution_timeout=300)
    check_scraps("retention_roi", {k: v.data for k, v in sb.read_notebook(str(out)).scraps.items()})


def test_a_hand_edited_notebook_leaves_its_frames_and_the_new_one_in_the_kernel(edited_notebook, small_warehouse):
    names = {**NAMESPACE["retention_roi"], "enterprise_at_risk": "DataFrame"}
    got = kernel_namespace(edited_notebook, small_warehouse.env, names, {"period": PERIOD})
    assert got["types"] == names


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
    budgeted = [r for r in s["variance_lines"] if not r.get("unbudgeted")]
    unbudgeted = [r for r in s["variance_lines"] if r.get("unbudgeted")]
    assert all(abs(r["variance_pct"]) > 0.10 for r in budgeted)
    assert all(r["budget"] is None and r["actual"] > 1000 for r in unbudgeted)  # min_amount
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


def assert_same_records(got: list[dict], want, columns) -> None:
    """A table scrap holds ``want``'s rows (a DataFrame) in ``columns``, as JSON."""
    from finlib.views.common import jsonable

    expected = jsonable(want[list(columns)])
    assert len(got) == len(expected)
    for g, w in zip(got, expected, strict=True):
        assert set(g) == set(columns)
        for c in columns:
            if isinstance(w[c], float):
                assert g[c] == pytest.approx(w[c], rel=1e-9, abs=1e-9), c
            else:
                assert g[c] == w[c], c


def test_satisfaction_scraps_are_the_satisfaction_model_called_directly(scraps_of, small_warehouse):
    """``satisfaction_roi`` and ``nrr_by_band`` of retention_roi.ipynb are
    ``satisfaction_frames`` on the same warehouse and month, column for column."""
    from finlib.models.satisfaction import satisfaction_frames

    s = scraps_of("retention_roi")
    f = satisfaction_frames(small_warehouse.wh, PERIOD)
    assert [r["kind"] for r in s["satisfaction_roi"]] == ["nps", "csat"]
    assert_same_records(s["satisfaction_roi"], f["score_effect"], s["satisfaction_roi"][0].keys())
    assert {"revenue_per_point", "revenue_per_point_ci_low", "revenue_per_point_ci_high", "coef_per_point",
            "churn_change_per_point", "data_issue"} <= set(s["satisfaction_roi"][0])
    for r in s["satisfaction_roi"]:  # the small demo prices both kinds
        assert r["data_issue"] is None
        assert r["revenue_per_point_ci_low"] < r["revenue_per_point"] < r["revenue_per_point_ci_high"]
    assert_same_records(s["nrr_by_band"], f["nrr_by_band"], f["nrr_by_band"].columns)


def test_launch_scraps_are_the_launch_model_called_directly(scraps_of, small_warehouse):
    """``launch_uplift`` and ``launch_comparison`` of product_roi.ipynb are ``launch_frames``
    on the same warehouse and month, column for column."""
    from finlib.models.launch import launch_frames

    s = scraps_of("product_roi")
    f = launch_frames(small_warehouse.wh, PERIOD)
    assert len(s["launch_uplift"]) == 1
    assert_same_records(s["launch_uplift"], f["uplift"], f["uplift"].columns)
    u = s["launch_uplift"][0]
    assert u["ci_low"] < u["uplift_mrr"] < u["ci_high"] and u["cost"] > 0
    assert u["roi"] == pytest.approx((u["return"] - u["cost"]) / u["cost"])
    assert_same_records(s["launch_comparison"], f["comparison"], f["comparison"].columns)
    assert s["launch_comparison"][0]["uplift_mrr"] == pytest.approx(u["uplift_mrr"])


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_with_interactive_widgets(name, runs):
    """interactive=True builds the ipywidgets controls and Output sections without error."""
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
