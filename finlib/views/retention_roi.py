"""What ``notebooks/retention_roi.ipynb`` shows: customer success and retention ROI.

The notebook loads the month's figures with :func:`load` and builds each section from
them; every function below returns a value an analyst can keep, filter and change::

    frames = rr.load(period)                                  # the month's figures
    at_risk = rr.revenue_at_risk(frames, segment=segment)     # ARR by health band
    rr.revenue_at_risk_chart(at_risk)                         # a plotly figure

Builders return DataFrames (the columns of the scraps in ``docs/SCRAPS.md``); ``*_chart``
return plotly figures, ``*_table`` and ``*_tiles`` formatted tables and KPI tiles.
The ``segment`` parameter narrows the customer-level tables (at risk, CLV) to one segment.

The customer-satisfaction section (:func:`satisfaction_roi`, :func:`nrr_by_band`,
:func:`churn_by_score`) shows :func:`finlib.models.satisfaction.satisfaction_frames`: what a
point of NPS or CSAT is worth in ARR retained, an association measured on history.
"""

from __future__ import annotations

import warnings

import lazy_loader as lazy
import pandas as pd

from finlib import config, viz, widgets
from finlib.errors import ConfigError, FinlibError, ModelError
from finlib.metrics import retention as ret
from finlib.models.attribution import campaign_uplift
from finlib.models.satisfaction import BANDS, SCALES, satisfaction_frames
from finlib.periods import month_end, parse_period
from finlib.views import data
from finlib.views.common import (
    SEGMENT_CHOICES,
    Frames,
    Later,
    cached,
    data_as_of,
    jsonable,
    month,
    month_before,
    period_choices,
    warehouse,
)

go = lazy.load("plotly.graph_objects", suppress_warning=True)
subplots = lazy.load("plotly.subplots", suppress_warning=True)

TITLE = "Customer success and retention ROI"
#: modules a dashboard kernel can import before its viewer arrives
PRELOAD = ("statsmodels.api", "scipy.special", "scipy.optimize", "scipy.stats")


def params(period: str = "last_closed_month", segment: str = "all", top_customers: int = 15) -> dict:
    """The notebook's parameters, checked: ``period`` as ``YYYY-MM``."""
    if segment not in SEGMENT_CHOICES:
        raise ConfigError(f"Unknown segment {segment!r}: choose one of {', '.join(SEGMENT_CHOICES)}.")
    return {"period": month(period), "segment": segment, "top_customers": int(top_customers)}


def choices(p: dict) -> dict:
    """The dashboard controls: their options."""
    return {"period": period_choices(p["period"]), "segment": list(SEGMENT_CHOICES)}


# -- the month's figures ----------------------------------------------------------------


def load(period: str) -> Frames:
    """Everything the notebook shows for ``period``, read once (cached):

    ``metrics`` (:func:`finlib.metrics.kpis.period_metrics` with the churn model's
    probabilities), ``churn`` (the fitted :func:`finlib.models.churn.churn_propensity`),
    ``snapshot`` (customers at month end: segment, health, ARR), ``scores`` (next-month churn
    probability and expected ARR lost per customer), ``campaigns`` (retention campaign
    uplift), ``clv`` (:func:`finlib.metrics.clv.clv_by_segment`) and ``satisfaction``
    (:func:`satisfaction_models`), all three computed on first use, ``previous`` (last month's
    headline figures) and ``targets``.
    """
    period = month(period)

    def compute():
        m = data.retention_metrics(period)
        churn = data.churn_model(period)
        return Frames(period=period, data_as_of=data_as_of(), metrics=m, churn=churn,
                      snapshot=m["facts"]["snapshot"], scores=churn.scores_,
                      campaigns=Later(lambda: campaign_uplifts(period)), clv=Later(lambda: data.clv(period)),
                      satisfaction=Later(lambda: satisfaction_models(period)),
                      previous=data.headline(month_before(period)) or {},
                      targets=data.targets(period))

    return cached(("retention_frames", period), compute)


def campaign_uplifts(period: str) -> pd.DataFrame:
    """:func:`finlib.models.attribution.campaign_uplift` for every retention campaign started
    by the end of ``period``."""
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


#: the columns of the satisfaction frames the section reads (also when the model had no data)
SCORE_EFFECT_COLUMNS = ["kind", "horizon_months", "responses", "customers", "churned", "churn_rate",
                        "coef_per_point", "std_err", "ci_low", "ci_high", "p_value", "odds_ratio_per_point",
                        "churn_change_per_point", "churn_change_ci_low", "churn_change_ci_high",
                        "priced_customers", "priced_arr", "expected_arr_lost", "revenue_per_point",
                        "revenue_per_point_ci_low", "revenue_per_point_ci_high", "revenue_per_point_per_customer",
                        "score_12m", "data_issue"]
NRR_BY_BAND_COLUMNS = ["kind", "band", "customers", "mrr_before", "mrr_after", "nrr", "ci_low", "ci_high",
                       "churn_rate"]
CHURN_BY_SCORE_COLUMNS = ["kind", "score", "responses", "churned", "observed_rate", "fitted_rate"]
COEFFICIENT_COLUMNS = ["kind", "term", "coef", "std_err", "ci_low", "ci_high", "p_value", "odds_ratio"]
#: survey kinds as readers know them
SURVEY_KINDS = {"nps": "NPS (0-10)", "csat": "CSAT (1-5)"}


def satisfaction_models(period: str) -> dict:
    """:func:`finlib.models.satisfaction.satisfaction_frames` at ``period`` (default horizon
    and history): ``score_effect``, ``nrr_by_band``, ``churn_by_score``, ``coefficients``.

    When the warehouse holds too little for the model (no survey response in the history),
    the frames come back empty but for one ``score_effect`` row per survey kind whose
    ``data_issue`` says why; a kind the model could not fit has its reason there too. When a
    churn Logit stops before converging (statsmodels' ``ConvergenceWarning``, on short
    histories), the kinds with figures say so in ``data_issue`` instead of a warning on the page.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frames = satisfaction_frames(warehouse(), parse_period(period))
    except ModelError as exc:
        issue = str(exc).strip().splitlines()[0] if str(exc).strip() else "not enough survey data"
        return {"score_effect": pd.DataFrame({"kind": list(SCALES), "data_issue": issue},
                                             columns=SCORE_EFFECT_COLUMNS),
                "nrr_by_band": pd.DataFrame(columns=NRR_BY_BAND_COLUMNS),
                "churn_by_score": pd.DataFrame(columns=CHURN_BY_SCORE_COLUMNS),
                "coefficients": pd.DataFrame(columns=COEFFICIENT_COLUMNS)}
    for w in caught:
        if w.category.__name__ != "ConvergenceWarning":
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if any(w.category.__name__ == "ConvergenceWarning" for w in caught):
        effect = frames["score_effect"]
        fitted = effect["coef_per_point"].notna() & effect["data_issue"].isna()
        effect.loc[fitted, "data_issue"] = ("a churn Logit of this month did not converge: "
                                            "read these figures with care")
    return frames


def _seg(df, segment: str):
    if segment == "all" or df is None or "segment" not in df.columns:
        return df
    return df[df["segment"] == segment]


# -- headline ------------------------------------------------------------------------------


def kpis(frames: Frames) -> dict:
    """The ``kpis`` scrap: ``headline_kpis`` figures plus retention ROI figures."""
    m, campaigns = frames.metrics, frames.campaigns
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
    out["churn_model_auc"] = frames.churn.auc_
    if len(campaigns) and campaigns["saved_arr"].notna().any():
        last = campaigns.dropna(subset=["saved_arr"]).iloc[-1]
        out["campaign_saved_arr"] = float(last["saved_arr"])
        out["campaign_roi"] = float(last["roi"])
    return jsonable(out)


def headline(frames: Frames) -> dict:
    """The headline figures of the month: ARR, retention, churn, expected ARR lost, CS ROI
    (the ``kpis`` scrap without the model and campaign figures, which take longer)."""
    m = frames.metrics
    h = m["headline"]
    ra = m["revenue_at_risk"]
    return jsonable({"period": h["period"][:7], "arr": h.get("arr"), "nrr": h.get("nrr"), "grr": h.get("grr"),
                     "logo_churn": h.get("logo_churn"), "cs_roi": m["cs_investment_roi"].roi,
                     "expected_arr_lost": float(ra["expected_arr_lost"].sum())
                     if ra["expected_arr_lost"].notna().any() else None})


def headline_tiles(frames: Frames) -> widgets.Tiles:
    """The headline KPIs against last month and, where set, the target."""
    kpis = headline(frames)
    prev, t = frames.previous, frames.targets
    target = lambda k: data.target_in(t, k)  # noqa: E731
    return widgets.Tiles([
        widgets.Tile("ARR", kpis["arr"], "money", 12 * prev["mrr"] if prev.get("mrr") else None,
                     12 * target("mrr") if target("mrr") else None, key="arr"),
        widgets.Tile("Net revenue retention (12 m)", kpis["nrr"], "pct", prev.get("nrr"), target("nrr"), key="nrr"),
        widgets.Tile("Gross revenue retention (12 m)", kpis["grr"], "pct", prev.get("grr"), key="grr"),
        widgets.Tile("Logo churn (month)", kpis["logo_churn"], "pct", prev.get("logo_churn"),
                     higher_is_better=False, key="logo_churn"),
        widgets.Tile("Expected ARR lost next month", kpis["expected_arr_lost"], "money",
                     higher_is_better=False, key="expected_arr_lost"),
        widgets.Tile("CS investment ROI", kpis["cs_roi"], "pct", key="cs_roi"),
    ])


# -- revenue at risk -------------------------------------------------------------------------


def revenue_at_risk(frames: Frames, segment: str = "all") -> pd.DataFrame:
    """ARR and expected ARR lost next month per health band
    (:func:`finlib.metrics.retention.revenue_at_risk`), for one segment or all."""
    if segment == "all":
        return frames.metrics["revenue_at_risk"]
    snap = _seg(frames.snapshot, segment)
    snap = snap.merge(frames.scores[["customer_id", "churn_probability"]], on="customer_id", how="left")
    return ret.revenue_at_risk(snap, probability="churn_probability")


def revenue_at_risk_chart(bands: pd.DataFrame):
    """Expected ARR lost next month per health band (the band's ARR in the labels)."""
    colours = {"red": viz.UNFAVOURABLE, "amber": "#d4a017", "green": viz.FAVOURABLE}
    labels = [f"{b}<br>{n:,} customers, {widgets.format_value(a)} ARR"
              for b, n, a in zip(bands["band"], bands["customers"], bands["arr"], strict=True)]
    fig = go.Figure(go.Bar(x=labels, y=bands["expected_arr_lost"], name="Expected ARR lost next month",
                           marker_color=[colours.get(b, "#7f8c8d") for b in bands["band"]]))
    fig.update_layout(title="ARR the churn model expects to lose next month, by health band", height=360,
                      showlegend=False)
    viz.money_axis(fig, "y")
    return viz.style(fig)


def at_risk_customers(frames: Frames, segment: str = "all", top: int = 15) -> pd.DataFrame:
    """The ``top`` customers with the highest expected ARR lost next month."""
    snap = frames.snapshot[["customer_id", "cs_tier", "csm_owner", "score"]]
    t = _seg(frames.scores, segment).merge(snap, on="customer_id", how="left")
    cols = ["customer_id", "segment", "cs_tier", "csm_owner", "score", "arr", "churn_probability",
            "expected_arr_lost"]
    return t.sort_values("expected_arr_lost", ascending=False)[cols].head(top).reset_index(drop=True)


def at_risk_customers_table(customers: pd.DataFrame) -> widgets.Table:
    return widgets.Table(customers, money=("arr", "expected_arr_lost"), pct=("churn_probability",),
                         rename={"score": "health", "expected_arr_lost": "expected ARR lost", "arr": "ARR"})


# -- the churn model ---------------------------------------------------------------------------


def churn_model_summary(frames: Frames) -> dict:
    """The ``churn_model`` scrap: AUC (held-out and training), expected ARR lost, calibration
    deciles and coefficients."""
    cm = frames.churn
    return jsonable({"auc": cm.auc_, "auc_train": cm.auc_train_, "expected_arr_lost": cm.expected_arr_lost_,
                     "calibration": cm.calibration_, "coefficients": cm.coefficients_.reset_index()})


def churn_model_tiles(model: dict, frames: Frames) -> widgets.Tiles:
    return widgets.Tiles([widgets.Tile("AUC on held-out months", model["auc"], "number", key="churn_auc"),
                          widgets.Tile("Customers scored", len(frames.scores), "int", key="scored")])


def calibration_chart(calibration: pd.DataFrame):
    """Predicted against observed monthly churn per decile of predicted risk."""
    cal = pd.DataFrame(calibration)
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
    return viz.style(fig)


# -- retention campaigns -----------------------------------------------------------------------


def campaigns_chart(campaigns: pd.DataFrame):
    """Retention campaign ROI with its 95 % interval (campaigns with a result)."""
    t = campaigns.dropna(subset=["roi"])
    fig = go.Figure(go.Bar(
        x=t["campaign_id"] + " " + t["name"].astype(str), y=t["roi"], marker_color=viz.PALETTE[0],
        error_y={"type": "data", "symmetric": False, "array": t["roi_ci_high"] - t["roi"],
                 "arrayminus": t["roi"] - t["roi_ci_low"]}, name="ROI"))
    fig.update_layout(title="Retention campaign ROI (95 % interval)", height=340, showlegend=False)
    viz.percent_axis(fig, "y")
    return viz.style(fig)


def campaigns_table(campaigns: pd.DataFrame) -> widgets.Table:
    shown = campaigns[["campaign_id", "name", "target_segment", "control_churn", "treatment_churn", "uplift",
                       "saved_arr", "cost", "roi", "roi_ci_low", "roi_ci_high", "note"]]
    return widgets.Table(shown, money=("saved_arr", "cost"),
                         pct=("control_churn", "treatment_churn", "uplift", "roi", "roi_ci_low", "roi_ci_high"),
                         rename={"campaign_id": "campaign", "target_segment": "segment", "saved_arr": "saved ARR",
                                 "roi": "ROI", "roi_ci_low": "ROI low", "roi_ci_high": "ROI high",
                                 "uplift": "churn reduction"})


# -- expansion ------------------------------------------------------------------------------


def expansion(frames: Frames) -> pd.DataFrame:
    """Expansion MRR per month split into upsell (same product) and cross-sell (new product)."""
    return frames.metrics["expansion_split"]


def expansion_chart(split: pd.DataFrame):
    return viz.style(viz.bars(split["period"], {"Upsell (same product)": split["upsell"],
                                                "Cross-sell (new product)": split["cross_sell"]},
                              "Expansion MRR per month", barmode="stack", height=340))


def expansion_by_tier(frames: Frames) -> pd.DataFrame:
    """Expansion by customer success tier and open expansion pipeline (descriptive)."""
    return frames.metrics["expansion_attribution"]


def expansion_by_tier_table(t: pd.DataFrame) -> widgets.Table:
    return widgets.Table(t, money=("expansion", "upsell", "cross_sell", "expansion_per_customer"),
                         pct=("share_of_expansion",),
                         rename={"cs_tier": "CS tier", "in_pipeline": "open deal", "expanding_customers": "expanding",
                                 "expansion_per_customer": "per customer", "share_of_expansion": "share"})


# -- customer success investment ---------------------------------------------------------------


def cs_investment(frames: Frames):
    """:func:`finlib.metrics.retention.cs_investment_roi` of the month (a dataclass)."""
    return frames.metrics["cs_investment_roi"]


def cs_investment_tiles(cs) -> widgets.Tiles:
    return widgets.Tiles([
        widgets.Tile("GRR with CS coverage", cs.grr_covered, "pct", key="grr_covered"),
        widgets.Tile("GRR tech-touch baseline", cs.grr_baseline, "pct", key="grr_baseline"),
        widgets.Tile("ARR retained above baseline", cs.retained_arr_above_baseline, "money", key="cs_retained"),
        widgets.Tile("CS cost (12 m)", cs.cs_cost, "money", higher_is_better=False, key="cs_cost"),
    ])


# -- customer satisfaction ----------------------------------------------------------------------


def satisfaction_roi(frames: Frames) -> pd.DataFrame:
    """Per survey kind (``nps``, ``csat``): what a point of score is worth, from
    :func:`finlib.models.satisfaction.satisfaction_frames` (its ``score_effect``).

    ``revenue_per_point`` (with ``revenue_per_point_ci_low``/``_high``, 95 %) is the ARR (USD)
    retained within ``horizon_months`` per +1 point of score on every priced customer (those
    paying at the period end with a response in the last 12 months); ``churn_change_per_point``
    (and its interval) the change in the probability of churning within the horizon per
    point; ``coef_per_point`` (``ci_low``, ``ci_high``, ``p_value``) the churn Logit's score
    coefficient in log-odds; ``data_issue`` why a kind has no figures. An association
    measured on history, not the effect of raising satisfaction.
    """
    t = frames.satisfaction["score_effect"]
    cols = ["kind", "horizon_months", "responses", "customers", "churn_rate", "churn_change_per_point",
            "churn_change_ci_low", "churn_change_ci_high", "priced_customers", "priced_arr", "revenue_per_point",
            "revenue_per_point_ci_low", "revenue_per_point_ci_high", "revenue_per_point_per_customer",
            "coef_per_point", "ci_low", "ci_high", "p_value", "score_12m", "data_issue"]
    return t.reindex(columns=cols).reset_index(drop=True)


def satisfaction_roi_table(t: pd.DataFrame) -> widgets.Table:
    """ARR retained per point of score with its interval, per survey kind."""
    shown = t[["kind", "responses", "churn_change_per_point", "priced_customers", "revenue_per_point",
               "revenue_per_point_ci_low", "revenue_per_point_ci_high", "revenue_per_point_per_customer", "data_issue"]]
    shown = shown.assign(kind=shown["kind"].map(lambda k: SURVEY_KINDS.get(k, k)))
    months = t["horizon_months"].dropna()
    horizon = f"{int(months.iloc[0])} months" if len(months) else "the horizon"
    caption = (f"ARR kept from churning within {horizon} per point of score added to every priced customer "
               "(paying now, answered in the last 12 months), low and high its 95 % interval; churn per point "
               "in percentage points (its interval and the Logit's coefficients are in the frame). "
               "Measured on history: a point of score is worth this much as a signal, which is not proof "
               "that raising scores would keep the revenue.")
    if t["revenue_per_point"].isna().all():
        caption = "Not enough survey data to price a point of score this month."
    return widgets.Table(
        shown, money=("revenue_per_point", "revenue_per_point_ci_low", "revenue_per_point_ci_high",
                      "revenue_per_point_per_customer"),
        pct=("churn_change_per_point",),
        rename={"kind": "survey", "responses": "responses fitted", "churn_change_per_point": "churn per point",
                "priced_customers": "customers priced", "revenue_per_point": "ARR retained per point",
                "revenue_per_point_ci_low": "low", "revenue_per_point_ci_high": "high",
                "revenue_per_point_per_customer": "per customer", "data_issue": "data issue"},
        caption=caption)


def nrr_by_band(frames: Frames) -> pd.DataFrame:
    """Net revenue retention over the horizon after each customer's latest response, by score
    band (NPS detractor 0-6, passive 7-8, promoter 9-10, Reichheld 2003; CSAT dissatisfied
    1-2, neutral 3, satisfied 4-5) with its 95 % interval and the band's churn rate
    (:func:`finlib.models.satisfaction.nrr_by_band`)."""
    return frames.satisfaction["nrr_by_band"].reindex(columns=NRR_BY_BAND_COLUMNS).reset_index(drop=True)


def _band_label(kind: str, band: str) -> str:
    for name, lo, hi in BANDS.get(kind, ()):
        if name == band:
            return f"{band} ({lo}-{hi})" if lo != hi else f"{band} ({lo})"
    return str(band)


def nrr_by_band_table(t: pd.DataFrame) -> widgets.Table:
    """NRR and churn per band (bands without respondents left out)."""
    t = t[t["customers"] > 0]
    shown = t.assign(kind=t["kind"].map(lambda k: SURVEY_KINDS.get(k, k)),
                     band=[_band_label(k, b) for k, b in zip(t["kind"], t["band"], strict=True)])
    return widgets.Table(shown, money=("mrr_before", "mrr_after"), pct=("nrr", "ci_low", "ci_high", "churn_rate"),
                         rename={"kind": "survey", "mrr_before": "MRR before", "mrr_after": "MRR after",
                                 "nrr": "NRR", "ci_low": "NRR low (95 %)", "ci_high": "NRR high (95 %)",
                                 "churn_rate": "churned"},
                         caption="NRR = the band's MRR at the end of the horizon (churned customers at 0) over "
                                 "its MRR the month before the response; one response per customer, the latest.")


def churn_by_score(frames: Frames) -> pd.DataFrame:
    """Per survey kind and score: responses, observed churn within the horizon and the
    churn model's fitted rate (mean over the same responses)."""
    return frames.satisfaction["churn_by_score"].reindex(columns=CHURN_BY_SCORE_COLUMNS).reset_index(drop=True)


def churn_by_score_chart(curve: pd.DataFrame, effect: pd.DataFrame | None = None):
    """Observed against fitted churn within the horizon by score, NPS and CSAT side by side;
    with ``effect`` (:func:`satisfaction_roi`) each panel's title gives the ARR retained
    per point. A note instead of a chart when no model could be fitted."""
    kinds = [k for k in SCALES if (curve["kind"] == k).any()]
    if not kinds:
        issues = [] if effect is None else [str(x) for x in effect["data_issue"].dropna().unique()]
        return widgets.Note("No churn-by-score chart: " + ("; ".join(issues) or "no survey model for this month")
                            + ".")
    rpp = {} if effect is None else effect.set_index("kind")["revenue_per_point"].to_dict()
    titles = []
    for k in kinds:
        v = rpp.get(k)
        worth = "" if v is None or pd.isna(v) else f": a point ≈ {viz.format_money(v)} ARR retained"
        titles.append(SURVEY_KINDS.get(k, k) + worth)
    fig = subplots.make_subplots(rows=1, cols=len(kinds), subplot_titles=titles, horizontal_spacing=0.1,
                                 shared_yaxes=True)
    for i, k in enumerate(kinds, start=1):
        c = curve[curve["kind"] == k].sort_values("score")
        fig.add_bar(x=c["score"], y=c["observed_rate"], name="observed", marker_color=viz.PALETTE[0],
                    text=c["responses"].map(lambda n: f"{int(n)} responses"), textposition="none",
                    hovertemplate="score %{x}: %{y:.1%} churned (%{text})<extra></extra>",
                    legendgroup="observed", showlegend=i == 1, row=1, col=i)
        fig.add_scatter(x=c["score"], y=c["fitted_rate"], mode="lines+markers", name="fitted (churn model)",
                        line={"color": viz.PALETTE[1]}, hovertemplate="score %{x}: %{y:.1%} fitted<extra></extra>",
                        legendgroup="fitted", showlegend=i == 1, row=1, col=i)
        fig.update_xaxes(title="score", dtick=1, row=1, col=i)
    fig.update_layout(title=f"Share of respondents churning within the horizon, by score "
                            f"(money in {config.reporting_currency()})", height=420, hovermode="closest",
                      bargap=0.15)
    viz.percent_axis(fig, "y")
    viz.style(fig)
    fig.update_layout(margin={"t": 90}, legend={"y": -0.3})  # room for the panel titles and axis titles
    return fig


# -- lifetime value ---------------------------------------------------------------------------


def lifetime_value(frames: Frames, segment: str = "all") -> pd.DataFrame:
    """CLV per segment: simple and shifted-beta-geometric (:func:`finlib.metrics.clv.clv_by_segment`)."""
    t = frames.clv.table
    cols = ["segment", "customers", "arpa", "churn_rate", "simple_clv", "sbg_clv", "base_residual_value",
            "alpha", "beta"]
    return _seg(t, segment)[[x for x in cols if x in t.columns]].reset_index(drop=True)


def lifetime_value_table(clv: pd.DataFrame, frames: Frames) -> widgets.Table:
    return widgets.Table(clv, money=("arpa", "simple_clv", "sbg_clv", "base_residual_value"), pct=("churn_rate",),
                         rename={"arpa": "ARPA (monthly)", "simple_clv": "CLV (simple)",
                                 "sbg_clv": "CLV (sBG model)", "base_residual_value": "value of current base"},
                         caption=f"Gross margin used: {frames.clv.gross_margin:.1%}; discount rate 10 % a year.")


# -- everything at once (jobs, tests, preheating) ----------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of retention_roi.ipynb (``docs/SCRAPS.md``) for parameters ``p``, built by
    the same calls as the notebook's cells."""
    frames = load(p["period"])
    return {
        "kpis": kpis(frames),
        "revenue_at_risk": revenue_at_risk(frames, p["segment"]),
        "at_risk_customers": at_risk_customers(frames, p["segment"], p["top_customers"]),
        "churn_model": churn_model_summary(frames),
        "campaigns": frames.campaigns,
        "expansion": expansion(frames),
        "clv": lifetime_value(frames, p["segment"]),
        "satisfaction_roi": satisfaction_roi(frames),
        "nrr_by_band": nrr_by_band(frames),
        "alerts": [],  # no alert rule covers retention yet (parameters/alerts.yaml)
        "period": frames.period, "data_as_of": frames.data_as_of,
    }
