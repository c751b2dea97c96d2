"""What ``notebooks/executive.ipynb`` shows: the executive financial summary.

    frames = ex.load(period)                          # the month's figures
    revenue = ex.revenue_history(frames)              # recognised revenue and target by month
    ex.revenue_chart(revenue, frames.forecast)

Sections: headline tiles, recognised revenue against target with the statsmodels forecast
to year end, cost monitoring (department actual vs budget, month over month), cross-domain
ROI, budget performance (YTD utilisation), month-over-month trends read from the report
archive (the ``kpis`` that the job runner copies from each domain run into its
``manifest.json``; computed live, and marked so, for months without an archived run) and
the alerts that are open.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lazy_loader as lazy
import pandas as pd

from finlib import config, viz, widgets
from finlib.errors import FinlibError, NoDataError
from finlib.metrics import facts, monitoring
from finlib.metrics.kpis import headline_kpis
from finlib.periods import add_months, format_period, parse_period
from finlib.views import budget_variance as budget_view
from finlib.views import common, data
from finlib.views.common import (
    Frames,
    alerts_for,
    cached,
    data_as_of,
    jsonable,
    month,
    month_before,
    period_choices,
    stored_alerts,
    warehouse,
)

go = lazy.load("plotly.graph_objects", suppress_warning=True)
subplots = lazy.load("plotly.subplots", suppress_warning=True)

TITLE = "Executive summary"
PRELOAD = ("statsmodels.tsa.exponential_smoothing.ets", "scipy.stats")

#: the trend section: (kpi key, label, format, domain job whose ``kpis`` scrap holds it)
TREND_KPIS = (
    ("mrr", "MRR", "money", "retention_roi"),
    ("nrr", "Net revenue retention", "pct", "retention_roi"),
    ("logo_churn", "Logo churn", "pct", "retention_roi"),
    ("opex_actual", "Operating costs", "money", "budget_variance"),
    ("opex_variance_pct", "Costs vs budget", "pct", "budget_variance"),
    ("product_roi", "Product ROI (to date)", "pct", "product_roi"),
)
DOMAIN_JOBS = ("product_roi", "retention_roi", "budget_variance")

alerts_table = common.alerts_table


def params(period: str = "last_closed_month", trend_months: int = 6) -> dict:
    """The notebook's parameters, checked: ``period`` as ``YYYY-MM``."""
    return {"period": month(period), "trend_months": max(1, int(trend_months))}


def choices(p: dict) -> dict:
    return {"period": period_choices(p["period"])}


# -- the month's figures ----------------------------------------------------------------


def load(period: str) -> Frames:
    """Everything the notebook shows for ``period``, read once (cached): ``metrics``
    (:func:`finlib.metrics.kpis.period_metrics`), ``headline`` (its headline figures),
    ``previous`` (last month's headline figures), ``targets``, ``revenue`` and
    ``revenue_targets`` (24 months, targets to year end), ``forecast``
    (:func:`finlib.models.forecast.revenue_forecast`, None with too little history),
    ``budget`` (the month's costs against budget, as in ``budget_variance.ipynb``) and
    ``billings`` (:func:`billings`: invoiced this month and last)."""
    period = month(period)

    def compute():
        m = data.metrics(period)
        revenue, revenue_targets = _revenue_history(period)
        try:
            fc = data.forecast(period)
        except FinlibError:
            fc = None
        budget = budget_view.budget_kpis(m, period, budget_view.tolerance())
        return Frames(period=period, data_as_of=data_as_of(), metrics=m, headline=m["headline"],
                      previous=data.headline(month_before(period)) or {}, targets=data.targets(period),
                      revenue=revenue, revenue_targets=revenue_targets, forecast=fc, budget=budget,
                      billings=billings(period))

    return cached(("executive_frames", period), compute)


def _revenue_history(period: str, months: int = 24):
    """Recognised revenue and its monthly target for the ``months`` up to ``period`` plus the
    target for the rest of the year (one read)."""
    p = parse_period(period)
    start = add_months(p, -(months - 1))
    with warehouse().connect(read_only=True) as conn:
        rev = facts.recognised_revenue(conn, start, p)
        tg = facts.kpi_targets(conn, start, p.replace(month=12), kpi="revenue")
    tg = tg[tg["dimension"].isna()][["period", "target"]]
    return rev[["period", "revenue"]], tg


def billings(period: str) -> dict:
    """Billings of ``period`` and of the month before, in the reporting currency.

    Billings = Σ ``invoices.amount`` of the invoices *issued* in the month
    (``issued_on``), ``void`` ones excluded (a voided invoice leaves billings; a credit note,
    negative, reduces them), each converted at the rate of its issue month
    (:func:`finlib.metrics.facts.invoiced`). ``{"billings", "invoices", "previous"}``
    (``previous``: last month's billings; None when last month has no invoice, e.g. before the
    books begin).

    Billings are not revenue. Recognised revenue follows the service period (ASC 606 /
    IFRS 15: a subscription's fee is earned over the months it covers), so an invoice for a
    year of service moves recognised revenue by a twelfth a month, and an invoice event
    moves recognised revenue only when the revenue schedule (``revenue_recognized``) is
    posted. Billings move the moment an invoice is issued, which is what a Stripe
    ``invoice.finalized`` event reports: the executive page shows both, side by side.
    """
    p = parse_period(period)
    with warehouse().connect(read_only=True) as conn:
        df = facts.invoiced(conn, add_months(p, -1), p)
    by = {format_period(pd.Timestamp(r.period).date()): r for r in df.itertuples()}
    this, before = by.get(format_period(p)), by.get(format_period(add_months(p, -1)))
    return {"billings": float(this.invoiced) if this is not None else 0.0,
            "invoices": int(this.invoices) if this is not None else 0,
            "previous": float(before.invoiced) if before is not None and before.invoices else None}


# -- headline ------------------------------------------------------------------------------


def kpis(frames: Frames) -> dict:
    """The ``kpis`` scrap: headline figures of the month (``headline_kpis``) plus costs,
    billings (:func:`billings`: ``billings``, ``billings_invoices``), each domain's ROI and
    the forecast."""
    h = dict(frames.headline)
    h["period"] = h["period"][:7]
    b = frames.budget
    h.update({k: b[k] for k in ("opex_actual", "opex_budget", "opex_variance", "opex_variance_pct",
                                "ytd_utilisation")})
    h["billings"] = frames.billings["billings"]
    h["billings_invoices"] = frames.billings["invoices"]
    cd = frames.metrics["cross_domain_roi"].set_index("domain")["roi"]
    for dom in cd.index:
        h[f"roi_{dom.lower().replace(' ', '_')}"] = cd[dom]
    if frames.forecast is not None:
        h["forecast_next_month"] = frames.forecast.month_end.get("mean")
        h["forecast_year_end"] = frames.forecast.year_end.get("mean")
    return jsonable(h)


def headline_tiles(frames: Frames) -> widgets.Tiles:
    """The month's key figures against last month and, where set, the target. Billings
    (invoiced in the month, :func:`billings`) stand beside recognised revenue: an invoice
    moves billings at once and revenue over its service period."""
    kpis = {**frames.headline, **frames.budget}
    prev, t = frames.previous, frames.targets
    target = lambda k: data.target_in(t, k)  # noqa: E731
    return widgets.Tiles([
        widgets.Tile("Recognised revenue", kpis["recognised_revenue"], "money", prev.get("recognised_revenue"),
                     kpis["revenue_target"], key="revenue"),
        widgets.Tile("Billings", frames.billings["billings"], "money", frames.billings["previous"], key="billings"),
        widgets.Tile("MRR (month end)", kpis["mrr"], "money", prev.get("mrr"), target("mrr"), key="mrr"),
        widgets.Tile("ARR", kpis["arr"], "money", prev.get("arr"), key="arr"),
        widgets.Tile("Net revenue retention", kpis["nrr"], "pct", prev.get("nrr"), target("nrr"), key="nrr"),
        widgets.Tile("CAC (blended)", kpis["cac"], "money", prev.get("cac"), target("cac"), higher_is_better=False,
                     key="cac"),
        widgets.Tile("Operating costs", kpis["opex_actual"], "money", None, kpis["opex_budget"],
                     higher_is_better=False, key="opex", target_name="budget"),
        widgets.Tile("Gross margin", kpis["gross_margin"], "pct", prev.get("gross_margin"), key="gross_margin"),
    ])


# -- revenue --------------------------------------------------------------------------------


def revenue_vs_target(frames: Frames) -> dict:
    """The ``revenue_vs_target`` scrap: the month's recognised revenue against target, year to
    date, and the forecast to next month and year end."""
    rv, fc = frames.metrics["revenue_vs_target"], frames.forecast
    out = {"period": frames.period, "actual": rv.actual, "target": rv.target,
           "variance": rv.variance, "variance_pct": rv.variance_pct, "favourable": rv.favourable,
           "ytd_actual": rv.ytd_actual}
    if fc is not None:
        out.update({"forecast_method": fc.method, "next_month": fc.month_end, "year_end": fc.year_end,
                    "note": fc.note})
    return jsonable(out)


def forecast(frames: Frames) -> pd.DataFrame:
    """The forecast per month to year end (``mean``, 95 % ``pi_lower``, ``pi_upper``)."""
    if frames.forecast is None:
        return pd.DataFrame(columns=["period", "mean", "pi_lower", "pi_upper"])
    return frames.forecast.monthly


def revenue_chart(frames: Frames, forecast: pd.DataFrame):
    """Recognised revenue against target by month, with the forecast and its 95 % range."""
    revenue, targets = frames.revenue, frames.revenue_targets
    fig = go.Figure()
    if len(forecast):
        mo = forecast
        method = frames.forecast.method if frames.forecast is not None else "forecast"
        fig.add_scatter(x=list(mo["period"]) + list(mo["period"])[::-1],
                        y=list(mo["pi_upper"]) + list(mo["pi_lower"])[::-1], fill="toself",
                        fillcolor="rgba(31,78,121,0.12)", line={"width": 0}, name="forecast 95 % range",
                        hoverinfo="skip")
        fig.add_scatter(x=mo["period"], y=mo["mean"], mode="lines+markers", name=f"forecast ({method})",
                        line={"dash": "dot", "color": viz.PALETTE[0]})
    fig.add_bar(x=revenue["period"], y=revenue["revenue"], name="recognised revenue", marker_color=viz.PALETTE[0])
    fig.add_scatter(x=targets["period"], y=targets["target"], mode="lines", name="target",
                    line={"color": viz.PALETTE[1], "shape": "hv"})
    fig.update_layout(title="Recognised revenue against target, with forecast", height=420)
    viz.money_axis(fig, "y")
    return viz.style(fig)


def revenue_note(summary: dict) -> widgets.Note:
    """One sentence: the month against target and the year-end forecast."""
    s = summary
    parts = [f"{s['period']}: recognised revenue {widgets.format_value(s['actual'])}"]
    if s["target"] is not None:
        parts.append(f"against a target of {widgets.format_value(s['target'])} "
                     f"({'favourable' if s['favourable'] else 'unfavourable'}, {s['variance_pct']:+.1%})")
    if s.get("year_end"):
        ye = s["year_end"]
        parts.append(f"year-end forecast {widgets.format_value(ye['mean'])} "
                     f"(95 % range {widgets.format_value(ye['pi_lower'])} to {widgets.format_value(ye['pi_upper'])})")
    else:
        parts.append("no forecast: too little revenue history")
    return widgets.Note("; ".join(parts) + f" ({config.reporting_currency()}).")


# -- costs, ROI, budget ----------------------------------------------------------------------


def cost_by_department(frames: Frames) -> pd.DataFrame:
    """Each department's costs this month against budget, with the change from last month."""
    return budget_view.by_department(frames.metrics, frames.period)


cost_by_department_chart = budget_view.variance_by_department_chart
cost_by_department_table = budget_view.variance_by_department_table


def cross_domain_roi(frames: Frames) -> pd.DataFrame:
    """Every domain's ROI: (return − cost) / cost, with what the return measures."""
    return frames.metrics["cross_domain_roi"]


def cross_domain_roi_chart(t: pd.DataFrame):
    t = t.sort_values("roi")
    colours = [viz.FAVOURABLE if r >= 0 else viz.UNFAVOURABLE for r in t["roi"].fillna(0)]
    fig = go.Figure(go.Bar(x=t["roi"], y=t["domain"], orientation="h", marker_color=colours,
                           text=[f"{r:.0%}" if r == r else "n/a" for r in t["roi"]], textposition="auto",
                           hovertext=t["measure"], name="ROI"))
    fig.update_layout(title="ROI by domain (return − cost) / cost", height=320, showlegend=False,
                      hovermode="closest")
    viz.percent_axis(fig, "x")
    return viz.style(fig)


def cross_domain_roi_table(t: pd.DataFrame) -> widgets.Table:
    return widgets.Table(t, money=("return", "cost"), pct=("roi",), rename={"roi": "ROI"})


def budget_utilisation(frames: Frames) -> pd.DataFrame:
    """Budget utilisation year to date, every department."""
    return frames.metrics["budget_utilisation"]


budget_utilisation_chart = budget_view.utilisation_chart


# -- trends from the archive ------------------------------------------------------------------


def archived_kpis(jobs=DOMAIN_JOBS, periods=None, reports: Path | None = None) -> dict:
    """``{(job, period): (run_id, kpis)}`` from the newest succeeded run of each domain job and
    month in the report archive (``FINLIB_REPORTS``).

    Reads the archive's documented layout, ``<job>/<period>/<run_id>/manifest.json``, where
    the job runner copies each run's ``kpis`` scrap; run ids sort by start time. Runs with a
    matrix variant, unfinished or unreadable manifests, and manifests without ``kpis`` are
    skipped.
    """
    reports = Path(reports or config.reports_dir())
    wanted = set(periods) if periods is not None else None
    out: dict = {}
    for job in jobs:
        if not (reports / job).is_dir():
            continue
        with os.scandir(reports / job) as months:
            for per in months:
                if not per.is_dir() or (wanted is not None and per.name not in wanted):
                    continue
                runs = sorted((e.name for e in os.scandir(per.path) if e.is_dir() and not e.name.startswith(".")),
                              reverse=True)
                for run_id in runs:
                    try:
                        manifest = json.loads((Path(per.path) / run_id / "manifest.json").read_text("utf-8"))
                    except (OSError, ValueError):
                        continue
                    if manifest.get("status") != "succeeded" or manifest.get("variant_label"):
                        continue
                    if isinstance(manifest.get("kpis"), dict):
                        out[(job, per.name)] = (manifest.get("run_id", run_id), dict(manifest["kpis"]))
                        break
    return out


def live_trend_kpis(periods: list[str]) -> dict:
    """The trend KPIs computed from the warehouse for ``periods`` (one connection):
    ``{period: {kpi: value}}``; Product ROI only for months already computed."""
    out: dict[str, dict] = {}
    ps = sorted(periods)
    with warehouse().connect(read_only=True) as conn:
        bva = facts.budget_vs_actual(conn, parse_period(ps[0]), parse_period(ps[-1]))
        for p in ps:
            try:
                h = headline_kpis(conn, p)
            except NoDataError:
                h = {}
            out[p] = {k: h.get(k) for k in ("mrr", "nrr", "logo_churn")}
    cv = monitoring.cost_variance(bva, by=("department",)) if len(bva) else None
    for p in ps:
        if cv is not None:
            m = cv[pd.to_datetime(cv["period"]) == pd.Timestamp(p + "-01")]
            a, b = float(m["actual"].sum()), float(m["budget"].sum())
            out[p]["opex_actual"] = a if len(m) else None
            out[p]["opex_variance_pct"] = (a - b) / abs(b) if b else None
        out[p]["product_roi"] = None
    return out


def trend_table(period: str, months: int, archived: dict, live: dict) -> pd.DataFrame:
    """Long table ``period, kpi, label, value, source`` (``archive <run_id>`` / ``live`` / ``n/a``)."""
    p = parse_period(period)
    periods = [format_period(add_months(p, -i)) for i in range(months - 1, -1, -1)]
    rows = []
    for per in periods:
        for key, label, fmt, job in TREND_KPIS:
            if (job, per) in archived:
                run_id, k = archived[(job, per)]
                rows.append({"period": per, "kpi": key, "label": label, "format": fmt, "value": k.get(key),
                             "source": f"archive {run_id}"})
            else:
                v = (live.get(per) or {}).get(key)
                rows.append({"period": per, "kpi": key, "label": label, "format": fmt, "value": v,
                             "source": "live" if v is not None else "n/a"})
    return pd.DataFrame(rows)


def trends(frames: Frames, months: int = 6) -> pd.DataFrame:
    """Key figures of the ``months`` up to the period: from the archived domain reports,
    else computed live (``source`` says which)."""
    period = frames.period

    def compute():
        p = parse_period(period)
        periods = [format_period(add_months(p, -i)) for i in range(months)]
        archived = archived_kpis(periods=periods)
        missing = sorted({per for per in periods for _, _, _, job in TREND_KPIS if (job, per) not in archived})
        live = live_trend_kpis(missing) if missing else {}
        if period in live:  # this month's Product ROI is on the page already
            pr = frames.metrics["cross_domain_roi"].set_index("domain")["roi"]
            live[period]["product_roi"] = float(pr.get("Product")) if "Product" in pr else None
        return trend_table(period, months, archived, live)

    return cached(("trends", period, months), compute)


def trends_chart(t: pd.DataFrame):
    """One small chart per KPI; open markers: computed live (no archived report)."""
    keys = list(dict.fromkeys(t["kpi"]))
    cols = 3
    rows = (len(keys) + cols - 1) // cols
    labels = [t.loc[t["kpi"] == k, "label"].iloc[0] for k in keys]
    fig = subplots.make_subplots(rows=rows, cols=cols, subplot_titles=labels, horizontal_spacing=0.08,
                                 vertical_spacing=0.18)
    for i, k in enumerate(keys):
        s = t[t["kpi"] == k]
        fmt = s["format"].iloc[0]
        live = s["source"].eq("live")
        fig.add_scatter(x=s["period"], y=s["value"], mode="lines+markers", row=i // cols + 1, col=i % cols + 1,
                        marker={"symbol": ["circle-open" if x else "circle" for x in live], "size": 8,
                                "color": viz.PALETTE[0]},
                        line={"color": viz.PALETTE[0]}, text=s["source"], name=labels[i], showlegend=False,
                        hovertemplate="%{x}: %{y}<br>%{text}<extra></extra>")
        axis = dict(row=i // cols + 1, col=i % cols + 1)
        if fmt == "money":
            fig.update_yaxes(tickprefix=viz.currency_prefix(), tickformat="~s", **axis)
        elif fmt == "pct":
            fig.update_yaxes(tickformat=".1%", **axis)
        fig.update_xaxes(type="category", **axis)
    fig.update_layout(title=f"Month over month (open markers: computed live, no archived report; "
                            f"money in {config.reporting_currency()})",
                      height=300 * rows + 60, hovermode="closest")
    return viz.style(fig)


def trends_note(t: pd.DataFrame) -> widgets.Note:
    """Where the trend figures come from."""
    n_live = int(t.loc[t["source"] == "live", "period"].nunique())
    n_arch = int(t.loc[t["source"].str.startswith("archive"), "period"].nunique())
    if n_arch == 0:
        return widgets.Note("No archived domain report yet for these months: every figure here is computed "
                            "live from the warehouse (Product ROI only for the selected month).")
    if n_live:
        return widgets.Note(f"{n_arch} month(s) read from archived reports; {n_live} month(s) computed live "
                            "because no archived report exists yet (open markers).")
    return widgets.Note("Every figure here comes from archived domain reports.")


def alerts(period: str) -> list[dict]:
    """Every rule firing for the month (evaluated read-only) and older alerts still open."""

    def compute():
        live = alerts_for(period)
        seen = {a["id"] for a in live}
        older = [a for a in stored_alerts("open") if a["id"] not in seen]
        return live + older

    return cached(("alerts", "executive", period), compute)


# -- everything at once (jobs, tests, preheating) ----------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of executive.ipynb (``docs/SCRAPS.md``) for parameters ``p``."""
    frames = load(p["period"])
    return {
        "kpis": kpis(frames),
        "revenue_vs_target": revenue_vs_target(frames),
        "forecast": forecast(frames),
        "cost_by_department": cost_by_department(frames),
        "cross_domain_roi": cross_domain_roi(frames),
        "budget_utilisation": budget_utilisation(frames),
        "trends": trends(frames, p["trend_months"]),
        "alerts": alerts(frames.period),
        "period": frames.period, "data_as_of": frames.data_as_of,
    }
