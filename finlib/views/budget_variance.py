"""What ``notebooks/budget_variance.ipynb`` shows: costs against budget.

    frames = bv.load(period)                                   # the month's figures
    by_department = bv.variance_by_department(frames, department=department)
    bv.variance_by_department_chart(by_department)

Sections: headline tiles, actual vs budget per department, department x account lines
outside the tolerance, twelve months of costs per department, year-to-date utilisation and
the budget variance / cost control alerts. Variance convention (finlib.metrics.core):
variance = actual − budget, variance % = variance / |budget|, favourable = at or under
budget for costs.
"""

from __future__ import annotations

import lazy_loader as lazy
import pandas as pd

from finlib import viz, widgets
from finlib.alerts import rule_settings
from finlib.errors import ConfigError
from finlib.metrics import monitoring
from finlib.views import common, data
from finlib.views.common import (
    DEPARTMENT_CHOICES,
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

TITLE = "Budget variance"
PRELOAD = ()
ALERT_RULES = ("budget_variance", "cost_control")

alerts_table = common.alerts_table


def params(period: str = "last_closed_month", department: str = "all",
           variance_threshold: float | None = None) -> dict:
    """The notebook's parameters, checked: ``period`` as ``YYYY-MM``."""
    if department not in DEPARTMENT_CHOICES:
        raise ConfigError(f"Unknown department {department!r}: choose one of {', '.join(DEPARTMENT_CHOICES)}.")
    threshold = None if variance_threshold in (None, "", "None") else float(variance_threshold)
    return {"period": month(period), "department": department, "variance_threshold": threshold}


def choices(p: dict) -> dict:
    return {"period": period_choices(p["period"]), "department": list(DEPARTMENT_CHOICES)}


def tolerance(variance_threshold: float | None = None) -> float:
    """The tolerance: ``variance_threshold``, else ``budget_variance.threshold`` of
    parameters/alerts.yaml."""
    if variance_threshold is not None:
        return float(variance_threshold)
    return float(rule_settings()["budget_variance"]["threshold"])


# -- the month's figures ----------------------------------------------------------------


def load(period: str) -> Frames:
    """Everything the notebook shows for ``period``, read once (cached): ``metrics``
    (:func:`finlib.metrics.kpis.period_metrics`), ``budget_vs_actual`` (cost lines by
    department and account, month by month), ``department_costs`` (twelve months),
    ``utilisation`` (year to date) and ``previous`` (last month's ``metrics``, or None)."""
    period = month(period)

    def compute():
        m = data.metrics(period)
        prev = data.previous_metrics(period)
        return Frames(period=period, data_as_of=data_as_of(), metrics=m, budget_vs_actual=m["budget_vs_actual"],
                      department_costs=m["facts"]["department_costs"], utilisation=m["budget_utilisation"],
                      previous=prev)

    return cached(("budget_frames", period), compute)


def _month(df, period: str):
    return df[pd.to_datetime(df["period"]) == pd.Timestamp(period + "-01")]


def _dept(df, department: str):
    return df if department == "all" else df[df["department"] == department]


def by_department(m: dict, period: str) -> pd.DataFrame:
    """Actual vs budget per department for the month (cost lines), with month-over-month change
    (:func:`finlib.metrics.monitoring.cost_variance`)."""
    cv = monitoring.cost_variance(m["facts"]["budget_vs_actual"], by=("department",))
    cur = _month(cv, period)
    return cur.drop(columns=["period"]).sort_values("actual", ascending=False).reset_index(drop=True)


def lines_outside_tolerance(m: dict, period: str, tolerance: float, department: str = "all") -> pd.DataFrame:
    """Budget lines (department x account) of the month whose |actual - budget| / budget
    exceeds ``tolerance``, and spend without a budget line above the rule's ``min_amount``
    (``unbudgeted``): exactly the lines the ``budget_variance`` alert rule flags."""
    min_amount = float(rule_settings()["budget_variance"]["min_amount"])
    cv = monitoring.cost_variance(m["budget_vs_actual"], by=("department", "account"), tolerance=tolerance,
                                  min_amount=min_amount)
    cv = _dept(_month(cv, period), department)
    out = cv[cv["outside_tolerance"].fillna(False).astype(bool)]
    cols = [c for c in ["department", "account", "actual", "budget", "variance", "variance_pct", "favourable",
                        "unbudgeted", "mom_pct"] if c in out.columns]
    return out.sort_values("variance", ascending=False)[cols].reset_index(drop=True)


def budget_kpis(m: dict, period: str, tolerance: float, department: str = "all") -> dict:
    """The ``kpis`` scrap from a month's ``period_metrics``."""
    d = _dept(by_department(m, period), department)
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


# -- headline ------------------------------------------------------------------------------


def kpis(frames: Frames, department: str = "all", variance_threshold: float | None = None) -> dict:
    """The ``kpis`` scrap: the month's costs against budget for ``department``."""
    return budget_kpis(frames.metrics, frames.period, tolerance(variance_threshold), department)


def headline_tiles(frames: Frames, department: str = "all", variance_threshold: float | None = None) -> widgets.Tiles:
    """Costs of the month against budget and last month; the share of the budget used."""
    kpis = budget_kpis(frames.metrics, frames.period, tolerance(variance_threshold), department)
    prev = {}
    if frames.previous is not None:
        prev = budget_kpis(frames.previous, month_before(frames.period), kpis["threshold"], kpis["department"])
    return widgets.Tiles([
        widgets.Tile("Operating costs (month)", kpis["opex_actual"], "money", prev.get("opex_actual"),
                     kpis["opex_budget"], higher_is_better=False, key="opex_actual", target_name="budget"),
        widgets.Tile("Variance vs budget", kpis["opex_variance"], "money", higher_is_better=False,
                     key="opex_variance"),
        widgets.Tile("Budget used, year to date", kpis["ytd_utilisation"], "pct", prev.get("ytd_utilisation"),
                     higher_is_better=False, key="ytd_utilisation"),
        widgets.Tile(f"Lines beyond ±{kpis['threshold']:.0%}", kpis["lines_over_threshold"], "int",
                     prev.get("lines_over_threshold"), higher_is_better=False, key="lines_over_threshold"),
    ])


# -- sections ---------------------------------------------------------------------------------


def variance_by_department(frames: Frames, department: str = "all") -> pd.DataFrame:
    """Each department's costs of the month against budget, with the change from last month."""
    return _dept(by_department(frames.metrics, frames.period), department).reset_index(drop=True)


def variance_by_department_chart(t: pd.DataFrame):
    return viz.style(viz.bars(t["department"], {"Actual": t["actual"], "Budget": t["budget"]},
                              "Operating costs against budget, by department"))


def variance_by_department_table(t: pd.DataFrame) -> widgets.Table:
    return widgets.Table(t, money=("actual", "budget", "variance", "mom_change"), pct=("variance_pct", "mom_pct"),
                         rename={"variance_pct": "variance %", "mom_change": "change vs last month",
                                 "mom_pct": "change %"})


def variance_lines(frames: Frames, department: str = "all", variance_threshold: float | None = None) -> pd.DataFrame:
    """Department x account lines outside the tolerance, largest overspend first."""
    return lines_outside_tolerance(frames.metrics, frames.period, tolerance(variance_threshold), department)


def variance_lines_table(lines: pd.DataFrame, variance_threshold: float | None = None) -> widgets.Table:
    tol = tolerance(variance_threshold)
    return widgets.Table(lines, money=("actual", "budget", "variance"), pct=("variance_pct", "mom_pct"),
                         rename={"variance_pct": "variance %", "mom_pct": "change vs last month"},
                         caption=f"Tolerance: ±{tol:.0%} of budget. {len(lines)} line(s) outside it.")


def cost_trend(frames: Frames, department: str = "all") -> pd.DataFrame:
    """Each department's costs over the twelve months to the period."""
    return _dept(frames.department_costs, department).sort_values("period").reset_index(drop=True)


def cost_trend_chart(trend: pd.DataFrame):
    fig = px.line(trend, x="period", y="cost", color="department", markers=True,
                  title="Costs per department, last twelve months", color_discrete_sequence=viz.PALETTE)
    fig.update_layout(height=380, legend_title_text="")
    fig.update_xaxes(title=None)
    fig.update_yaxes(title=None)
    viz.money_axis(fig, "y")
    return viz.style(fig)


def utilisation(frames: Frames, department: str = "all") -> pd.DataFrame:
    """Budget utilisation year to date per department (actual ÷ budget)."""
    return _dept(frames.utilisation, department).reset_index(drop=True)


def utilisation_chart(u: pd.DataFrame):
    colours = [viz.UNFAVOURABLE if x > 1 else viz.FAVOURABLE for x in u["utilisation"].fillna(0)]
    fig = go.Figure(go.Bar(x=u["department"], y=u["utilisation"], marker_color=colours, name="used"))
    fig.add_hline(y=1.0, line_dash="dash", line_color="#9aa5b1")
    fig.update_layout(title="Share of the year-to-date budget used", height=340, showlegend=False)
    viz.percent_axis(fig, "y")
    return viz.style(fig)


def utilisation_table(u: pd.DataFrame) -> widgets.Table:
    return widgets.Table(u, money=("actual_ytd", "budget_ytd", "variance"), pct=("utilisation", "variance_pct"),
                         rename={"actual_ytd": "actual YTD", "budget_ytd": "budget YTD"})


def alerts(period: str, department: str = "all", variance_threshold: float | None = None) -> list[dict]:
    """Budget variance and cost control alerts of the month (evaluated read-only), for one
    department or all."""
    found = cached(("alerts", "budget", period, variance_threshold),
                   lambda: alerts_for(period, ALERT_RULES, {"budget_variance": variance_threshold}))
    if department == "all":
        return found
    return [a for a in found if alert_department(a) == department]





# -- everything at once (jobs, tests, preheating) ----------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of budget_variance.ipynb (``docs/SCRAPS.md``) for parameters ``p``."""
    frames = load(p["period"])
    dept, thr = p["department"], p["variance_threshold"]
    return {
        "kpis": kpis(frames, dept, thr),
        "variance_by_department": variance_by_department(frames, dept),
        "variance_lines": variance_lines(frames, dept, thr),
        "utilisation": utilisation(frames, dept),
        "alerts": alerts(frames.period, dept, thr),
        "period": frames.period, "data_as_of": frames.data_as_of,
    }
