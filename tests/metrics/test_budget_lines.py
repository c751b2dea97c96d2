"""Per-line (department × account) budget variance: the monitoring view flags exactly the
lines the ``budget_variance`` alert fires for."""

from __future__ import annotations

import pandas as pd
import pytest

from finlib.metrics import facts
from finlib.metrics.monitoring import cost_variance


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
    with wh.connect(read_only=True) as conn:
        bva = facts.budget_vs_actual(conn, "1900-01", "2026-10")
        periods = sorted(pd.to_datetime(bva.loc[bva["budget"].notna(), "period"]).unique())
        alerts = set()
        for p in periods:
            for a in evaluate(conn, p.date(), rules=["budget_variance"]):
                alerts.add((a["period"], a["entity"]["department_id"], a["entity"]["account_id"]))
    assert len(alerts) > 0 and len(periods) > 12
    for by in (("department_id", "account_id"), ("department", "account")):
        cv = cost_variance(bva.astype({"department_id": str, "account_id": str}), by=by, tolerance=t)
        hit = cv[cv["outside_tolerance"].astype(bool)]
        if by[0] == "department":  # names -> ids (names are unique in the demo)
            ids = bva.drop_duplicates(["department", "account"]).set_index(["department", "account"])
            hit = hit.join(ids[["department_id", "account_id"]], on=["department", "account"])
        flagged = {(p.date().isoformat(), str(d), str(a)) for p, d, a in
                   zip(hit["period"], hit["department_id"], hit["account_id"], strict=True)}
        assert flagged == alerts, by
    # with every account type the same (the demo budgets no revenue line)
    cv_all = cost_variance(bva, by=("department_id", "account_id"), tolerance=t, account_types=None)
    assert int(cv_all["outside_tolerance"].astype(bool).sum()) == len(alerts)


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 0.3])
def test_flag_matches_the_variance_pct_away_from_the_boundary(tolerance):
    cv = cost_variance(_lines(), by=("department", "account"), tolerance=tolerance)
    ok = cv["budget"] > 0
    expected = cv.loc[ok, "variance_pct"].abs() > tolerance
    assert cv.loc[ok, "outside_tolerance"].astype(bool).tolist() == expected.tolist()
