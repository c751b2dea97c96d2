"""Launch uplift against comparable customers on a hand-built panel with a known answer."""

from __future__ import annotations

import pandas as pd
import pytest

from finlib.errors import ModelError
from finlib.models.launch import launch_uplift

UPLIFT = 100.0


def _panel() -> pd.DataFrame:
    """Two cells, two months before and two after the launch.

    SMB / small: flat MRR; Enterprise / large: +300 a month from the launch for everybody.
    Adopters (2 SMB, 6 Enterprise) gain exactly UPLIFT. Customers come in twins whose noise
    is +d / -d in every month, so each group's monthly mean is exact but residuals are not 0.

    By hand: within each cell the DiD is 100. Adopters against every non-adopter:
    adopters' change (2 x 100 + 6 x 400) / 8 = 325, non-adopters' (10 x 0 + 2 x 300) / 12
    = 50, DiD 275. Adopters before against after: 325.
    """
    rows = []
    spec = [("SMB", "small", 1, 1, 0.0, 500.0), ("SMB", "small", 0, 5, 0.0, 500.0),
            ("Enterprise", "large", 1, 3, 300.0, 9000.0), ("Enterprise", "large", 0, 1, 300.0, 9000.0)]
    k = 0
    for seg, band, treated, pairs, trend, base in spec:
        for _ in range(pairs):
            for sign in (1, -1):
                k += 1
                for t in range(4):
                    post = int(t >= 2)
                    noise = sign * (7.0 + 3 * t + k)
                    mrr = base + k + trend * post + UPLIFT * treated * post + noise
                    rows.append({"customer_id": f"C{k:03d}", "period": pd.Timestamp(2025, 1 + t, 1), "mrr": mrr,
                                 "mrr_base": base + k, "segment": seg, "size_band": band,
                                 "cell": f"{seg} / {band}", "treated": treated, "post": post})
    df = pd.DataFrame(rows)
    df["mrr_change"] = df["mrr"] - df["mrr_base"]
    df.attrs.update(product_id="PX", launch_period=pd.Timestamp(2025, 3, 1))
    return df


def test_matched_did_recovers_the_uplift_that_the_naive_comparisons_overstate():
    u = launch_uplift(_panel(), months=12, dev_cost=4_000.0, launch_spend=800.0)
    assert u.uplift_mrr == pytest.approx(UPLIFT, abs=1e-6)
    assert u.ci_low < UPLIFT < u.ci_high and u.std_err > 0
    assert (u.adopters, u.comparison_customers, u.unmatched_adopters) == (8, 12, 0)
    c = u.comparison.set_index("method")["uplift_mrr"]
    assert c["adopters against every non-adopter"] == pytest.approx(275.0, abs=1e-6)
    assert c["adopters before against after"] == pytest.approx(325.0, abs=1e-6)
    # ROI = (uplift x adopters x months - cost) / cost = (100 x 8 x 12 - 4,800) / 4,800 = 1.0
    assert u.return_ == pytest.approx(9_600.0) and u.cost == pytest.approx(4_800.0)
    assert u.roi == pytest.approx(1.0)
    assert u.roi_ci[0] < 1.0 < u.roi_ci[1] and u.data_issue is None


def test_cells_and_trend_say_what_the_chart_shows():
    u = launch_uplift(_panel())
    cells = u.cells.set_index(["segment", "size_band"])
    assert cells.loc[("Enterprise", "large"), "adopter_change"] == pytest.approx(400.0)
    assert cells.loc[("Enterprise", "large"), "non_adopter_change"] == pytest.approx(300.0)
    assert cells.loc[("SMB", "small"), "adopters"] == 2 and cells["matched"].all()
    tr = u.trend.pivot(index="period", columns="group", values="mrr_change")
    last = tr.iloc[-1]
    # comparable non-adopters are re-weighted to the adopters' cells: 6/8 x 300 + 2/8 x 0
    assert last["comparable non-adopters"] - tr.iloc[0]["comparable non-adopters"] == pytest.approx(225.0)
    assert last["adopters"] - tr.iloc[0]["adopters"] == pytest.approx(325.0)


def test_adopters_without_comparable_customers_are_left_out_and_counted():
    df = _panel()
    df = df[~((df["cell"] == "Enterprise / large") & (df["treated"] == 0))]
    u = launch_uplift(df)
    assert u.unmatched_adopters == 6 and u.adopters == 2
    assert u.uplift_mrr == pytest.approx(UPLIFT, abs=1e-6)


def test_no_cost_means_no_roi_and_says_why():
    u = launch_uplift(_panel(), dev_cost=0.0, launch_spend=0.0)
    assert u.roi != u.roi and "zero or negative" in u.data_issue


def test_no_comparable_cell_is_refused():
    df = _panel()
    df = df[~((df["treated"] == 0) & (df["cell"] == "SMB / small"))]
    df = df[~((df["treated"] == 1) & (df["cell"] == "Enterprise / large"))]
    with pytest.raises(ModelError, match="size band"):
        launch_uplift(df)
