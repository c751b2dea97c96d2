"""Views of ``notebooks/department.ipynb``: one department's figures.

``department`` (a parameter; under Voilà ``?department=Marketing``) chooses the view:

* **Sales**: new ARR won ÷ Sales cost, win rate, the SaaS magic number, bookings by kind;
* **Marketing**: campaign ROI and ROAS, CAC blended and by channel against target, CAC payback;
* **Product**: the product development ROI block (:mod:`finlib.views.product_roi`);
* **Customer Success**: the retention block (:mod:`finlib.views.retention_roi`), by segment.
"""

from __future__ import annotations

from finlib import widgets
from finlib.errors import ConfigError, FinlibError
from finlib.views import data
from finlib.views import product_roi as product_view
from finlib.views import retention_roi as retention_view
from finlib.views.common import (
    DEPARTMENTS,
    SEGMENTS,
    alert_department,
    alerts_for,
    base_scraps,
    cached,
    jsonable,
    money_frame,
    period_choices,
    previous_period,
    records,
    resolve_period,
    show_alerts,
    show_figure,
)
from finlib.views.common import (
    dashboard as _dashboard,
)

TITLE = "Department view"
DEPARTMENTS = list(DEPARTMENTS)
#: the alert rules about each department (budget variance and cost control are filtered by name)
ALERT_RULES = {
    "Sales": ("budget_variance", "cost_control", "cac"),
    "Marketing": ("budget_variance", "cost_control", "campaign_roi", "cac"),
    "Product": ("budget_variance", "cost_control", "product_development"),
    "Customer Success": ("budget_variance", "cost_control"),
}


def params(period: str = "last_closed_month", department: str = "Sales", segment: str = "all") -> dict:
    if department not in DEPARTMENTS:
        raise ConfigError(f"Unknown department {department!r}: choose one of {', '.join(DEPARTMENTS)}.")
    if segment not in SEGMENTS:
        raise ConfigError(f"Unknown segment {segment!r}: choose one of {', '.join(SEGMENTS)}.")
    return {"period": resolve_period(period), "department": department, "segment": segment,
            "top_customers": 10, "adoption_features": 6, "overrun_threshold": None}


def dashboard(p: dict, interactive: bool = False):
    return _dashboard(TITLE, p, {"department": DEPARTMENTS, "period": period_choices(p["period"]),
                                 "segment": list(SEGMENTS)}, interactive)


# -- pure builders ----------------------------------------------------------------------


def magic_number(m: dict) -> float | None:
    """Magic number of the quarter to the period: ARR change over the last three months ÷
    Sales + Marketing cost of the three months before them
    (:func:`finlib.metrics.departments.magic_number`)."""
    import pandas as pd

    from finlib.metrics.departments import magic_number as magic

    s = m["mrr_summary"].sort_values("period")
    acq = m["facts"]["acquisition"].sort_values("period")
    if len(s) < 4 or len(acq) < 6:
        return None
    arr_change = float(s["arr"].iloc[-1] - s["arr"].iloc[-4])
    prior = acq.iloc[-6:-3]
    v = magic(arr_change, float((prior["sales_cost"] + prior["marketing_cost"]).sum()))
    return None if pd.isna(v) else float(v)


def sales_kpis(m: dict) -> dict:
    s = m["sales"]
    return jsonable({"new_arr_won": s.new_arr_won, "sales_cost": s.sales_cost, "arr_per_cost": s.arr_per_cost,
                     "sales_roi": s.roi, "won": s.won, "lost": s.lost, "win_rate": s.win_rate,
                     "magic_number": magic_number(m)})


def marketing_kpis(m: dict) -> dict:
    h, c = m["headline"], m["campaigns"]
    spend, ret = float(c["spend"].sum()), float(c["new_arr"].sum())
    return jsonable({"cac": h["cac"], "cac_payback_months": h["cac_payback_months"],
                     "new_customers": h["new_customers"], "campaigns": int(len(c)), "campaign_spend": spend,
                     "campaign_new_arr": ret, "campaign_roi": (ret - spend) / spend if spend else None,
                     "campaign_roas": ret / spend if spend else None})


def cac_table(m: dict, targets):
    t = m["cac_by_channel"].copy()
    tg = targets[targets["kpi"] == "cac"].set_index("dimension")["target"]
    t["target"] = t["channel"].map(tg)
    t["vs_target"] = (t["cac"] - t["target"]) / t["target"].abs()
    return t[["channel", "spend", "new_customers", "cac", "target", "vs_target"]]


def campaign_figure(c, minimum_roi: float | None = None, target_roi: float | None = None):
    """Campaign ROI, lowest first, against the alert minimum and the target."""
    import plotly.graph_objects as go

    from finlib import viz

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
    return fig


def campaign_roi_minimum() -> float | None:
    """The ``campaign_roi`` alert threshold of parameters/alerts.yaml (ROI as a fraction)."""
    from finlib.alerts import rule_settings

    rule = rule_settings().get("campaign_roi")
    return float(rule["threshold"]) if rule and rule.get("enabled") else None


def bookings_figure(opps):
    import plotly.express as px

    from finlib import viz

    fig = px.bar(opps, x="kind", y="arr", color="stage", barmode="group",
                 title="Opportunities closed this month: ARR by kind and outcome",
                 color_discrete_map={"won": viz.FAVOURABLE, "lost": viz.UNFAVOURABLE})
    fig.update_layout(height=340, legend_title_text="")
    fig.update_xaxes(title=None)
    fig.update_yaxes(title=None)
    viz.money_axis(fig, "y")
    return fig


# -- sections ---------------------------------------------------------------------------------


def headline(p: dict) -> None:
    period, dept = p["period"], p["department"]
    if dept == "Product":
        product_view.headline(p)
        return
    if dept == "Customer Success":
        retention_view.headline(p)
        return
    m = data.metrics(period)
    try:
        pm = data.metrics(previous_period(period))
    except FinlibError:  # no previous month in the warehouse
        pm = None
    if dept == "Sales":
        cur, prev = sales_kpis(m), (sales_kpis(pm) if pm else {})
        widgets.show_tiles([
            widgets.Tile("New ARR won", cur["new_arr_won"], "money", prev.get("new_arr_won"), key="new_arr_won"),
            widgets.Tile("Sales cost", cur["sales_cost"], "money", prev.get("sales_cost"), higher_is_better=False,
                         key="sales_cost"),
            widgets.Tile("New ARR per $ of Sales cost", cur["arr_per_cost"], "ratio", prev.get("arr_per_cost"),
                         key="arr_per_cost"),
            widgets.Tile("Win rate", cur["win_rate"], "pct", prev.get("win_rate"), key="win_rate"),
            widgets.Tile("Magic number (quarter)", cur["magic_number"], "number", prev.get("magic_number"),
                         key="magic_number"),
        ])
    else:
        cur, prev = marketing_kpis(m), (marketing_kpis(pm) if pm else {})
        widgets.show_tiles([
            widgets.Tile("CAC (blended)", cur["cac"], "money", prev.get("cac"), data.target(period, "cac"),
                         higher_is_better=False, key="cac"),
            widgets.Tile("CAC payback", cur["cac_payback_months"], "months", prev.get("cac_payback_months"),
                         higher_is_better=False, key="cac_payback_months"),
            widgets.Tile("New customers", cur["new_customers"], "int", prev.get("new_customers"),
                         key="new_customers"),
            widgets.Tile("Campaign ROI (12 m)", cur["campaign_roi"], "pct", prev.get("campaign_roi"),
                         data.target(period, "campaign_roi"), key="campaign_roi"),
            widgets.Tile("Campaign ROAS (12 m)", cur["campaign_roas"], "ratio", prev.get("campaign_roas"),
                         key="campaign_roas"),
        ])


def detail(p: dict) -> None:
    dept = p["department"]
    m = None if dept in ("Product", "Customer Success") else data.metrics(p["period"])
    if dept == "Sales":
        opps = m["facts"]["opportunities"]
        show_figure(bookings_figure(opps))
        widgets.show_note("Won and lost opportunities closed in the month; new business drives the new ARR "
                          "tile, expansion and renewal deals are shown for context.")
        money_frame(opps.drop(columns=["period"]), money=("arr",), rename={"arr": "ARR"})
    elif dept == "Marketing":
        show_figure(campaign_figure(m["campaigns"], campaign_roi_minimum(), data.target(p["period"], "campaign_roi")))
        widgets.show_note("ROI: the new ARR a campaign's customers brought, minus its spend, over its spend. "
                          "The table lists the weakest campaigns; ROAS = new ARR per dollar spent (ROI + 100 %).")
        money_frame(m["campaigns"][["campaign_id", "name", "channel", "ended_on", "spend", "customers", "new_arr",
                                    "roi", "roas"]].sort_values("roi"),
                    money=("spend", "new_arr"), pct=("roi",), ratio=("roas",),
                    rename={"new_arr": "new ARR", "roi": "ROI", "roas": "ROAS"}, max_rows=10)
        widgets.show_note("Customer acquisition cost per channel this month against its target "
                          "(above target is unfavourable).")
        money_frame(cac_table(m, data.targets(p["period"])), money=("spend", "cac", "target"), pct=("vs_target",),
                    rename={"cac": "CAC", "vs_target": "vs target"})
    elif dept == "Product":
        widgets.show_note("Feature cost to date against the expansion revenue attributed to it.")
        product_view.features(p)
        widgets.show_note("Delivery: milestone budget variance and slip per feature.")
        product_view.milestones(p)
    else:
        widgets.show_note("Revenue at risk by health band, priced with the churn model, and the customers "
                          "most likely to leave next month.")
        retention_view.at_risk(p)
        widgets.show_note("What customer success coverage buys: retention above the tech-touch baseline.")
        retention_view.cs_investment(p)
        widgets.show_note("Expansion by customer success tier.")
        retention_view.expansion(p)


def alert_list(p: dict) -> list[dict]:
    dept = p["department"]
    found = cached(("alerts", "department", dept, p["period"]),
                   lambda: alerts_for(p["period"], ALERT_RULES[dept]))
    out = []
    for a in found:
        d = alert_department(a)
        if a["rule"] in ("budget_variance", "cost_control"):
            if d == dept:
                out.append(a)
        else:
            out.append(a)
    return out


def alerts(p: dict) -> None:
    show_alerts(alert_list(p))


# -- scraps -----------------------------------------------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of department.ipynb (docs/SCRAPS.md): ``kpis`` and ``tables`` depend on the
    department."""
    dept, period = p["department"], p["period"]
    if dept == "Product":
        s = product_view.scraps(p)
        k, tables = s["kpis"], {"feature_roi": s["feature_roi"], "milestones": s["milestones"]}
    elif dept == "Customer Success":
        s = retention_view.scraps(p)
        k, tables = s["kpis"], {"revenue_at_risk": s["revenue_at_risk"],
                                "at_risk_customers": s["at_risk_customers"]}
    else:
        m = data.metrics(period)
        if dept == "Sales":
            k = sales_kpis(m)
            tables = {"opportunities": records(m["facts"]["opportunities"])}
        else:
            k = marketing_kpis(m)
            tables = {"campaigns": records(m["campaigns"]),
                      "cac_by_channel": records(cac_table(m, data.targets(period)))}
    k = {"period": period, "department": dept, **{x: v for x, v in k.items() if x not in ("period",)}}
    return {"kpis": jsonable(k), "tables": tables, "alerts": alert_list(p), "department": dept,
            **base_scraps(p)}
