"""Views of ``notebooks/executive.ipynb``: the executive financial dashboard.

Sections: headline tiles, recognised revenue against target with the statsmodels forecast
to year end, cost monitoring (department actual vs budget, month over month), cross-domain
ROI, budget performance (YTD utilisation), month-over-month trends read from the report
archive (the domain jobs' ``kpis`` scraps: read with scrapbook in a papermill run, from the
copy in each run's ``manifest.json`` under Voilà; computed live, and marked so, for months
without an archived run) and the alerts that are open.
"""

from __future__ import annotations

from finlib import widgets
from finlib.views import budget_variance as budget_view
from finlib.views import data
from finlib.views.common import (
    alerts_for,
    base_scraps,
    cached,
    jsonable,
    money_frame,
    period_choices,
    period_date,
    previous_period,
    records,
    resolve_period,
    show_alerts,
    show_figure,
    stored_alerts,
    warehouse,
)
from finlib.views.common import (
    dashboard as _dashboard,
)

TITLE = "Executive summary"

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


def params(period: str = "last_closed_month", trend_months: int = 6) -> dict:
    return {"period": resolve_period(period), "trend_months": max(1, int(trend_months))}


def dashboard(p: dict, interactive: bool = False):
    return _dashboard(TITLE, p, {"period": period_choices(p["period"])}, interactive)


# -- data ---------------------------------------------------------------------------------


def revenue_history(period: str, months: int = 24):
    """Recognised revenue and its monthly target for the ``months`` up to ``period`` plus the
    target for the rest of the year (one read)."""

    def compute():
        from finlib.metrics import facts
        from finlib.periods import add_months

        p = period_date(period)
        start = add_months(p, -(months - 1))
        with warehouse().connect(read_only=True) as conn:
            rev = facts.recognised_revenue(conn, start, p)
            tg = facts.kpi_targets(conn, start, p.replace(month=12), kpi="revenue")
        tg = tg[tg["dimension"].isna()][["period", "target"]]
        return rev[["period", "revenue"]], tg

    return cached(("revenue_history", period, months), compute)


def forecast_or_none(period: str):
    from finlib.errors import FinlibError

    try:
        return data.forecast(period)
    except FinlibError:
        return None


# -- pure builders ----------------------------------------------------------------------


def revenue_figure(revenue, targets, fc=None):
    import plotly.graph_objects as go

    from finlib import viz

    fig = go.Figure()
    if fc is not None and len(fc.monthly):
        mo = fc.monthly
        fig.add_scatter(x=list(mo["period"]) + list(mo["period"])[::-1],
                        y=list(mo["pi_upper"]) + list(mo["pi_lower"])[::-1], fill="toself",
                        fillcolor="rgba(31,78,121,0.12)", line={"width": 0}, name="forecast 95 % range",
                        hoverinfo="skip")
        fig.add_scatter(x=mo["period"], y=mo["mean"], mode="lines+markers", name=f"forecast ({fc.method})",
                        line={"dash": "dot", "color": viz.PALETTE[0]})
    fig.add_bar(x=revenue["period"], y=revenue["revenue"], name="recognised revenue", marker_color=viz.PALETTE[0])
    fig.add_scatter(x=targets["period"], y=targets["target"], mode="lines", name="target",
                    line={"color": viz.PALETTE[1], "shape": "hv"})
    fig.update_layout(title="Recognised revenue against target, with forecast", height=420)
    viz.money_axis(fig, "y")
    return fig


def revenue_summary(m: dict, fc=None) -> dict:
    rv = m["revenue_vs_target"]
    out = {"period": m["headline"]["period"][:7], "actual": rv.actual, "target": rv.target,
           "variance": rv.variance, "variance_pct": rv.variance_pct, "favourable": rv.favourable,
           "ytd_actual": rv.ytd_actual}
    if fc is not None:
        out.update({"forecast_method": fc.method, "next_month": fc.month_end, "year_end": fc.year_end,
                    "note": fc.note})
    return jsonable(out)


def roi_figure(t):
    import plotly.graph_objects as go

    from finlib import viz

    t = t.sort_values("roi")
    colours = [viz.FAVOURABLE if r >= 0 else viz.UNFAVOURABLE for r in t["roi"].fillna(0)]
    fig = go.Figure(go.Bar(x=t["roi"], y=t["domain"], orientation="h", marker_color=colours,
                           text=[f"{r:.0%}" if r == r else "n/a" for r in t["roi"]], textposition="auto",
                           hovertext=t["measure"], name="ROI"))
    fig.update_layout(title="ROI by domain (return − cost) / cost", height=320, showlegend=False,
                      hovermode="closest")
    viz.percent_axis(fig, "x")
    return fig


def kpis(m: dict, budget_kpis: dict, fc=None) -> dict:
    """The ``kpis`` scrap: headline figures of the month (``headline_kpis``) plus costs."""
    h = dict(m["headline"])
    h["period"] = h["period"][:7]
    h.update({k: budget_kpis[k] for k in ("opex_actual", "opex_budget", "opex_variance", "opex_variance_pct",
                                          "ytd_utilisation")})
    cd = m["cross_domain_roi"].set_index("domain")["roi"]
    for dom in cd.index:
        h[f"roi_{dom.lower().replace(' ', '_')}"] = cd[dom]
    if fc is not None:
        h["forecast_next_month"] = fc.month_end.get("mean")
        h["forecast_year_end"] = fc.year_end.get("mean")
    return jsonable(h)


# -- the archive ----------------------------------------------------------------------------------


def archived_kpis(jobs=DOMAIN_JOBS, periods=None, reports=None) -> dict:
    """``{(job, period): (run_id, kpis)}`` from the latest succeeded run of each domain job and
    month in the report archive (``FINLIB_REPORTS``): with scrapbook from the run's notebook,
    or under Voilà from the copy the runner writes into ``manifest.json`` (scrapbook when a
    manifest has none).

    Only runs without a matrix variant count (the domain jobs have none). Unreadable
    notebooks are skipped.
    """
    from finlib import config
    from finlib.jobs import archive

    reports = reports or config.reports_dir()
    if not reports.is_dir():
        return {}
    wanted = set(periods) if periods is not None else None
    latest: dict[tuple[str, str], dict] = {}
    for row in archive.load_catalogue(reports):  # newest first
        key = (row["job"], row["period"])
        if row["job"] not in jobs or row.get("status") != "succeeded" or row.get("variant"):
            continue
        if (wanted is not None and row["period"] not in wanted) or key in latest:
            continue
        latest[key] = row
    if not latest:
        return {}
    from finlib.dashboards.query import under_voila

    out = {}
    for key, row in latest.items():
        run = archive.run_dir(reports, row["job"], row["period"], row["run_id"])
        kpis = None
        if under_voila():
            # the runner copies the kpis scrap into manifest.json; reading it spares a viewer
            # importing scrapbook (and papermill), about 1.7 s
            try:
                kpis = archive.read_manifest(run).get("kpis")
            except (OSError, ValueError):
                kpis = None
        if kpis is None:
            try:
                import scrapbook as sb

                kpis = sb.read_notebook(str(run / archive.NOTEBOOK)).scraps["kpis"].data
            except Exception:  # noqa: BLE001 - a damaged or scrap-less run: treat as not archived
                continue
        if isinstance(kpis, dict):
            out[key] = (row["run_id"], dict(kpis))
    return out


def live_trend_kpis(periods: list[str]) -> dict:
    """The trend KPIs computed from the warehouse for ``periods`` (one connection):
    ``{period: {kpi: value}}``; Product ROI only for months already computed."""
    from finlib.errors import NoDataError
    from finlib.metrics import facts, monitoring
    from finlib.metrics.kpis import headline_kpis

    out: dict[str, dict] = {}
    ps = sorted(periods)
    with warehouse().connect(read_only=True) as conn:
        bva = facts.budget_vs_actual(conn, period_date(ps[0]), period_date(ps[-1]))
        for p in ps:
            try:
                h = headline_kpis(conn, p)
            except NoDataError:
                h = {}
            out[p] = {k: h.get(k) for k in ("mrr", "nrr", "logo_churn")}
    cv = monitoring.cost_variance(bva, by=("department",)) if len(bva) else None
    for p in ps:
        if cv is not None:
            import pandas as pd

            month = cv[pd.to_datetime(cv["period"]) == pd.Timestamp(p + "-01")]
            a, b = float(month["actual"].sum()), float(month["budget"].sum())
            out[p]["opex_actual"] = a if len(month) else None
            out[p]["opex_variance_pct"] = (a - b) / abs(b) if b else None
        out[p]["product_roi"] = None
    return out


def trend_table(period: str, months: int, archived: dict, live: dict):
    """Long table ``period, kpi, label, value, source`` (``archive <run_id>`` / ``live`` / ``n/a``)."""
    import pandas as pd

    from finlib.periods import add_months, format_period

    p = period_date(period)
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


def trends_data(period: str, months: int):
    def compute():
        from finlib.periods import add_months, format_period

        p = period_date(period)
        periods = [format_period(add_months(p, -i)) for i in range(months)]
        archived = archived_kpis(periods=periods)
        missing = sorted({per for per in periods for _, _, _, job in TREND_KPIS if (job, per) not in archived})
        live = live_trend_kpis(missing) if missing else {}
        if period in live:  # this month's Product ROI is on the page already
            pr = data.metrics(period)["cross_domain_roi"].set_index("domain")["roi"]
            live[period]["product_roi"] = float(pr.get("Product")) if "Product" in pr else None
        return trend_table(period, months, archived, live)

    return cached(("trends", period, months), compute)


def trend_figure(t):
    from plotly.subplots import make_subplots

    from finlib import viz

    keys = list(dict.fromkeys(t["kpi"]))
    cols = 3
    rows = (len(keys) + cols - 1) // cols
    labels = [t.loc[t["kpi"] == k, "label"].iloc[0] for k in keys]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=labels, horizontal_spacing=0.08,
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
            fig.update_yaxes(tickprefix="$", tickformat="~s", **axis)
        elif fmt == "pct":
            fig.update_yaxes(tickformat=".1%", **axis)
        fig.update_xaxes(type="category", **axis)
    fig.update_layout(title="Month over month (open markers: computed live, no archived report)",
                      height=300 * rows + 60, hovermode="closest")
    return fig


# -- sections ---------------------------------------------------------------------------------


def _budget_kpis(period: str) -> dict:
    return budget_view.kpis(data.metrics(period), period, budget_view.threshold({}))


def headline(p: dict) -> None:
    period = p["period"]
    m = data.metrics(period)
    h = m["headline"]
    prev = data.headline(previous_period(period)) or {}
    b = _budget_kpis(period)
    t = lambda k: data.target(period, k)  # noqa: E731
    widgets.show_tiles([
        widgets.Tile("Recognised revenue", h["recognised_revenue"], "money", prev.get("recognised_revenue"),
                     h["revenue_target"], key="revenue"),
        widgets.Tile("MRR (month end)", h["mrr"], "money", prev.get("mrr"), t("mrr"), key="mrr"),
        widgets.Tile("ARR", h["arr"], "money", prev.get("arr"), key="arr"),
        widgets.Tile("Net revenue retention", h["nrr"], "pct", prev.get("nrr"), t("nrr"), key="nrr"),
        widgets.Tile("CAC (blended)", h["cac"], "money", prev.get("cac"), t("cac"), higher_is_better=False,
                     key="cac"),
        widgets.Tile("Operating costs", b["opex_actual"], "money", None, b["opex_budget"], higher_is_better=False,
                     key="opex", target_name="budget"),
        widgets.Tile("Gross margin", h["gross_margin"], "pct", prev.get("gross_margin"), key="gross_margin"),
    ])


def revenue(p: dict) -> None:
    period = p["period"]
    rev, tg = revenue_history(period)
    fc = forecast_or_none(period)
    show_figure(revenue_figure(rev, tg, fc))
    s = revenue_summary(data.metrics(period), fc)
    parts = [f"{period}: recognised revenue {widgets.format_value(s['actual'])}"]
    if s["target"] is not None:
        parts.append(f"against a target of {widgets.format_value(s['target'])} "
                     f"({'favourable' if s['favourable'] else 'unfavourable'}, {s['variance_pct']:+.1%})")
    if fc is not None:
        ye = fc.year_end
        parts.append(f"year-end forecast {widgets.format_value(ye['mean'])} "
                     f"(95 % range {widgets.format_value(ye['pi_lower'])} to {widgets.format_value(ye['pi_upper'])})")
    else:
        parts.append("no forecast: too little revenue history")
    widgets.show_note("; ".join(parts) + ".")


def costs(p: dict) -> None:
    t = budget_view.by_department(data.metrics(p["period"]), p["period"])
    show_figure(budget_view.department_figure(t))
    money_frame(t, money=("actual", "budget", "variance", "mom_change"), pct=("variance_pct", "mom_pct"),
                rename={"variance_pct": "variance %", "mom_change": "change vs last month", "mom_pct": "change %"})


def roi(p: dict) -> None:
    t = data.metrics(p["period"])["cross_domain_roi"]
    show_figure(roi_figure(t))
    money_frame(t, money=("return", "cost"), pct=("roi",), rename={"roi": "ROI"})


def budget(p: dict) -> None:
    u = data.metrics(p["period"])["budget_utilisation"]
    show_figure(budget_view.utilisation_figure(u))


def trends(p: dict) -> None:
    t = trends_data(p["period"], p["trend_months"])
    show_figure(trend_figure(t))
    n_live = int(t.loc[t["source"] == "live", "period"].nunique())
    n_arch = int(t.loc[t["source"].str.startswith("archive"), "period"].nunique())
    if n_arch == 0:
        widgets.show_note("No archived domain report yet for these months: every figure here is computed "
                          "live from the warehouse (Product ROI only for the selected month).")
    elif n_live:
        widgets.show_note(f"{n_arch} month(s) read from archived reports; {n_live} month(s) computed live "
                          "because no archived report exists yet (open markers).")
    else:
        widgets.show_note("Every figure here comes from archived domain reports.")


def alert_list(p: dict) -> list[dict]:
    def compute():
        live = alerts_for(p["period"])
        seen = {a["id"] for a in live}
        older = [a for a in stored_alerts("open") if a["id"] not in seen]
        return live + older

    return cached(("alerts", "executive", p["period"]), compute)


def alerts(p: dict) -> None:
    show_alerts(alert_list(p), "No alert is firing or open.")


# -- scraps -----------------------------------------------------------------------------------


def scraps(p: dict) -> dict:
    """The scraps of executive.ipynb (docs/SCRAPS.md)."""
    period = p["period"]
    m = data.metrics(period)
    fc = forecast_or_none(period)
    b = _budget_kpis(period)
    return {
        "kpis": kpis(m, b, fc),
        "revenue_vs_target": revenue_summary(m, fc),
        "forecast": records(fc.monthly) if fc is not None else [],
        "cost_by_department": records(budget_view.by_department(m, period)),
        "cross_domain_roi": records(m["cross_domain_roi"]),
        "budget_utilisation": records(m["budget_utilisation"]),
        "trends": records(trends_data(period, p["trend_months"])),
        "alerts": alert_list(p),
        **base_scraps(p),
    }
