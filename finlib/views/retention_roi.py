"""Views of ``notebooks/retention_roi.ipynb``: customer success and retention ROI.

Sections: headline tiles, revenue at risk (health bands priced with the churn model),
the churn model's quality (AUC, calibration), retention campaign uplift and ROI,
expansion (upsell / cross-sell, CS coverage), CS investment ROI and CLV per segment.
A ``segment`` parameter narrows the customer-level tables (at risk, CLV) to one segment.
"""

from __future__ import annotations

from finlib import widgets
from finlib.errors import ConfigError
from finlib.views import data
from finlib.views.common import (
    SEGMENTS,
    base_scraps,
    cached,
    jsonable,
    money_frame,
    period_choices,
    previous_period,
    records,
    resolve_period,
    show_figure,
    warehouse,
)
from finlib.views.common import (
    dashboard as _dashboard,
)

TITLE = "Customer success and retention ROI"


def params(period: str = "last_closed_month", segment: str = "all", top_customers: int = 15) -> dict:
    if segment not in SEGMENTS:
        raise ConfigError(f"Unknown segment {segment!r}: choose one of {', '.join(SEGMENTS)}.")
    return {"period": resolve_period(period), "segment": segment, "top_customers": int(top_customers)}


def dashboard(p: dict, interactive: bool = False):
    return _dashboard(TITLE, p, {"period": period_choices(p["period"]), "segment": list(SEGMENTS)}, interactive)


# -- pure builders ----------------------------------------------------------------------


def _seg(df, segment: str):
    if segment == "all" or df is None or "segment" not in df.columns:
        return df
    return df[df["segment"] == segment]


def at_risk_by_band(m: dict, scores, segment: str = "all"):
    """ARR and expected ARR lost per health band (``finlib.metrics.retention.revenue_at_risk``)."""
    from finlib.metrics import retention as ret

    if segment == "all":
        return m["revenue_at_risk"]
    snap = _seg(m["facts"]["snapshot"], segment)
    snap = snap.merge(scores[["customer_id", "churn_probability"]], on="customer_id", how="left")
    return ret.revenue_at_risk(snap, probability="churn_probability")


def at_risk_customers(m: dict, scores, segment: str = "all", top: int = 15):
    """The customers with the highest expected ARR lost next month."""
    snap = m["facts"]["snapshot"][["customer_id", "cs_tier", "csm_owner", "score"]]
    t = _seg(scores, segment).merge(snap, on="customer_id", how="left")
    cols = ["customer_id", "segment", "cs_tier", "csm_owner", "score", "arr", "churn_probability",
            "expected_arr_lost"]
    return t.sort_values("expected_arr_lost", ascending=False)[cols].head(top).reset_index(drop=True)


def band_figure(bands):
    """Expected ARR lost next month per health band (the band's ARR in the labels)."""
    import plotly.graph_objects as go

    from finlib import viz

    colours = {"red": viz.UNFAVOURABLE, "amber": "#d4a017", "green": viz.FAVOURABLE}
    labels = [f"{b}<br>{n:,} customers, {widgets.format_value(a)} ARR"
              for b, n, a in zip(bands["band"], bands["customers"], bands["arr"], strict=True)]
    fig = go.Figure(go.Bar(x=labels, y=bands["expected_arr_lost"], name="Expected ARR lost next month",
                           marker_color=[colours.get(b, "#7f8c8d") for b in bands["band"]]))
    fig.update_layout(title="ARR the churn model expects to lose next month, by health band", height=360,
                      showlegend=False)
    viz.money_axis(fig, "y")
    return fig


def calibration_figure(cal):
    import plotly.graph_objects as go

    from finlib import viz

    top = float(max(cal["mean_predicted"].max(), cal["observed_rate"].max()) * 1.05 or 1.0)
    fig = go.Figure()
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                    line={"dash": "dash", "color": "#9aa5b1"})
    fig.add_scatter(x=cal["mean_predicted"], y=cal["observed_rate"], mode="markers+lines",
                    name="deciles of predicted risk", text=cal["n"].map(lambda n: f"{n} customer-months"))
    fig.update_layout(title="Predicted against observed monthly churn (test months)", height=360,
                      hovermode="closest")
    fig.update_xaxes(title="predicted")
    fig.update_yaxes(title="observed")
    viz.percent_axis(fig, "x", 1)
    viz.percent_axis(fig, "y", 1)
    return fig


def campaign_table(period: str):
    """:func:`finlib.models.attribution.campaign_uplift` for every retention campaign started
    by the end of ``period``."""

    def compute():
        import pandas as pd

        from finlib.errors import FinlibError
        from finlib.models.attribution import campaign_uplift
        from finlib.periods import month_end, parse_period

        end = month_end(parse_period(period))
        with warehouse().connect(read_only=True) as conn:
            camps = conn.query_df("SELECT campaign_id, name, started_on, ended_on, target_segment "
                                  "FROM retention_campaigns WHERE started_on <= :e ORDER BY started_on", {"e": end})
        rows = []
        for c in camps.itertuples():
            row = {"campaign_id": c.campaign_id, "name": c.name, "started_on": c.started_on,
                   "target_segment": c.target_segment}
            try:
                u = campaign_uplift(warehouse(), c.campaign_id)
            except FinlibError as exc:
                rows.append({**row, "note": str(exc).splitlines()[0]})
                continue
            rows.append({**row, "window_months": u.window_months,
                         "control_churn": u.uplift.control_churn, "treatment_churn": u.uplift.treatment_churn,
                         "uplift": u.uplift.uplift, "uplift_ci_low": u.uplift.ci_low, "uplift_ci_high": u.uplift.ci_high,
                         "saved_arr": u.saved_arr, "cost": u.cost, "roi": u.roi, "roi_ci_low": u.roi_ci[0],
                         "roi_ci_high": u.roi_ci[1],
                         "window_complete": bool(u.window_end.date() <= end), "note": ""})
        cols = ["campaign_id", "name", "started_on", "target_segment", "window_months", "control_churn",
                "treatment_churn", "uplift", "uplift_ci_low", "uplift_ci_high", "saved_arr", "cost", "roi",
                "roi_ci_low", "roi_ci_high", "window_complete", "note"]
        return pd.DataFrame(rows, columns=cols)

    return cached(("retention_campaigns", period), compute)


def campaign_figure(t):
    import plotly.graph_objects as go

    from finlib import viz

    t = t.dropna(subset=["roi"])
    fig = go.Figure(go.Bar(
        x=t["campaign_id"] + " " + t["name"].astype(str), y=t["roi"], marker_color=viz.PALETTE[0],
        error_y={"type": "data", "symmetric": False, "array": t["roi_ci_high"] - t["roi"],
                 "arrayminus": t["roi"] - t["roi_ci_low"]}, name="ROI"))
    fig.update_layout(title="Retention campaign ROI (95 % interval)", height=340, showlegend=False)
    viz.percent_axis(fig, "y")
    return fig


def expansion_figure(split):
    from finlib import viz

    return viz.bars(split["period"], {"Upsell (same product)": split["upsell"],
                                      "Cross-sell (new product)": split["cross_sell"]},
                    "Expansion MRR per month", barmode="stack", height=340)


def clv_table(c, segment: str = "all"):
    t = c.table
    cols = ["segment", "customers", "arpa", "churn_rate", "simple_clv", "sbg_clv", "base_residual_value",
            "alpha", "beta"]
    return _seg(t, segment)[[x for x in cols if x in t.columns]].reset_index(drop=True)


def kpis(m: dict, model=None, campaigns=None) -> dict:
    """The ``kpis`` scrap (``headline_kpis`` figures plus retention ROI figures)."""
    h = m["headline"]
    cs = m["cs_investment_roi"]
    out = {k: h.get(k) for k in ("period", "mrr", "arr", "nrr", "grr", "logo_churn", "gross_mrr_churn",
                                 "net_mrr_churn", "mrr_churn", "mrr_expansion", "customers")}
    out["period"] = h["period"][:7]
    ra = m["revenue_at_risk"]
    out["arr_red_band"] = float(ra.loc[ra["band"] == "red", "arr"].sum())
    out["expected_arr_lost"] = float(ra["expected_arr_lost"].sum()) if ra["expected_arr_lost"].notna().any() else None
    out["cs_cost"] = cs.cs_cost
    out["cs_retained_arr_above_baseline"] = cs.retained_arr_above_baseline
    out["cs_roi"] = cs.roi
    if model is not None:
        out["churn_model_auc"] = model.auc_
    if campaigns is not None and len(campaigns) and campaigns["saved_arr"].notna().any():
        last = campaigns.dropna(subset=["saved_arr"]).iloc[-1]
        out["campaign_saved_arr"] = float(last["saved_arr"])
        out["campaign_roi"] = float(last["roi"])
    return jsonable(out)


# -- sections ---------------------------------------------------------------------------------


def headline(p: dict) -> None:
    period = p["period"]
    m = data.retention_metrics(period)
    cur = kpis(m, data.churn_model(period))
    prev = data.headline(previous_period(period)) or {}
    t = lambda k: data.target(period, k)  # noqa: E731
    widgets.show_tiles([
        widgets.Tile("ARR", cur["arr"], "money", 12 * prev["mrr"] if prev.get("mrr") else None,
                     12 * t("mrr") if t("mrr") else None, key="arr"),
        widgets.Tile("Net revenue retention (12 m)", cur["nrr"], "pct", prev.get("nrr"), t("nrr"), key="nrr"),
        widgets.Tile("Gross revenue retention (12 m)", cur["grr"], "pct", prev.get("grr"), key="grr"),
        widgets.Tile("Logo churn (month)", cur["logo_churn"], "pct", prev.get("logo_churn"),
                     higher_is_better=False, key="logo_churn"),
        widgets.Tile("Expected ARR lost next month", cur["expected_arr_lost"], "money",
                     higher_is_better=False, key="expected_arr_lost"),
        widgets.Tile("CS investment ROI", cur["cs_roi"], "pct", key="cs_roi"),
    ])


def at_risk(p: dict) -> None:
    m = data.retention_metrics(p["period"])
    scores = data.churn_model(p["period"]).scores_
    bands = at_risk_by_band(m, scores, p["segment"])
    show_figure(band_figure(bands))
    money_frame(at_risk_customers(m, scores, p["segment"], p["top_customers"]),
                money=("arr", "expected_arr_lost"), pct=("churn_probability",),
                rename={"score": "health", "churn_probability": "churn probability",
                        "expected_arr_lost": "expected ARR lost", "arr": "ARR"})


def churn_model(p: dict) -> None:
    cm = data.churn_model(p["period"])
    widgets.show_tiles([widgets.Tile("AUC on held-out months", cm.auc_, "number", key="churn_auc"),
                        widgets.Tile("Customers scored", len(cm.scores_), "int", key="scored")])
    show_figure(calibration_figure(cm.calibration_))
    widgets.show_note("AUC 0.5 is a coin toss and 1.0 a perfect ranking of who leaves first.")


def campaigns(p: dict) -> None:
    t = campaign_table(p["period"])
    if t["roi"].notna().any():
        show_figure(campaign_figure(t))
    shown = t[["campaign_id", "name", "target_segment", "control_churn", "treatment_churn", "uplift", "saved_arr",
               "cost", "roi", "roi_ci_low", "roi_ci_high", "note"]]
    money_frame(shown, money=("saved_arr", "cost"),
                pct=("control_churn", "treatment_churn", "uplift", "roi", "roi_ci_low", "roi_ci_high"),
                rename={"campaign_id": "campaign", "target_segment": "segment", "saved_arr": "saved ARR",
                        "roi": "ROI", "roi_ci_low": "ROI low", "roi_ci_high": "ROI high", "uplift": "churn reduction"})


def expansion(p: dict) -> None:
    m = data.retention_metrics(p["period"])
    show_figure(expansion_figure(m["expansion_split"]))
    money_frame(m["expansion_attribution"], money=("expansion", "upsell", "cross_sell", "expansion_per_customer"),
                pct=("share_of_expansion",),
                rename={"cs_tier": "CS tier", "in_pipeline": "open deal", "expanding_customers": "expanding",
                        "expansion_per_customer": "per customer", "share_of_expansion": "share"})


def cs_investment(p: dict) -> None:
    cs = data.retention_metrics(p["period"])["cs_investment_roi"]
    widgets.show_tiles([
        widgets.Tile("GRR with CS coverage", cs.grr_covered, "pct", key="grr_covered"),
        widgets.Tile("GRR tech-touch baseline", cs.grr_baseline, "pct", key="grr_baseline"),
        widgets.Tile("ARR retained above baseline", cs.retained_arr_above_baseline, "money", key="cs_retained"),
        widgets.Tile("CS cost (12 m)", cs.cs_cost, "money", higher_is_better=False, key="cs_cost"),
    ])


def lifetime_value(p: dict) -> None:
    c = data.clv(p["period"])
    money_frame(clv_table(c, p["segment"]), money=("arpa", "simple_clv", "sbg_clv", "base_residual_value"),
                pct=("churn_rate",), rename={"arpa": "ARPA (monthly)", "simple_clv": "CLV (simple)",
                                             "sbg_clv": "CLV (sBG model)", "base_residual_value": "value of current base"})
    widgets.show_note(f"Gross margin used: {c.gross_margin:.1%}; discount rate 10 % a year.")


# -- scraps ---------------------------------------------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of retention_roi.ipynb (docs/SCRAPS.md)."""
    m = data.retention_metrics(p["period"])
    cm = data.churn_model(p["period"])
    camp = campaign_table(p["period"])
    return {
        "kpis": kpis(m, cm, camp),
        "revenue_at_risk": records(at_risk_by_band(m, cm.scores_, p["segment"])),
        "at_risk_customers": records(at_risk_customers(m, cm.scores_, p["segment"], p["top_customers"])),
        "churn_model": jsonable({"auc": cm.auc_, "auc_train": cm.auc_train_,
                                 "expected_arr_lost": cm.expected_arr_lost_,
                                 "calibration": records(cm.calibration_),
                                 "coefficients": records(cm.coefficients_.reset_index())}),
        "campaigns": records(camp),
        "expansion": records(m["expansion_split"]),
        "clv": records(clv_table(data.clv(p["period"]), p["segment"])),
        "alerts": [],  # no alert rule covers retention yet (parameters/alerts.yaml)
        **base_scraps(p),
    }
