"""Views of ``notebooks/product_roi.ipynb``: product development ROI.

Sections: headline tiles, feature ROI (per feature and team), feature adoption effect
(difference in differences, with confidence intervals), product launch ROI, milestone
efficiency, customer development cost, and the product-development alerts.
Figures come from :func:`finlib.metrics.kpis.period_metrics` and
:func:`finlib.models.attribution.adoption_effect`; nothing is computed here but layout.
"""

from __future__ import annotations

from finlib import widgets
from finlib.errors import FinlibError
from finlib.views import data
from finlib.views.common import (
    alerts_for,
    available_periods,
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

TITLE = "Product development ROI"
ALERT_RULES = ("product_development",)


def params(period: str = "last_closed_month", overrun_threshold: float | None = None,
           adoption_features: int = 6) -> dict:
    return {"period": resolve_period(period), "overrun_threshold": overrun_threshold,
            "adoption_features": int(adoption_features)}


def dashboard(p: dict, interactive: bool = False):
    return _dashboard(TITLE, p, {"period": period_choices(p["period"])}, interactive)


# -- pure builders ----------------------------------------------------------------------


def kpis(m: dict, adoption=None) -> dict:
    """The ``kpis`` scrap from ``period_metrics`` output (and the adoption table)."""
    from finlib.metrics.core import roi

    fr = m["feature_roi"]
    cost, ret = float(fr["cost"].sum()), float(fr["attributed_arr"].sum())
    ms = m["milestones"]
    done = ms[ms["completed"]]
    launches = m["launch_roi"]
    complete = launches[launches["window_complete"]]
    out = {
        "period": m["headline"]["period"][:7],
        "dev_cost_to_date": cost,
        "attributed_arr": ret,
        "product_roi": roi(ret, cost) if cost > 0 else None,
        "features": int(len(fr)),
        "features_over_budget": int((fr["budget_used"] > 1.0).sum()),
        "cost_per_completed_milestone": m["cost_per_completed_milestone"],
        "milestones_completed": int(len(done)),
        "mean_slip_days": float(done["slip_days"].mean()) if len(done) else None,
        "launch_roi": float(complete.sort_values("launched_on")["roi"].iloc[-1]) if len(complete) else None,
        "adoption_effect_mrr": None,
    }
    if adoption is not None and len(adoption):
        best = adoption.sort_values("annual_return", ascending=False).iloc[0]
        out["adoption_effect_mrr"] = float(best["effect_mrr"])
        out["adoption_feature_id"] = str(best["feature_id"])
    return jsonable(out)


def feature_table(m: dict):
    fr = m["feature_roi"].copy()
    cols = ["feature_id", "name", "team", "released_on", "cost", "attributed_arr", "roi", "budget", "budget_used"]
    return fr[[c for c in cols if c in fr.columns]].sort_values("cost", ascending=False).reset_index(drop=True)


def feature_figure(table):
    """Dev cost to date against attributed ARR, per feature (features with cost)."""
    import plotly.graph_objects as go

    from finlib import viz

    t = table[table["cost"] > 0].sort_values("cost", ascending=True)
    labels = t["feature_id"] + " " + t["name"].astype(str) if "name" in t else t["feature_id"]
    fig = go.Figure()
    fig.add_bar(y=labels, x=t["cost"], orientation="h", name="Development cost to date")
    fig.add_bar(y=labels, x=t["attributed_arr"], orientation="h", name="Attributed expansion ARR")
    fig.update_layout(title="Feature cost vs the recurring revenue it earns", barmode="group",
                      height=max(320, 28 * len(t) + 120), hovermode="y unified")
    viz.money_axis(fig, "x")
    return fig


def adoption_candidates(features, period: str, first_period: str, pre: int = 6, post: int = 6, limit: int = 6):
    """Released features whose pre- and post-release windows lie inside the data, newest first."""
    import pandas as pd

    p = pd.Timestamp(period + "-01")
    first = pd.Timestamp(first_period + "-01")
    f = features.dropna(subset=["released_on"]).copy()
    rel = pd.to_datetime(f["released_on"]).dt.to_period("M").dt.to_timestamp()
    ok = (rel - pd.DateOffset(months=pre) >= first) & (rel + pd.DateOffset(months=post - 1) <= p)
    return f[ok].assign(_r=rel[ok]).sort_values("_r", ascending=False).head(limit)["feature_id"].tolist()


def adoption_table(period: str, limit: int):
    """:func:`finlib.models.attribution.adoption_effect` for the recent eligible features."""

    def compute():
        import pandas as pd

        from finlib.errors import FinlibError
        from finlib.models.attribution import adoption_effect

        m = data.metrics(period)
        fids = adoption_candidates(m["facts"]["features"], period, available_periods()[-1], limit=limit)
        rows = []
        names = dict(zip(m["facts"]["features"]["feature_id"], m["facts"]["features"]["name"], strict=True))
        for fid in fids:
            try:
                a = adoption_effect(data.warehouse(), fid)
            except FinlibError as exc:
                rows.append({"feature_id": fid, "name": names.get(fid), "note": str(exc).splitlines()[0]})
                continue
            rows.append({"feature_id": fid, "name": names.get(fid), "release_period": str(a.release_period)[:7],
                         "adopters": a.adopters, "effect_mrr": a.effect_mrr, "ci_low": a.ci_low,
                         "ci_high": a.ci_high, "annual_return": a.annual_return, "dev_cost": a.dev_cost,
                         "roi": a.roi, "roi_ci_low": a.roi_ci[0], "roi_ci_high": a.roi_ci[1], "note": ""})
        cols = ["feature_id", "name", "release_period", "adopters", "effect_mrr", "ci_low", "ci_high",
                "annual_return", "dev_cost", "roi", "roi_ci_low", "roi_ci_high", "note"]
        return pd.DataFrame(rows, columns=cols)

    return cached(("adoption", period, limit), compute)


def adoption_figure(table):
    """Effect of adopting each feature on a customer's MRR, with 95 % intervals."""
    import plotly.graph_objects as go

    from finlib import viz

    t = table.dropna(subset=["effect_mrr"]).sort_values("effect_mrr")
    fig = go.Figure(go.Scatter(
        x=t["effect_mrr"], y=t["feature_id"] + " " + t["name"].astype(str), mode="markers",
        marker={"size": 10, "color": viz.PALETTE[0]},
        error_x={"type": "data", "symmetric": False, "array": t["ci_high"] - t["effect_mrr"],
                 "arrayminus": t["effect_mrr"] - t["ci_low"]},
        name="MRR uplift per adopting customer"))
    fig.add_vline(x=0, line_color="#9aa5b1")
    fig.update_layout(title="Monthly revenue uplift per adopting customer (95 % interval)",
                      height=max(280, 40 * len(t) + 120), hovermode="closest", showlegend=False)
    viz.money_axis(fig, "x")
    return fig


def milestone_table(m: dict):
    """Per feature: milestones completed, their budget variance and mean slip."""
    ms = m["milestones"]
    names = m["facts"]["features"].set_index("feature_id")["name"]
    g = ms.groupby("feature_id").agg(milestones=("milestone_id", "size"), completed=("completed", "sum"),
                                     budget=("budget", "sum"), cost=("cost", "sum"),
                                     mean_slip_days=("slip_days", "mean")).reset_index()
    g.insert(1, "name", g["feature_id"].map(names))
    g["variance"] = g["cost"] - g["budget"]
    g["variance_pct"] = g["variance"] / g["budget"].where(g["budget"] > 0)
    return g.sort_values("mean_slip_days", ascending=False).reset_index(drop=True)


def tiles(period: str) -> list[widgets.Tile]:
    cur = kpis(data.metrics(period))
    try:
        prev = kpis(data.metrics(previous_period(period)))
    except FinlibError:  # no previous month in the warehouse
        prev = {}
    return [
        widgets.Tile("Product ROI (to date)", cur["product_roi"], "pct", prev.get("product_roi"), key="product_roi"),
        widgets.Tile("Dev cost to date", cur["dev_cost_to_date"], "money", prev.get("dev_cost_to_date"),
                     higher_is_better=False, key="dev_cost_to_date"),
        widgets.Tile("Attributed expansion ARR", cur["attributed_arr"], "money", prev.get("attributed_arr"),
                     key="attributed_arr"),
        widgets.Tile("Cost per completed milestone", cur["cost_per_completed_milestone"], "money",
                     prev.get("cost_per_completed_milestone"), higher_is_better=False,
                     key="cost_per_completed_milestone"),
        widgets.Tile("Features over budget", cur["features_over_budget"], "int", prev.get("features_over_budget"),
                     higher_is_better=False, key="features_over_budget"),
    ]


# -- sections (display) -----------------------------------------------------------------


def headline(p: dict) -> None:
    widgets.show_tiles(tiles(p["period"]))


def features(p: dict) -> None:
    t = feature_table(data.metrics(p["period"]))
    show_figure(feature_figure(t))
    money_frame(t, money=("cost", "attributed_arr", "budget"), pct=("roi", "budget_used"),
                rename={"attributed_arr": "attributed ARR", "budget_used": "budget used", "roi": "ROI"})


def teams(p: dict) -> None:
    money_frame(data.metrics(p["period"])["team_roi"], money=("cost", "attributed_arr"), pct=("roi",),
                rename={"attributed_arr": "attributed ARR", "roi": "ROI"})


def adoption(p: dict) -> None:
    t = adoption_table(p["period"], p.get("adoption_features", 6))
    if t["effect_mrr"].notna().any():
        show_figure(adoption_figure(t))
    shown = t[["feature_id", "name", "release_period", "adopters", "effect_mrr", "ci_low", "ci_high",
               "annual_return", "roi", "note"]]
    money_frame(shown, money=("effect_mrr", "ci_low", "ci_high", "annual_return"), pct=("roi",),
                rename={"feature_id": "feature", "release_period": "released", "effect_mrr": "MRR uplift / customer",
                        "ci_low": "low (95 %)", "ci_high": "high (95 %)", "annual_return": "annual return",
                        "roi": "ROI (1 year)"})


def launch_table(m: dict, first_period: str):
    """Launch ROI of the products launched since the data begins (older launches have no
    revenue or cost in the warehouse to compare)."""
    import pandas as pd

    t = m["launch_roi"]
    return t[pd.to_datetime(t["launched_on"]) >= pd.Timestamp(first_period + "-01")].reset_index(drop=True)


def launches(p: dict) -> None:
    t = launch_table(data.metrics(p["period"]), available_periods()[-1])
    widgets.show_note(f"Products launched since {available_periods()[-1]}, when the data begins.")
    money_frame(t, money=("new_mrr", "new_arr", "dev_cost", "launch_spend", "cost"), pct=("roi",),
                rename={"new_mrr": "new MRR", "new_arr": "new ARR", "roi": "ROI"})


def milestones(p: dict) -> None:
    m = data.metrics(p["period"])
    widgets.show_tiles([widgets.Tile("Cost per completed milestone", m["cost_per_completed_milestone"], "money",
                                     higher_is_better=False, key="milestone_cost")])
    money_frame(milestone_table(m), money=("budget", "cost", "variance"), pct=("variance_pct",),
                rename={"mean_slip_days": "mean slip (days)", "variance_pct": "variance %"})


def customer_costs(p: dict) -> None:
    t = data.metrics(p["period"])["customer_development_cost"]
    t = t[t["arr"] > 0].head(10)
    money_frame(t, money=("dev_cost_share", "arr"), ratio=("cost_to_arr",),
                rename={"dev_cost_share": "share of feature cost", "arr": "ARR", "cost_to_arr": "cost / ARR"})


def alerts(p: dict) -> None:
    show_alerts(alert_list(p))


def alert_list(p: dict) -> list[dict]:
    return cached(("alerts", "product", p["period"], p.get("overrun_threshold")),
                  lambda: alerts_for(p["period"], ALERT_RULES,
                                     {"product_development": p.get("overrun_threshold")}))


# -- scraps -------------------------------------------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of product_roi.ipynb (docs/SCRAPS.md)."""
    m = data.metrics(p["period"])
    ad = adoption_table(p["period"], p.get("adoption_features", 6))
    return {
        "kpis": kpis(m, ad),
        "feature_roi": records(feature_table(m)),
        "team_roi": records(m["team_roi"]),
        "adoption": records(ad),
        "launch_roi": records(m["launch_roi"]),
        "milestones": records(milestone_table(m)),
        "alerts": alert_list(p),
        **base_scraps(p),
    }
