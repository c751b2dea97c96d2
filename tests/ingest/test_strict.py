"""Strict ingestion: each input that used to change a figure silently is trimmed or refused
with file, line, column and value, and a refusal leaves the warehouse unchanged (both
backends)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from finlib.errors import ConfigError, ValidationError
from finlib.ingest.loader import ingest_file
from finlib.ingest.mapping import load_mapping, parse_mapping
from finlib.ingest.rules import IngestRules, load_rules
from finlib.warehouse.load import write_batch
from tests.ingest.conftest import GL_HEADER, gl_line
from tests.ingest.test_ingest import batches, state, write

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "exports"
C1, C2, S1 = "cus_PQr1A2b3C4d5E6", "cus_QRs2B3c4D5e6F7", "sub_1OaBcD2eZvKYlo2Cx1y2z3"
HEADERS = {
    "gl_entries": GL_HEADER,
    "customers": "customer_id,name,segment,region,industry,signup_date,acquisition_channel,"
                 "acquisition_campaign_id,cs_tier,csm_owner",
    "subscriptions": "subscription_id,customer_id,product_id,start_date,end_date,mrr,currency,billing_period",
    "invoices": "invoice_id,customer_id,subscription_id,issued_on,service_start,service_end,amount,currency,status",
    "revenue_recognized": "period,customer_id,subscription_id,amount",
    "dev_costs": "feature_id,milestone_id,period,cost,hours",
    "feature_usage": "period,customer_id,feature_id,active_users,events",
    "health_scores": "customer_id,scored_on,score,usage_score,support_score,sentiment_score,payment_score",
    "budgets": "period,department_id,account_id,amount",
    "kpi_targets": "period,kpi,dimension,target",
    "surveys": "response_id,customer_id,responded_on,kind,score",
    "fx_rates": "rate_date,currency,rate_to_reporting",
}


def csv(table: str, *rows: str) -> str:
    return HEADERS[table] + "\n" + "\n".join(rows) + "\n"


EUR_FROM_FEB = ("fx_rates", csv("fx_rates", "2024-02-01,EUR,1.08", "2024-03-01,EUR,1.09"))


def gl(i: int = 1, **kw) -> str:
    """A ledger line; ``currency``/``posted_at`` replace the defaults of ``gl_line``."""
    line = gl_line(i, **{k: v for k, v in kw.items() if k not in ("currency", "posted_at")})
    if "currency" in kw:
        line = line.replace(",USD,", f",{kw['currency']},")
    if "posted_at" in kw:
        line = line.replace("2024-01-05 10:00:00", kw["posted_at"])
    return line


def seed_product_dev(wh) -> None:
    """A feature and a milestone for dev_costs and feature_usage rows."""
    with write_batch(wh, action="seed", target="reference") as b:
        b.execute("INSERT INTO features VALUES ('f1', 'p1', 'Search', 'core', DATE '2023-06-01', NULL, 50000)")
        b.execute("INSERT INTO milestones VALUES ('m1', 'f1', 'Beta', DATE '2024-03-01', NULL, 10000)")


KEY_RR = "period, customer_id, subscription_id"

# case -> (files loaded first, (table, bad file text), {(line, column, rule, value)}, text in a message)
CASES = {
    # -- spaces around ids
    "id_with_trailing_space_duplicates_a_ledger_line": (
        [], ("gl_entries", csv("gl_entries", gl(1), gl(1).replace("e1,", "e1 ,", 1))),
        {(3, "entry_id", "unique", "e1")}, "first seen on line 2"),
    "id_with_leading_space_is_the_existing_customer": (
        [], ("customers", csv("customers", f" {C1},Acme again,SMB,EMEA,Software,2023-01-01,paid_search,,pooled,")),
        {(2, "customer_id", "primary_key_exists", C1)}, "already in the warehouse"),
    # -- natural keys (NULL is a value)
    "revenue_recognized_line_three_times": (
        [], ("revenue_recognized", csv("revenue_recognized", *[f"2024-01-01,{C1},{S1},1527.80"] * 3)),
        {(3, KEY_RR, "unique", f"2024-01-01, {C1}, {S1}"), (4, KEY_RR, "unique", f"2024-01-01, {C1}, {S1}")},
        "first seen on line 2"),
    "revenue_recognized_one_off_line_twice": (
        [], ("revenue_recognized", csv("revenue_recognized", f"2024-01-01,{C1},,10.00", f"2024-01-01,{C1},,10.00")),
        {(3, KEY_RR, "unique", f"2024-01-01, {C1}, NULL")}, "first seen on line 2"),
    "revenue_recognized_line_already_loaded": (
        [("revenue_recognized", csv("revenue_recognized", f"2024-01-01,{C1},{S1},1527.80"))],
        ("revenue_recognized", csv("revenue_recognized", f"2024-02-01,{C1},{S1},1527.80",
                                   f"2024-01-01,{C1},{S1},1527.80")),
        {(3, KEY_RR, "primary_key_exists", f"2024-01-01, {C1}, {S1}")}, "--replace keys"),
    "dev_cost_without_milestone_twice": (
        [], ("dev_costs", csv("dev_costs", "f1,,2024-01-01,100.00,10", "f1,m1,2024-01-01,50.00,5",
                              "f1,,2024-01-01,100.00,10")),
        {(4, "feature_id, milestone_id, period", "unique", "f1, NULL, 2024-01-01")}, "first seen on line 2"),
    "dev_cost_without_milestone_already_loaded": (
        [("dev_costs", csv("dev_costs", "f1,,2024-01-01,100.00,10"))],
        ("dev_costs", csv("dev_costs", "f1,,2024-01-01,120.00,12")),
        {(2, "feature_id, milestone_id, period", "primary_key_exists", "f1, NULL, 2024-01-01")}, "already"),
    "feature_usage_twice": (
        [], ("feature_usage", csv("feature_usage", f"2024-01-01,{C1},f1,3,40", f"2024-01-01,{C1},f1,3,40")),
        {(3, "period, customer_id, feature_id", "unique", f"2024-01-01, {C1}, f1")}, "first seen on line 2"),
    "health_score_already_loaded": (
        [("health_scores", csv("health_scores", f"{C1},2024-01-31,70,70,70,70,70"))],
        ("health_scores", csv("health_scores", f"{C1},2024-01-31,40,40,40,40,40")),
        {(2, "customer_id, scored_on", "primary_key_exists", f"{C1}, 2024-01-31")}, "already"),
    "budget_line_twice": (
        [], ("budgets", csv("budgets", "2024-01-01,d-mkt,6200,1000.00", "2024-01-01,d-mkt,6200,1000.00")),
        {(3, "period, department_id, account_id", "unique", "2024-01-01, d-mkt, 6200")}, "first seen"),
    "company_revenue_target_three_times": (
        [], ("kpi_targets", csv("kpi_targets", "2024-01-01,revenue,,1000", "2024-01-01,revenue,,1200",
                                "2024-01-01,revenue,,1500")),
        {(3, "period, kpi, dimension", "unique", "2024-01-01, revenue, NULL"),
         (4, "period, kpi, dimension", "unique", "2024-01-01, revenue, NULL")}, "first seen on line 2"),
    "company_revenue_target_already_loaded": (
        [("kpi_targets", csv("kpi_targets", "2024-01-01,revenue,,1000"))],
        ("kpi_targets", csv("kpi_targets", "2024-01-01,revenue,SMB,300", "2024-01-01,revenue,,1500")),
        {(3, "period, kpi, dimension", "primary_key_exists", "2024-01-01, revenue, NULL")}, "already"),
    # -- cross-field and range rules
    "subscription_ends_before_it_starts": (
        [], ("subscriptions", csv("subscriptions", f"s9,{C1},p1,2024-03-01,2024-02-01,100.00,USD,monthly")),
        {(2, "end_date", "end_after_start", "2024-02-01")}, "end_date is on or before start_date"),
    "invoice_service_ends_before_it_starts": (
        [], ("invoices", csv("invoices", f"i9,{C1},,2024-01-31,2024-01-31,2024-01-01,10.00,USD,paid")),
        {(2, "service_end", "service_period", "2024-01-01")}, "service_end is before service_start"),
    "signup_in_1900": (
        [], ("customers", csv("customers", "c9,Old Co,SMB,EMEA,Software,1900-01-01,paid_search,,pooled,")),
        {(2, "signup_date", "date_window", "1900-01-01")}, "outside the plausible dates 1990-01-01"),
    "subscription_starting_in_2999": (
        [], ("subscriptions", csv("subscriptions", f"s9,{C1},p1,2999-01-01,,100.00,USD,monthly")),
        {(2, "start_date", "date_window", "2999-01-01")}, "outside the plausible dates"),
    "ledger_line_posted_three_years_from_its_period": (
        [], ("gl_entries", csv("gl_entries", gl(1), gl(2, posted_at="2021-01-05 10:00:00"))),
        {(3, "posted_at", "posting_lag", "2021-01-05 10:00:00")}, "more than 366 days away from its period 2024-01"),
    "csat_of_9": (
        [], ("surveys", csv("surveys", f"r1,{C1},2024-01-10,nps,9", f"r2,{C1},2024-01-10,csat,9")),
        {(3, "score", "score_scale", "9")}, "CSAT is 1-5"),
    "paid_invoice_of_minus_500": (
        [], ("invoices", csv("invoices", f"i9,{C1},,2024-01-31,2024-01-01,2024-01-31,-500.00,USD,paid")),
        {(2, "amount", "negative_invoice", "-500.00")}, "only a credit note"),
    # -- currencies
    "currency_xyz": (
        [], ("gl_entries", csv("gl_entries", gl(1, currency="XYZ"))),
        {(2, "currency", "currency", "XYZ")}, "upper-case ISO 4217 code"),
    "currency_in_lower_case": (
        [EUR_FROM_FEB], ("gl_entries", csv("gl_entries", gl(1, currency="eur", period="2024-02-01"))),
        {(2, "currency", "currency", "eur")}, "did you mean 'EUR'"),
    "currency_without_any_rate": (
        [], ("gl_entries", csv("gl_entries", gl(1, currency="EUR"))),
        {(2, "currency", "currency", "EUR")}, "no fx_rates rate for EUR"),
    "ledger_line_before_the_first_rate": (
        [EUR_FROM_FEB], ("gl_entries", csv("gl_entries", gl(1, currency="EUR", period="2024-02-01"),
                                           gl(2, currency="EUR"))),
        {(3, "currency", "fx_rate", "EUR")}, "no fx_rates rate for EUR on or before 2024-01-01 (period)"),
    "invoice_before_the_first_rate": (
        [EUR_FROM_FEB], ("invoices", csv("invoices", f"i9,{C1},,2024-01-15,2024-01-15,2024-02-14,10.00,EUR,paid")),
        {(2, "currency", "fx_rate", "EUR")}, "no fx_rates rate for EUR on or before 2024-01-15 (issued_on)"),
    "subscription_before_the_first_rate": (
        [EUR_FROM_FEB], ("subscriptions", csv("subscriptions", f"s9,{C1},p1,2024-01-20,,100.00,EUR,monthly")),
        {(2, "currency", "fx_rate", "EUR")}, "no fx_rates rate for EUR on or before 2024-01-20 (start_date)"),
    "fx_rate_for_a_code_that_is_not_iso": (
        [], ("fx_rates", csv("fx_rates", "2024-01-01,EUR,1.08", "2024-01-01,EURO,1.08")),
        {(3, "currency", "currency", "EURO")}, "ISO 4217"),
    # -- amounts
    "amount_with_three_decimals": (
        [], ("gl_entries", csv("gl_entries", gl(1, amount="100.50"), gl(2, amount="100.000"), gl(3, amount="100.005"))),
        {(4, "amount", "decimals", "100.005")}, "more than two decimals"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_naming_line_column_and_value(case, wh, tmp_path):
    seed_product_dev(wh)
    first, (table, text), expected, message = CASES[case]
    for i, (t, body) in enumerate(first):
        ingest_file(wh, t, write(tmp_path, f"setup{i}.csv", body))
    before, n_batches = state(wh), len(batches(wh))
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, table, write(tmp_path, "bad.csv", text))
    problems = ei.value.problems
    assert {(p["line"], p["column"], p["rule"], p["value"]) for p in problems} == expected
    assert all(p["file"] == "bad.csv" for p in problems)
    assert any(message in p["message"] for p in problems), [p["message"] for p in problems]
    assert state(wh) == before
    assert [b[1] for b in batches(wh)][n_batches:] == ["rejected"]


def test_currency_prefix_must_agree_with_the_rows_currency(wh, tmp_path):
    text = (SAMPLES / "quickbooks_general_ledger.csv").read_text().replace('"45,310.55"', '"EUR 56,921.00"', 1)
    before = state(wh)
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", write(tmp_path, "qb.csv", text), mapping=load_mapping("quickbooks_gl"))
    [p] = ei.value.problems
    assert (p["line"], p["column"], p["rule"], p["value"]) == (5, "Amount -> amount", "currency_prefix", "EUR 56,921.00")
    assert "written in EUR but the row's currency is USD" in p["message"]
    assert state(wh) == before
    # the same prefix with a row currency that agrees (and has rates) loads
    ingest_file(wh, "fx_rates", write(tmp_path, "fx.csv", csv("fx_rates", "2023-12-01,EUR,1.10")))
    m = parse_mapping({**_qb_yaml(), "constants": {"currency": "EUR", "source_system": "quickbooks"}}, name="qb_eur")
    ingest_file(wh, "gl_entries", write(tmp_path, "qb_eur.csv", text), mapping=m)
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT CAST(amount AS VARCHAR) FROM gl_entries WHERE entry_id = 'QB-10004'") == "56921.00"


def _qb_yaml() -> dict:
    import yaml

    return yaml.safe_load((Path(load_mapping("quickbooks_gl").path)).read_text())


def test_ids_and_text_are_trimmed_on_load(wh, tmp_path):
    line = gl(1).replace("e1,", "  e1 ,", 1).replace(",d-mkt,", ", d-mkt ,").replace("Vendor 1", "  Vendor 1 ")
    ingest_file(wh, "gl_entries", write(tmp_path, "gl.csv", csv("gl_entries", line, gl(2).replace("memo 2", "   "))))
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT entry_id, department_id, vendor, memo FROM gl_entries ORDER BY 1")
    assert rows == [("e1", "d-mkt", "Vendor 1", "memo 1"), ("e2", "d-mkt", "Vendor 2", None)]


def test_natural_keys_accept_new_rows_and_replace_keys_upserts(wh, tmp_path):
    seed_product_dev(wh)
    ingest_file(wh, "revenue_recognized", write(tmp_path, "rr1.csv", csv(
        "revenue_recognized", f"2024-01-01,{C1},{S1},100.00", f"2024-01-01,{C1},,5.00", f"2024-01-01,{C2},,7.00")))
    ingest_file(wh, "revenue_recognized", write(tmp_path, "rr2.csv", csv(
        "revenue_recognized", f"2024-02-01,{C1},{S1},100.00", f"2024-02-01,{C1},,5.00")))
    res = ingest_file(wh, "revenue_recognized", write(tmp_path, "rr3.csv", csv(
        "revenue_recognized", f"2024-01-01,{C1},,6.00", f"2024-03-01,{C1},,1.00")), replace="keys")
    assert (res.rows, res.deleted) == (2, 1)
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT CAST(period AS VARCHAR), customer_id, subscription_id, CAST(amount AS VARCHAR) "
                          "FROM revenue_recognized ORDER BY 1, 2, 3")
    assert rows == [("2024-01-01", C1, S1, "100.00"), ("2024-01-01", C1, None, "6.00"),
                    ("2024-01-01", C2, None, "7.00"), ("2024-02-01", C1, S1, "100.00"),
                    ("2024-02-01", C1, None, "5.00"), ("2024-03-01", C1, None, "1.00")]
    res = ingest_file(wh, "kpi_targets", write(tmp_path, "k.csv", csv("kpi_targets", "2024-01-01,revenue,,10")))
    res = ingest_file(wh, "kpi_targets", write(tmp_path, "k2.csv", csv("kpi_targets", "2024-01-01,revenue,,12")),
                      replace="period=2024-01")
    assert res.deleted == 1
    with wh.connect(read_only=True) as conn:
        assert conn.query("SELECT target FROM kpi_targets") == [(12.0,)]


def test_currencies_with_rates_on_or_before_their_date_load(wh, tmp_path):
    ingest_file(wh, "fx_rates", write(tmp_path, "fx.csv", EUR_FROM_FEB[1]))
    ingest_file(wh, "gl_entries", write(tmp_path, "gl.csv", csv(
        "gl_entries", gl(1, currency="EUR", period="2024-02-01", posted_at="2024-02-01 00:00:00"),
        gl(2, currency="EUR", period="2024-05-01", posted_at="2024-05-02 00:00:00"), gl(3))))
    ingest_file(wh, "invoices", write(tmp_path, "inv.csv", csv(
        "invoices", f"i1,{C1},,2024-02-01,2024-02-01,2024-02-29,10.00,EUR,paid")))
    ingest_file(wh, "subscriptions", write(tmp_path, "sub.csv", csv(
        "subscriptions", f"s9,{C1},p1,2024-03-15,,100.00,EUR,monthly")))
    with wh.connect(read_only=True) as conn:
        assert conn.query("SELECT currency, count(*) FROM gl_entries GROUP BY 1 ORDER BY 1") == [("EUR", 2), ("USD", 1)]


def test_a_credit_note_may_be_negative_and_an_invoice_not(wh, tmp_path):
    head = HEADERS["invoices"] + ",kind"
    ok = f"{head}\ni1,{C1},{S1},2024-02-10,2024-02-10,2024-12-31,-500.00,USD,paid,credit_note\n"
    ingest_file(wh, "invoices", write(tmp_path, "cn.csv", ok))
    before = state(wh)
    bad = f"{head}\ni2,{C1},{S1},2024-02-10,2024-02-10,2024-12-31,500.00,USD,paid,credit_note\n"
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "invoices", write(tmp_path, "cn2.csv", bad))
    assert [(p["line"], p["rule"], p["value"]) for p in ei.value.problems] == [(2, "positive_credit_note", "500.00")]
    assert state(wh) == before


def test_date_window_and_posting_lag_are_configurable(wh, tmp_path):
    p = write(tmp_path, "ingest.yaml", "dates: {earliest: 1899-01-01, years_ahead: 2}\nposted_at_max_days: 2000\n")
    rules = load_rules(p)
    assert (rules.earliest, rules.years_ahead, rules.posted_at_max_days) == (dt.date(1899, 1, 1), 2, 2000)
    assert rules.latest(dt.date(2026, 5, 1)) == dt.date(2028, 12, 31)
    ingest_file(wh, "customers", write(tmp_path, "c.csv", csv(
        "customers", "c9,Old Co,SMB,EMEA,Software,1900-01-01,paid_search,,pooled,")), rules=rules)
    ingest_file(wh, "gl_entries", write(tmp_path, "gl.csv", csv("gl_entries", gl(1, posted_at="2021-01-05 10:00:00"))),
                rules=rules)
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "kpi_targets", write(tmp_path, "k.csv", csv("kpi_targets", f"{dt.date.today().year + 3}-01-01,revenue,,1")),
                    rules=rules)
    assert ei.value.problems[0]["rule"] == "date_window" and str(p) in ei.value.problems[0]["message"]
    with pytest.raises(ConfigError, match="unknown key"):
        load_rules(write(tmp_path, "bad.yaml", "date: {earliest: 1990-01-01}\n"))
    shipped = load_rules()
    assert shipped == IngestRules(source=shipped.source)  # the shipped file states the defaults


def test_money_is_stored_exactly(wh, tmp_path):
    ingest_file(wh, "gl_entries", write(tmp_path, "gl.csv", csv("gl_entries", gl(1, amount="100.000"),
                                                               gl(2, amount=" 0.10 "))))
    with wh.connect(read_only=True) as conn:
        assert [Decimal(str(r[0])) for r in conn.query("SELECT amount FROM gl_entries ORDER BY entry_id")] == [
            Decimal("100.00"), Decimal("0.10")]


def test_init_gives_an_older_warehouse_the_invoice_kind_column(wh, tmp_path):
    from finlib.warehouse.create import init_db

    with write_batch(wh, action="test", target="invoices") as b:
        b.execute("ALTER TABLE invoices DROP COLUMN kind")
    init_db(wh)
    with wh.connect(read_only=True) as conn:
        assert conn.columns("invoices")[-1] == "kind"
    text = HEADERS["invoices"] + ",kind\n" + f"i1,{C1},{S1},2024-02-10,2024-02-10,2024-12-31,-5.00,USD,paid,credit_note\n"
    assert ingest_file(wh, "invoices", write(tmp_path, "cn.csv", text)).rows == 1


def test_accounting_amounts_with_more_than_two_decimals_are_refused(wh, tmp_path):
    text = (SAMPLES / "quickbooks_general_ledger.csv").read_text().replace('"1,200.00","1,200.00"', '"1,200.005","1,200.00"', 1)
    before = state(wh)
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", write(tmp_path, "qb.csv", text), mapping=load_mapping("quickbooks_gl"))
    assert [(p["line"], p["column"], p["rule"], p["value"]) for p in ei.value.problems] == [
        (3, "Amount -> amount", "decimals", "1,200.005")]
    assert state(wh) == before
