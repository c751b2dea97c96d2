"""Per-line (department × account) budget variance: the monitoring view flags exactly the
lines the ``budget_variance`` alert fires for."""

from __future__ import annotations

import pandas as pd
import pytest

from finlib.metrics import facts
from finlib.metrics.monitoring import budget_variance, cost_variance


def _lines():
    rows = [  # period, department, account, actual, budget
        ("2024-03-01", "Sales", "Salaries", 1000.0, 1100.0),     # 100 / 1100 = 9.1 %: inside
        ("2024-03-01", "Marketing", "Advertising", 500.0, 400.0),  # 100 / 400 = 25 %: outside
        ("2024-03-01", "Product", "Contractors", 400.0, 0.0),    # budget 0, actual 400: issue
        ("2024-03-01", "G&A", "Software", 0.0, 0.0),             # budget 0, actual 0: nothing
        ("2024-03-01", "G&A", "Rent", 50.0, -10.0),              # negative budget: issue
        ("2024-03-01", "G&A", "Travel", 70.0, float("nan")),     # no budget line: not evaluated
        ("2024-03-01", "Sales", "Revenue", 10.0, 100.0),         # a revenue line
        ("2024-02-01", "Sales", "Salaries", 900.0, 1000.0),      # exactly 10 %: inside (strict)
        ("2024-02-01", "Sales", "Travel", 0.3, 0.1),             # 0.2 / 0.1: outside
    ]
    df = pd.DataFrame(rows, columns=["period", "department", "account", "actual", "budget"])
    df["period"] = pd.to_datetime(df["period"])
    df["account_type"] = ["opex"] * 6 + ["revenue"] + ["opex"] * 2
    df["category"] = df["account"].str.lower()
    return df


def test_outside_tolerance_by_hand():
    cv = cost_variance(_lines(), by=("department", "account"), tolerance=0.10)
    got = {(r.period.strftime("%Y-%m"), r.department, r.account): bool(r.outside_tolerance)
           for r in cv.itertuples()}
    assert got == {
        ("2024-03", "Sales", "Salaries"): False, ("2024-03", "Marketing", "Advertising"): True,
        ("2024-03", "Product", "Contractors"): True, ("2024-03", "G&A", "Software"): False,
        ("2024-03", "G&A", "Rent"): True, ("2024-03", "G&A", "Travel"): False,
        ("2024-02", "Sales", "Salaries"): False, ("2024-02", "Sales", "Travel"): True}
    # 25 % exactly on a 0.25 tolerance is inside; revenue lines only with account_types=None
    cv25 = cost_variance(_lines(), by=("department", "account"), tolerance=0.25, account_types=None)
    flagged = set(cv25.loc[cv25["outside_tolerance"].astype(bool), "account"])
    assert flagged == {"Contractors", "Rent", "Revenue", "Travel"}  # revenue 90 %, Feb travel 200 %
    # no tolerance: the flag is unknown, the variance columns are unchanged
    none = cost_variance(_lines(), by=("department", "account"))
    assert none["outside_tolerance"].isna().all()
    pd.testing.assert_series_equal(none["variance"], cv["variance"])


def test_lines_flagged_equal_the_budget_variance_alerts_on_the_demo(duckdb_url):
    from finlib.alerts import evaluate, rule_settings
    from finlib.demo import generate
    from finlib.warehouse.create import init_db
    from finlib.warehouse.db import get_warehouse

    wh = get_warehouse()
    generate(wh, "small", 42, end="2026-10")
    init_db(wh)
    t = rule_settings()["budget_variance"]["threshold"]
    floor = rule_settings()["budget_variance"]["min_amount"]
    with wh.connect(read_only=True) as conn:
        bva = facts.budget_vs_actual(conn, "1900-01", "2026-10")
        periods = sorted(pd.to_datetime(bva.loc[bva["budget"].notna(), "period"]).unique())
        alerts = set()
        for p in periods:
            for a in evaluate(conn, p.date(), rules=["budget_variance"]):
                alerts.add((a["period"], a["entity"]["department_id"], a["entity"]["account_id"]))
    assert len(alerts) > 0 and len(periods) > 12
    for by in (("department_id", "account_id"), ("department", "account")):
        cv = cost_variance(bva.astype({"department_id": str, "account_id": str}), by=by, tolerance=t,
                           min_amount=floor)
        hit = cv[cv["outside_tolerance"].astype(bool)]
        if by[0] == "department":  # names -> ids (names are unique in the demo)
            ids = bva.drop_duplicates(["department", "account"]).set_index(["department", "account"])
            hit = hit.join(ids[["department_id", "account_id"]], on=["department", "account"])
        flagged = {(p.date().isoformat(), str(d), str(a)) for p, d, a in
                   zip(hit["period"], hit["department_id"], hit["account_id"], strict=True)}
        assert flagged == alerts, by
    # with every account type the same (the demo budgets no revenue line, and revenue without
    # a budget is not unbudgeted spend)
    cv_all = cost_variance(bva, by=("department_id", "account_id"), tolerance=t, account_types=None,
                           min_amount=floor)
    assert int(cv_all["outside_tolerance"].astype(bool).sum()) == len(alerts)
    # the one definition the alert calls gives the same lines, the unbudgeted G&A lines in EUR
    # (6510) and GBP (6610) among them, every month
    bv = budget_variance(bva, t, floor)
    hit = bv[bv["outside_tolerance"].astype(bool)]
    assert {(p.date().isoformat(), str(d), str(a)) for p, d, a in
            zip(hit["period"], hit["department_id"], hit["account_id"], strict=True)} == alerts
    unbudgeted = hit[hit["unbudgeted"]]
    assert {"6510", "6610"} <= set(unbudgeted["account_id"])
    assert (unbudgeted["data_issue"] == "no budget").all() and unbudgeted["budget"].isna().all()


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 0.3])
def test_flag_matches_the_variance_pct_away_from_the_boundary(tolerance):
    cv = cost_variance(_lines(), by=("department", "account"), tolerance=tolerance)
    ok = cv["budget"] > 0
    expected = cv.loc[ok, "variance_pct"].abs() > tolerance
    assert cv.loc[ok, "outside_tolerance"].astype(bool).tolist() == expected.tolist()


def test_budget_variance_flags_unbudgeted_spend_above_the_floor_only():
    rows = [  # department_id, account_id, type, actual, budget
        ("d1", "a1", "opex", 1000.01, float("nan")),  # spend, no budget, above 1,000: flagged
        ("d1", "a2", "opex", 1000.00, float("nan")),  # exactly on the floor: not above it
        ("d1", "a3", "cogs", 999.99, float("nan")),   # under the floor
        ("d1", "r1", "revenue", 5000.0, float("nan")),  # revenue without budget is not spend
        ("d1", "a4", "opex", 1210.0, 1100.0),          # budgeted: 110 / 1100 = 10 %, inside
        ("d1", "a5", "opex", 1210.01, 1100.0),         # just outside
    ]
    df = pd.DataFrame(rows, columns=["department_id", "account_id", "account_type", "actual", "budget"])
    df["period"] = pd.Timestamp("2024-03-01")
    df["department"], df["account"], df["category"] = "G&A", df["account_id"], "rent"
    bv = budget_variance(df, tolerance=0.10, min_amount=1000.0).set_index("account_id")
    assert bv["outside_tolerance"].astype(bool).to_dict() == {
        "a1": True, "a2": False, "a3": False, "a4": False, "a5": True, "r1": False}
    assert bv["unbudgeted"].to_dict() == {
        "a1": True, "a2": True, "a3": True, "a4": False, "a5": False, "r1": False}
    assert bv.loc["a1", "data_issue"] == "no budget" and pd.isna(bv.loc["a1", "variance_pct"])
    assert bv.loc["a5", "variance_pct"] == pytest.approx(110.01 / 1100)
    assert bool(bv.loc["a5", "favourable"]) is False
    # a lower floor catches the smaller lines; revenue never
    low = budget_variance(df, tolerance=0.10, min_amount=500.0).set_index("account_id")
    assert set(low.index[low["outside_tolerance"].astype(bool)]) == {"a1", "a2", "a3", "a5"}
