"""What ``notebooks/department.ipynb`` shows: one department's figures.

    frames = dv.load(period, department=department, segment=segment, scope=scope)
    tables = dv.tables(frames)          # the department's own tables, by name
    dv.detail(frames, tables)           # its charts and tables

``department`` (a parameter; under Voilà ``?department=Marketing``) chooses the view:

* **Sales**: new ARR won ÷ Sales cost, win rate, the SaaS magic number, bookings by kind;
* **Marketing**: campaign ROI and ROAS, CAC blended and by channel against target, CAC payback;
* **Product**: the product development ROI block (:mod:`finlib.views.product_roi`);
* **Customer Success**: the retention block (:mod:`finlib.views.retention_roi`), by segment.

``scope`` (required) is the departments the reader may see: a dashboard kernel passes its
viewer's granted scope (``scope``, set by ``live.page`` from ``finlib.dashboards.query.scope()``),
a job or an analyst every department (what ``query.scope()`` returns outside a dashboard).
A department outside it is refused, and a figure that needs another department's ledger
(the magic number needs Marketing's cost, the blended CAC and its payback need Sales') is
left out (``None``) unless that department is in the scope too: on PostgreSQL the kernel could not read that ledger
anyway (row-level security), and on DuckDB the figure would let a head work it out.
"""

from __future__ import annotations

from collections.abc import Iterable

import lazy_loader as lazy
import pandas as pd

from finlib import viz, widgets
from finlib.alerts import rule_settings
from finlib.errors import AccessDenied, ConfigError, FinlibError
from finlib.metrics.departments import magic_number as magic
from finlib.views import common, data
from finlib.views import product_roi as pr
from finlib.views import retention_roi as rr
from finlib.views.common import (
    SEGMENT_CHOICES,
    Frames,
    alert_department,
    alerts_for,
    cached,
    data_as_of,
    jsonable,
    month,
    month_before,
    period_choices,
)

go = lazy.load("plotly.graph_objects", suppress_warning=True)
px = lazy.load("plotly.express", suppress_warning=True)

TITLE = "Department view"
PRELOAD = (*pr.PRELOAD, *rr.PRELOAD)
#: the departments with a view here
DEPARTMENTS = ("Sales", "Marketing", "Product", "Customer Success")
#: the alert rules about each department (budget variance and cost control are filtered by name)
ALERT_RULES = {
    "Sales": ("budget_variance", "cost_control", "cac"),
    "Marketing": ("budget_variance", "cost_control", "campaign_roi", "cac"),
    "Product": ("budget_variance", "cost_control", "product_development"),
    "Customer Success": ("budget_variance", "cost_control"),
}
#: customers listed in the Customer Success view
TOP_CUSTOMERS = 10

alerts_table = common.alerts_table


def params(period: str = "last_closed_month", department: str = "Sales", segment: str = "all") -> dict:
    """The notebook's parameters, checked: ``period`` as ``YYYY-MM``."""
    if department not in DEPARTMENTS:
        raise ConfigError(f"Unknown department {department!r}: choose one of {', '.join(DEPARTMENTS)}.")
    if segment not in SEGMENT_CHOICES:
        raise ConfigError(f"Unknown segment {segment!r}: choose one of {', '.join(SEGMENT_CHOICES)}.")
    return {"period": month(period), "department": department, "segment": segment}


def choices(p: dict) -> dict:
    return {"department": list(DEPARTMENTS), "period": period_choices(p["period"]),
            "segment": list(SEGMENT_CHOICES)}


# -- the month's figures ----------------------------------------------------------------


def load(period: str, department: str, segment: str = "all", *, scope: Iterable[str]) -> Frames:
    """The figures of ``department`` for ``period`` (cached): Product and Customer Success
    load what ``product_roi.ipynb`` and ``retention_roi.ipynb`` load; Sales and Marketing
    ``metrics`` (:func:`finlib.metrics.kpis.period_metrics`), ``previous`` (last month's, or
    None) and ``targets``. Every one also holds ``department``, ``segment`` and ``scope``.

    ``scope`` (required): the departments the reader may see; ``department`` must be one of
    them, else :class:`~finlib.errors.AccessDenied`."""
    scope = tuple(scope)
    p = params(period, department, segment)
    if department not in scope:
        raise AccessDenied(f"The figures of {department} are not in this page's scope ({', '.join(scope) or 'none'}).")
    if department == "Product":
        base = pr.load(p["period"])
    elif department == "Customer Success":
        base = rr.load(p["period"])
    else:
        def compute():
            m = data.metrics(p["period"])
            try:
                prev = data.metrics(month_before(p["period"]))
            except FinlibError:  # no previous month in the warehouse
                prev = None
            return Frames(period=p["period"], data_as_of=data_as_of(), metrics=m, previous=prev,
                          targets=data.targets(p["period"]))

        base = cached(("department_frames", p["period"]), compute)
    return Frames(base, department=department, segment=segment, scope=scope)


def magic_number(m: dict) -> float | None:
    """Magic number of the quarter to the period: ARR change over the last three months ÷
    Sales + Marketing cost of the three months before them
    (:func:`finlib.metrics.departments.magic_number`)."""
    s = m["mrr_summary"].sort_values("period")
    acq = m["facts"]["acquisition"].sort_values("period")
    if len(s) < 4 or len(acq) < 6:
        return None
    arr_change = float(s["arr"].iloc[-1] - s["arr"].iloc[-4])
    prior = acq.iloc[-6:-3]
    v = magic(arr_change, float((prior["sales_cost"] + prior["marketing_cost"]).sum()))
    return None if pd.isna(v) else float(v)


def sales_kpis(m: dict, scope: Iterable[str]) -> dict:
    """The Sales figures; the magic number only when Marketing is in ``scope`` (it needs
    Marketing's cost)."""
    s = m["sales"]
    return jsonable({"new_arr_won": s.new_arr_won, "sales_cost": s.sales_cost, "arr_per_cost": s.arr_per_cost,
                     "sales_roi": s.roi, "won": s.won, "lost": s.lost, "win_rate": s.win_rate,
                     "magic_number": magic_number(m) if "Marketing" in tuple(scope) else None})


def marketing_kpis(m: dict, scope: Iterable[str]) -> dict:
    """The Marketing figures; the blended CAC and its payback only when Sales is in ``scope``
    (they need Sales' cost)."""
    h, c = m["headline"], m["campaigns"]
    spend, ret = float(c["spend"].sum()), float(c["new_arr"].sum())
    with_sales = "Sales" in tuple(scope)
    return jsonable({"cac": h["cac"] if with_sales else None,
                     "cac_payback_months": h["cac_payback_months"] if with_sales else None,
                     "new_customers": h["new_customers"], "campaigns": int(len(c)), "campaign_spend": spend,
                     "campaign_new_arr": ret, "campaign_roi": (ret - spend) / spend if spend else None,
                     "campaign_roas": ret / spend if spend else None})


def cac_table(m: dict, targets: pd.DataFrame) -> pd.DataFrame:
    """CAC per channel this month against its target (``vs_target`` = (cac − target) / |target|)."""
    t = m["cac_by_channel"].copy()
    tg = targets[targets["kpi"] == "cac"].set_index("dimension")["target"]
    t["target"] = t["channel"].map(tg)
    t["vs_target"] = (t["cac"] - t["target"]) / t["target"].abs()
    return t[["channel", "spend", "new_customers", "cac", "target", "vs_target"]]


def campaign_roi_minimum() -> float | None:
    """The ``campaign_roi`` alert threshold of parameters/alerts.yaml (ROI as a fraction)."""
    rule = rule_settings().get("campaign_roi")
    return float(rule["threshold"]) if rule and rule.get("enabled") else None


# -- headline ---------------------------------------------------------------------------------


def kpis(frames: Frames) -> dict:
    """The ``kpis`` scrap: always ``period`` and ``department``, then the department's figures."""
    dept = frames.department
    if dept == "Product":
        k = pr.kpis(frames)
    elif dept == "Customer Success":
        k = rr.kpis(frames)
    elif dept == "Sales":
        k = sales_kpis(frames.metrics, frames.scope)
    else:
        k = marketing_kpis(frames.metrics, frames.scope)
    return jsonable({"period": frames.period, "department": dept, **{x: v for x, v in k.items() if x != "period"}})


def headline_tiles(frames: Frames) -> widgets.Tiles:
    """The department's key figures against last month and the target where one is set."""
    dept = frames.department
    if dept == "Product":
        return pr.headline_tiles(frames)
    if dept == "Customer Success":
        return rr.headline_tiles(frames)
    pm = frames.previous
    scope = frames.scope
    kpis = sales_kpis(frames.metrics, scope) if dept == "Sales" else marketing_kpis(frames.metrics, scope)
    target = lambda k: data.target_in(frames.targets, k)  # noqa: E731
    if dept == "Sales":
        prev = sales_kpis(pm, scope) if pm else {}
        return widgets.Tiles([
            widgets.Tile("New ARR won", kpis["new_arr_won"], "money", prev.get("new_arr_won"), key="new_arr_won"),
            widgets.Tile("Sales cost", kpis["sales_cost"], "money", prev.get("sales_cost"), higher_is_better=False,
                         key="sales_cost"),
            widgets.Tile("New ARR per unit of Sales cost", kpis["arr_per_cost"], "ratio", prev.get("arr_per_cost"),
                         key="arr_per_cost"),
            widgets.Tile("Win rate", kpis["win_rate"], "pct", prev.get("win_rate"), key="win_rate"),
            widgets.Tile("Magic number (quarter)", kpis["magic_number"], "number", prev.get("magic_number"),
                         key="magic_number"),
        ])
    prev = marketing_kpis(pm, scope) if pm else {}
    return widgets.Tiles([
        widgets.Tile("CAC (blended)", kpis["cac"], "money", prev.get("cac"), target("cac"),
                     higher_is_better=False, key="cac"),
        widgets.Tile("CAC payback", kpis["cac_payback_months"], "months", prev.get("cac_payback_months"),
                     higher_is_better=False, key="cac_payback_months"),
        widgets.Tile("New customers", kpis["new_customers"], "int", prev.get("new_customers"), key="new_customers"),
        widgets.Tile("Campaign ROI (12 m)", kpis["campaign_roi"], "pct", prev.get("campaign_roi"),
                     target("campaign_roi"), key="campaign_roi"),
        widgets.Tile("Campaign ROAS (12 m)", kpis["campaign_roas"], "ratio", prev.get("campaign_roas"),
                     key="campaign_roas"),
    ])


# -- detail ---------------------------------------------------------------------------------


def tables(frames: Frames) -> dict[str, pd.DataFrame]:
    """The department's own tables (the ``tables`` scrap): Sales ``opportunities``;
    Marketing ``campaigns``, ``cac_by_channel``; Product ``feature_roi``, ``milestones``;
    Customer Success ``revenue_at_risk``, ``at_risk_customers``."""
    dept = frames.department
    if dept == "Product":
        return {"feature_roi": pr.feature_roi(frames), "milestones": pr.milestones(frames)}
    if dept == "Customer Success":
        return {"revenue_at_risk": rr.revenue_at_risk(frames, frames.segment),
                "at_risk_customers": rr.at_risk_customers(frames, frames.segment, TOP_CUSTOMERS)}
    m = frames.metrics
    if dept == "Sales":
        return {"opportunities": m["facts"]["opportunities"]}
    return {"campaigns": m["campaigns"], "cac_by_channel": cac_table(m, frames.targets)}


def campaign_chart(c: pd.DataFrame, minimum_roi: float | None = None, target_roi: float | None = None):
    """Campaign ROI, lowest first, against the alert minimum and the target."""
    c = c.sort_values("roi")
    low = minimum_roi if minimum_roi is not None else -float("inf")
    fig = go.Figure(go.Bar(x=c["campaign_id"], y=c["roi"], hovertext=c["name"], name="ROI",
                           marker_color=[viz.UNFAVOURABLE if r < low else viz.PALETTE[0] for r in c["roi"]]))
    if minimum_roi is not None:
        fig.add_hline(y=minimum_roi, line_dash="dash", line_color=viz.UNFAVOURABLE,
                      annotation_text=f"alert below {minimum_roi:.0%}", annotation_position="top left")
    if target_roi is not None:
        fig.add_hline(y=target_roi, line_dash="dot", line_color=viz.FAVOURABLE,
                      annotation_text=f"target {target_roi:.0%}", annotation_position="bottom right")
    fig.update_layout(title="Campaign ROI, campaigns ended in the last 12 months (lowest first)", height=380,
                      showlegend=False, hovermode="closest")
    fig.update_xaxes(type="category", tickangle=-60)
    viz.percent_axis(fig, "y")
    return viz.style(fig)


def bookings_chart(opps: pd.DataFrame):
    """ARR of the opportunities closed in the month, by kind and outcome."""
    fig = px.bar(opps, x="kind", y="arr", color="stage", barmode="group",
                 title="Opportunities closed this month: ARR by kind and outcome",
                 color_discrete_map={"won": viz.FAVOURABLE, "lost": viz.UNFAVOURABLE})
    fig.update_layout(height=340, legend_title_text="")
    fig.update_xaxes(title=None)
    fig.update_yaxes(title=None)
    viz.money_axis(fig, "y")
    return viz.style(fig)


def detail(frames: Frames, tables: dict[str, pd.DataFrame]) -> widgets.Column:
    """The department's charts and tables, each with a sentence saying what it shows."""
    dept = frames.department
    note = widgets.Note
    if dept == "Sales":
        opps = tables["opportunities"]
        return widgets.Column(
            bookings_chart(opps),
            note("Won and lost opportunities closed in the month; new business drives the new ARR tile, "
                 "expansion and renewal deals are shown for context."),
            widgets.Table(opps.drop(columns=["period"]), money=("arr",), rename={"arr": "ARR"}))
    if dept == "Marketing":
        c = tables["campaigns"]
        return widgets.Column(
            campaign_chart(c, campaign_roi_minimum(), data.target_in(frames.targets, "campaign_roi")),
            note("ROI: the new ARR a campaign's customers brought, minus its spend, over its spend. The table "
                 "lists the weakest campaigns; ROAS = new ARR per unit spent (ROI + 100 %)."),
            widgets.Table(c[["campaign_id", "name", "channel", "ended_on", "spend", "customers", "new_arr", "roi",
                             "roas"]].sort_values("roi"), money=("spend", "new_arr"), pct=("roi",), ratio=("roas",),
                          rename={"new_arr": "new ARR", "roi": "ROI", "roas": "ROAS"}, max_rows=10),
            note("Customer acquisition cost per channel this month against its target (above target is "
                 "unfavourable)."),
            widgets.Table(tables["cac_by_channel"], money=("spend", "cac", "target"), pct=("vs_target",),
                          rename={"cac": "CAC", "vs_target": "vs target"}))
    if dept == "Product":
        return widgets.Column(
            note("Feature cost to date against the expansion revenue attributed to it."),
            pr.feature_roi_chart(tables["feature_roi"]), pr.feature_roi_table(tables["feature_roi"]),
            note("Delivery: milestone budget variance and slip per feature."),
            pr.milestones_table(tables["milestones"], frames))
    return widgets.Column(
        note("Revenue at risk by health band, priced with the churn model, and the customers most likely to "
             "leave next month."),
        rr.revenue_at_risk_chart(tables["revenue_at_risk"]), rr.at_risk_customers_table(tables["at_risk_customers"]),
        note("What customer success coverage buys: retention above the tech-touch baseline."),
        rr.cs_investment_tiles(rr.cs_investment(frames)),
        note("Expansion by customer success tier."),
        rr.expansion_by_tier_table(rr.expansion_by_tier(frames)))


def alerts(period: str, department: str) -> list[dict]:
    """The alerts about the department's spending and results for the month (read-only)."""
    found = cached(("alerts", "department", department, period),
                   lambda: alerts_for(period, ALERT_RULES[department]))
    return [a for a in found
            if a["rule"] not in ("budget_variance", "cost_control") or alert_department(a) == department]


# -- everything at once (jobs, tests, preheating) ----------------------------------------------


def scraps(p: dict, scope: Iterable[str]) -> dict:
    """The scraps of department.ipynb (``docs/SCRAPS.md``) for parameters ``p``, read within
    ``scope`` (required, as for :func:`load`)."""
    frames = load(p["period"], p["department"], p["segment"], scope=scope)
    return {"kpis": kpis(frames), "tables": tables(frames), "alerts": alerts(frames.period, frames.department),
            "department": frames.department, "period": frames.period, "data_as_of": frames.data_as_of}
