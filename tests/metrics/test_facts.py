"""The monthly-facts SQL against hand-computed answers on the tiny warehouse, on a real
DuckDB file and a real PostgreSQL database (``any_db_url``). See conftest.py for the table
of customer MRR these figures come from."""

from __future__ import annotations

import pandas as pd
import pytest

from finlib.errors import NoDataError
from finlib.metrics import facts
from finlib.metrics.kpis import headline_kpis


def _rows(df, cols):
    return [tuple(round(v, 2) if isinstance(v, float) else v for v in r) for r in df[cols].itertuples(index=False)]


def test_mrr_is_what_is_active_on_the_last_day_of_each_month(tiny_wh):
    df = facts.mrr_monthly(tiny_wh, "2023-12", "2024-04")
    assert [round(x, 2) for x in df["mrr"]] == [300.0, 600.0, 566.67, 616.67, 696.67]
    assert [round(x, 2) for x in df["arr"]] == [3600.0, 7200.0, 6800.04, 7400.04, 8360.04]
    assert list(df["customers"]) == [1, 3, 3, 3, 4]


def test_mrr_per_customer_and_product_at_month_end(tiny_wh):
    df = facts.mrr_by_customer_product(tiny_wh, "2024-03")
    assert _rows(df, ["customer_id", "product_id", "mrr"]) == [
        ("c1", "p1", 150.0), ("c3", "p1", 166.67), ("c3", "p2", 50.0), ("c4", "p1", 250.0)]
    assert facts.mrr_by_customer(tiny_wh, "2024-01")["customer_id"].tolist() == ["c1", "c2", "c4"]


def test_mrr_movements_match_the_hand_computation(tiny_wh):
    df = facts.mrr_movements(tiny_wh, "2024-01", "2024-04")
    cols = ["mrr_start", "new", "expansion", "contraction", "churn", "reactivation", "mrr_end"]
    assert _rows(df, cols) == [
        (300.0, 300.0, 0.0, 0.0, 0.0, 0.0, 600.0),
        (600.0, 166.67, 0.0, 0.0, 200.0, 0.0, 566.67),
        (566.67, 0.0, 100.0, 50.0, 0.0, 0.0, 616.67),
        (616.67, 0.0, 0.0, 0.0, 0.0, 80.0, 696.67),
    ]
    assert list(df["churned_customers"]) == [0, 1, 0, 0]
    assert list(df["reactivated_customers"]) == [0, 0, 0, 1]
    assert list(df["new_customers"]) == [2, 1, 0, 0]


def test_mrr_identity_holds_exactly_in_the_warehouse(tiny_wh):
    df = facts.mrr_movements(tiny_wh, "2023-06", "2024-06")
    from decimal import Decimal

    assert all(Decimal(x) == 0 for x in df["identity_residual"])
    lhs = df["mrr_start"] + df["new"] + df["expansion"] + df["reactivation"] - df["contraction"] - df["churn"]
    assert (lhs - df["mrr_end"]).abs().max() < 1e-6
    # month M's start is month M-1's end
    assert (df["mrr_start"].iloc[1:].to_numpy() == df["mrr_end"].iloc[:-1].to_numpy()).all()


def test_a_single_period_gives_the_same_movements_as_a_range(tiny_wh):
    one = facts.mrr_movements(tiny_wh, "2024-04")
    rng = facts.mrr_movements(tiny_wh, "2024-01", "2024-04").iloc[[-1]].reset_index(drop=True)
    assert one.drop(columns="period").round(6).equals(rng.drop(columns="period").round(6))
    assert one["reactivation"].iloc[0] == 80.0  # c2 paid in January: not new


def test_customer_movements_classify_each_customer(tiny_wh):
    df = facts.customer_mrr_movements(tiny_wh, "2024-01", "2024-04")
    got = {(str(r.period.date())[:7], r.customer_id): (r.new, r.expansion, r.contraction, r.churn, r.reactivation)
           for r in df.itertuples()}
    assert got[("2024-02", "c2")] == (0, 0, 0, 200.0, 0)
    assert got[("2024-02", "c3")] == (166.67, 0, 0, 0, 0)  # annual 2,000 → 166.67 new MRR
    assert got[("2024-03", "c1")] == (0, 50.0, 0, 0, 0)
    assert got[("2024-03", "c4")] == (0, 0, 50.0, 0, 0)
    assert got[("2024-04", "c2")] == (0, 0, 0, 0, 80.0)
    assert not any(c == "c5" for _, c in got)  # a subscription inside one month never counts


def test_expansion_components_separate_upsell_and_cross_sell(tiny_wh):
    df = facts.expansion_components(tiny_wh, "2024-03")
    assert _rows(df, ["customer_id", "expansion", "upsell_gross", "cross_sell_gross"]) == [
        ("c1", 50.0, 50.0, 0.0), ("c3", 50.0, 0.0, 50.0)]


def test_product_new_mrr_counts_first_paid_month_per_product(tiny_wh):
    df = facts.product_new_mrr(tiny_wh, "2024-01", "2024-04")
    assert _rows(df, ["product_id", "new_mrr", "new_customers"]) == [
        ("p1", 300.0, 2), ("p1", 166.67, 1), ("p2", 50.0, 1), ("p1", 80.0, 1)]


def test_retention_cohort_holds_customers_paying_then(tiny_wh):
    df = facts.retention_cohort(tiny_wh, "2024-04", months=3)
    assert _rows(df, ["customer_id", "mrr_then", "mrr_now"]) == [
        ("c1", 100.0, 150.0), ("c2", 200.0, 80.0), ("c4", 300.0, 250.0)]


def test_customer_snapshot_takes_the_latest_health_score(tiny_wh):
    df = facts.customer_snapshot(tiny_wh, "2024-03")
    assert _rows(df, ["customer_id", "arr", "score"]) == [
        ("c1", 1800.0, 80.0), ("c3", 2600.04, 50.0), ("c4", 3000.0, 20.0)]


def test_recognised_revenue_ledger_and_budgets(tiny_wh):
    rev = facts.recognised_revenue(tiny_wh, "2024-01", "2024-03")
    assert [round(x, 2) for x in rev["revenue"]] == [0.0, 566.67, 616.67]
    led = facts.ledger_by_line(tiny_wh, "2024-03")
    assert led.groupby("department")["amount"].sum().round(2).to_dict() == {
        "Customer Success": 300.0, "G&A": 720.0, "Marketing": 500.0, "Product": 400.0, "Sales": 1000.0}
    assert int(led["entries"].sum()) == 7
    bva = facts.budget_vs_actual(tiny_wh, "2024-02", "2024-03")
    mkt = bva[(bva["department"] == "Marketing")]
    assert _rows(mkt, ["actual"]) == [(800.0,), (500.0,)]
    assert mkt["budget"].isna().tolist() == [True, False]
    assert facts.revenue_to_date(tiny_wh, "2024-03", __import__("datetime").date(2024, 3, 15)) == 400.0


def test_dev_costs_adoption_and_acquisition(tiny_wh):
    dc = facts.dev_costs(tiny_wh, "2024-02")
    assert _rows(dc, ["feature_id", "milestone_id", "cost"]) == [("f1", "ms1", 500.0), ("f1", "ms2", 450.0)]
    ad = facts.feature_adoption(tiny_wh, "2024-04")
    assert [(r.customer_id, r.feature_id, str(r.first_period.date())) for r in ad.itertuples()] == [
        ("c1", "f1", "2024-03-01"), ("c1", "f2", "2024-03-01"), ("c3", "f1", "2024-03-01")]
    acq = facts.acquisition(tiny_wh, "2024-02", "2024-03")
    # new paying customers: c3 in February (first paid month, 166.67); c5 signs up in March
    # but never pays (its one subscription, s9, is never active at a month end)
    assert _rows(acq, ["sales_cost", "marketing_cost", "new_customers", "new_mrr", "signups", "revenue",
                       "cogs"]) == [
        (900.0, 800.0, 1, 166.67, 1, 560.0, 0.0), (1000.0, 500.0, 0, 0.0, 1, 600.0, 120.0)]
    ch = facts.acquisition_by_channel(tiny_wh, "2024-02", "2024-03")
    assert _rows(ch, ["channel", "spend", "new_customers", "new_mrr"]) == [
        ("events", 200.0, 0, 0.0), ("paid_search", 600.0, 1, 166.67), ("paid_search", 500.0, 0, 0.0)]
    camp = facts.campaign_results(tiny_wh)
    assert _rows(camp, ["campaign_id", "spend", "customers", "new_mrr"]) == [
        ("m1", 1100.0, 2, 166.67), ("m2", 200.0, 0, 0.0)]
    opp = facts.opportunities_closed(tiny_wh, "2024-03")
    assert _rows(opp, ["kind", "stage", "opportunities", "arr"]) == [
        ("expansion", "won", 1, 600.0), ("new", "lost", 1, 5000.0), ("new", "won", 1, 1000.0)]
    assert facts.open_expansion_pipeline(tiny_wh, "2024-03")["customer_id"].tolist() == ["c1"]


def test_headline_kpis_for_march(tiny_wh):
    k = headline_kpis(tiny_wh, "2024-03")
    assert k["period"] == "2024-03-01"
    assert (k["mrr"], k["arr"]) == (616.67, 7400.04)
    assert (k["mrr_new"], k["mrr_expansion"], k["mrr_contraction"], k["mrr_churn"], k["mrr_reactivation"]) == (
        0.0, 100.0, 50.0, 0.0, 0.0)
    assert (k["recognised_revenue"], k["revenue_target"], k["revenue_variance"]) == (616.67, 650.0, -33.33)
    assert k["revenue_favourable"] is False
    assert k["nrr"] is None and k["grr"] is None  # no 12 months of history yet
    assert k["logo_churn"] == 0.0
    # c5 signed up in March but never pays: no new paying customer, so CAC is undefined
    # (it was 1,500 when CAC divided by signups)
    assert k["cac"] is None and k["new_customers"] == 0 and k["cac_payback_months"] is None
    feb = headline_kpis(tiny_wh, "2024-02")
    assert feb["cac"] == 1700.0  # (900 Sales + 800 Marketing) / 1 new paying customer (c3)
    assert feb["new_customers"] == 1
    assert k["gross_margin"] == pytest.approx(0.8)  # (600 - 120) / 600


def test_headline_kpis_refuse_a_period_without_data(tiny_wh):
    with pytest.raises(NoDataError, match="No data for 2030-01"):
        headline_kpis(tiny_wh, "2030-01")


def test_period_metrics_computes_every_metric(tiny_wh):
    from finlib.metrics.kpis import period_metrics

    m = period_metrics(tiny_wh, "2024-03")
    assert m["expansion_split"][["upsell", "cross_sell"]].iloc[0].tolist() == [50.0, 50.0]
    # f1 started 2023-11, the cost books start 2024-01 (dev_costs): its cost is unknown, so
    # no ROI (it would be (900 - 950) / 950 on the recorded cost); f2 (started 2024-01):
    # (300 - 400) / 400
    fr = m["feature_roi"].set_index("feature_id")
    assert fr["roi"].round(6).to_dict() == pytest.approx({"f1": float("nan"), "f2": -0.25}, nan_ok=True)
    assert fr.loc["f1", "data_issue"].startswith("cost incomplete") and pd.isna(fr.loc["f2", "data_issue"])
    # ms1 (f1's first milestone, work from 2023-11) has an unknown cost: only ms2 (450) counts
    assert m["cost_per_completed_milestone"] == 450.0
    assert set(m["cross_domain_roi"]["domain"]) == {"Sales", "Marketing", "Product", "Customer Success"}
