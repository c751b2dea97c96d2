"""Write the dashboard/report notebooks in ``notebooks/`` from the specs below.

    .venv/bin/python tools/build_notebooks.py          # rewrite every notebook
    .venv/bin/python tools/build_notebooks.py --check  # exit 1 if a notebook differs from its spec

(This script lives outside ``notebooks/`` because that folder is what the dashboard server
serves: nothing but the dashboards belongs there.)

The notebooks are generated, so they are committed without outputs or execution counts and
with stable metadata and cell ids (a diff shows what changed in the analysis). Each follows
the house shape: parameters -> load -> call finlib -> show -> glue scraps, one sentence of
explanation per figure. All logic lives in ``finlib/views/<notebook>.py``.

Cell conventions (Voilà, preheated kernels): the import cell runs ahead of time, before
anyone opens the page. There ``preheat(...)`` (a no-op outside a preheated kernel) imports the
heavy modules and computes the default page once, so that little is left to do at page view.
``query.param(...)`` then blocks until a viewer opens the page; below it ``revalidate()``
drops whatever was read ahead of time if the warehouse (or the report archive) changed since,
so the page always shows the data as of the page view.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"

METADATA = {
    "kernelspec": {"name": "finlib", "display_name": "Python (finlib)", "language": "python"},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}

INTERACTIVE = "interactive: bool = True  # widgets (dashboards); jobs set False"
PERIOD = 'period: str = "last_closed_month"  # reporting month YYYY-MM (or last_closed_month)'

GLUE_INTRO = ("## Recorded results\n"
              "The figures above are recorded as scraps for the report archive and the executive "
              "summary (names and meanings: `docs/SCRAPS.md`).")


def imports(module: str, spec: dict) -> str:
    sections = ", ".join(code.removeprefix("dash.section(").removesuffix(")") for _, code in spec["sections"])
    defaults = ", ".join(f"{n}={n}" for n in spec["defaults"])
    modules = tuple(dict.fromkeys(spec.get("preload", ())))
    preload = f",\n        modules={tuple(modules)!r}" if modules else ""
    return (
        "from finlib.dashboards import errors, query\n"
        f"from finlib.views import {module} as view\n"
        "from finlib.views.common import glue, preheat, revalidate\n"
        "\n"
        "errors.install()  # under Voilà: short messages instead of tracebacks\n"
        "# a preheated dashboard kernel imports and computes the default page before a viewer arrives\n"
        f"preheat(view, [{sections}],\n        {defaults}{preload})"
    )


def glue_cell(names: list[str]) -> str:
    lines = ["scraps = view.scraps(dash.params)"]
    lines += [f'glue("{n}", scraps["{n}"])' for n in names]
    return "\n".join(lines)


NOTEBOOKS: dict[str, dict] = {
    "product_roi": {
        "defaults": ['period', 'overrun_threshold', 'adoption_features'],
        "preload": ('statsmodels.api', 'statsmodels.stats.proportion', 'finlib.models.attribution'),
        "title": "# Product development ROI\n"
                 "What the features we build cost, what revenue they bring, and how efficiently they "
                 "are delivered. Use the period control (dashboard) or the `period` parameter (report).",
        "parameters": [
            PERIOD,
            "overrun_threshold: \"Optional[float]\" = None  # flag features whose cost exceeds budget by this "
            "fraction, e.g. 0.25 for 25 %; None: parameters/alerts.yaml",
            "adoption_features: int = 6  # how many recently released features get the adoption model",
            INTERACTIVE,
        ],
        "load": "period = query.param(\"period\", period)  # under Voilà: ?period=2024-06\n"
                "revalidate()  # what was computed ahead of time is dropped if the data changed since\n"
                "p = view.params(period, overrun_threshold=overrun_threshold, adoption_features=adoption_features)\n"
                "dash = view.dashboard(p, interactive=interactive)",
        "sections": [
            ("## Headline\nProduct ROI compares the expansion revenue attributed to adopted features "
             "with everything spent building them; the arrows compare with the previous month.",
             "dash.section(view.headline)"),
            ("## Feature ROI\nEach pair of bars sets what a feature has cost to build so far against the "
             "yearly expansion revenue of the customers who adopted it; a feature pays back when its "
             "second bar is longer than its first.",
             "dash.section(view.features)"),
            ("### By team\nThe same comparison summed per team: the teams whose work earns most per "
             "dollar spent are at the top of the ROI column.",
             "dash.section(view.teams)"),
            ("## Feature adoption effect\nFor recently released features, a difference-in-differences "
             "model estimates how much more a customer pays each month after adopting the feature "
             "than comparable customers who did not; a bar that crosses zero means no proven effect.",
             "dash.section(view.adoption)"),
            ("## Product launches\nNew recurring revenue a product won in its first twelve months, "
             "against the features and launch campaigns that built and sold it.",
             "dash.section(view.launches)"),
            ("## Delivery efficiency\nMilestones per feature: what they cost against their budget and "
             "how many days late they were delivered, the most delayed first.",
             "dash.section(view.milestones)"),
            ("## Customer development cost\nThe customers whose feature requests cost most relative to "
             "what they pay us (their share of the requested features' cost divided by their ARR).",
             "dash.section(view.customer_costs)"),
            ("## Alerts\nFeatures whose cost to date exceeds their budget by more than the threshold.",
             "dash.section(view.alerts)"),
        ],
        "scraps": ["kpis", "feature_roi", "team_roi", "adoption", "launch_roi", "milestones", "alerts",
                   "period", "data_as_of"],
    },
    "retention_roi": {
        "defaults": ['period', 'segment', 'top_customers'],
        "preload": ('statsmodels.api', 'scipy.special', 'scipy.optimize', 'scipy.stats', 'finlib.models.churn', 'finlib.metrics.clv'),
        "title": "# Customer success and retention ROI\n"
                 "Revenue at risk, what churn costs, what retention campaigns and customer success "
                 "buy back, and what a customer is worth over their lifetime.",
        "parameters": [
            PERIOD,
            'segment: str = "all"  # customer segment: all, SMB, Mid-Market or Enterprise',
            "top_customers: int = 15  # how many highest-risk customers to list",
            INTERACTIVE,
        ],
        "load": "period = query.param(\"period\", period)  # under Voilà: ?period=2024-06\n"
                "segment = query.param(\"segment\", segment)\n"
                "revalidate()  # what was computed ahead of time is dropped if the data changed since\n"
                "p = view.params(period, segment=segment, top_customers=top_customers)\n"
                "dash = view.dashboard(p, interactive=interactive)",
        "sections": [
            ("## Headline\nRecurring revenue kept and lost: net and gross revenue retention over twelve "
             "months, logo churn this month, and the ARR the churn model expects to lose next month.",
             "dash.section(view.headline)"),
            ("## Revenue at risk\nARR by customer health band with the ARR the churn model expects to "
             "lose from each band next month; the table lists the customers whose departure would cost most (ARR × churn probability).",
             "dash.section(view.at_risk)"),
            ("## How good is the churn model?\nPredicted against observed churn on months the model did "
             "not see: points on the diagonal mean the probabilities can be taken at face value.",
             "dash.section(view.churn_model)"),
            ("## Retention campaigns\nChurn of customers who got each campaign against a control group "
             "that did not, turned into ARR saved and ROI with a 95 % interval.",
             "dash.section(view.campaigns)"),
            ("## Expansion\nExpansion revenue each month, split into upsell (more of the same product) "
             "and cross-sell (another product), and by customer success coverage.",
             "dash.section(view.expansion)"),
            ("## Customer success investment\nRevenue retained by customers with a customer success "
             "manager above the tech-touch baseline, against the cost of the team.",
             "dash.section(view.cs_investment)"),
            ("## Customer lifetime value\nWhat a customer is worth per segment: the simple formula and "
             "the shifted-beta-geometric model fitted to each segment's signup cohorts.",
             "dash.section(view.lifetime_value)"),
        ],
        "scraps": ["kpis", "revenue_at_risk", "at_risk_customers", "churn_model", "campaigns", "expansion",
                   "clv", "alerts", "period", "data_as_of"],
    },
    "budget_variance": {
        "defaults": ['period', 'department', 'variance_threshold'],
        "title": "# Budget variance\n"
                 "Costs against budget by department and category, month over month and year to date.",
        "parameters": [
            PERIOD,
            'department: str = "all"  # all, or one department: Sales, Marketing, Product, Customer Success, G&A',
            "variance_threshold: \"Optional[float]\" = None  # flag lines whose |actual - budget| / budget exceeds "
            "this fraction, e.g. 0.10; None: parameters/alerts.yaml",
            INTERACTIVE,
        ],
        "load": "period = query.param(\"period\", period)  # under Voilà: ?period=2024-06\n"
                "department = query.param(\"department\", department)\n"
                "revalidate()  # what was computed ahead of time is dropped if the data changed since\n"
                "p = view.params(period, department=department, variance_threshold=variance_threshold)\n"
                "dash = view.dashboard(p, interactive=interactive)",
        "sections": [
            ("## Headline\nOperating costs of the month against budget, and the year-to-date share of "
             "the budget used; for costs, green means under budget.",
             "dash.section(view.headline)"),
            ("## Actual against budget by department\nEach pair of bars compares a department's costs "
             "this month with its budget.",
             "dash.section(view.departments)"),
            ("## Lines outside the tolerance\nDepartment and cost category lines whose variance "
             "exceeds the threshold, largest overspend first.",
             "dash.section(view.variance_lines)"),
            ("## Month over month\nEach department's costs over the last twelve months: a line that "
             "jumps shows where spending changed.",
             "dash.section(view.trend)"),
            ("## Budget utilisation, year to date\nThe share of each department's budget used so far "
             "this year; above 100 % means the department has spent more than planned to date.",
             "dash.section(view.utilisation)"),
            ("## Alerts\nBudget variance and cost control alerts for the month.",
             "dash.section(view.alerts)"),
        ],
        "scraps": ["kpis", "variance_by_department", "variance_lines", "utilisation", "alerts", "period",
                   "data_as_of"],
    },
    "executive": {
        "defaults": ['period', 'trend_months'],
        "preload": ('statsmodels.tsa.exponential_smoothing.ets', 'scipy.stats', 'finlib.models.forecast'),
        "title": "# Executive summary\n"
                 "Revenue against target with a forecast, costs against budget, every domain's ROI side "
                 "by side, budget performance and the alerts that need attention.",
        "parameters": [
            PERIOD,
            "trend_months: int = 6  # months of history in the trend section",
            INTERACTIVE,
        ],
        "load": "period = query.param(\"period\", period)  # under Voilà: ?period=2024-06\n"
                "revalidate()  # what was computed ahead of time is dropped if the data changed since\n"
                "p = view.params(period, trend_months=trend_months)\n"
                "dash = view.dashboard(p, interactive=interactive)",
        "sections": [
            ("## Headline\nThe month's key figures; each tile compares with the previous month and, "
             "where one is set, with the target.",
             "dash.section(view.headline)"),
            ("## Revenue against target\nRecognised revenue each month against its target, with the "
             "statistical forecast (and its 95 % range) to the end of the year.",
             "dash.section(view.revenue)"),
            ("## Cost monitoring\nEach department's operating costs this month against budget, with "
             "the change from last month.",
             "dash.section(view.costs)"),
            ("## Return on investment by domain\nWhat each domain returns per dollar it costs "
             "(ROI 1.0 = 100 %: the return is twice the cost).",
             "dash.section(view.roi)"),
            ("## Budget performance\nYear to date, the share of each department's budget used.",
             "dash.section(view.budget)"),
            ("## Trends from the report archive\nKey figures of the last months as recorded by the "
             "domain reports; months without an archived report are computed live and marked so.",
             "dash.section(view.trends)"),
            ("## Open alerts\nAlerts firing for the month and any earlier alert still open.",
             "dash.section(view.alerts)"),
        ],
        "scraps": ["kpis", "revenue_vs_target", "forecast", "cost_by_department", "cross_domain_roi",
                   "budget_utilisation", "trends", "alerts", "period", "data_as_of"],
    },
    "department": {
        "defaults": ['period', 'department', 'segment'],
        "preload": ('statsmodels.api', 'statsmodels.stats.proportion', 'finlib.models.attribution', 'statsmodels.api', 'scipy.special', 'scipy.optimize', 'scipy.stats', 'finlib.models.churn', 'finlib.metrics.clv'),
        "title": "# Department view\n"
                 "One department's figures: Sales, Marketing, Product or Customer Success. Under the "
                 "dashboard server the department comes from the address, e.g. `?department=Marketing`.",
        "parameters": [
            PERIOD,
            'department: str = "Sales"  # Sales, Marketing, Product or Customer Success',
            'segment: str = "all"  # customer segment for the Customer Success view: all, SMB, Mid-Market, Enterprise',
            INTERACTIVE,
        ],
        "load": "department = query.param(\"department\", department, choices=view.DEPARTMENTS)  # ?department=Sales\n"
                "period = query.param(\"period\", period)\n"
                "segment = query.param(\"segment\", segment)\n"
                "revalidate()  # what was computed ahead of time is dropped if the data changed since\n"
                "p = view.params(period, department=department, segment=segment)\n"
                "dash = view.dashboard(p, interactive=interactive)",
        "sections": [
            ("## Headline\nThe department's key figures for the month, against the previous month and "
             "the target where one is set.",
             "dash.section(view.headline)"),
            ("## Detail\nThe department's own measures; each chart and table says in a line what it "
             "shows.",
             "dash.section(view.detail)"),
            ("## Alerts\nAlerts about this department's spending and results for the month.",
             "dash.section(view.alerts)"),
        ],
        "scraps": ["kpis", "tables", "alerts", "department", "period", "data_as_of"],
    },
}


def build(name: str, spec: dict):
    cells = [new_markdown_cell(spec["title"])]
    cells.append(new_code_cell("\n".join(spec["parameters"]), metadata={"tags": ["parameters"]}))
    cells.append(new_code_cell(imports(name, spec)))
    cells.append(new_code_cell(spec["load"]))
    for text, code in spec["sections"]:
        cells.append(new_markdown_cell(text))
        cells.append(new_code_cell(code))
    cells.append(new_markdown_cell(GLUE_INTRO))
    cells.append(new_code_cell(glue_cell(spec["scraps"])))
    for i, cell in enumerate(cells):
        cell["id"] = f"{name.replace('_', '-')}-{i:02d}"
    nb = new_notebook(cells=cells, metadata=METADATA)
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, spec in NOTEBOOKS.items():
        path = NOTEBOOK_DIR / f"{name}.ipynb"
        text = nbformat.writes(build(name, spec)) + "\n"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(path)
    if stale:
        print("out of date (run tools/build_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
