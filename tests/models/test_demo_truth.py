"""On the demo data (small scale), every planted truth of the models is recovered.

Runs once finlib.demo.generate exists (built in parallel); skipped before that.
Truth keys: docs/CONTRACTS.md, "Demo truth file".
"""

from __future__ import annotations

import pandas as pd
import pytest

demo = pytest.importorskip("finlib.demo")
if not hasattr(demo, "generate") or not hasattr(demo, "load_truth"):
    pytest.skip("finlib.demo.generate is not available yet", allow_module_level=True)


@pytest.fixture(scope="module")
def demo_wh(tmp_path_factory):
    from finlib.warehouse.db import Warehouse

    wh = Warehouse.from_url(f"duckdb://{tmp_path_factory.mktemp('demo') / 'warehouse.duckdb'}")
    demo.generate(wh, "small", 42)
    truth = demo.load_truth(wh)
    assert truth["churn_model"]["transformation"].startswith("x = (component_score - 50) / 10")
    return wh, truth


def test_demo_adoption_effect_is_inside_its_95_percent_interval(demo_wh):
    from finlib.models.attribution import adoption_effect

    wh, truth = demo_wh
    t = truth["adoption"]
    a = adoption_effect(wh, t["feature_id"], release_period=t["release_period"])
    assert a.ci_low < float(t["effect_mrr"]) < a.ci_high, (a.effect_mrr, a.ci_low, a.ci_high, t)


def test_demo_campaign_uplift_is_inside_its_95_percent_interval(demo_wh):
    from finlib.models.attribution import campaign_uplift

    wh, truth = demo_wh
    t = truth["retention_campaign"]
    c = campaign_uplift(wh, t["campaign_id"], window_months=int(t["window_months"]))
    assert c.uplift.ci_low < float(t["uplift"]) < c.uplift.ci_high, (c.uplift, t)


def test_demo_churn_model_discriminates_and_has_the_right_signs(demo_wh):
    from finlib.models.churn import HEALTH_COMPONENTS, churn_propensity

    wh, truth = demo_wh
    m = churn_propensity(wh, pd.Timestamp(truth["last_closed_month"]), history_months=24, test_months=6)
    assert m.auc_ >= 0.70, m.auc_
    planted = truth["churn_model"]["coefficients"]
    for k in HEALTH_COMPONENTS:
        row = m.coefficients_.loc[k]
        assert row["coef"] < 0 and row["ci_high"] < 0, m.coefficients_
        # same transformation as the truth file ((score - 50) / 10): within 3 standard errors
        assert abs(row["coef"] - planted[k]) < 3 * row["std_err"], (k, row["coef"], planted[k])


def test_demo_survey_churn_slopes_are_inside_their_95_percent_intervals(demo_wh):
    from finlib.models.satisfaction import satisfaction_frames

    wh, truth = demo_wh
    t = truth["satisfaction"]
    f = satisfaction_frames(wh, truth["last_closed_month"], horizon_months=t["horizon_months"])
    eff = f["score_effect"].set_index("kind")
    for kind, planted in t["coefficients"].items():
        row = eff.loc[kind]
        assert row["ci_low"] < planted < row["ci_high"], (kind, row["coef_per_point"], planted)
        assert row["ci_high"] < 0 and row["revenue_per_point_ci_low"] > 0


def test_demo_launch_uplift_is_inside_its_95_percent_interval(demo_wh):
    from finlib.models.launch import launch_frames

    wh, truth = demo_wh
    t = truth["launch"]
    u = launch_frames(wh, truth["last_closed_month"], product_id=t["product_id"])["uplift"].iloc[0]
    assert u["launch_period"] == pd.Timestamp(t["launch_period"])
    assert u["ci_low"] < t["uplift_mrr"] < u["ci_high"], u.to_dict()


@pytest.mark.postgres
def test_both_roi_loaders_give_the_same_frames_on_postgresql(demo_wh, postgres_url):
    from finlib.models.launch import launch_frames
    from finlib.models.satisfaction import satisfaction_frames
    from finlib.warehouse.db import Warehouse

    wh, truth = demo_wh
    pg = Warehouse.from_url(postgres_url)
    demo.generate(pg, "small", 42)
    P = truth["last_closed_month"]
    if demo.load_truth(pg)["last_closed_month"] != P:  # pragma: no cover - the month turned between the two
        pytest.skip("the default end month changed between the two generations")
    for fn in (launch_frames, satisfaction_frames):
        a, b = fn(wh, P), fn(pg, P)
        assert a.keys() == b.keys()
        for k in a:
            pd.testing.assert_frame_equal(a[k].reset_index(drop=True), b[k].reset_index(drop=True),
                                          check_dtype=False, check_exact=False, rtol=1e-9)
