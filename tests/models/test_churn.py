"""Churn propensity: AUC by hand, calibration, and the planted churn process recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finlib.errors import ModelError
from finlib.models.churn import (
    HEALTH_COMPONENTS,
    auc,
    calibration_table,
    churn_panel,
    churn_propensity,
)


def test_auc_by_hand():
    # positives scored 0.9, 0.4; negatives 0.8, 0.3, 0.1 -> pairs won: (0.9 > all 3) + (0.4 > 0.3, 0.1) = 5/6
    assert auc([1, 1, 0, 0, 0], [0.9, 0.4, 0.8, 0.3, 0.1]) == pytest.approx(5 / 6)


def test_auc_counts_ties_as_one_half():
    assert auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert auc([1, 1, 0, 0], [1, 2, 3, 4]) == pytest.approx(0.0)


def test_auc_needs_both_classes():
    with pytest.raises(ModelError, match="both classes"):
        auc([1, 1], [0.2, 0.3])


def test_calibration_table_has_ten_equal_deciles_and_keeps_totals():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.3, 1000)
    y = rng.random(1000) < p
    t = calibration_table(y, p)
    assert list(t["decile"]) == list(range(1, 11)) and set(t["n"]) == {100}
    assert t["observed"].sum() == y.sum()
    assert t["mean_predicted"].is_monotonic_increasing


def test_churn_model_recovers_the_planted_process(synth_wh, synth_truth):
    m = churn_propensity(synth_wh, synth_truth["last_closed_month"], history_months=24, test_months=6)
    # discrimination on the held-out later months
    assert m.auc_ >= 0.70, m.auc_
    assert m.test_periods_[0] > m.train_periods_[1]  # a time-based split
    # signs: better health -> lower churn, for every component, significantly
    c = m.coefficients_
    for k in HEALTH_COMPONENTS:
        assert c.loc[k, "coef"] < 0 and c.loc[k, "ci_high"] < 0, c.loc[k]
    # the planted coefficients are recovered to within 0.15 log-odds per 10 points
    for k in HEALTH_COMPONENTS:
        assert abs(c.loc[k, "coef"] - synth_truth["churn"][k]) < 0.15, (k, c.loc[k, "coef"])
    # calibration: expected churners within 25 % of the observed in the test months
    cal = m.calibration_
    assert cal["expected"].sum() == pytest.approx(cal["observed"].sum(), rel=0.25)
    # scoring: every customer paying at the end of the last closed month, for next month
    s = m.scores_
    assert (s["period"] == pd.Timestamp("2025-01-01")).all()
    assert s["churn_probability"].between(0, 1).all()
    assert s["expected_arr_lost"].sum() == pytest.approx(m.expected_arr_lost_)
    assert s["arr"].to_numpy() == pytest.approx(12 * s["mrr"].to_numpy())


def test_churn_panel_is_the_same_on_both_backends(synth_duckdb, synth_postgres):
    a = churn_panel(synth_duckdb, "2024-01-01", "2024-06-01").sort_values(["period", "customer_id"])
    b = churn_panel(synth_postgres, "2024-01-01", "2024-06-01").sort_values(["period", "customer_id"])
    assert len(a) == len(b) > 0
    for col in ("mrr", "usage_score", "churned", "usage_trend", "tenure_months"):
        assert np.allclose(a[col].to_numpy(float), b[col].to_numpy(float), equal_nan=True), col


def test_churn_model_needs_enough_history(synth_duckdb):
    with pytest.raises(ModelError, match="labelled months"):
        churn_propensity(synth_duckdb, "2024-12-01", history_months=6, test_months=6)
