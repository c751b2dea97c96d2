"""Row-level security on a real PostgreSQL server: a kernel connected as the role of
Marketing reads Marketing's rows only, writes nothing, reads no user table, and cannot
escape by changing a setting or its role."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest

from finlib.access import pg
from finlib.cli import main
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import DEPARTMENTS

pytestmark = pytest.mark.postgres

IDS = {d: f"D{10 * (i + 1)}" for i, d in enumerate(DEPARTMENTS)}


def load_ledger(wh) -> None:
    with write_batch(wh, action="test-data", target="gl_entries") as b:
        b.append("departments", pd.DataFrame({"department_id": list(IDS.values()), "name": list(IDS)}))
        b.append("accounts", pd.DataFrame({"account_id": ["6000"], "name": ["Ads"], "account_type": ["opex"],
                                           "category": ["advertising"]}))
        rows = [(f"E{d}{i}", dept_id, 10.0 * (i + 1)) for d, dept_id in IDS.items() for i in range(3)]
        b.append("gl_entries", pd.DataFrame({
            "entry_id": [r[0] for r in rows], "posted_at": pd.Timestamp("2026-02-10"),
            "period": pd.Timestamp("2026-02-01").date(), "account_id": "6000",
            "department_id": [r[1] for r in rows], "amount": [r[2] for r in rows],
            "currency": "USD", "is_manual": False}))
        b.append("budgets", pd.DataFrame({"period": pd.Timestamp("2026-02-01").date(),
                                          "department_id": list(IDS.values()), "account_id": "6000",
                                          "amount": 1000.0}))
        b.execute("INSERT INTO users (user_name, role, password_hash, disabled, session_version, created_at, "
                  "updated_at) VALUES ('root', 'admin', '$argon2id$secret-hash', FALSE, 1, now(), now())")


ROLE_PASSWORD = "test-only-role-password"


def dsn_as(url: str, role: str) -> str:
    """The warehouse DSN with the login role ``role`` (its password set by :func:`login_roles`)."""
    dsn = get_warehouse(url).dsn
    user = dsn.split("//", 1)[1].split("@", 1)[0]
    return dsn.replace(f"//{user}@", f"//{role}:{ROLE_PASSWORD}@", 1)


def login_roles(url: str, prefix: str = "finlib") -> None:
    """Give the login roles a password (pg-setup leaves that to the operator), so the test
    also runs against a server that asks for one (FINLIB_TEST_PG_URL)."""
    with psycopg.connect(get_warehouse(url).dsn, autocommit=True) as c:
        for d in (None, *DEPARTMENTS):
            c.execute(f"ALTER ROLE {pg.login_role(d, prefix)} PASSWORD '{ROLE_PASSWORD}'")


@pytest.fixture
def secured(postgres_url):
    wh = get_warehouse(postgres_url)
    init_db(wh)
    load_ledger(wh)
    assert main(["access", "pg-setup", "--apply"]) == 0
    assert main(["access", "pg-setup", "--apply"]) == 0  # idempotent
    login_roles(postgres_url)
    return postgres_url


def test_the_rls_tables_are_every_table_with_a_department(postgres_url):
    assert pg.rls_tables() == ["gl_entries", "budgets"]
    assert "users" not in pg.readable_tables() and "api_tokens" not in pg.readable_tables()


def test_a_marketing_kernel_sees_marketing_rows_only(secured):
    with psycopg.connect(dsn_as(secured, pg.login_role("Marketing")), autocommit=True) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "finlib_dash_marketing"
        assert c.execute("SELECT DISTINCT department_id FROM gl_entries").fetchall() == [(IDS["Marketing"],)]
        assert c.execute("SELECT count(*), sum(amount) FROM gl_entries").fetchone() == (3, 60)
        assert c.execute("SELECT DISTINCT department_id FROM budgets").fetchall() == [(IDS["Marketing"],)]
        # a join through another table does not widen it
        n = c.execute("SELECT count(*) FROM gl_entries g JOIN departments d USING (department_id) "
                      "WHERE d.name = 'Sales'").fetchone()[0]
        assert n == 0
        # company-wide tables stay readable (documented limit)
        assert c.execute("SELECT count(*) FROM departments").fetchone()[0] == len(DEPARTMENTS)


def test_an_unrestricted_kernel_sees_every_row_and_the_owner_still_writes(secured):
    with psycopg.connect(dsn_as(secured, pg.login_role(None)), autocommit=True) as c:
        assert c.execute("SELECT count(DISTINCT department_id) FROM gl_entries").fetchone()[0] == len(DEPARTMENTS)
    wh = get_warehouse(secured)
    with write_batch(wh, action="test-data", target="gl_entries") as b:
        b.delete("gl_entries", "entry_id = :e", {"e": "EMarketing0"})
    with wh.connect(read_only=True) as conn:  # the owner is not filtered
        assert conn.scalar("SELECT count(*) FROM gl_entries") == 3 * len(DEPARTMENTS) - 1


@pytest.mark.parametrize("statement", [
    "INSERT INTO gl_entries (entry_id, posted_at, period, account_id, department_id, amount, currency, is_manual) "
    "VALUES ('X', now(), DATE '2026-02-01', '6000', 'D20', 1, 'USD', FALSE)",
    "UPDATE gl_entries SET amount = 0",
    "DELETE FROM gl_entries",
    "DELETE FROM budgets",
    "TRUNCATE gl_entries",
    "ALTER TABLE gl_entries DISABLE ROW LEVEL SECURITY",
    "DROP POLICY finlib_department_scope ON gl_entries",
    "SELECT * FROM users",
    "SELECT * FROM api_tokens",
    "SELECT * FROM login_attempts",
    "SELECT * FROM user_departments",
    "SELECT * FROM audit_log",
    "CREATE TABLE escape AS SELECT 1",
    "SET ROLE finlib_dash_sales",
    "SET ROLE finlib_dash_all",
    "SET ROLE finlib_all_departments",
    "SET ROLE finlib_dept_sales",
    "SET SESSION AUTHORIZATION finlib",
    "GRANT finlib_dept_sales TO finlib_dash_marketing",
])
def test_a_marketing_kernel_cannot_write_or_escape(secured, statement):
    with psycopg.connect(dsn_as(secured, pg.login_role("Marketing")), autocommit=True) as c:
        with pytest.raises(psycopg.Error):
            c.execute(statement)
        assert c.execute("SELECT DISTINCT department_id FROM gl_entries").fetchall() == [(IDS["Marketing"],)]
    with get_warehouse(secured).connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM gl_entries") == 3 * len(DEPARTMENTS)


def test_a_setting_or_a_role_it_holds_does_not_widen_the_scope(secured):
    with psycopg.connect(dsn_as(secured, pg.login_role("Marketing")), autocommit=True) as c:
        c.execute("SET finlib.departments = 'Sales,Marketing,Product,Customer Success,G&A'")
        c.execute("SELECT set_config('finlib.departments', 'Sales', false)")
        assert c.execute("SELECT DISTINCT department_id FROM gl_entries").fetchall() == [(IDS["Marketing"],)]
        c.execute("SET ROLE finlib_reader")  # a role it holds: no department at all
        assert c.execute("SELECT count(*) FROM gl_entries").fetchone()[0] == 0
        c.execute("SET ROLE finlib_dept_marketing")  # the marker alone may read nothing
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT count(*) FROM gl_entries")
        c.execute("RESET ROLE")
        assert c.execute("SELECT count(*) FROM gl_entries").fetchone()[0] == 3


def test_the_printed_script_is_what_apply_runs(pg_server, postgres_url, capsys):
    wh = get_warehouse(postgres_url)
    init_db(wh)
    load_ledger(wh)
    assert main(["access", "pg-setup", "--prefix", "acme"]) == 0
    script = capsys.readouterr().out
    assert script.count("CREATE POLICY acme_department_scope") == 2 and "finlib_" not in script
    with psycopg.connect(wh.dsn, autocommit=True) as c:
        c.execute(script)
    login_roles(postgres_url, "acme")
    with psycopg.connect(dsn_as(postgres_url, "acme_dash_g_a"), autocommit=True) as c:
        assert c.execute("SELECT DISTINCT department_id FROM budgets").fetchall() == [(IDS["G&A"],)]


def test_pg_setup_refuses_duckdb(duckdb_url, capsys):
    init_db(get_warehouse(duckdb_url))
    assert main(["access", "pg-setup", "--apply"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err
