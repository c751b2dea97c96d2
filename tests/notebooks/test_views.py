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


def test_dashboard_redraws_sections_when_a_control_changes():
    from finlib.widgets import Dashboard

    seen = []
    d = Dashboard("t", {"period": "2026-10", "segment": "all"},
                  {"period": ["2026-10", "2026-09"], "segment": ["all", "SMB"]}, interactive=True,
                  as_of=lambda: "2026-10-31 20:59 UTC")
    d.section(lambda p: seen.append((p["period"], p["segment"])))
    d.controls["period"].value = "2026-09"
    d.controls["segment"].value = "SMB"
    assert seen == [("2026-10", "all"), ("2026-09", "all"), ("2026-09", "SMB")]
    assert "2026-10-31 20:59 UTC" in d._status.value


def test_dashboard_refresh_calls_the_hook_updates_as_of_and_redraws():
    from finlib.widgets import Dashboard

    stamps = iter(["2026-10-31 20:59 UTC", "2026-11-02 06:00 UTC"])
    hooks, seen = [], []
    d = Dashboard("t", {"period": "2026-10"}, {"period": ["2026-10"]}, interactive=True,
                  refresh=lambda: hooks.append(1), as_of=lambda: next(stamps))
    d.section(lambda p: seen.append(p["period"]))
    d.refresh()
    assert hooks == [1] and seen == ["2026-10", "2026-10"] and "2026-11-02" in d._status.value


def test_interactive_dashboard_shows_a_finlib_error_as_a_short_message(capsys):
    from finlib.errors import NoDataError
    from finlib.widgets import Dashboard

    def view(p):
        raise NoDataError("No data for 2031-01: the warehouse covers 2023-11 .. 2026-10.\nmore detail")

    d = Dashboard("t", {"period": "2031-01"}, {"period": ["2031-01"]}, interactive=True)
    d.section(view)  # does not raise
    with pytest.raises(NoDataError):  # a job (static) fails loudly
        Dashboard("t", {"period": "2031-01"}, interactive=False).section(view)


def test_interactive_dashboard_hides_unexpected_errors_only_under_voila(monkeypatch):
    from finlib.widgets import Dashboard

    def view(p):
        raise KeyError("boom")

    d = Dashboard("t", {"period": "2026-10"}, {"period": ["2026-10"]}, interactive=True)
    with pytest.raises(KeyError):  # JupyterLab: analysts keep their traceback
        d.section(view)
    monkeypatch.setenv("VOILA_KERNEL_ID", "x")
    monkeypatch.setenv("FINLIB_DASHBOARD_LOG", "/dev/null")
    d.section(view)  # Voilà: a short message, the traceback goes to the log


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


def test_resolve_period_accepts_the_job_runner_iso_date_and_symbols():
    from finlib.errors import ConfigError
    from finlib.views.common import resolve_period

    assert resolve_period("2026-10-01") == "2026-10" == resolve_period("2026-10")
    assert len(resolve_period("last_closed_month")) == 7
    with pytest.raises(ConfigError):
        resolve_period("October")


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
    assert len(strict) > len([a for a in found if a["rule"] == "budget_variance"]) >= len(loose) == 0


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
    from finlib.views import data
    from finlib.views.budget_variance import lines_outside_tolerance
    from finlib.views.common import alerts_for

    m = data.metrics(PERIOD)
    for tolerance in (0.10, 0.05):
        lines = lines_outside_tolerance(m, PERIOD, tolerance)
        alerts = alerts_for(PERIOD, ["budget_variance"], {"budget_variance": tolerance})
        assert len(lines) == len(alerts) >= 2
        assert sorted(round(abs(v), 4) for v in lines["variance_pct"]) == \
            sorted(round(abs(a["value"]), 4) for a in alerts)
    sales = lines_outside_tolerance(m, PERIOD, 0.05, "Sales")
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


def test_executive_reads_kpis_scraps_from_the_archive(nb_env, runs, tmp_path, monkeypatch):
    """A succeeded domain run in the archive is read with scrapbook; failed runs are ignored."""
    import json
    import shutil

    from finlib.views.executive import archived_kpis

    executed = runs.run("budget_variance", period=PERIOD, interactive=False)
    reports = tmp_path / "reports"
    for run_id, status in (("20261102T060000000Z-aaaaaa", "succeeded"), ("20261102T070000000Z-bbbbbb", "failed")):
        d = reports / "budget_variance" / PERIOD / run_id
        d.mkdir(parents=True)
        shutil.copy(executed, d / "notebook.ipynb")
        (d / "manifest.json").write_text(json.dumps({"run_id": run_id, "job": "budget_variance", "period": PERIOD,
                                                     "status": status, "variant_label": ""}))
    got = archived_kpis(reports=reports)
    assert list(got) == [("budget_variance", PERIOD)]
    run_id, kpis = got[("budget_variance", PERIOD)]
    assert run_id == "20261102T060000000Z-aaaaaa" and kpis["period"] == PERIOD and kpis["opex_actual"] > 0


def test_views_scraps_for_every_department(nb_env):
    from finlib.views import department

    for dept, key in (("Sales", "new_arr_won"), ("Marketing", "cac"), ("Product", "product_roi"),
                      ("Customer Success", "nrr")):
        s = department.scraps(department.params(PERIOD, department=dept))
        assert s["kpis"]["department"] == dept and s["kpis"][key] is not None
        assert s["tables"] and all(isinstance(v, list) for v in s["tables"].values())


def test_unknown_department_or_segment_is_a_short_config_error():
    from finlib.errors import ConfigError
    from finlib.views import department, retention_roi

    with pytest.raises(ConfigError, match="Unknown department 'Legal'"):
        department.params(PERIOD, department="Legal")
    with pytest.raises(ConfigError, match="Unknown segment"):
        retention_roi.params(PERIOD, segment="Huge")


def test_figures_are_plotly_figures_with_titles(nb_env):
    from finlib.views import budget_variance, data, executive, product_roi, retention_roi

    m = data.metrics(PERIOD)
    figs = [product_roi.feature_figure(product_roi.feature_table(m)),
            budget_variance.department_figure(budget_variance.by_department(m, PERIOD)),
            budget_variance.utilisation_figure(m["budget_utilisation"]),
            executive.roi_figure(m["cross_domain_roi"]),
            retention_roi.expansion_figure(m["expansion_split"])]
    for f in figs:
        assert f.layout.title.text
        assert len(f.data) >= 1
