"""Unit tests of the presentation layer: finlib.widgets and finlib/views."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from tests.notebooks.conftest import PERIOD

# -- widgets -----------------------------------------------------------------------------


def test_tile_shows_value_and_changes_against_previous_and_target():
    from finlib.widgets import Tile

    t = Tile("Revenue", 110.0, "money", previous=100.0, target=120.0, key="revenue")
    assert t.change_vs_previous() == pytest.approx(0.10)
    assert t.change_vs_target() == pytest.approx(-1 / 12)
    h = t.to_html()
    assert 'data-kpi="revenue"' in h and "finlib-kpi" in h and 'data-value="110.000000"' in h
    assert "+10.0 % vs previous month" in h and "-8.3 % vs target" in h
    assert 'class="delta good"' in h and 'class="delta bad"' in h


def test_tile_for_a_cost_colours_a_rise_as_bad_and_names_the_budget():
    from finlib.widgets import Tile

    h = Tile("Opex", 110.0, previous=100.0, target=100.0, higher_is_better=False, target_name="budget").to_html()
    assert h.count('class="delta bad"') == 2 and "vs budget" in h


def test_tile_without_value_or_baseline_shows_na_and_no_change():
    from finlib.widgets import Tile

    h = Tile("CAC", float("nan"), previous=None, target=0.0).to_html()
    assert "n/a" in h and "delta" not in h and "data-value" not in h


def test_table_formats_money_percent_and_booleans_and_drops_empty_columns():
    from finlib.widgets import table_html

    df = pd.DataFrame({"department": ["Sales", "G&A"], "actual": [1_234_567.0, 950.0], "variance_pct": [0.1, -0.02],
                       "favourable": [False, True], "data_issue": [None, None], "n": [3, 4]})
    h = table_html(df, money=("actual",), pct=("variance_pct",))
    assert "$1.23M" in h and "$950" in h and "10.0 %" in h and "-2.0 %" in h
    assert ">no<" in h and ">yes<" in h and "data_issue" not in h
    assert '<td class="txt">Sales</td>' in h and '<td class="num">$1.23M</td>' in h


def test_format_value_units():
    from finlib.widgets import format_value

    assert format_value(2_500_000) == "$2.50M"
    assert format_value(-12_345) == "-$12.3k"
    assert format_value(0.1234, "pct") == "12.3 %"
    assert format_value(3.5, "ratio") == "3.50x"
    assert format_value(None) == "n/a" and format_value(float("nan"), "pct") == "n/a"


def test_controls_report_a_change_and_a_refresh_to_their_callbacks():
    from finlib.widgets import Controls

    seen, refreshed = [], []
    stamps = iter(["2026-10-31 20:59 UTC", "2026-11-02 06:00 UTC"])
    c = Controls({"period": "2026-10", "segment": "all"},
                 {"period": ["2026-10", "2026-09"], "segment": ["all", "SMB"]},
                 on_change=lambda n, v: seen.append((n, v)), on_refresh=lambda: refreshed.append(1),
                 as_of=lambda: next(stamps))
    c.dropdowns["period"].value = "2026-09"
    c.dropdowns["segment"].value = "SMB"
    assert seen == [("period", "2026-09"), ("segment", "SMB")]
    assert "2026-10-31 20:59 UTC" in c.status.value
    c.refresh()
    assert refreshed == [1] and "2026-11-02 06:00 UTC" in c.status.value
    assert "finlib-control-period" in c.dropdowns["period"]._dom_classes


def test_a_requested_value_without_data_stays_selectable():
    from finlib.widgets import Controls

    c = Controls({"period": "2031-01"}, {"period": ["2026-10"]})
    assert list(c.dropdowns["period"].options) == ["2031-01", "2026-10"]


def test_money_says_its_currency(monkeypatch):
    from finlib.widgets import Table, Tile

    monkeypatch.setenv("FINLIB_REPORTING_CURRENCY", "EUR")
    h = Tile("ARR", 2_500_000.0, "money", key="arr").to_html()
    assert "ARR (EUR)" in h and "€2.50M" in h
    t = Table(pd.DataFrame({"arr": [1.0e6], "share": [0.5]}), money=("arr",), pct=("share",))._repr_html_()
    assert "arr (EUR)" in t and "€1.00M" in t and "50.0 %" in t


def test_a_chart_shows_through_the_finlib_renderer_with_its_currency(monkeypatch):
    import plotly.graph_objects as go

    from finlib import viz

    monkeypatch.setenv("FINLIB_REPORTING_CURRENCY", "GBP")
    fig = viz.style(viz.money_axis(go.Figure(go.Bar(x=["a"], y=[1.0]))))
    bundle = fig._repr_mimebundle_()  # what a cell ending with ``fig`` displays
    assert "Plotly.newPlot" in bundle["text/html"]
    spec = bundle["application/vnd.plotly.v1+json"]
    assert spec["layout"]["yaxis"]["tickprefix"] == "£" and spec["layout"]["yaxis"]["title"]["text"] == "GBP"


def test_views_and_widgets_know_nothing_of_dashboards_or_the_jobs_archive():
    import subprocess
    import sys

    code = ("import sys, finlib.widgets, finlib.viz, finlib.views.product_roi, finlib.views.retention_roi, "
            "finlib.views.budget_variance, finlib.views.executive, finlib.views.department;"
            "print([m for m in sys.modules if m.startswith(('finlib.dashboards', 'finlib.jobs'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- common ------------------------------------------------------------------------------------


def test_jsonable_turns_dates_nan_and_numpy_into_plain_json():
    from finlib.views.common import jsonable

    v = jsonable({"d": dt.date(2026, 10, 1), "t": pd.Timestamp("2026-10-01"), "n": np.float64("nan"),
                  "i": np.int64(3), "b": np.bool_(True), "x": [np.float32(1.5), None, pd.NaT]})
    assert v == {"d": "2026-10-01", "t": "2026-10-01", "n": None, "i": 3, "b": True, "x": [1.5, None, None]}


def test_records_are_json_ready():
    import json

    from finlib.views.common import records

    df = pd.DataFrame({"period": pd.to_datetime(["2026-09-01", "2026-10-01"]), "v": [1.0, math.nan]})
    r = records(df)
    assert r == [{"period": "2026-09-01", "v": 1.0}, {"period": "2026-10-01", "v": None}]
    json.dumps(r)


def test_month_accepts_the_job_runner_iso_date_and_symbols():
    from finlib.errors import ConfigError
    from finlib.views.common import month

    assert month("2026-10-01") == "2026-10" == month("2026-10")
    assert len(month("last_closed_month")) == 7
    with pytest.raises(ConfigError):
        month("October")


def test_the_choices_come_from_the_schema(nb_env):
    from finlib.views import budget_variance, retention_roi
    from finlib.warehouse.schema import DEPARTMENTS, SEGMENTS

    assert retention_roi.choices({"period": PERIOD})["segment"] == ["all", *SEGMENTS]
    assert budget_variance.choices({"period": PERIOD})["department"] == ["all", *DEPARTMENTS]


def test_glue_writes_what_scrapbook_reads(tmp_path, monkeypatch):
    """A scrap written without scrapbook is read back by scrapbook."""
    import nbformat
    import scrapbook as sb

    from finlib.views import common

    shown = []
    monkeypatch.setattr(common.ipd, "display", lambda data, metadata, raw: shown.append((data, metadata)))
    common.glue("kpis", {"period": "2026-10", "mrr": np.float64(1.5), "x": float("nan")})
    common.glue("table", pd.DataFrame({"d": [dt.date(2026, 10, 1)], "v": [2]}))
    outputs = [nbformat.v4.new_output("display_data", data=d, metadata=m) for d, m in shown]
    cell = nbformat.v4.new_code_cell("", outputs=outputs)
    path = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(path))
    scraps = sb.read_notebook(str(path)).scraps
    assert scraps["kpis"].data == {"period": "2026-10", "mrr": 1.5, "x": None}
    assert scraps["table"].data == [{"d": "2026-10-01", "v": 2}]


def test_alerts_are_evaluated_read_only_with_the_stable_ids(nb_env):
    from finlib.alerts.store import alert_id
    from finlib.periods import parse_period
    from finlib.views.common import alerts_for

    found = alerts_for(PERIOD)
    assert found, "the demo plants breaches in its last month"
    for a in found:
        assert a["id"] == alert_id(a["rule"], a["entity"], parse_period(PERIOD))
        assert a["state"] == "new"
    with nb_env.wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM alerts") == 0  # nothing stored
    strict = alerts_for(PERIOD, ["budget_variance"], {"budget_variance": 0.001})
    loose = alerts_for(PERIOD, ["budget_variance"], {"budget_variance": 10.0})
    # unbudgeted spend fires whatever the tolerance (its floor is min_amount); lines with a budget do not
    with_budget = [a for a in loose if "no budget" not in a["message"]]
    assert len(strict) > len([a for a in found if a["rule"] == "budget_variance"]) >= len(loose) > len(with_budget) == 0


def test_period_choices_keep_a_requested_month_without_data(nb_env):
    from finlib.views.common import available_periods, period_choices

    months = available_periods()
    assert months[0] == PERIOD and months == sorted(months, reverse=True)
    assert period_choices("2031-01")[0] == "2031-01"
    assert period_choices(PERIOD) == months


def test_data_as_of_is_the_newest_posting_of_demo_data(nb_env):
    from finlib.views.common import data_as_of

    assert data_as_of().startswith("2026-10-")


# -- views: pure builders -----------------------------------------------------------------------


def test_magic_number_is_quarter_arr_change_over_prior_quarter_sm_cost():
    from finlib.views.department import magic_number

    months = pd.date_range("2026-01-01", periods=6, freq="MS")
    m = {"mrr_summary": pd.DataFrame({"period": months, "arr": [100, 110, 120, 130, 150, 190.0]}),
         "facts": {"acquisition": pd.DataFrame({"period": months, "sales_cost": [10, 10, 10, 0, 0, 0.0],
                                                "marketing_cost": [10, 20, 40, 0, 0, 0.0]})}}
    # ARR 190 - 120 (three months earlier) = 70 over S&M of Jan-Mar = 100
    assert magic_number(m) == pytest.approx(0.70)


def test_adoption_candidates_need_full_windows_inside_the_data():
    from finlib.views.product_roi import adoption_candidates

    f = pd.DataFrame({"feature_id": ["A", "B", "C", "D"],
                      "released_on": [dt.date(2026, 9, 1), dt.date(2026, 3, 10), dt.date(2024, 1, 1), None]})
    # period 2026-10, data from 2024-01: A has no 6 post months, C no 6 pre months, D unreleased
    assert adoption_candidates(f, "2026-10", "2024-01") == ["B"]


def test_lines_outside_tolerance_are_exactly_the_budget_variance_alerts(nb_env):
    from finlib.views import budget_variance as bv

    frames = bv.load(PERIOD)
    for tolerance in (0.10, 0.05):
        lines = bv.variance_lines(frames, variance_threshold=tolerance)
        alerts = bv.alerts(PERIOD, variance_threshold=tolerance)
        alerts = [a for a in alerts if a["rule"] == "budget_variance"]
        assert len(lines) == len(alerts) >= 2
        budgeted = lines[~lines["unbudgeted"].fillna(False).astype(bool)]
        assert sorted(round(abs(v), 4) for v in budgeted["variance_pct"]) == \
            sorted(round(abs(a["value"]), 4) for a in alerts if "no budget" not in a["message"])
        assert int(lines["unbudgeted"].fillna(False).astype(bool).sum()) == \
            len([a for a in alerts if "no budget" in a["message"]]) > 0
    sales = bv.variance_lines(frames, department="Sales", variance_threshold=0.05)
    assert set(sales["department"]) <= {"Sales"}


def test_trend_table_prefers_archived_runs_and_marks_live_months():
    from finlib.views.executive import TREND_KPIS, trend_table

    archived = {("retention_roi", "2026-10"): ("RUN1", {"mrr": 10.0, "nrr": 1.01, "logo_churn": 0.02})}
    live = {"2026-09": {"mrr": 9.0, "nrr": 1.0, "logo_churn": 0.03, "opex_actual": 5.0,
                        "opex_variance_pct": 0.01, "product_roi": None},
            "2026-10": {"mrr": 99.0, "opex_actual": 6.0}}
    t = trend_table("2026-10", 2, archived, live)
    assert len(t) == 2 * len(TREND_KPIS)
    row = t[(t["period"] == "2026-10") & (t["kpi"] == "mrr")].iloc[0]
    assert row["value"] == 10.0 and row["source"] == "archive RUN1"
    row = t[(t["period"] == "2026-10") & (t["kpi"] == "opex_actual")].iloc[0]
    assert row["value"] == 6.0 and row["source"] == "live"
    assert t[(t["period"] == "2026-09") & (t["kpi"] == "product_roi")]["source"].iloc[0] == "n/a"


def test_executive_reads_the_kpis_the_runner_copies_into_each_manifest(tmp_path):
    """The newest succeeded run of each month counts; failed runs and matrix variants do not."""
    import json

    from finlib.views.executive import archived_kpis

    reports = tmp_path / "reports"
    runs = [("20261102T060000000Z-aaaaaa", "succeeded", "", 1.0), ("20261102T070000000Z-bbbbbb", "failed", "", 2.0),
            ("20261101T060000000Z-cccccc", "succeeded", "", 3.0), ("20261103T060000000Z-dddddd", "succeeded", "x", 4.0)]
    for run_id, status, variant, value in runs:
        d = reports / "budget_variance" / PERIOD / run_id
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({
            "run_id": run_id, "job": "budget_variance", "period": PERIOD, "status": status,
            "variant_label": variant, "kpis": {"period": PERIOD, "opex_actual": value}}))
    got = archived_kpis(reports=reports)
    assert got == {("budget_variance", PERIOD): ("20261102T060000000Z-aaaaaa", {"period": PERIOD, "opex_actual": 1.0})}
    assert archived_kpis(reports=reports, periods=["2026-09"]) == {}


def test_views_scraps_for_every_department(nb_env):
    from finlib.views import department
    from finlib.views.common import jsonable
    from finlib.warehouse.schema import DEPARTMENTS

    for dept, key in (("Sales", "new_arr_won"), ("Marketing", "cac"), ("Product", "product_roi"),
                      ("Customer Success", "nrr")):
        s = jsonable(department.scraps(department.params(PERIOD, department=dept), scope=DEPARTMENTS))
        assert s["kpis"]["department"] == dept and s["kpis"][key] is not None
        assert s["tables"] and all(isinstance(v, list) and v for v in s["tables"].values())


def test_the_department_view_reads_only_within_its_required_scope(nb_env):
    from finlib.errors import AccessDenied
    from finlib.views import department

    with pytest.raises(TypeError):
        department.load(PERIOD, "Sales")  # the scope is a required argument
    with pytest.raises(AccessDenied, match="Marketing are not in this page's scope"):
        department.load(PERIOD, "Marketing", scope=("Sales",))
    both = department.scraps(department.params(PERIOD, department="Sales"), scope=("Sales", "Marketing"))
    sales = department.scraps(department.params(PERIOD, department="Sales"), scope=("Sales",))
    assert both["kpis"]["magic_number"] is not None  # it needs Marketing's cost ...
    assert sales["kpis"]["magic_number"] is None  # ... so a Sales-only reader does not get it
    assert sales["kpis"]["new_arr_won"] == both["kpis"]["new_arr_won"]
    mkt = department.scraps(department.params(PERIOD, department="Marketing"), scope=("Marketing",))
    assert mkt["kpis"]["cac"] is None and mkt["kpis"]["cac_payback_months"] is None  # they need Sales' cost
    assert mkt["kpis"]["campaign_spend"] > 0


def test_unknown_department_or_segment_is_a_short_config_error():
    from finlib.errors import ConfigError
    from finlib.views import department, retention_roi

    with pytest.raises(ConfigError, match="Unknown department 'Legal'"):
        department.params(PERIOD, department="Legal")
    with pytest.raises(ConfigError, match="Unknown segment"):
        retention_roi.params(PERIOD, segment="Huge")


def test_figures_are_plotly_figures_with_titles(nb_env):
    from finlib.views import budget_variance, executive, product_roi, retention_roi

    p, b, e, r = (product_roi.load(PERIOD), budget_variance.load(PERIOD), executive.load(PERIOD),
                  retention_roi.load(PERIOD))
    figs = [product_roi.feature_roi_chart(product_roi.feature_roi(p)),
            product_roi.adoption_chart(product_roi.adoption(p)),
            budget_variance.variance_by_department_chart(budget_variance.variance_by_department(b)),
            budget_variance.utilisation_chart(budget_variance.utilisation(b)),
            budget_variance.cost_trend_chart(budget_variance.cost_trend(b, "Sales")),
            executive.cross_domain_roi_chart(executive.cross_domain_roi(e)),
            executive.revenue_chart(e, executive.forecast(e)),
            executive.trends_chart(executive.trends(e, 3)),
            retention_roi.expansion_chart(retention_roi.expansion(r)),
            retention_roi.revenue_at_risk_chart(retention_roi.revenue_at_risk(r, "SMB")),
            retention_roi.calibration_chart(retention_roi.churn_model_summary(r)["calibration"]),
            retention_roi.churn_by_score_chart(retention_roi.churn_by_score(r), retention_roi.satisfaction_roi(r)),
            product_roi.launch_trend_chart(product_roi.launch_trend(p), product_roi.launch_uplift(p))]
    for f in figs:
        assert f.layout.title.text
        assert len(f.data) >= 1


def test_a_segment_narrows_the_customer_tables(nb_env):
    from finlib.views import retention_roi as rr

    frames = rr.load(PERIOD)
    smb = rr.at_risk_customers(frames, segment="SMB", top=50)
    assert len(smb) and set(smb["segment"]) == {"SMB"}
    assert rr.revenue_at_risk(frames, "SMB")["arr"].sum() < rr.revenue_at_risk(frames)["arr"].sum()
    assert list(rr.lifetime_value(frames, "Enterprise")["segment"]) == ["Enterprise"]


# -- the model sections: customer satisfaction and launch uplift ------------------------------


def test_satisfaction_section_builders_on_the_small_demo(nb_env):
    from finlib.views import retention_roi as rr

    frames = rr.load(PERIOD)
    t = rr.satisfaction_roi(frames)
    assert list(t["kind"]) == ["nps", "csat"]
    assert {"kind", "responses", "customers", "churn_change_per_point", "churn_change_ci_low",
            "churn_change_ci_high", "revenue_per_point", "revenue_per_point_ci_low", "revenue_per_point_ci_high",
            "revenue_per_point_per_customer", "priced_customers", "priced_arr", "coef_per_point", "ci_low",
            "ci_high", "p_value", "data_issue"} <= set(t.columns)
    assert t["data_issue"].isna().all()
    assert (t["revenue_per_point_ci_low"] < t["revenue_per_point"]).all()
    assert (t["revenue_per_point"] < t["revenue_per_point_ci_high"]).all()
    assert (t["coef_per_point"] < 0).all()  # happier customers churn less
    h = rr.satisfaction_roi_table(t)._repr_html_()
    assert "ARR retained per point (USD)" in h and "NPS (0-10)" in h and "not proof" in h

    bands = rr.nrr_by_band(frames)
    assert list(bands.columns) == ["kind", "band", "customers", "mrr_before", "mrr_after", "nrr", "ci_low",
                                   "ci_high", "churn_rate"]
    assert list(bands.loc[bands["kind"] == "nps", "band"]) == ["detractor", "passive", "promoter"]
    assert "detractor (0-6)" in rr.nrr_by_band_table(bands)._repr_html_()

    curve = rr.churn_by_score(frames)
    assert list(curve.columns) == ["kind", "score", "responses", "churned", "observed_rate", "fitted_rate"]
    fig = rr.churn_by_score_chart(curve, t)
    assert len(fig.data) == 4  # observed and fitted, per kind
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("NPS (0-10): a point ≈ $") and "USD" in fig.layout.title.text


def test_launch_section_builders_on_the_small_demo(nb_env):
    from finlib.views import product_roi as pr

    frames = pr.load(PERIOD)
    u = pr.launch_uplift(frames)
    assert len(u) == 1
    assert {"product_id", "product_name", "launch_period", "adopters", "comparison_customers", "uplift_mrr",
            "ci_low", "ci_high", "return", "cost", "roi", "roi_ci_low", "roi_ci_high", "data_issue"} <= set(u.columns)
    assert u["adopters"].iloc[0] > 0 and u["comparison_customers"].iloc[0] > 0 and pd.isna(u["data_issue"].iloc[0])
    h = pr.launch_uplift_table(u)._repr_html_()
    assert "MRR uplift / adopter (USD)" in h and "ROI low" in h and u["product_id"].iloc[0] in h

    c = pr.launch_comparison(frames)
    assert list(c.columns) == ["method", "uplift_mrr", "ci_low", "ci_high", "adopters", "comparison_customers", "note"]
    assert len(c) == 3 and c["uplift_mrr"].iloc[0] == pytest.approx(u["uplift_mrr"].iloc[0])
    assert "naive" in pr.launch_comparison_table(c)._repr_html_()

    trend = pr.launch_trend(frames)
    assert list(trend.columns) == ["period", "group", "mrr_change"]
    assert set(trend["group"]) == {"adopters", "comparable non-adopters", "all non-adopters"}
    fig = pr.launch_trend_chart(trend, u)
    assert len(fig.data) == 3 and fig.layout.yaxis.tickprefix == "$"
    assert u["product_name"].iloc[0] in fig.layout.title.text


def test_model_sections_say_when_there_is_not_enough_data(nb_env):
    """Before the data begins the models cannot answer: each section is a short note, not a
    traceback (the model's ModelError or data_issue as a sentence)."""
    from finlib import widgets
    from finlib.views import product_roi as pr
    from finlib.views import retention_roi as rr
    from finlib.views.common import Frames

    for period in ("2020-01", "2024-01"):  # no survey at all; surveys too few to fit
        frames = Frames(period=period, satisfaction=rr.satisfaction_models(period))
        t = rr.satisfaction_roi(frames)
        assert list(t["kind"]) == ["nps", "csat"] and t["data_issue"].notna().all()
        assert t["revenue_per_point"].isna().all()
        assert "Not enough survey data" in rr.satisfaction_roi_table(t)._repr_html_()
        rr.nrr_by_band_table(rr.nrr_by_band(frames))._repr_html_()
        note = rr.churn_by_score_chart(rr.churn_by_score(frames), t)
        assert isinstance(note, widgets.Note) and "No churn-by-score chart" in note.text

        frames = Frames(period=period, launch=pr.launch_models(period))
        u = pr.launch_uplift(frames)
        assert len(u) == 1 and u["uplift_mrr"].isna().all() and "no product launched" in u["data_issue"].iloc[0]
        assert "Not enough data for a launch uplift" in pr.launch_uplift_table(u)._repr_html_()
        assert pr.launch_comparison(frames).empty and pr.launch_trend(frames).empty
        note = pr.launch_trend_chart(pr.launch_trend(frames), u)
        assert isinstance(note, widgets.Note) and "no product launched" in note.text


def test_the_model_sections_are_computed_on_first_use(nb_env, monkeypatch):
    """The headline does not wait for the satisfaction and launch models."""
    from finlib.views import product_roi as pr
    from finlib.views import retention_roi as rr

    calls = []
    monkeypatch.setattr(rr, "satisfaction_models", lambda period: calls.append("satisfaction") or {})
    monkeypatch.setattr(pr, "launch_models", lambda period: calls.append("launch") or {})
    rr.headline_tiles(rr.load(PERIOD))
    pr.headline_tiles(pr.load(PERIOD))
    assert calls == []


def test_a_churn_logit_that_does_not_converge_is_a_data_issue_not_a_warning(nb_env, recwarn):
    """On the small demo the survey Logits of early 2025 stop before converging (short
    history): the section says so in ``data_issue``; no warning reaches the page."""
    from finlib.views import retention_roi as rr

    t = rr.satisfaction_models("2025-03")["score_effect"]
    assert t["revenue_per_point"].notna().all()
    assert t["data_issue"].str.contains("did not converge").all()
    assert not [w for w in recwarn if w.category.__name__ == "ConvergenceWarning"]
