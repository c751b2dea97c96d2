"""On the medium demo (5,000 customers) the two ROI models recover their planted truths and
the naive comparisons do not: launch uplift against comparable customers, and the
satisfaction model (churn slope per point, NRR by NPS band)."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    from finlib.demo import generate, load_truth
    from finlib.warehouse.db import Warehouse

    wh = Warehouse.from_url(f"duckdb://{tmp_path_factory.mktemp('medium') / 'warehouse.duckdb'}")
    generate(wh, "medium", 42, end="2026-10")
    return wh, load_truth(wh)


@pytest.fixture(scope="module")
def launch(medium):
    from finlib.models.launch import launch_frames

    wh, truth = medium
    return launch_frames(wh, truth["last_closed_month"])  # default: the latest launch


def test_the_latest_launch_is_the_planted_one_with_its_costs(launch, medium):
    _, truth = medium
    u = launch["uplift"].iloc[0]
    assert u["product_id"] == truth["launch"]["product_id"]
    assert u["adopters"] > 200 and u["unmatched_adopters"] == 0
    assert u["dev_cost"] > 0 and u["launch_spend"] > 0
    assert u["roi"] == pytest.approx((u["uplift_mrr"] * u["adopters"] * u["months"] - u["cost"]) / u["cost"])


def test_matched_uplift_covers_the_planted_uplift_and_the_naive_ones_do_not(launch, medium):
    _, truth = medium
    planted = truth["launch"]["uplift_mrr"]
    c = launch["comparison"].set_index("method")
    matched = c.loc["matched difference in differences (same segment and size band)"]
    assert matched["ci_low"] < planted < matched["ci_high"], matched.to_dict()
    for naive in ("adopters against every non-adopter", "adopters before against after"):
        assert c.loc[naive, "ci_low"] > planted, (naive, c.loc[naive].to_dict())


def test_adopters_are_the_larger_customers(launch):
    cells = launch["cells"]
    rate = cells.groupby("segment")[["adopters", "non_adopters"]].sum()
    share = rate["adopters"] / rate.sum(axis=1)
    assert share["SMB"] < share["Mid-Market"] < share["Enterprise"]


def test_survey_slopes_are_recovered_and_nrr_rises_with_the_nps_band(medium):
    from finlib.models.satisfaction import satisfaction_frames

    wh, truth = medium
    f = satisfaction_frames(wh, truth["last_closed_month"])
    eff = f["score_effect"].set_index("kind")
    for kind, planted in truth["satisfaction"]["coefficients"].items():
        assert eff.loc[kind, "ci_low"] < planted < eff.loc[kind, "ci_high"], (kind, eff.loc[kind].to_dict())
    nrr = f["nrr_by_band"].query("kind == 'nps'").set_index("band")
    assert nrr.loc["detractor", "nrr"] < nrr.loc["passive", "nrr"] < nrr.loc["promoter", "nrr"]
    assert nrr.loc["detractor", "ci_high"] < nrr.loc["promoter", "ci_low"]
    curve = f["churn_by_score"].query("kind == 'nps'")
    assert curve["responses"].sum() == eff.loc["nps", "responses"]
    assert isinstance(f["coefficients"], pd.DataFrame) and "score" in set(f["coefficients"]["term"])
