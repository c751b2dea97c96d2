"""The one policy: the role table as documented, dashboards, reports, actions and the data
scope (the SQL filter on a real DuckDB file and a real PostgreSQL database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from finlib.access import policy
from finlib.access.policy import (
    ACTIONS,
    User,
    can,
    can_open_dashboard,
    can_open_report,
    department_filter,
    departments_in_scope,
    scoped_departments,
)
from finlib.errors import AccessDenied
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import DEPARTMENTS, ROLES

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))

ADMIN, EXEC, CTRL, ANALYST, AUDITOR = (User(r, r) for r in ("admin", "executive", "controller", "analyst", "auditor"))
MKT = User("ana", "department_head", ("Marketing",))
PRODUCT = User("paula", "department_head", ("Product",))
CS_AND_SALES = User("carl", "department_head", ("Sales", "Customer Success"))


def test_the_documented_role_table_is_the_code():
    text = (ROOT / "docs" / "ACCESS.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- role-table:start -->\n(.*?)\n<!-- role-table:end -->", text, re.S)
    assert block, "docs/ACCESS.md lost its role-table markers"
    assert block.group(1) == policy.role_table_markdown()
    assert tuple(policy.ROLE_TABLE) == ROLES


def test_the_dashboards_the_table_names_exist():
    assert {"department", "product_roi", "retention_roi"} <= set(DASHBOARDS)


@pytest.mark.parametrize("user", [ADMIN, EXEC, CTRL, ANALYST])
def test_unrestricted_roles_open_every_dashboard_for_every_department(user):
    for nb in DASHBOARDS:
        d = can_open_dashboard(user, f"{nb}.ipynb", {})
        assert d.allowed and d.departments == DEPARTMENTS, (user.role, nb)
    for dept in [*DEPARTMENTS, "all"]:
        assert can_open_dashboard(user, "department", {"department": dept})


def test_the_auditor_opens_reports_but_no_live_dashboard():
    assert not any(can_open_dashboard(AUDITOR, nb, {}) for nb in DASHBOARDS)
    assert can_open_report(AUDITOR, {"notebook": "notebooks/department.ipynb",
                                      "parameters": {"department": "Sales"}})
    assert can_open_report(AUDITOR, {"notebook": "notebooks/executive.ipynb", "parameters": {}})


def test_a_department_head_opens_exactly_their_dashboards():
    allowed = {nb for nb in DASHBOARDS if can_open_dashboard(MKT, nb, {})}
    assert allowed == {"department"}
    assert {nb for nb in DASHBOARDS if can_open_dashboard(PRODUCT, nb, {})} == {"department", "product_roi"}
    assert {nb for nb in DASHBOARDS if can_open_dashboard(CS_AND_SALES, nb, {})} == {"department", "retention_roi"}
    d = can_open_dashboard(MKT, "notebooks/department.ipynb", {"department": "Marketing"})
    assert d.allowed and d.departments == ("Marketing",)
    assert can_open_dashboard(CS_AND_SALES, "department", {}).departments == ("Sales", "Customer Success")


@pytest.mark.parametrize("params", [
    {"department": "Sales"},                 # another department (edited URL)
    {"department": ["Marketing", "Sales"]},  # a repeated parameter smuggling a second one
    {"department": "all"},                   # every department
    {"department": "Legal"},                 # unknown
    {"department": "marketing"},             # not the exact name
])
def test_a_department_head_cannot_ask_for_another_scope(params):
    d = can_open_dashboard(MKT, "department.ipynb", params)
    assert not d.allowed
    assert "ana" in d.reason or "no department" in d.reason
    with pytest.raises(AccessDenied):
        d.check()
    # nor through a dashboard they may open without a department parameter
    assert not can_open_dashboard(PRODUCT, "product_roi", {"department": "Sales"})


@pytest.mark.parametrize("notebook", ["../department.ipynb", "notebooks/../department.ipynb",
                                      "/etc/passwd", "x/department.ipynb", "department.ipynb/../../x",
                                      "Department.ipynb", "", None, "depart ment", "%2e%2e/department"])
def test_odd_notebook_paths_are_refused_for_every_role(notebook):
    for user in (ADMIN, EXEC, MKT):
        assert not can_open_dashboard(user, notebook, {})


def test_disabled_and_unknown_roles_may_do_nothing():
    for user in (User("x", "admin", disabled=True), User("y", "wizard")):
        assert not can_open_dashboard(user, "department", {"department": "Sales"})
        assert not can_open_report(user, {"notebook": "notebooks/executive.ipynb"})
        assert not any(can(user, a) for a in ACTIONS)
        assert departments_in_scope(user) == ()
        with pytest.raises(AccessDenied):
            scoped_departments(user, None)


def manifest(notebook, **params):
    return {"schema": "finlib.run-manifest/1", "job": Path(notebook).stem, "notebook": f"notebooks/{notebook}.ipynb",
            "parameters": {"period": "2026-02-01", **params}, "variant": {}}


def test_reports_follow_the_same_rules():
    assert can_open_report(MKT, manifest("department", department="Marketing"))
    assert not can_open_report(MKT, manifest("department", department="Sales"))
    assert not can_open_report(MKT, manifest("department"))  # names no department
    assert not can_open_report(MKT, manifest("budget_variance", department="all"))
    assert not can_open_report(MKT, manifest("budget_variance", department="Marketing"))
    assert not can_open_report(MKT, manifest("executive"))
    assert can_open_report(PRODUCT, manifest("product_roi"))
    assert not can_open_report(MKT, manifest("product_roi"))
    assert can_open_report(CS_AND_SALES, manifest("retention_roi"))
    # the department of a matrix run is in its variant too: a disagreement is refused
    m = manifest("department", department="Marketing")
    m["variant"] = {"department": "Sales"}
    m["parameters"].pop("department")
    assert not can_open_report(MKT, m)
    m = manifest("department", department="Marketing")
    m["variant"] = {"department": "Sales"}
    assert not can_open_report(MKT, m)  # parameters and variant disagree
    m["variant"] = {"department": "Marketing"}
    assert can_open_report(MKT, m)
    assert not can_open_report(MKT, dict(m, parameters=["department", "Marketing"]))
    assert not can_open_report(MKT, {"notebook": "../notebooks/department.ipynb",
                                     "parameters": {"department": "Marketing"}})
    assert not can_open_report(MKT, "not a manifest")
    for user in (ADMIN, EXEC, CTRL, ANALYST, AUDITOR):
        assert can_open_report(user, manifest("department", department="Sales"))


def test_actions_follow_the_role_table():
    expected = {
        "admin": set(ACTIONS),
        "executive": set(),
        "controller": {"period_close", "period_reopen", "governance"},
        "analyst": {"jupyterlab"},
        "department_head": set(),
        "auditor": {"governance", "audit_read"},
    }
    for role, actions in expected.items():
        user = User("u", role, ("Sales",) if role == "department_head" else ())
        assert {a for a in ACTIONS if can(user, a)} == actions, role
    assert not can(ADMIN, "drop_tables")


def test_an_auditor_is_read_only_whatever_the_table_says(monkeypatch):
    for action in ("period_close", "period_reopen", "user_admin", "jupyterlab"):
        d = can(AUDITOR, action)
        assert not d.allowed and "aud" in d.reason
    # even if somebody grants the auditor a write action in the table
    role = policy.ROLE_TABLE["auditor"]
    monkeypatch.setitem(policy.ROLE_TABLE, "auditor",
                        policy.Role(role.name, role.summary, all_reports=True, read_only=True,
                                    actions=role.actions | {"period_close"}))
    d = can(AUDITOR, "period_close")
    assert not d.allowed and "read-only" in d.reason
    with pytest.raises(AccessDenied):
        policy.require(AUDITOR, "period_close")


def test_scoped_departments():
    assert scoped_departments(EXEC, "all") == DEPARTMENTS
    assert scoped_departments(EXEC, None) == DEPARTMENTS
    assert scoped_departments(EXEC, ["Sales", "Marketing"]) == ("Sales", "Marketing")
    assert scoped_departments(MKT, None) == ("Marketing",)
    assert scoped_departments(MKT, "Marketing") == ("Marketing",)
    assert scoped_departments(CS_AND_SALES, ["Customer Success", "Sales"]) == ("Sales", "Customer Success")
    for asked in ("Sales", ["Marketing", "Sales"], "all", "Legal", [], ["Marketing", "G&A"]):
        with pytest.raises(AccessDenied):
            scoped_departments(MKT, asked)
    with pytest.raises(TypeError):
        scoped_departments(MKT)  # the scope is a required argument


def test_department_filter_reads_only_the_scope(any_db_url):
    wh = get_warehouse(any_db_url)
    init_db(wh)
    import pandas as pd

    ids = {d: f"D{10 * (i + 1)}" for i, d in enumerate(DEPARTMENTS)}
    with write_batch(wh, action="test-data", target="gl_entries") as b:
        b.append("departments", pd.DataFrame({"department_id": list(ids.values()), "name": list(ids)}))
        b.append("accounts", pd.DataFrame({"account_id": ["6000"], "name": ["Ads"], "account_type": ["opex"],
                                           "category": ["advertising"]}))
        b.append("gl_entries", pd.DataFrame({
            "entry_id": [f"E{i}" for i in range(len(ids))], "posted_at": pd.Timestamp("2026-02-10"),
            "period": pd.Timestamp("2026-02-01").date(), "account_id": "6000",
            "department_id": list(ids.values()), "amount": [100.0 * (i + 1) for i in range(len(ids))],
            "currency": "USD", "is_manual": False}))
    where, params = department_filter(MKT, "Marketing")
    with wh.connect(read_only=True) as conn:
        rows = conn.query(f"SELECT department_id, CAST(amount AS DOUBLE PRECISION) FROM gl_entries WHERE {where}",
                          params)
        assert rows == [(ids["Marketing"], 200.0)]
        where, params = department_filter(CS_AND_SALES, None)
        got = conn.query(f"SELECT department_id FROM gl_entries WHERE {where} ORDER BY department_id", params)
        assert [r[0] for r in got] == [ids["Sales"], ids["Customer Success"]]
        where, params = department_filter(EXEC, "all")
        assert conn.scalar(f"SELECT count(*) FROM gl_entries WHERE {where}", params) == len(DEPARTMENTS)
    with pytest.raises(AccessDenied):
        department_filter(MKT, "Sales")
    with pytest.raises(ValueError):
        department_filter(EXEC, "all", column="1; DROP TABLE users")
