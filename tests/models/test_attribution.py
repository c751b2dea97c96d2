"""Attribution: DiD against a published textbook example, proportions against Newcombe,
and the planted adoption effect and campaign uplift recovered from a warehouse.

Published figures used
----------------------
Card, D. and Krueger, A. B. (1994), "Minimum Wages and Employment: A Case Study of the
Fast-Food Industry in New Jersey and Pennsylvania", AER 84(4), 772-793, Table 3, rows 1-2
(FTE employment per store, all available observations; standard errors in parentheses):

                 PA              NJ
    before   23.33 (1.35)    20.44 (0.51)
    after    21.17 (0.94)    21.03 (0.52)
    DiD (row 4, col iii): 2.76 (1.36)  [paired changes; from the rounded means 2.75]

Cell sizes are those of the public data file (stores with FTE available: PA 77/77,
NJ 321/319). We rebuild each cell with exactly the published mean and the standard
deviation implied by the published standard error (sd = se x sqrt(n)); the OLS
interaction must then equal the difference of the cell means exactly, and its HC1 standard
error must match the unpaired SE implied by the four published SEs,
sqrt(1.35^2 + 0.51^2 + 0.94^2 + 0.52^2) = 1.80, within 2 % (HC1 vs the cell-wise
sample variances differ only by n/(n-1) and n/(n-k) factors).

Newcombe, R. G. (1998), Statistics in Medicine 17, 873-890, Table II: 56/70 - 48/80,
method 10 interval 0.0524 to 0.3339; 9/10 - 3/10, method 10: 0.1705 to 0.8090.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from finlib.errors import ModelError
from finlib.models.attribution import (
    adoption_effect,
    adoption_panel,
    campaign_uplift,
    diff_in_diff,
    proportion_uplift,
)

CARD_KRUEGER = {  # (nj, after): (mean FTE, published SE, n)
    (0, 0): (23.33, 1.35, 77),
    (1, 0): (20.44, 0.51, 321),
    (0, 1): (21.17, 0.94, 77),
    (1, 1): (21.03, 0.52, 319),
}


def card_krueger_cells(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for (nj, after), (mean, se, n) in CARD_KRUEGER.items():
        z = rng.standard_normal(n)
        z = (z - z.mean()) / z.std(ddof=1)
        parts.append(pd.DataFrame({"fte": mean + z * se * math.sqrt(n), "nj": nj, "after": after,
                                   "store": [f"{nj}-{i}" for i in range(n)]}))
    return pd.concat(parts, ignore_index=True)


def test_did_reproduces_card_krueger_table_3():
    r = diff_in_diff(card_krueger_cells(), "fte", "nj", "after")
    # (21.03 - 20.44) - (21.17 - 23.33) = 2.75 exactly from the rounded published means
    assert r.effect == pytest.approx(2.75, abs=1e-9)
    assert r.effect == pytest.approx(2.76, abs=0.011)  # the published DiD
    unpaired_se = math.sqrt(sum(se ** 2 for _, se, _ in CARD_KRUEGER.values()))
    assert r.std_err == pytest.approx(unpaired_se, rel=0.02)
    assert r.ci_low < 2.75 < r.ci_high
    assert r.ci_high - r.ci_low == pytest.approx(2 * 1.959964 * r.std_err, rel=1e-6)
    assert r.n_obs == 794 and r.cov_type == "HC1"
    assert r.p_value == pytest.approx(2 * (1 - __import__("scipy").stats.norm.cdf(2.75 / r.std_err)), rel=1e-6)
    assert "nj:after" in r.result.params.index


def test_did_does_not_depend_on_how_the_cells_were_drawn():
    a = diff_in_diff(card_krueger_cells(1), "fte", "nj", "after")
    b = diff_in_diff(card_krueger_cells(2), "fte", "nj", "after")
    assert a.effect == pytest.approx(b.effect, abs=1e-9)


def test_clustered_errors_are_used_when_a_cluster_is_given():
    df = card_krueger_cells()
    r = diff_in_diff(df, "fte", "nj", "after", cluster="store")
    assert r.cov_type == "cluster" and r.n_clusters == 77 + 321  # stores seen in both waves share an id


def test_did_recovers_a_planted_effect_with_controls():
    rng = np.random.default_rng(5)
    n = 4000
    df = pd.DataFrame({"treated": rng.integers(0, 2, n), "post": rng.integers(0, 2, n),
                       "segment": rng.choice(["A", "B", "C"], n)})
    seg_effect = df["segment"].map({"A": 0.0, "B": 30.0, "C": 90.0})
    df["y"] = 100 + 5 * df["treated"] + 7 * df["post"] + 12.5 * df["treated"] * df["post"] + seg_effect \
        + rng.normal(0, 10, n)
    r = diff_in_diff(df, "y", "treated", "post", controls=["segment"])
    assert r.ci_low < 12.5 < r.ci_high
    assert abs(r.effect - 12.5) < 3 * r.std_err


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns=["after"]), "not in the data"),
    (lambda d: d.assign(after=d["after"] * 2), "0/1"),
    (lambda d: d[~((d["nj"] == 1) & (d["after"] == 1))], "every cell"),
    (lambda d: d.assign(copy=d["nj"]), "collinear"),
])
def test_did_rejects_unusable_designs_with_a_clear_message(mutate, message):
    df = mutate(card_krueger_cells())
    controls = ["copy"] if "copy" in df.columns else None
    with pytest.raises(ModelError, match=message):
        diff_in_diff(df, "fte", "nj", "after", controls=controls)


# ---- two proportions --------------------------------------------------------------------
@pytest.mark.parametrize("counts, expected", [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
])
def test_uplift_interval_matches_newcombe_method_10(counts, expected):
    r = proportion_uplift(*counts)
    assert r.uplift == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert (r.ci_low, r.ci_high) == pytest.approx(expected, abs=0.00005)


def test_uplift_rejects_impossible_counts():
    with pytest.raises(ModelError):
        proportion_uplift(5, 0, 1, 10)
    with pytest.raises(ModelError):
        proportion_uplift(11, 10, 1, 10)


# ---- from the warehouse (synthetic, planted truth; both backends) ---------------------------------
def test_adoption_effect_recovers_the_planted_mrr_increase(synth_wh, synth_truth):
    a = adoption_effect(synth_wh, synth_truth["adoption_feature"])
    truth = synth_truth["adoption_effect_mrr"]
    assert a.ci_low < truth < a.ci_high, (a.effect_mrr, a.ci_low, a.ci_high)
    assert a.did.cov_type == "cluster" and a.did.n_clusters == a.adopters + a.non_adopters
    # money: 12 x effect x adopters against the feature's dev cost
    assert a.dev_cost == pytest.approx(synth_truth["feature_dev_cost"])
    assert a.annual_return == pytest.approx(12 * a.effect_mrr * a.adopters)
    assert a.roi == pytest.approx((a.annual_return - a.dev_cost) / a.dev_cost)
    assert a.roi_ci[0] < a.roi < a.roi_ci[1]


def test_adoption_panel_is_the_same_on_both_backends(synth_duckdb, synth_postgres, synth_truth):
    a = adoption_panel(synth_duckdb, synth_truth["adoption_feature"]).sort_values(["customer_id", "period"])
    b = adoption_panel(synth_postgres, synth_truth["adoption_feature"]).sort_values(["customer_id", "period"])
    assert len(a) == len(b) > 0
    assert np.allclose(a["mrr"].to_numpy(), b["mrr"].to_numpy())
    assert (a["treated"].to_numpy() == b["treated"].to_numpy()).all()


def test_campaign_uplift_recovers_the_planted_uplift(synth_wh, synth_truth):
    c = campaign_uplift(synth_wh, synth_truth["campaign_id"])
    assert c.window_months == synth_truth["campaign_window_months"]
    u = c.uplift
    assert u.ci_low < synth_truth["uplift"] < u.ci_high, (u.uplift, u.ci_low, u.ci_high)
    assert u.control_n + u.treatment_n == int(c.members["active_at_start"].sum())
    assert c.saved_arr == pytest.approx(u.uplift * c.treated_arr)
    assert c.saved_arr_ci == pytest.approx((u.ci_low * c.treated_arr, u.ci_high * c.treated_arr))
    assert c.cost == pytest.approx(synth_truth["campaign_cost"])
    assert c.roi == pytest.approx((c.saved_arr - c.cost) / c.cost)
    assert c.roi_ci[0] < c.roi < c.roi_ci[1]


def test_unknown_campaign_is_a_model_error(synth_duckdb):
    with pytest.raises(ModelError, match="does not exist"):
        campaign_uplift(synth_duckdb, "nope")
