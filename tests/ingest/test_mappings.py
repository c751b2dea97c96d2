"""The shipped mappings load the shipped sample exports (both backends)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from finlib.errors import ConfigError, ValidationError
from finlib.ingest.loader import ingest_file
from finlib.ingest.mapping import load_mapping, parse_mapping

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "exports"


def test_stripe_invoices_sample_loads_with_cents_and_status_map(wh):
    res = ingest_file(wh, "invoices", SAMPLES / "stripe_invoices.csv", mapping=load_mapping("stripe_invoices"))
    assert res.rows == 5
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT invoice_id, amount, currency, status, subscription_id, issued_on "
                          "FROM invoices ORDER BY issued_on")
    first = rows[0]
    assert Decimal(first[1]) == Decimal("499.00") and first[2] == "USD" and first[3] == "paid"
    assert str(first[5]) == "2024-01-01"
    assert [r[3] for r in rows] == ["paid", "paid", "open", "open", "void"]
    assert Decimal(rows[2][1]) == Decimal("12000.00")
    assert rows[4][4] is None  # one-off invoice without subscription


def test_quickbooks_gl_sample_loads_with_accounting_amounts_and_department_lookup(wh):
    res = ingest_file(wh, "gl_entries", SAMPLES / "quickbooks_general_ledger.csv",
                      mapping=load_mapping("quickbooks_gl"))
    assert res.rows == 6
    with wh.connect(read_only=True) as conn:
        rows = dict((r[0], r[1:]) for r in conn.query(
            "SELECT entry_id, account_id, department_id, CAST(amount AS VARCHAR), CAST(period AS VARCHAR), "
            "is_manual, currency, source_system FROM gl_entries"))
    assert rows["QB-10001"] == ("6200", "d-mkt", "12450.00", "2024-01-01", False, "USD", "quickbooks")
    assert rows["QB-10005"][2] == "-350.00" and rows["QB-10005"][3] == "2024-02-01"
    assert rows["QB-10003"][4] is True  # journal entry = manual
    assert rows["QB-10006"][1] == "d-cs"


def test_salesforce_opportunities_sample_loads_with_stage_and_kind_maps(wh):
    ingest_file(wh, "opportunities", SAMPLES / "salesforce_opportunities.csv",
                mapping=load_mapping("salesforce_opportunities"))
    with wh.connect(read_only=True) as conn:
        rows = {r[0]: r[1:] for r in conn.query(
            "SELECT opportunity_id, kind, stage, CAST(closed_on AS VARCHAR), CAST(arr AS VARCHAR), customer_id "
            "FROM opportunities")}
    assert rows["0065g00000XyZaAAAR"] == ("new", "won", "2024-02-20", "59880.00", "0015g00000AbCdEAA1")
    assert rows["0065g00000XyZbBAAR"][:3] == ("expansion", "open", None)
    assert rows["0065g00000XyZcCAAR"][:2] == ("renewal", "lost")
    assert rows["0065g00000XyZdDAAR"][4] is None


def test_mapping_reports_unknown_lookup_names_with_a_suggestion(wh, tmp_path):
    text = (SAMPLES / "quickbooks_general_ledger.csv").read_text().replace(",Marketing,", ",Marketting,", 1)
    p = tmp_path / "qb.csv"
    p.write_text(text)
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", p, mapping=load_mapping("quickbooks_gl"))
    [prob] = ei.value.problems
    assert prob["rule"] == "lookup" and prob["line"] == 2 and "did you mean 'Marketing'" in prob["message"]
    assert prob["column"] == "Class -> department_id"


def test_mapping_source_column_missing_names_the_mapping_and_suggests(wh, tmp_path):
    text = (SAMPLES / "salesforce_opportunities.csv").read_text().replace('"Stage"', '"Stage Name"', 1)
    p = tmp_path / "sf.csv"
    p.write_text(text)
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "opportunities", p, mapping=load_mapping("salesforce_opportunities"))
    [prob] = ei.value.problems
    assert prob["rule"] == "missing_column" and "did you mean 'Stage Name'" in prob["message"]


def test_accounting_and_cents_amount_styles(duck_wh, tmp_path):
    m = parse_mapping({"table": "invoices", "columns": {
        "amount": {"from": "Total", "amount": "accounting"}, "issued_on": {"from": "Date", "format": "%m/%d/%Y"}},
        "constants": {"currency": "USD", "status": "paid", "service_start": "2024-01-01",
                      "service_end": "2024-01-31", "customer_id": "cus_PQr1A2b3C4d5E6"}}, name="t")
    p = tmp_path / "acc.csv"
    p.write_text('invoice_id,Total,Date,kind\n'
                 'a,"$1,234.50",01/31/2024,\nb,(12.00),02/01/2024,credit_note\n'
                 'c,"-$5.25",02/02/2024,credit_note\nd,USD 7.00,02/03/2024,invoice\n')
    ingest_file(duck_wh, "invoices", p, mapping=m)
    with duck_wh.connect(read_only=True) as conn:
        got = conn.query("SELECT invoice_id, CAST(amount AS VARCHAR) FROM invoices ORDER BY 1")
    assert got == [("a", "1234.50"), ("b", "-12.00"), ("c", "-5.25"), ("d", "7.00")]


def test_mapping_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown option"):
        parse_mapping({"columns": {"amount": {"from": "x", "fromat": "y"}}})
    with pytest.raises(ConfigError, match="not found; shipped mappings: .*stripe_invoices"):
        load_mapping("no_such_mapping")


def test_quickbooks_sample_posts_to_the_same_accounts_in_the_demo_chart(duckdb_url):
    """A new user loads the sample into the demo warehouse: each line lands on the account
    its export names (the sample's account numbers follow the demo chart of accounts)."""
    import csv

    from finlib.demo import generate
    from finlib.warehouse.db import get_warehouse

    wh = get_warehouse()
    generate(wh, "small", 7, "2024-06")
    ingest_file(wh, "gl_entries", SAMPLES / "quickbooks_general_ledger.csv",
                mapping=load_mapping("quickbooks_gl"))
    with wh.connect(read_only=True) as conn:
        names = dict(conn.query("SELECT account_id, lower(name) FROM accounts"))
        depts = dict(conn.query("SELECT department_id, name FROM departments"))
        loaded = {r[0]: r[1:] for r in conn.query(
            "SELECT entry_id, account_id, department_id FROM gl_entries WHERE source_system = 'quickbooks'")}
    with open(SAMPLES / "quickbooks_general_ledger.csv", newline="") as f:
        for row in csv.DictReader(f):
            number, label = row["Account"].split(" ", 1)
            account_id, department_id = loaded[row["Txn ID"]]
            assert account_id == number
            assert names[account_id].startswith(label.lower()), (row["Txn ID"], label, names[account_id])
            assert depts[department_id] == row["Class"]
