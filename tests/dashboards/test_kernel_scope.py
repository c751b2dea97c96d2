"""Dashboard kernels read the data only within their viewer's scope.

* The kernel environment (:func:`finlib.dashboards.server.kernel_environment`): no owner
  connection, no ``PG*`` secret of the server, read-only connections; on PostgreSQL only
  the dashboard template, and a pre-grant role that cannot log in.
* The server refuses to start on PostgreSQL without a dashboard connection.
* A warehouse opened with the kernel's environment cannot write (a real DuckDB file).
* One real Voilà server over a real PostgreSQL server (password authentication for the
  dashboard roles): the Sales head's kernel reads as ``finlib_dash_sales``, sees Sales'
  ledger only, cannot write, read nothing before the grant, and its process environment
  holds no owner URL or password; an executive's kernel reads as ``finlib_dash_all``.
"""

from __future__ import annotations

import html
import json
import os
import re
import urllib.error
import urllib.request

import pandas as pd
import psycopg
import pytest

from finlib.access import pg
from finlib.dashboards import server as srv_mod
from finlib.dashboards.query import DB_TEMPLATE_ENV
from finlib.errors import ConfigError, WarehouseError
from finlib.warehouse.create import init_db
from finlib.warehouse.db import READ_ONLY_ENV, get_warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import DEPARTMENTS
from tests.dashboards import logins

OWNER_SECRET = "owner-secret-sentinel-7f3a"
ROLE_PASSWORD = "dash-role-password-5c1e"
IDS = {d: f"D{10 * (i + 1)}" for i, d in enumerate(DEPARTMENTS)}
#: each department's ledger total, distinct, so a figure in a page names its department
TOTALS = {d: 1000.0 * (i + 1) + 123.45 * (i + 1) for i, d in enumerate(DEPARTMENTS)}


# -- the environment a kernel gets -------------------------------------------------------------


def test_a_duckdb_kernel_gets_the_file_read_only_and_no_postgres_secret(tmp_path):
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    env = srv_mod.kernel_environment({"FINLIB_DB_URL": url, "PGPASSWORD": OWNER_SECRET, "FINLIB_DB_KEY": "k" * 32,
                                      "PGSSLKEY": "/owner/key.pem", "HOME": "/home/x"})
    assert env["FINLIB_DB_URL"] == url and env[READ_ONLY_ENV] == "1"
    assert env["FINLIB_DB_KEY"] == "k" * 32  # an encrypted file cannot be read without it
    assert not any(k.startswith("PG") for k in env) and env["HOME"] == "/home/x"


def test_no_other_secret_of_the_server_reaches_a_kernel(tmp_path):
    """Keys, tokens, passwords and webhook URLs of the server stay out of every kernel; the
    session key (grants) and the database key (an encrypted file) are the two it needs."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    secrets = {n: f"sentinel-{i}-{n}" for i, n in enumerate((
        "FINLIB_ARCHIVE_KEY", "FINLIB_AUDIT_KEY", "FINLIB_DB_NEW_KEY", "FINLIB_STRIPE_WEBHOOK_SECRET",
        "FINLIB_SMTP_PASSWORD", "FINLIB_ALERT_WEBHOOK_URL", "FINLIB_WEBHOOK_SIGNING_SECRET", "SLACK_TOKEN",
        "AWS_SECRET_ACCESS_KEY", "SENTRY_DSN", "GITHUB_TOKEN", "TLS_PRIVATE_PEM"))}
    env = srv_mod.kernel_environment({"FINLIB_DB_URL": url, "FINLIB_SESSION_KEY": "s" * 32,
                                      "FINLIB_DB_KEY": "k" * 32, "HOME": "/home/x", **secrets})
    assert not set(secrets) & set(env)
    assert not any(v in json.dumps(env) for v in secrets.values())
    assert env["FINLIB_SESSION_KEY"] == "s" * 32 and env["FINLIB_DB_KEY"] == "k" * 32 and env["HOME"] == "/home/x"


def test_a_postgres_kernel_gets_the_template_and_no_owner_credential(tmp_path):
    passfile = tmp_path / "dash.pgpass"
    passfile.write_text("*:*:*:finlib_dash_sales:x\n")
    passfile.chmod(0o600)
    owner = f"postgresql+psycopg://finlib:{OWNER_SECRET}@db:5432/fin"
    env = srv_mod.kernel_environment({
        "FINLIB_DB_URL": owner, "PGPASSWORD": OWNER_SECRET, "PGPASSFILE": "/owner/.pgpass",
        "DATABASE_URL": owner, "FINLIB_DB_KEY": "k" * 32,
        DB_TEMPLATE_ENV: "postgresql://{role}@db:5432/fin?sslmode=require",
        srv_mod.DB_PASSFILE_ENV: str(passfile)})
    assert OWNER_SECRET not in json.dumps(env) and "finlib@" not in json.dumps(env)
    assert env["FINLIB_DB_URL"] == "postgresql://finlib_reader@db:5432/fin?sslmode=require"  # NOLOGIN
    assert env["PGPASSFILE"] == str(passfile) and env[READ_ONLY_ENV] == "1"
    assert "FINLIB_DB_KEY" not in env and "DATABASE_URL" not in env
    assert env[DB_TEMPLATE_ENV].startswith("postgresql://{role}@")


@pytest.mark.parametrize("template, message", [
    (None, "must not read it with the owner's connection"),
    ("postgresql://finlib:pw@db/fin", "name the user as {role}"),
    ("postgresql://{role}:pw@db/fin", "name the user as {role}"),
    ("duckdb:///x", "must be a postgresql:// URL"),
])
def test_the_server_refuses_postgres_without_a_dashboard_connection(monkeypatch, tmp_path, template, message):
    monkeypatch.setenv("FINLIB_DB_URL", f"postgresql+psycopg://finlib:{OWNER_SECRET}@db:5432/fin")
    if template is None:
        monkeypatch.delenv(DB_TEMPLATE_ENV, raising=False)
    else:
        monkeypatch.setenv(DB_TEMPLATE_ENV, template)
    opts = srv_mod.ServeOptions(notebooks=tmp_path)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        opts.check()
    assert OWNER_SECRET not in str(err.value) and ":pw@" not in str(err.value)
    with pytest.raises(ConfigError, match="127.0.0.1 only"):
        srv_mod.ServeOptions(notebooks=tmp_path, ip="0.0.0.0", unsafe_owner_db=True).check()
    srv_mod.ServeOptions(notebooks=tmp_path, unsafe_owner_db=True).check()  # loud, loopback only


def test_the_cli_says_why_it_will_not_serve(monkeypatch, tmp_path, capsys):
    from finlib.dashboards.cli import main

    monkeypatch.setenv("FINLIB_DB_URL", f"postgresql+psycopg://finlib:{OWNER_SECRET}@db:5432/fin")
    monkeypatch.delenv(DB_TEMPLATE_ENV, raising=False)
    code = main(["serve", "--notebooks", str(tmp_path), "--port", "1"])
    err = capsys.readouterr().err
    assert code != 0 and DB_TEMPLATE_ENV in err and "Traceback" not in err and OWNER_SECRET not in err


def test_a_group_readable_passfile_is_refused(monkeypatch, tmp_path):
    passfile = tmp_path / "dash.pgpass"
    passfile.write_text("*:*:*:finlib_dash_sales:x\n")
    passfile.chmod(0o640)
    monkeypatch.setenv("FINLIB_DB_URL", "postgresql+psycopg://finlib@db:5432/fin")
    monkeypatch.setenv(DB_TEMPLATE_ENV, "postgresql://{role}@db:5432/fin")
    monkeypatch.setenv(srv_mod.DB_PASSFILE_ENV, str(passfile))
    with pytest.raises(ConfigError, match="readable by others"):
        srv_mod.check_kernel_database(os.environ)


def test_the_kernel_warehouse_cannot_write_a_duckdb_file(duckdb_url, monkeypatch):
    wh = get_warehouse(duckdb_url)
    init_db(wh)
    for k, v in srv_mod.kernel_environment({"FINLIB_DB_URL": duckdb_url}).items():
        monkeypatch.setenv(k, v)
    kernel_wh = get_warehouse()
    assert kernel_wh.read_only
    with kernel_wh.connect(read_only=True) as c:
        assert c.scalar("SELECT count(*) FROM departments") == 0  # it reads
    for attempt in (lambda c: c.execute("INSERT INTO departments VALUES ('DX', 'X')"),
                    lambda c: c.execute("DROP TABLE departments")):
        with pytest.raises(WarehouseError, match="read-only"):
            with kernel_wh.transaction() as c:
                attempt(c)
        with pytest.raises(WarehouseError, match="read-only"):
            with kernel_wh.connect() as c:
                attempt(c)
    with pytest.raises(WarehouseError, match="read-only"):
        with write_batch(kernel_wh, action="attack", target="departments") as b:
            b.execute("INSERT INTO departments VALUES ('DX', 'X')")
    monkeypatch.delenv(READ_ONLY_ENV)
    with get_warehouse().connect(read_only=True) as c:
        assert c.scalar("SELECT count(*) FROM departments") == 0  # nothing was written


# -- a real Voilà server over a real PostgreSQL server -----------------------------------------

PROBE = [
    # runs in a preheated kernel before anyone asks for the page: it must read nothing
    "import os\n"
    "from finlib.dashboards import query\n"
    "from finlib.views.common import warehouse\n"
    "try:\n"
    "    with warehouse().connect(read_only=True) as c:\n"
    "        before = 'READ-BEFORE-GRANT %s' % c.scalar('SELECT count(*) FROM gl_entries')\n"
    "except Exception:\n"
    "    before = 'NO-READ-BEFORE-GRANT'",
    # after the grant
    "department = query.param('department', 'Sales')\n"
    "wh = warehouse()\n"
    "with wh.connect(read_only=True) as c:\n"
    "    who = c.scalar('SELECT current_user')\n"
    "    rows = c.query('SELECT d.name, sum(g.amount) FROM gl_entries g JOIN departments d '\n"
    "                   'USING (department_id) GROUP BY d.name ORDER BY 1')\n"
    "try:\n"
    "    with wh.transaction() as c:\n"
    "        c.execute(\"INSERT INTO departments VALUES ('DX', 'X')\")\n"
    "    wrote = 'WRITE-ACCEPTED'\n"
    "except Exception:\n"
    "    wrote = 'WRITE-REFUSED'\n"
    "print(before, 'ROLE=' + who, wrote, 'PID=%d' % os.getpid())\n"
    "for name, total in rows:\n"
    "    print('FIGURE', name, '%.2f' % total)",
]


def probe_notebook(path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"probe-{i}", "metadata": {}, "outputs": [],
              "source": src} for i, src in enumerate(PROBE)]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"display_name": "Python (finlib)", "language": "python", "name": "finlib"},
        "language_info": {"name": "python"}}}))


def load_ledger(wh) -> None:
    with write_batch(wh, action="test-data", target="gl_entries") as b:
        b.append("departments", pd.DataFrame({"department_id": list(IDS.values()), "name": list(IDS)}))
        b.append("accounts", pd.DataFrame({"account_id": ["6000"], "name": ["Ads"], "account_type": ["opex"],
                                           "category": ["advertising"]}))
        b.append("gl_entries", pd.DataFrame({
            "entry_id": [f"E{i}" for i in range(len(IDS))], "posted_at": pd.Timestamp("2026-02-10"),
            "period": pd.Timestamp("2026-02-01").date(), "account_id": "6000",
            "department_id": list(IDS.values()), "amount": [TOTALS[d] for d in IDS],
            "currency": "USD", "is_manual": False}))


@pytest.fixture
def password_auth_for_dashboard_roles(pg_server):
    """The dashboard roles must give a password (the owner keeps the server's trust), so the
    kernel's passfile is what lets it in."""
    if pg_server is None:
        pytest.skip("FINLIB_TEST_PG_URL: the server's pg_hba.conf is not ours to change")
    hba = pg_server.data / "pg_hba.conf"
    original = hba.read_text()
    roles = ",".join(pg.login_role(d) for d in (None, *DEPARTMENTS))
    hba.write_text(f"host all {roles} 127.0.0.1/32 scram-sha-256\n" + original)
    pg_server._run([str(pg_server.bin / "pg_ctl"), "-D", str(pg_server.data), "reload"])
    try:
        yield
    finally:
        hba.write_text(original)
        pg_server._run([str(pg_server.bin / "pg_ctl"), "-D", str(pg_server.data), "reload"])


def fetch(server, path, session):
    req = urllib.request.Request(server.url + path, headers={"Cookie": f"finlib_session={session}"})
    try:
        with urllib.request.urlopen(req, timeout=180) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def kernel_environ(pid: int) -> dict[str, str]:
    raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")  # noqa: SIM115 - one read
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


@pytest.mark.postgres
@pytest.mark.browser
def test_a_sales_head_kernel_reads_as_the_sales_role_over_postgres(
        postgres_url, password_auth_for_dashboard_roles, tmp_path):
    from finlib.dashboards.harness import DashboardServer

    wh = get_warehouse(postgres_url)
    init_db(wh)
    load_ledger(wh)
    logins.add_users(wh)
    pg.apply_setup(wh)
    with psycopg.connect(wh.dsn, autocommit=True) as c:
        for d in (None, *DEPARTMENTS):
            c.execute(f"ALTER ROLE {pg.login_role(d)} PASSWORD '{ROLE_PASSWORD}'")
    passfile = tmp_path / "dash.pgpass"
    passfile.write_text("".join(f"*:*:*:{pg.login_role(d)}:{ROLE_PASSWORD}\n" for d in (None, *DEPARTMENTS)))
    passfile.chmod(0o600)
    owner = postgres_url.replace("finlib@", f"finlib:{OWNER_SECRET}@")  # trust: the password is a sentinel
    template = re.sub(r"//[^@]+@", "//{role}@", postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    probe_notebook(notebooks / "department.ipynb")
    server = DashboardServer(notebooks, owner, log_path=tmp_path / "voila.log", env={
        "PGPASSWORD": OWNER_SECRET, DB_TEMPLATE_ENV: template, srv_mod.DB_PASSFILE_ENV: str(passfile),
        "FINLIB_DASHBOARD_LOG": str(tmp_path / "dashboards.log")})
    server.start()
    try:
        server.wait_for_pools(1, timeout=240)
        sales = server.login("sales_head", logins.password("sales_head"))
        status, body = fetch(server, "voila/render/department.ipynb", sales)
        assert status == 200, body[-2000:]
        text = html.unescape(re.sub(r"<[^>]+>", " ", body))
        assert "NO-READ-BEFORE-GRANT" in text and "READ-BEFORE-GRANT " not in text.replace("NO-READ", "")
        assert "ROLE=finlib_dash_sales" in text
        assert "WRITE-REFUSED" in text
        assert f"FIGURE Sales {TOTALS['Sales']:.2f}" in text
        for d in DEPARTMENTS:
            if d != "Sales":
                assert f"{TOTALS[d]:.2f}" not in body, f"{d}'s ledger figure in the Sales head's page"
        pid = int(re.search(r"PID=(\d+)", text).group(1))
        env = kernel_environ(pid)
        assert OWNER_SECRET not in json.dumps(env)
        assert not any(k.startswith("PG") and k != "PGPASSFILE" for k in env)
        assert env["PGPASSFILE"] == str(passfile) and env[READ_ONLY_ENV] == "1"
        assert env["FINLIB_DB_URL"].startswith("postgresql://finlib_reader@")
        assert "finlib@" not in env["FINLIB_DB_URL"]

        status, body = fetch(server, "voila/render/department.ipynb?department=Marketing", sales)
        assert status == 403 and f"{TOTALS['Marketing']:.2f}" not in body

        boss = server.login("exec", logins.password("exec"))
        status, body = fetch(server, "voila/render/department.ipynb", boss)
        text = html.unescape(re.sub(r"<[^>]+>", " ", body))
        assert status == 200 and "ROLE=finlib_dash_all" in text
        assert all(f"FIGURE {d} {TOTALS[d]:.2f}" in text for d in DEPARTMENTS)
    finally:
        server.stop()
    assert OWNER_SECRET not in server.log()

