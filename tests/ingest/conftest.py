"""Fixtures for ingestion tests: a real warehouse with the reference rows files point at."""

from __future__ import annotations

import pytest

from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch

GL_HEADER = ("entry_id,posted_at,period,account_id,department_id,amount,currency,feature_id,"
             "campaign_id,vendor,memo,source_system,created_by,approved_by,is_manual")


def gl_line(i: int, *, period="2024-01-01", account="6100", dept="d-mkt", amount="100.00") -> str:
    return (f"e{i},2024-01-05 10:00:00,{period},{account},{dept},{amount},USD,,,Vendor {i},"
            f"memo {i},test,ana,,false")


def gl_csv(n: int = 5, start: int = 1, **kw) -> str:
    return GL_HEADER + "\n" + "\n".join(gl_line(i, **kw) for i in range(start, start + n)) + "\n"


def seed(wh) -> None:
    """Departments (ids != names), accounts numbered like QuickBooks, a few customers."""
    init_db(wh)
    with write_batch(wh, action="seed", target="reference") as b:
        for did, name in [("d-sales", "Sales"), ("d-mkt", "Marketing"), ("d-prod", "Product"),
                          ("d-cs", "Customer Success"), ("d-ga", "G&A")]:
            b.execute("INSERT INTO departments VALUES (:i, :n)", {"i": did, "n": name})
        for aid, name, typ, cat in [("4000", "Subscription revenue", "revenue", "subscription"),
                                    ("6000", "Salaries", "opex", "salaries"),
                                    ("6100", "Software", "opex", "software"),
                                    ("6200", "Advertising", "opex", "advertising"),
                                    ("6300", "Contractors", "opex", "contractors")]:
            b.execute("INSERT INTO accounts VALUES (:i, :n, :t, :c)", {"i": aid, "n": name, "t": typ, "c": cat})
        for cid, name in [("cus_PQr1A2b3C4d5E6", "Acme"), ("cus_QRs2B3c4D5e6F7", "Globex"),
                          ("0015g00000AbCdEAA1", "Acme Corp"), ("0015g00000FgHiJAA2", "Globex SF")]:
            b.execute("INSERT INTO customers VALUES (:i, :n, 'SMB', 'EMEA', 'Software', "
                      "DATE '2023-01-01', 'paid_search', NULL, 'pooled', NULL)", {"i": cid, "n": name})
        b.execute("INSERT INTO products VALUES ('p1', 'Platform', DATE '2022-01-01')")
        for sid, cid in [("sub_1OaBcD2eZvKYlo2Cx1y2z3", "cus_PQr1A2b3C4d5E6"),
                         ("sub_1OcDeF2eZvKYlo2Cy2z3a4", "cus_QRs2B3c4D5e6F7")]:
            b.execute("INSERT INTO subscriptions VALUES (:s, :c, 'p1', DATE '2024-01-01', NULL, 499, "
                      "'USD', 'monthly')", {"s": sid, "c": cid})


@pytest.fixture
def wh(any_db_url):
    w = get_warehouse()
    seed(w)
    return w


@pytest.fixture
def duck_wh(duckdb_url):
    w = get_warehouse()
    seed(w)
    return w
