"""What ``notebooks/product_roi.ipynb`` shows: product development ROI.

    frames = pr.load(period, adoption_features=adoption_features)   # the month's figures
    features = pr.feature_roi(frames)                                # cost vs attributed ARR
    pr.feature_roi_chart(features)

Sections: headline tiles, feature ROI (per feature and team), feature adoption effect
(difference in differences, with confidence intervals), product launch ROI, launch uplift
against comparable customers, milestone efficiency, customer development cost, and the
product-development alerts. Figures come from :func:`finlib.metrics.kpis.period_metrics`,
:func:`finlib.models.attribution.adoption_effect` and
:func:`finlib.models.launch.launch_frames`; nothing is computed here but layout.
"""

from __future__ import annotations

import lazy_loader as lazy
import pandas as pd

from finlib import viz, widgets
from finlib.errors import FinlibError, ModelError
from finlib.metrics.core import roi
from finlib.models.attribution import adoption_effect
from finlib.models.launch import launch_frames
from finlib.periods import parse_period
from finlib.views import common, data
from finlib.views.common import (
    Frames,
    Later,
    alerts_for,
    available_periods,
    cached,
    data_as_of,
    jsonable,
    month,
    period_choices,
    warehouse,
)

go = lazy.load("plotly.graph_objects", suppress_warning=True)

TITLE = "Product development ROI"
PRELOAD = ("statsmodels.api", "statsmodels.stats.proportion", "scipy.stats")
ALERT_RULES = ("product_development",)

alerts_table = common.alerts_table


def params(period: str = "last_closed_month", overrun_threshold: float | None = None,
           adoption_features: int = 6) -> dict:
    """The notebook's parameters, checked: ``period`` as ``YYYY-MM``."""
    threshold = None if overrun_threshold in (None, "", "None") else float(overrun_threshold)
    return {"period": month(period), "overrun_threshold": threshold, "adoption_features": int(adoption_features)}


def choices(p: dict) -> dict:
    return {"period": period_choices(p["period"])}


# -- the month's figures ----------------------------------------------------------------


def load(period: str, adoption_features: int = 6) -> Frames:
    """Everything the notebook shows for ``period``, read once (cached): ``metrics``
    (:func:`finlib.metrics.kpis.period_metrics`), ``features`` (every feature with its
    release date and budget), ``milestones``, ``adoption`` (the difference-in-differences
    model for the ``adoption_features`` newest eligible features) and ``launch`` (the latest
    launch's uplift against comparable customers, :func:`launch_models`), both computed on
    first use, ``first_period`` (the month the data begins) and ``previous`` (last month's
    ``metrics``, or None)."""
    period = month(period)

    def compute():
        m = data.metrics(period)
        prev = data.previous_metrics(period)
        first = available_periods()[-1]
        return Frames(period=period, data_as_of=data_as_of(), metrics=m, features=m["facts"]["features"],
                      milestones=m["milestones"],
                      adoption=Later(lambda: adoption_models(m, period, first, adoption_features)),
                      launch=Later(lambda: launch_models(period)),
                      first_period=first, previous=prev)

    return cached(("product_frames", period, int(adoption_features)), compute)


def adoption_candidates(features, period: str, first_period: str, pre: int = 6, post: int = 6, limit: int = 6):
    """Released features whose pre- and post-release windows lie inside the data, newest first."""
    p = pd.Timestamp(period + "-01")
    first = pd.Timestamp(first_period + "-01")
    f = features.dropna(subset=["released_on"]).copy()
    rel = pd.to_datetime(f["released_on"]).dt.to_period("M").dt.to_timestamp()
    ok = (rel - pd.DateOffset(months=pre) >= first) & (rel + pd.DateOffset(months=post - 1) <= p)
    return f[ok].assign(_r=rel[ok]).sort_values("_r", ascending=False).head(limit)["feature_id"].tolist()


def adoption_models(m: dict, period: str, first_period: str, limit: int) -> pd.DataFrame:
    """:func:`finlib.models.attribution.adoption_effect` for the recent eligible features."""
    features = m["facts"]["features"]
    fids = adoption_candidates(features, period, first_period, limit=limit)
    names = dict(zip(features["feature_id"], features["name"], strict=True))
    rows = []
    for fid in fids:
        try:
            a = adoption_effect(warehouse(), fid)
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


#: the columns of the launch frames the section reads (also when the model had no data)
LAUNCH_UPLIFT_COLUMNS = ["product_id", "product_name", "launch_period", "pre_months", "post_months", "adopters",
                         "comparison_customers", "unmatched_adopters", "uplift_mrr", "std_err", "ci_low", "ci_high",
                         "p_value", "months", "return", "return_ci_low", "return_ci_high", "dev_cost",
                         "launch_spend", "cost", "roi", "roi_ci_low", "roi_ci_high", "data_issue"]
LAUNCH_COMPARISON_COLUMNS = ["method", "uplift_mrr", "ci_low", "ci_high", "adopters", "comparison_customers", "note"]
LAUNCH_CELL_COLUMNS = ["segment", "size_band", "adopters", "non_adopters", "adopter_mrr_base", "non_adopter_mrr_base",
                       "adopter_change", "non_adopter_change", "matched"]
LAUNCH_TREND_COLUMNS = ["period", "group", "mrr_change"]


def launch_models(period: str, product_id: str | None = None) -> dict:
    """:func:`finlib.models.launch.launch_frames` at ``period`` (default windows): by default
    the latest product launched with six months of data before it. ``uplift`` (one row),
    ``comparison``, ``cells``, ``trend``.

    When the data cannot answer (no launch with enough history, no adopter or no comparable
    customer), ``uplift`` is one row whose ``data_issue`` says why and the other frames are
    empty; a launch without cost has its uplift and ``data_issue`` explains the missing ROI.
    """
    try:
        return launch_frames(warehouse(), parse_period(period), product_id=product_id)
    except ModelError as exc:
        issue = str(exc).strip().splitlines()[0] if str(exc).strip() else "not enough data"
        return {"uplift": pd.DataFrame([{"product_id": product_id, "data_issue": issue}],
                                       columns=LAUNCH_UPLIFT_COLUMNS),
                "comparison": pd.DataFrame(columns=LAUNCH_COMPARISON_COLUMNS),
                "cells": pd.DataFrame(columns=LAUNCH_CELL_COLUMNS),
                "trend": pd.DataFrame(columns=LAUNCH_TREND_COLUMNS)}


# -- headline ------------------------------------------------------------------------------


def product_kpis(m: dict, adoption: pd.DataFrame | None = None) -> dict:
    """The ``kpis`` scrap from a month's ``period_metrics`` (and the adoption table)."""
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
    if adoption is not None and len(adoption) and adoption["annual_return"].notna().any():
        best = adoption.sort_values("annual_return", ascending=False).iloc[0]
        out["adoption_effect_mrr"] = float(best["effect_mrr"])
        out["adoption_feature_id"] = str(best["feature_id"])
    return jsonable(out)


def kpis(frames: Frames) -> dict:
    """The ``kpis`` scrap: product ROI to date, delivery and adoption figures."""
    return product_kpis(frames.metrics, frames.adoption)


def headline_tiles(frames: Frames) -> widgets.Tiles:
    """The headline figures against last month."""
    kpis = product_kpis(frames.metrics)
    prev = product_kpis(frames.previous) if frames.previous is not None else {}
    return widgets.Tiles([
        widgets.Tile("Product ROI (to date)", kpis["product_roi"], "pct", prev.get("product_roi"), key="product_roi"),
        widgets.Tile("Dev cost to date", kpis["dev_cost_to_date"], "money", prev.get("dev_cost_to_date"),
                     higher_is_better=False, key="dev_cost_to_date"),
        widgets.Tile("Attributed expansion ARR", kpis["attributed_arr"], "money", prev.get("attributed_arr"),
                     key="attributed_arr"),
        widgets.Tile("Cost per completed milestone", kpis["cost_per_completed_milestone"], "money",
                     prev.get("cost_per_completed_milestone"), higher_is_better=False,
                     key="cost_per_completed_milestone"),
        widgets.Tile("Features over budget", kpis["features_over_budget"], "int", prev.get("features_over_budget"),
                     higher_is_better=False, key="features_over_budget"),
    ])


# -- feature ROI ------------------------------------------------------------------------------


def feature_roi(frames: Frames) -> pd.DataFrame:
    """Per feature: development cost to date against the expansion ARR attributed to it."""
    fr = frames.metrics["feature_roi"]
    cols = ["feature_id", "name", "team", "released_on", "cost", "attributed_arr", "roi", "budget", "budget_used"]
    return fr[[c for c in cols if c in fr.columns]].sort_values("cost", ascending=False).reset_index(drop=True)


def feature_roi_chart(table: pd.DataFrame):
    """Dev cost to date against attributed ARR, per feature (features with cost)."""
    t = table[table["cost"] > 0].sort_values("cost", ascending=True)
    labels = t["feature_id"] + " " + t["name"].astype(str) if "name" in t else t["feature_id"]
    fig = go.Figure()
    fig.add_bar(y=labels, x=t["cost"], orientation="h", name="Development cost to date")
    fig.add_bar(y=labels, x=t["attributed_arr"], orientation="h", name="Attributed expansion ARR")
    fig.update_layout(title="Feature cost vs the recurring revenue it earns", barmode="group",
                      height=max(320, 28 * len(t) + 120), hovermode="y unified")
    viz.money_axis(fig, "x")
    return viz.style(fig)


def feature_roi_table(table: pd.DataFrame) -> widgets.Table:
    return widgets.Table(table, money=("cost", "attributed_arr", "budget"), pct=("roi", "budget_used"),
                         rename={"attributed_arr": "attributed ARR", "budget_used": "budget used", "roi": "ROI"})


def team_roi(frames: Frames) -> pd.DataFrame:
    """Feature ROI summed per team."""
    return frames.metrics["team_roi"]


def team_roi_table(t: pd.DataFrame) -> widgets.Table:
    return widgets.Table(t, money=("cost", "attributed_arr"), pct=("roi",),
                         rename={"attributed_arr": "attributed ARR", "roi": "ROI"})


# -- adoption ---------------------------------------------------------------------------------


def adoption(frames: Frames) -> pd.DataFrame:
    """The difference-in-differences adoption effect per recently released feature."""
    return frames.adoption


def adoption_chart(table: pd.DataFrame):
    """Effect of adopting each feature on a customer's MRR, with 95 % intervals."""
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
    return viz.style(fig)


def adoption_table(table: pd.DataFrame) -> widgets.Table:
    shown = table[["feature_id", "name", "release_period", "adopters", "effect_mrr", "ci_low", "ci_high",
                   "annual_return", "roi", "note"]]
    return widgets.Table(shown, money=("effect_mrr", "ci_low", "ci_high", "annual_return"), pct=("roi",),
                         rename={"feature_id": "feature", "release_period": "released",
                                 "effect_mrr": "MRR uplift / customer", "ci_low": "low (95 %)",
                                 "ci_high": "high (95 %)", "annual_return": "annual return", "roi": "ROI (1 year)"})


# -- launches -------------------------------------------------------------------------------


def launch_roi(frames: Frames) -> pd.DataFrame:
    """Launch ROI of every product (the ``launch_roi`` scrap)."""
    return frames.metrics["launch_roi"]


def launches_since_data(launches: pd.DataFrame, frames: Frames) -> pd.DataFrame:
    """The launches since the data begins (older ones have no revenue or cost to compare)."""
    t = launches[pd.to_datetime(launches["launched_on"]) >= pd.Timestamp(frames.first_period + "-01")]
    return t.reset_index(drop=True)


def launch_roi_table(t: pd.DataFrame, frames: Frames) -> widgets.Table:
    return widgets.Table(t, money=("new_mrr", "new_arr", "dev_cost", "launch_spend", "cost"), pct=("roi",),
                         rename={"new_mrr": "new MRR", "new_arr": "new ARR", "roi": "ROI"},
                         caption=f"Products launched since {frames.first_period}, when the data begins.")


# -- launch uplift against comparable customers ------------------------------------------------


def launch_uplift(frames: Frames) -> pd.DataFrame:
    """The latest launch's uplift (one row, :func:`finlib.models.launch.launch_frames`):
    ``uplift_mrr`` (USD per adopting customer per month, adopters against non-adopters of the
    same segment and size band, difference in differences) with ``ci_low``/``ci_high`` (95 %),
    ``return`` (uplift x adopters x ``months``), ``cost`` (the product's features and launch
    campaigns), ``roi`` with ``roi_ci_low``/``roi_ci_high``, and ``data_issue`` (why a figure
    is missing)."""
    return frames.launch["uplift"].reindex(columns=LAUNCH_UPLIFT_COLUMNS).reset_index(drop=True)


def launch_uplift_table(t: pd.DataFrame) -> widgets.Table:
    """The uplift, its return and ROI with their intervals; a launch without figures shows why."""
    shown = t[["product_id", "launch_period", "adopters", "comparison_customers", "uplift_mrr", "ci_low", "ci_high",
               "return", "cost", "roi", "roi_ci_low", "roi_ci_high"]]
    shown = shown.assign(product_id=t["product_id"].astype(str) + " " + t["product_name"].astype(object).fillna("").astype(str),
                         launch_period=pd.to_datetime(shown["launch_period"]).dt.strftime("%Y-%m"))
    issues = [str(x) for x in t["data_issue"].dropna().unique() if str(x).strip()]
    measured = t["uplift_mrr"].notna().any()
    months = t["months"].dropna()
    horizon = f"{int(months.iloc[0])} months" if len(months) else "a year"
    caption = (f"Low and high: 95 % interval. Comparable: non-adopters of the adopters' segments and size bands. "
               f"Return = uplift x adopters x {horizon}; cost = the product's features and launch campaigns."
               if measured else "")
    if issues:
        caption = (caption + " " if caption else "Not enough data for a launch uplift: ") + "; ".join(issues) + "."
    if not measured:
        shown = shown.iloc[0:0]
    return widgets.Table(shown, money=("uplift_mrr", "ci_low", "ci_high", "return", "cost"),
                         pct=("roi", "roi_ci_low", "roi_ci_high"),
                         rename={"product_id": "product", "launch_period": "launched",
                                 "comparison_customers": "comparable", "uplift_mrr": "MRR uplift / adopter",
                                 "ci_low": "low", "ci_high": "high", "roi": "ROI", "roi_ci_low": "ROI low",
                                 "roi_ci_high": "ROI high"},
                         caption=caption)


def launch_comparison(frames: Frames) -> pd.DataFrame:
    """The matched estimate beside the two naive ones (adopters against every non-adopter,
    adopters before against after): ``method``, ``uplift_mrr``, ``ci_low``, ``ci_high``,
    ``adopters``, ``comparison_customers``, ``note``."""
    return frames.launch["comparison"].reindex(columns=LAUNCH_COMPARISON_COLUMNS).reset_index(drop=True)


def launch_comparison_table(t: pd.DataFrame) -> widgets.Table:
    return widgets.Table(t, money=("uplift_mrr", "ci_low", "ci_high"),
                         rename={"uplift_mrr": "MRR uplift / adopter", "ci_low": "low (95 %)",
                                 "ci_high": "high (95 %)", "comparison_customers": "compared with"})


def launch_trend(frames: Frames) -> pd.DataFrame:
    """Mean MRR change against the month before the launch, per month and group
    (``adopters``, ``comparable non-adopters`` weighted to the adopters' segment and size
    mix, ``all non-adopters``): ``period``, ``group``, ``mrr_change`` (USD/month)."""
    return frames.launch["trend"].reindex(columns=LAUNCH_TREND_COLUMNS).reset_index(drop=True)


def launch_trend_chart(trend: pd.DataFrame, uplift: pd.DataFrame | None = None):
    """Adopters' MRR change against comparable and all non-adopters, month by month; with
    ``uplift`` (:func:`launch_uplift`) the launch month is marked. A note instead of a chart
    when there is no launch to show."""
    if trend.empty:
        issues = [] if uplift is None else [str(x) for x in uplift["data_issue"].dropna().unique()]
        return widgets.Note("No launch trend to chart: " + ("; ".join(issues) or "no launch to compare") + ".")
    t = trend.assign(month=pd.to_datetime(trend["period"]).dt.strftime("%Y-%m"))
    styles = {"adopters": (viz.PALETTE[0], "solid"), "comparable non-adopters": (viz.PALETTE[1], "solid"),
              "all non-adopters": ("#9aa5b1", "dot")}
    fig = go.Figure()
    for group, g in t.groupby("group", sort=False):
        colour, dash = styles.get(group, (None, "solid"))
        fig.add_scatter(x=g["month"], y=g["mrr_change"], mode="lines+markers", name=str(group),
                        line={"color": colour, "dash": dash})
    title = "Mean MRR change per customer against the month before the launch"
    if uplift is not None and len(uplift) and pd.notna(uplift["launch_period"].iloc[0]):
        u = uplift.iloc[0]
        launched = pd.Timestamp(u["launch_period"]).strftime("%Y-%m")
        fig.add_vline(x=launched, line_color="#9aa5b1", line_dash="dash")
        title = f"{u['product_name']} ({u['product_id']}), launched {launched}: " + title[0].lower() + title[1:]
    fig.update_layout(title=title, height=360)
    fig.update_xaxes(type="category")
    viz.money_axis(fig, "y")
    return viz.style(fig)


# -- delivery ---------------------------------------------------------------------------------


def milestones(frames: Frames) -> pd.DataFrame:
    """Per feature: milestones completed, their budget variance and mean slip."""
    ms = frames.milestones
    names = frames.features.set_index("feature_id")["name"]
    g = ms.groupby("feature_id").agg(milestones=("milestone_id", "size"), completed=("completed", "sum"),
                                     budget=("budget", "sum"), cost=("cost", "sum"),
                                     mean_slip_days=("slip_days", "mean")).reset_index()
    g.insert(1, "name", g["feature_id"].map(names))
    g["variance"] = g["cost"] - g["budget"]
    g["variance_pct"] = g["variance"] / g["budget"].where(g["budget"] > 0)
    return g.sort_values("mean_slip_days", ascending=False).reset_index(drop=True)


def milestones_table(t: pd.DataFrame, frames: Frames) -> widgets.Column:
    cost = frames.metrics["cost_per_completed_milestone"]
    return widgets.Column(
        widgets.Tiles([widgets.Tile("Cost per completed milestone", cost, "money", higher_is_better=False,
                                    key="milestone_cost")]),
        widgets.Table(t, money=("budget", "cost", "variance"), pct=("variance_pct",),
                      rename={"mean_slip_days": "mean slip (days)", "variance_pct": "variance %"}))


def customer_costs(frames: Frames, top: int = 10) -> pd.DataFrame:
    """The paying customers whose feature requests cost most relative to their ARR."""
    t = frames.metrics["customer_development_cost"]
    return t[t["arr"] > 0].head(top).reset_index(drop=True)


def customer_costs_table(t: pd.DataFrame) -> widgets.Table:
    return widgets.Table(t, money=("dev_cost_share", "arr"), ratio=("cost_to_arr",),
                         rename={"dev_cost_share": "share of feature cost", "arr": "ARR", "cost_to_arr": "cost / ARR"})


def alerts(period: str, overrun_threshold: float | None = None) -> list[dict]:
    """Product development alerts of the month (evaluated read-only)."""
    return cached(("alerts", "product", period, overrun_threshold),
                  lambda: alerts_for(period, ALERT_RULES, {"product_development": overrun_threshold}))


# -- everything at once (jobs, tests, preheating) ----------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of product_roi.ipynb (``docs/SCRAPS.md``) for parameters ``p``."""
    frames = load(p["period"], p["adoption_features"])
    return {
        "kpis": kpis(frames),
        "feature_roi": feature_roi(frames),
        "team_roi": team_roi(frames),
        "adoption": adoption(frames),
        "launch_roi": launch_roi(frames),
        "launch_uplift": launch_uplift(frames),
        "launch_comparison": launch_comparison(frames),
        "milestones": milestones(frames),
        "alerts": alerts(frames.period, p["overrun_threshold"]),
        "period": frames.period, "data_as_of": frames.data_as_of,
    }
