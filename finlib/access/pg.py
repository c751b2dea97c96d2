"""Row-level security on PostgreSQL: the roles dashboard kernels connect as.

Design (docs/ACCESS.md, "PostgreSQL: roles and row-level security"): the department scope
is carried by **role membership**, not by a session setting. Any client can ``SET`` a
custom setting such as ``finlib.departments`` (PostgreSQL has no way to forbid it, and a
``SECURITY DEFINER`` function that sets it does not stop the client from setting it again),
so a policy keyed on a setting holds only while the kernel cannot run SQL of its choosing.
Membership of a role cannot be changed by its members, so a kernel that connects as the
login role of Marketing sees Marketing's rows whatever SQL it runs.

:func:`setup_sql` creates (idempotently; ``PREFIX`` = ``finlib`` by default):

* ``<prefix>_reader`` (NOLOGIN): ``SELECT`` on the canonical tables and the system tables a
  dashboard reads (:data:`READABLE_SYSTEM_TABLES`), nothing else: no write, no users,
  tokens, login attempts or logs;
* ``<prefix>_dept_<department>`` (NOLOGIN), one per department, and
  ``<prefix>_all_departments`` (NOLOGIN): markers of scope;
* the login roles kernels connect as: ``<prefix>_dash_<department>`` (member of the reader
  and of that department) and ``<prefix>_dash_all`` (reader and every department);
  they get no password here: set one (``ALTER ROLE ... PASSWORD``) or authenticate them by
  certificate in ``pg_hba.conf``;
* on every table with a ``department_id`` column (:func:`rls_tables`), row-level security
  with the policy ``<prefix>_department_scope``: a row is visible when the connected role
  is a member of ``<prefix>_all_departments`` or of the role of the row's department.
"""

from __future__ import annotations

import re

from finlib.errors import ConfigError
from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import CANONICAL_TABLES, DEPARTMENTS, TABLES

PREFIX = "finlib"
#: system tables a dashboard kernel reads; every other system table stays unreadable
READABLE_SYSTEM_TABLES = ("alerts", "alert_deliveries", "runs", "warehouse_meta", "ingest_batches")
POLICY = "department_scope"


def _check_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", prefix):
        raise ValueError(f"not a role prefix: {prefix!r} (lower-case letters, digits, _)")
    return prefix


def slug(department: str) -> str:
    """``customer_success`` for ``Customer Success``, ``g_a`` for ``G&A``."""
    return re.sub(r"[^a-z0-9]+", "_", department.lower()).strip("_")


def reader_role(prefix: str = PREFIX) -> str:
    return f"{_check_prefix(prefix)}_reader"


def all_departments_role(prefix: str = PREFIX) -> str:
    return f"{_check_prefix(prefix)}_all_departments"


def department_role(department: str, prefix: str = PREFIX) -> str:
    if department not in DEPARTMENTS:
        raise ValueError(f"no department {department!r}")
    return f"{_check_prefix(prefix)}_dept_{slug(department)}"


def login_role(department: str | None, prefix: str = PREFIX) -> str:
    """The role a kernel of ``department`` connects as (``None``: every department)."""
    if department is None:
        return f"{_check_prefix(prefix)}_dash_all"
    department_role(department, prefix)
    return f"{prefix}_dash_{slug(department)}"


def rls_tables() -> list[str]:
    """Every table of the schema whose ``department_id`` refers to a department (not
    ``departments`` itself: the policy reads it, and department names are not figures)."""
    return [name for name, t in TABLES.items()
            if any(c.name == "department_id" and c.references == "departments.department_id"
                   for c in t.columns)]


def readable_tables() -> list[str]:
    return [*CANONICAL_TABLES, *(t for t in READABLE_SYSTEM_TABLES if t in TABLES)]


def _create_role(name: str, login: bool) -> str:
    return (f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN "
            f"CREATE ROLE {name} {'LOGIN' if login else 'NOLOGIN'} NOSUPERUSER NOCREATEDB NOCREATEROLE "
            f"NOREPLICATION NOBYPASSRLS; END IF; END $$")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def policy_condition(prefix: str = PREFIX) -> str:
    """The ``USING`` condition of the department policy."""
    cases = " ".join(f"WHEN {_quote(d)} THEN {_quote(department_role(d, prefix))}" for d in DEPARTMENTS)
    return (f"pg_has_role(current_user, {_quote(all_departments_role(prefix))}, 'USAGE') "
            f"OR department_id IN (SELECT d.department_id FROM departments d "
            f"WHERE pg_has_role(current_user, CASE d.name {cases} END, 'USAGE'))")


def setup_sql(prefix: str = PREFIX) -> list[str]:
    """The statements of ``finlib access pg-setup``, in order (idempotent)."""
    reader, every = reader_role(prefix), all_departments_role(prefix)
    stmts = [_create_role(reader, False), _create_role(every, False)]
    stmts += [_create_role(department_role(d, prefix), False) for d in DEPARTMENTS]
    stmts += [_create_role(login_role(None, prefix), True),
              f"GRANT {reader}, {every} TO {login_role(None, prefix)}"]
    for d in DEPARTMENTS:
        stmts += [_create_role(login_role(d, prefix), True),
                  f"GRANT {reader}, {department_role(d, prefix)} TO {login_role(d, prefix)}"]
    stmts += [f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO {reader}', current_schema()); END $$",
              f"DO $$ BEGIN EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM {reader}', "
              "current_schema()); END $$"]
    stmts += [f"GRANT SELECT ON {t} TO {reader}" for t in readable_tables()]
    cond = policy_condition(prefix)
    for t in rls_tables():
        stmts += [f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY",
                  f"DROP POLICY IF EXISTS {prefix}_{POLICY} ON {t}",
                  f"CREATE POLICY {prefix}_{POLICY} ON {t} FOR SELECT TO {reader} USING ({cond})"]
    return stmts


def setup_script(prefix: str = PREFIX) -> str:
    """:func:`setup_sql` as one script (what ``finlib access pg-setup`` prints)."""
    head = ("-- finlib: read-only dashboard roles and row-level security by department.\n"
            "-- Run as the owner of the warehouse tables (a superuser or a role with CREATEROLE).\n")
    return head + "BEGIN;\n" + ";\n".join(setup_sql(prefix)) + ";\nCOMMIT;\n"


def apply_setup(wh: Warehouse, prefix: str = PREFIX) -> list[str]:
    """Run :func:`setup_sql` on the PostgreSQL warehouse ``wh`` in one write batch."""
    if wh.backend != "postgresql":
        raise ConfigError("row-level security needs a PostgreSQL warehouse; on DuckDB the kernels "
                         "open the file read-only and the data functions take the user's scope")
    stmts = setup_sql(prefix)
    with write_batch(wh, action="access-pg-setup", target="roles",
                     details={"prefix": prefix, "tables": rls_tables()}) as b:
        for s in stmts:
            b.conn.execute(s)
    return stmts
