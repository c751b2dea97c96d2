"""The demo generator: coherent tables, tie-outs, determinism and every planted truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from finlib.demo import generate, load_truth
from finlib.errors import DemoDataError
from finlib.warehouse.db import Warehouse, get_warehouse
from finlib.warehouse.schema import CANONICAL_TABLES, TABLES
from tests.demo.checker import evaluate, find

END = "2026-10"
SEED = 42


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """One small demo warehouse (DuckDB file) shared by the read-only tests."""
    path = tmp_path_factory.mktemp("demo") / "warehouse.duckdb"
    wh = Warehouse.from_url(f"duckdb://{path}")
    res = generate(wh, "small", SEED, END)
    return wh, res


def q(wh, sql, params=None) -> pd.DataFrame:
    with wh.connect(read_only=True) as conn:
        return conn.query_df(sql, params)


def content_hash(wh) -> dict[str, str]:
    """Order-independent hash of every canonical table's rows."""
    out = {}
    with wh.connect(read_only=True) as conn:
        for t in CANONICAL_TABLES:
            cols = TABLES[t].column_names
            df = conn.query_df(f"SELECT {', '.join(cols)} FROM {t}")
            lines = sorted("|".join("" if pd.isna(v) else str(v) for v in row) for row in df.itertuples(index=False))
            out[t] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return out


# ---- shape ---------------------------------------------------------------------------
def test_every_canonical_table_is_filled(small):
    wh, res = small
    with wh.connect(read_only=True) as conn:
        counts = {t: conn.scalar(f"SELECT count(*) FROM {t}") for t in CANONICAL_TABLES}
    assert all(n > 0 for n in counts.values()), counts
    assert 450 <= counts["customers"] <= 550
    assert counts == {t: res["rows"].get(t, 0) for t in CANONICAL_TABLES}


def test_departments_and_segments_follow_the_conventions(small):
    wh, _ = small
    names = set(q(wh, "SELECT name FROM departments")["name"])
    assert names == {"Sales", "Marketing", "Product", "Customer Success", "G&A"}
    assert set(q(wh, "SELECT DISTINCT segment FROM customers")["segment"]) == {"SMB", "Mid-Market", "Enterprise"}
    # every department has ledger lines, and salaries, software, advertising, contractors exist
    df = q(wh, """SELECT d.name, a.category, count(*) AS n FROM gl_entries g
                  JOIN departments d ON d.department_id = g.department_id
                  JOIN accounts a ON a.account_id = g.account_id GROUP BY d.name, a.category""")
    assert set(df["name"]) == names
    assert {"salaries", "software", "advertising", "contractors"} <= set(df["category"])
    assert q(wh, "SELECT count(*) AS n FROM gl_entries WHERE account_id = '6200' AND campaign_id IS NULL")["n"][0] == 0
    assert q(wh, "SELECT count(*) AS n FROM gl_entries WHERE account_id = '6300' AND feature_id IS NULL")["n"][0] == 0
    cur = set(q(wh, "SELECT DISTINCT currency FROM gl_entries")["currency"])
    assert cur == {"USD", "EUR", "GBP"}


def test_window_is_36_months_ending_with_the_given_month(small):
    wh, _res = small
    df = q(wh, "SELECT min(period) AS lo, max(period) AS hi, count(DISTINCT period) AS n FROM revenue_recognized")
    assert pd.Timestamp(df["lo"][0]).date() == dt.date(2023, 11, 1)
    assert pd.Timestamp(df["hi"][0]).date() == dt.date(2026, 10, 1)
    assert df["n"][0] == 36


# ---- tie-outs --------------------------------------------------------------------------
def _planted(res, *controls) -> set[str]:
    """Ids the controls plant breaks on purpose (truth ``controls``): left out of the tie-outs."""
    c = res["truth"]["controls"]
    return {x["entity"].split(" ")[-1] for x in c["failures"] + c["near_misses"] if x["control"] in controls}


def _ratable(inv: pd.DataFrame, last_period: dt.date) -> pd.DataFrame:
    """Independent daily-ratable recognition of each invoice, per subscription and period."""
    rows = []
    for r in inv.itertuples():
        ss, se = pd.Timestamp(r.service_start).date(), pd.Timestamp(r.service_end).date()
        total = (se - ss).days + 1
        d = dt.date(ss.year, ss.month, 1)
        while d <= se:
            nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
            lo, hi = max(ss, d), min(se, nxt - dt.timedelta(days=1))
            if d <= last_period:
                rows.append((r.subscription_id, d, float(r.amount) * ((hi - lo).days + 1) / total))
            d = nxt
    return pd.DataFrame(rows, columns=["subscription_id", "period", "expected"])


def test_recognised_revenue_is_the_ratable_share_of_invoices(small):
    wh, res = small
    inv = q(wh, "SELECT subscription_id, service_start, service_end, CAST(amount AS DOUBLE PRECISION) AS amount "
                "FROM invoices WHERE status <> 'void'")
    exp = _ratable(inv, dt.date(2026, 10, 1))
    n_inv = exp.groupby(["subscription_id", "period"]).size().rename("n")
    exp = exp.groupby(["subscription_id", "period"])["expected"].sum().to_frame().join(n_inv)
    rr = q(wh, "SELECT subscription_id, period, CAST(amount AS DOUBLE PRECISION) AS amount FROM revenue_recognized")
    rr["period"] = pd.to_datetime(rr["period"]).dt.date
    rr = rr.set_index(["subscription_id", "period"])
    assert rr.index.is_unique
    both = exp.join(rr, how="outer").fillna({"amount": 0.0, "expected": 0.0, "n": 1})
    both = both[~both.index.get_level_values(0).isin(_planted(res, "revenue_schedule", "deferred_revenue"))]
    diff = (both["amount"] - both["expected"]).abs()
    assert (diff <= 0.01 * both["n"] + 1e-6).all(), both[diff > 0.01 * both["n"]].head()
    # totals tie to the cent: what is billed = recognised + deferred after the window
    tot = q(wh, "SELECT CAST(SUM(amount) AS DOUBLE PRECISION) AS s FROM revenue_recognized")["s"][0]
    assert abs(tot - exp["expected"].sum()) < 0.01 * len(inv)


def test_nothing_is_recognised_before_a_subscription_starts_or_for_void_invoices(small):
    wh, _ = small
    bad = q(wh, """SELECT count(*) AS n FROM revenue_recognized r JOIN subscriptions s
                   ON s.subscription_id = r.subscription_id
                   WHERE r.period < CAST(date_trunc('month', s.start_date) AS DATE)""")["n"][0]
    assert bad == 0
    assert q(wh, "SELECT count(*) AS n FROM invoices WHERE status = 'void'")["n"][0] > 0
    assert q(wh, "SELECT count(*) AS n FROM invoices WHERE amount < 0")["n"][0] > 0  # credit notes


def test_revenue_is_posted_to_the_ledger(small):
    wh, res = small
    df = q(wh, """SELECT r.period, r.rr, g.gl FROM
                  (SELECT period, SUM(amount) AS rr FROM revenue_recognized GROUP BY period) r
                  JOIN (SELECT g.period, SUM(g.amount) AS gl FROM gl_entries g JOIN accounts a
                        ON a.account_id = g.account_id WHERE a.account_type = 'revenue' GROUP BY g.period) g
                  ON g.period = r.period""")
    assert len(df) == 36
    tie_plants = {x["period"] for x in res["truth"]["controls"]["failures"] + res["truth"]["controls"]["near_misses"]
                  if x["control"] == "revenue_ledger_tie"}
    df = df[~pd.to_datetime(df["period"]).dt.strftime("%Y-%m").isin(tie_plants)]
    assert len(df) == 36 - len(tie_plants)
    assert (df["rr"] == df["gl"]).all()


def test_dev_costs_tie_to_the_ledger_by_feature_and_period(small):
    wh, res = small
    df = q(wh, """SELECT COALESCE(d.feature_id, g.feature_id) AS f, d.cost, g.amount FROM
                  (SELECT feature_id, period, SUM(cost) AS cost FROM dev_costs GROUP BY feature_id, period) d
                  FULL OUTER JOIN (SELECT feature_id, period, SUM(amount) AS amount FROM gl_entries
                                   WHERE feature_id IS NOT NULL GROUP BY feature_id, period) g
                  ON g.feature_id = d.feature_id AND g.period = d.period""")
    assert len(df) > 0
    df = df[~df["f"].isin(_planted(res, "dev_cost_tie"))]
    assert (df["cost"] == df["amount"]).all()
    cats = q(wh, """SELECT DISTINCT a.category, g.department_id FROM gl_entries g JOIN accounts a
                    ON a.account_id = g.account_id WHERE g.feature_id IS NOT NULL""")
    assert set(cats["category"]) == {"salaries", "contractors"} and set(cats["department_id"]) == {"D30"}


def test_campaign_spend_equals_its_ledger_lines(small):
    wh, res = small
    df = q(wh, """SELECT m.campaign_id, m.spend, COALESCE(g.s, 0) AS s FROM marketing_campaigns m
                  LEFT JOIN (SELECT campaign_id, SUM(amount) AS s FROM gl_entries WHERE campaign_id IS NOT NULL
                             GROUP BY campaign_id) g ON g.campaign_id = m.campaign_id""")
    df = df[~df["campaign_id"].isin(_planted(res, "campaign_spend_tie"))]
    assert (df["spend"] == df["s"]).all()
    # first touch: campaign customers carry the campaign's channel
    bad = q(wh, """SELECT count(*) AS n FROM customers c JOIN marketing_campaigns m
                   ON m.campaign_id = c.acquisition_campaign_id WHERE m.channel <> c.acquisition_channel""")
    assert bad["n"][0] == 0


def _mrr_panel(wh) -> pd.DataFrame:
    """MRR per customer at every month end (contract: active when start <= M < end)."""
    df = q(wh, """WITH m AS (SELECT DISTINCT period FROM revenue_recognized)
                  SELECT c.customer_id, m.period, c.segment,
                         COALESCE(SUM(CAST(s.mrr AS DOUBLE PRECISION)), 0) AS mrr
                  FROM m CROSS JOIN customers c LEFT JOIN subscriptions s ON s.customer_id = c.customer_id
                   AND s.start_date <= CAST(m.period + INTERVAL '1 month' - INTERVAL '1 day' AS DATE)
                   AND (s.end_date IS NULL OR s.end_date > CAST(m.period + INTERVAL '1 month' - INTERVAL '1 day' AS DATE))
                  GROUP BY c.customer_id, m.period, c.segment""")
    df["period"] = pd.to_datetime(df["period"])
    return df.sort_values(["customer_id", "period"]).reset_index(drop=True)


def test_every_mrr_movement_category_occurs_and_the_identity_holds(small):
    wh, _ = small
    p = _mrr_panel(wh)
    p["prev"] = p.groupby("customer_id")["mrr"].shift(1).fillna(0.0)
    p["ever"] = p.groupby("customer_id")["prev"].transform(lambda s: (s > 0).cummax())
    first = p["period"] == p["period"].min()
    cat = np.select(
        [(p["prev"] == 0) & (p["mrr"] > 0) & ~p["ever"], (p["prev"] == 0) & (p["mrr"] > 0) & p["ever"],
         (p["prev"] > 0) & (p["mrr"] == 0), (p["prev"] > 0) & (p["mrr"] > p["prev"]),
         (p["prev"] > 0) & (p["mrr"] > 0) & (p["mrr"] < p["prev"])],
        ["new", "reactivation", "churn", "expansion", "contraction"], "none")
    counts = pd.Series(cat[~first]).value_counts()
    for k in ("new", "reactivation", "churn", "expansion", "contraction"):
        assert counts.get(k, 0) > 0, counts


# ---- determinism -----------------------------------------------------------------------
def test_same_seed_gives_identical_tables_and_truth(small, tmp_path):
    wh, res = small
    other = Warehouse.from_url(f"duckdb://{tmp_path / 'again.duckdb'}")
    res2 = generate(other, "small", SEED, END)
    assert content_hash(other) == content_hash(wh)
    assert res2["truth"] == res["truth"]
    third = Warehouse.from_url(f"duckdb://{tmp_path / 'seed7.duckdb'}")
    generate(third, "small", 7, END)
    assert content_hash(third)["gl_entries"] != content_hash(wh)["gl_entries"]


def test_a_warehouse_with_data_is_refused_unless_forced(duckdb_url):
    wh = get_warehouse()
    generate(wh, "small", 1, END)
    before = content_hash(wh)
    with pytest.raises(DemoDataError, match="--force"):
        generate(wh, "small", 2, END)
    assert content_hash(wh) == before  # unchanged
    generate(wh, "small", 1, END, force=True)
    assert content_hash(wh) == before  # replaced by the same data, nothing doubled


def test_cli_refuses_then_forces(duckdb_url, capsys):
    from finlib.cli import main

    assert main(["demo-data", "--scale", "small", "--seed", "3", "--end", END, "--quiet"]) == 0
    assert main(["demo-data", "--scale", "small", "--seed", "3", "--end", END, "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["demo-data", "--scale", "small", "--seed", "3", "--end", END, "--quiet", "--force"]) == 0
    assert main(["demo-data", "--scale", "small", "--end", "not-a-month", "--quiet", "--force"]) == 2


# ---- planted alerts --------------------------------------------------------------------
def test_every_planted_breach_breaches_and_no_near_miss_fires(small):
    wh, _ = small
    truth = load_truth(wh)
    rules = {"budget_variance", "revenue_target", "cost_control", "campaign_roi", "cac", "product_development"}
    assert {b["rule"] for b in truth["alerts"]["breaches"]} == rules
    assert {b["rule"] for b in truth["alerts"]["near_misses"]} == rules
    last = dt.date.fromisoformat(truth["last_closed_month"])
    assert all(b["period"] == truth["last_closed_month"] for b in truth["alerts"]["breaches"])
    cache: dict = {}
    with wh.connect(read_only=True) as conn:
        for kind, want in (("breaches", True), ("near_misses", False)):
            for item in truth["alerts"][kind]:
                p = dt.date.fromisoformat(item["period"])
                cache.setdefault(p, evaluate(conn, p))
                got = find(cache[p], item["rule"], item["entity"])
                assert got is not None, item
                assert got["fired"] is want or bool(got["fired"]) == want, (item, got)
                assert got["value"] == pytest.approx(abs(item["value"]), rel=1e-3), (item, got)
    # near misses are in the last closed month unless the rule has one entity only
    for item in truth["alerts"]["near_misses"]:
        if item["entity"]:
            assert item["period"] == truth["last_closed_month"]
    # the cost-control near miss on the ratio really is over budget (only the ratio saves it)
    cc = [r for r in cache[last] if r["rule"] == "cost_control" and r["entity"] == {"department_id": "D50", "account_id": "6600"}]
    assert cc[0]["over_budget"]


# ---- planted statistical truths ----------------------------------------------------------
def test_truth_file_follows_the_contract(small):
    wh, res = small
    truth = load_truth(wh)
    assert truth == json.loads(json.dumps(res["truth"]))
    assert wh.path.with_name("warehouse.truth.json").exists()
    for key in ("seed", "scale", "first_period", "last_closed_month", "adoption", "churn_model",
                "retention_campaign", "alerts", "launch", "satisfaction"):
        assert key in truth
    assert {"product_id", "launch_period", "uplift_mrr", "adopters", "estimand"} <= set(truth["launch"])
    assert {"horizon_months", "coefficients", "unit", "formula"} <= set(truth["satisfaction"])
    assert all(v < 0 for v in truth["satisfaction"]["coefficients"].values())
    assert truth["seed"] == SEED and truth["scale"] == "small"
    assert truth["first_period"] == "2023-11-01" and truth["last_closed_month"] == "2026-10-01"
    assert {"feature_id", "release_period", "effect_mrr", "estimand"} <= set(truth["adoption"])
    assert {"intercept", "coefficients", "transformation", "unit"} <= set(truth["churn_model"])
    assert all(v < 0 for v in truth["churn_model"]["coefficients"].values())
    rc = truth["retention_campaign"]
    assert rc["uplift"] == pytest.approx(rc["control_churn_rate"] - rc["treatment_churn_rate"], abs=1e-4)
    sod = truth["governance"]["sod_violations"]
    df = q(wh, "SELECT entry_id FROM gl_entries WHERE is_manual AND created_by = approved_by")
    assert sorted(df["entry_id"]) == sorted(sod) and len(sod) >= 1


def test_load_truth_says_what_to_do_when_there_is_none(tmp_path):
    wh = Warehouse.from_url(f"duckdb://{tmp_path / 'none.duckdb'}")
    with pytest.raises(DemoDataError, match="demo-data"):
        load_truth(wh)


def test_adoption_users_are_the_adopters_and_their_price_rises_by_the_effect(small):
    wh, _ = small
    truth = load_truth(wh)["adoption"]
    f, r = truth["feature_id"], dt.date.fromisoformat(truth["release_period"])
    first = q(wh, "SELECT min(period) AS p, count(DISTINCT customer_id) AS n FROM feature_usage WHERE feature_id = :f", {"f": f})
    assert pd.Timestamp(first["p"][0]).date() == r
    assert first["n"][0] == truth["adopters"]
    # each adopter has a core row starting on R whose MRR exceeds the previous row's by >= effect
    df = q(wh, """SELECT s.customer_id, CAST(s.mrr AS DOUBLE PRECISION) AS mrr,
                         CAST(p.mrr AS DOUBLE PRECISION) AS prev_mrr
                  FROM subscriptions s JOIN subscriptions p ON p.customer_id = s.customer_id
                   AND p.product_id = s.product_id AND p.end_date = s.start_date
                  WHERE s.start_date = :r AND s.product_id = 'P1'
                   AND s.customer_id IN (SELECT customer_id FROM feature_usage WHERE feature_id = :f AND period = :r)""",
           {"r": r, "f": f})
    assert len(df) == truth["adopters"]
    assert ((df["mrr"] - df["prev_mrr"]) >= truth["effect_mrr"] - 0.005).all()


def test_launch_adopters_pay_exactly_the_planted_uplift_from_the_launch_month(small):
    wh, _ = small
    truth = load_truth(wh)["launch"]
    L = dt.date.fromisoformat(truth["launch_period"])
    prod = q(wh, "SELECT product_id, launched_on FROM products WHERE product_id = :p", {"p": truth["product_id"]})
    assert pd.Timestamp(prod["launched_on"][0]).date() == L
    subs = q(wh, """SELECT customer_id, start_date, CAST(mrr AS DOUBLE PRECISION) AS mrr FROM subscriptions
                    WHERE product_id = :p""", {"p": truth["product_id"]})
    assert subs["customer_id"].nunique() == truth["adopters"]
    assert (subs["mrr"] == truth["uplift_mrr"]).all()
    first = pd.to_datetime(subs.groupby("customer_id")["start_date"].min())
    assert (first.dt.to_period("M") == pd.Period(L, "M")).all()
    by_seg = truth["adopters_by_segment"]
    assert sum(by_seg.values()) == truth["adopters"]
    # the product was built by its feature(s) and sold by its launch campaign (costs to set against it)
    feats = q(wh, "SELECT feature_id FROM features WHERE product_id = :p", {"p": truth["product_id"]})
    camps = q(wh, "SELECT campaign_id FROM marketing_campaigns WHERE product_id = :p", {"p": truth["product_id"]})
    assert sorted(feats["feature_id"]) == sorted(truth["feature_ids"]) and len(feats) >= 1
    assert sorted(camps["campaign_id"]) == sorted(truth["campaign_ids"]) and len(camps) == 1


def test_survey_scores_stay_on_their_scales(small):
    wh, _ = small
    s = q(wh, "SELECT kind, score FROM surveys")
    assert s.loc[s["kind"] == "nps", "score"].between(0, 10).all()
    assert s.loc[s["kind"] == "csat", "score"].between(1, 5).all()


def test_planted_adoption_effect_is_recovered_by_the_documented_estimand(small):
    smf = pytest.importorskip("statsmodels.formula.api")
    wh, _ = small
    truth = load_truth(wh)["adoption"]
    r = pd.Timestamp(truth["release_period"])
    p = _mrr_panel(wh)
    win = p[(p["period"] >= r - pd.DateOffset(months=6)) & (p["period"] < r + pd.DateOffset(months=6))]
    ok = win.groupby("customer_id")["mrr"].transform(lambda s: (s > 0).all() and len(s) == 12)
    panel = win[ok.astype(bool)].copy()
    users = set(q(wh, "SELECT customer_id FROM feature_usage WHERE feature_id = :f AND period = :r",
                  {"f": truth["feature_id"], "r": r.date()})["customer_id"])
    panel["treated"] = panel["customer_id"].isin(users).astype(int)
    panel["post"] = (panel["period"] >= r).astype(int)
    fit = smf.ols("mrr ~ treated + post + treated:post + C(segment) + C(segment):post", data=panel).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(panel["customer_id"])[0]})
    lo, hi = fit.conf_int().loc["treated:post"]
    assert lo <= truth["effect_mrr"] <= hi, (fit.params["treated:post"], lo, hi)


def test_planted_churn_process_is_recoverable_from_health_scores(small):
    sm = pytest.importorskip("statsmodels.api")
    wh, _ = small
    truth = load_truth(wh)["churn_model"]
    p = _mrr_panel(wh)
    p["prev"] = p.groupby("customer_id")["mrr"].shift(1)
    p = p[p["prev"] > 0].copy()
    p["churn"] = (p["mrr"] == 0).astype(int)
    h = q(wh, "SELECT * FROM health_scores")
    h["period"] = pd.to_datetime(h["scored_on"])
    d = p.merge(h, on=["customer_id", "period"])
    comps = list(truth["coefficients"])
    X = sm.add_constant((d[comps] - 50) / 10)
    fit = sm.Logit(d["churn"], X).fit(disp=0)
    for c in comps:
        assert fit.params[c] < 0
    from scipy.stats import mannwhitneyu

    s = fit.predict(X)
    u = mannwhitneyu(s[d["churn"] == 1], s[d["churn"] == 0]).statistic
    auc = u / ((d["churn"] == 1).sum() * (d["churn"] == 0).sum())
    assert auc >= 0.7


def test_planted_retention_uplift_is_inside_an_informative_two_proportion_interval(small):
    wh, _ = small
    truth = load_truth(wh)["retention_campaign"]
    start = dt.date.fromisoformat(truth["start_period"])
    w = truth["window_months"]
    end = dt.date(start.year + (start.month - 1 + w) // 12, (start.month - 1 + w) % 12 + 1, 1)
    df = q(wh, """SELECT m.arm, m.customer_id,
                   CASE WHEN EXISTS (SELECT 1 FROM subscriptions s WHERE s.customer_id = m.customer_id
                         AND s.end_date >= :a AND s.end_date < :b
                         AND NOT EXISTS (SELECT 1 FROM subscriptions o WHERE o.customer_id = m.customer_id
                              AND o.start_date <= s.end_date AND (o.end_date IS NULL OR o.end_date > s.end_date)))
                   THEN 1 ELSE 0 END AS churned
                  FROM retention_campaign_members m WHERE m.campaign_id = :c""",
           {"a": start, "b": end, "c": truth["campaign_id"]})
    g = df.groupby("arm")["churned"].agg(["mean", "count"])
    pc, nc = g.loc["control", "mean"], g.loc["control", "count"]
    pt, nt = g.loc["treatment", "mean"], g.loc["treatment", "count"]
    assert abs(nc - nt) <= 1 and nc >= 50
    se = np.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    lo, hi = pc - pt - 1.96 * se, pc - pt + 1.96 * se
    assert lo <= truth["uplift"] <= hi
    assert lo > 0  # informative: the interval excludes no effect
    assert truth["observed"]["control_churn_rate"] == pytest.approx(pc, abs=1e-4)


# ---- PostgreSQL ----------------------------------------------------------------------------
@pytest.mark.postgres
def test_demo_data_on_postgresql_matches_duckdb(small, postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("FINLIB_HOME", str(tmp_path))
    wh, res = small
    pg = get_warehouse()
    res_pg = generate(pg, "small", SEED, END)
    assert res_pg["rows"] == res["rows"]
    assert res_pg["truth"] == res["truth"]
    assert load_truth(pg) == res["truth"]
    assert res_pg["truth_path"] is None  # stored in the database, no stray file
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").glob("*truth*"))
    for t in ("gl_entries", "revenue_recognized", "invoices", "subscriptions", "dev_costs", "budgets"):
        col = {"gl_entries": "amount", "revenue_recognized": "amount", "invoices": "amount",
               "subscriptions": "mrr", "dev_costs": "cost", "budgets": "amount"}[t]
        sql = f"SELECT CAST(SUM({col}) AS VARCHAR(40)) AS s, count(*) AS n FROM {t}"
        a, b = q(wh, sql), q(pg, sql)
        assert a["s"][0] == b["s"][0] and a["n"][0] == b["n"][0], t
    with pg.connect(read_only=True) as conn:
        results = evaluate(conn, dt.date.fromisoformat(res["truth"]["last_closed_month"]))
    for item in res["truth"]["alerts"]["breaches"]:
        if item["period"] == res["truth"]["last_closed_month"]:
            assert find(results, item["rule"], item["entity"])["fired"], item
