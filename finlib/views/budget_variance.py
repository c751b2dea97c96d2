"""Views of ``notebooks/budget_variance.ipynb``: costs against budget.

Sections: headline tiles, actual vs budget per department, department x category lines
outside the tolerance, twelve months of costs per department, year-to-date utilisation and
the budget variance / cost control alerts. Variance convention (finlib.metrics.core):
variance = actual − budget, variance % = variance / |budget|, favourable = at or under
budget for costs.
"""

from __future__ import annotations

from finlib import widgets
from finlib.errors import ConfigError, FinlibError
from finlib.views import data
from finlib.views.common import (
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

TITLE = "Budget variance"
DEPARTMENTS = ("all", "Sales", "Marketing", "Product", "Customer Success", "G&A")
ALERT_RULES = ("budget_variance", "cost_control")


def params(period: str = "last_closed_month", department: str = "all",
           variance_threshold: float | None = None) -> dict:
    if department not in DEPARTMENTS:
        raise ConfigError(f"Unknown department {department!r}: choose one of {', '.join(DEPARTMENTS)}.")
    return {"period": resolve_period(period), "department": department, "variance_threshold": variance_threshold}


def dashboard(p: dict, interactive: bool = False):
    return _dashboard(TITLE, p, {"period": period_choices(p["period"]), "department": list(DEPARTMENTS)},
                      interactive)


def threshold(p: dict) -> float:
    """The tolerance: the parameter, else ``budget_variance.threshold`` of parameters/alerts.yaml."""
    if p.get("variance_threshold") is not None:
        return float(p["variance_threshold"])
    from finlib.alerts import rule_settings

    return float(rule_settings()["budget_variance"]["threshold"])


# -- pure builders ----------------------------------------------------------------------


def _month(df, period: str):
    import pandas as pd

    return df[pd.to_datetime(df["period"]) == pd.Timestamp(period + "-01")]


def _dept(df, department: str):
    return df if department == "all" else df[df["department"] == department]


def by_department(m: dict, period: str):
    """Actual vs budget per department for the month (cost lines), with month-over-month change."""
    from finlib.metrics import monitoring as mon

    cv = mon.cost_variance(m["facts"]["budget_vs_actual"], by=("department",))
    cur = _month(cv, period)
    return cur.drop(columns=["period"]).sort_values("actual", ascending=False).reset_index(drop=True)


def lines_outside_tolerance(m: dict, period: str, tolerance: float, department: str = "all"):
    """Budget lines (department x account) of the month whose |actual - budget| / budget
    exceeds ``tolerance``: exactly the lines the ``budget_variance`` alert rule flags."""
    from finlib.metrics import monitoring

    cv = monitoring.cost_variance(m["budget_vs_actual"], by=("department", "account"), tolerance=tolerance)
    cv = _dept(_month(cv, period), department)
    out = cv[cv["outside_tolerance"].fillna(False).astype(bool)]
    cols = [c for c in ["department", "account", "actual", "budget", "variance", "variance_pct", "favourable",
                        "mom_pct"] if c in out.columns]
    return out.sort_values("variance", ascending=False)[cols].reset_index(drop=True)


def department_figure(t):
    from finlib import viz

    return viz.bars(t["department"], {"Actual": t["actual"], "Budget": t["budget"]},
                    "Operating costs against budget, by department")


def trend_figure(costs, department: str = "all"):
    import plotly.express as px

    from finlib import viz

    t = _dept(costs, department).sort_values("period")
    fig = px.line(t, x="period", y="cost", color="department", markers=True,
                  title="Costs per department, last twelve months", color_discrete_sequence=viz.PALETTE)
    fig.update_layout(height=380, legend_title_text="")
    fig.update_xaxes(title=None)
    fig.update_yaxes(title=None)
    viz.money_axis(fig, "y")
    return fig


def utilisation_figure(u):
    import plotly.graph_objects as go

    from finlib import viz

    colours = [viz.UNFAVOURABLE if x > 1 else viz.FAVOURABLE for x in u["utilisation"].fillna(0)]
    fig = go.Figure(go.Bar(x=u["department"], y=u["utilisation"], marker_color=colours, name="used"))
    fig.add_hline(y=1.0, line_dash="dash", line_color="#9aa5b1")
    fig.update_layout(title="Share of the year-to-date budget used", height=340, showlegend=False)
    viz.percent_axis(fig, "y")
    return fig


def kpis(m: dict, period: str, tolerance: float, department: str = "all") -> dict:
    d = by_department(m, period)
    d = _dept(d, department)
    actual, budget = float(d["actual"].sum()), float(d["budget"].sum())
    u = _dept(m["budget_utilisation"], department)
    lines = lines_outside_tolerance(m, period, tolerance, department)
    return jsonable({
        "period": period, "department": department,
        "opex_actual": actual, "opex_budget": budget, "opex_variance": actual - budget,
        "opex_variance_pct": (actual - budget) / abs(budget) if budget else None,
        "opex_favourable": actual <= budget,
        "ytd_actual": float(u["actual_ytd"].sum()), "ytd_budget": float(u["budget_ytd"].sum()),
        "ytd_utilisation": float(u["actual_ytd"].sum() / u["budget_ytd"].sum()) if u["budget_ytd"].sum() else None,
        "lines_over_threshold": int(len(lines)),
        "overspend_over_threshold": float(lines.loc[lines["variance"] > 0, "variance"].sum()),
        "threshold": tolerance,
    })


# -- sections ---------------------------------------------------------------------------------


def headline(p: dict) -> None:
    period, dept = p["period"], p["department"]
    tol = threshold(p)
    cur = kpis(data.metrics(period), period, tol, dept)
    try:
        prev = kpis(data.metrics(previous_period(period)), previous_period(period), tol, dept)
    except FinlibError:  # no previous month in the warehouse
        prev = {}
    widgets.show_tiles([
        widgets.Tile("Operating costs (month)", cur["opex_actual"], "money", prev.get("opex_actual"),
                     cur["opex_budget"], higher_is_better=False, key="opex_actual", target_name="budget"),
        widgets.Tile("Variance vs budget", cur["opex_variance"], "money", higher_is_better=False,
                     key="opex_variance"),
        widgets.Tile("Budget used, year to date", cur["ytd_utilisation"], "pct", prev.get("ytd_utilisation"),
                     higher_is_better=False, key="ytd_utilisation"),
        widgets.Tile(f"Lines beyond ±{tol:.0%}", cur["lines_over_threshold"], "int",
                     prev.get("lines_over_threshold"), higher_is_better=False, key="lines_over_threshold"),
    ])


def departments(p: dict) -> None:
    t = by_department(data.metrics(p["period"]), p["period"])
    t = _dept(t, p["department"])
    show_figure(department_figure(t))
    money_frame(t, money=("actual", "budget", "variance", "mom_change"), pct=("variance_pct", "mom_pct"),
                rename={"variance_pct": "variance %", "mom_change": "change vs last month",
                        "mom_pct": "change %"})


def variance_lines(p: dict) -> None:
    tol = threshold(p)
    t = lines_outside_tolerance(data.metrics(p["period"]), p["period"], tol, p["department"])
    widgets.show_note(f"Tolerance: ±{tol:.0%} of budget. {len(t)} line(s) outside it.")
    money_frame(t, money=("actual", "budget", "variance"), pct=("variance_pct", "mom_pct"),
                rename={"variance_pct": "variance %", "mom_pct": "change vs last month"})


def trend(p: dict) -> None:
    show_figure(trend_figure(data.metrics(p["period"])["facts"]["department_costs"], p["department"]))


def utilisation(p: dict) -> None:
    u = _dept(data.metrics(p["period"])["budget_utilisation"], p["department"])
    show_figure(utilisation_figure(u))
    money_frame(u, money=("actual_ytd", "budget_ytd", "variance"), pct=("utilisation", "variance_pct"),
                rename={"actual_ytd": "actual YTD", "budget_ytd": "budget YTD"})


def alert_list(p: dict) -> list[dict]:
    found = cached(("alerts", "budget", p["period"], p.get("variance_threshold")),
                   lambda: alerts_for(p["period"], ALERT_RULES, {"budget_variance": p.get("variance_threshold")}))
    if p["department"] == "all":
        return found
    return [a for a in found if alert_department(a) == p["department"]]


def alerts(p: dict) -> None:
    show_alerts(alert_list(p))


# -- scraps ---------------------------------------------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of budget_variance.ipynb (docs/SCRAPS.md)."""
    m = data.metrics(p["period"])
    tol = threshold(p)
    return {
        "kpis": kpis(m, p["period"], tol, p["department"]),
        "variance_by_department": records(_dept(by_department(m, p["period"]), p["department"])),
        "variance_lines": records(lines_outside_tolerance(m, p["period"], tol, p["department"])),
        "utilisation": records(_dept(m["budget_utilisation"], p["department"])),
        "alerts": alert_list(p),
        **base_scraps(p),
    }
