"""`finlib users ...` on a real DuckDB file and a real PostgreSQL database: every change is
one audited write batch whose details never hold a password, a token or a hash."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from finlib.access.auth import AuthenticationError, authenticate_password, authenticate_token
from finlib.access.users import UserError, add_user, get_user, list_users, revoke_token
from finlib.cli import main
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from tests.access.helpers import PASSWORD, SETTINGS, batches, dump_tables


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(args, input=None) -> Result:
    """``finlib ARGS`` through the real entry point (its error policy), ``input`` on stdin."""
    with CliRunner().isolation(input=input) as streams:
        code = main(list(args))
    return Result(code, streams[0].getvalue().decode(), streams[1].getvalue().decode())


@pytest.fixture
def wh(any_db_url):
    wh = get_warehouse(any_db_url)
    init_db(wh)
    return wh


def test_the_user_commands_end_to_end(wh):
    with batches() as seen:
        r = run(["users", "add", "ana", "--role", "department_head", "--department", "Marketing",
                 "--department", "Sales"], input=PASSWORD + "\n")
        assert r.exit_code == 0, r.output
        assert "ana: department_head (Sales, Marketing)" in r.output
        r = run(["users", "token", "ana"])
        assert r.exit_code == 0, r.output
        token = r.stdout.strip().splitlines()[0]
        assert token.startswith("finlib_")
        r = run(["users", "list", "--json"])
        listed = json.loads(r.stdout)
        token_id = token.split("_")[1]
        assert listed == [{"name": "ana", "role": "department_head", "departments": ["Sales", "Marketing"],
                           "disabled": False, "locked_until": None, "created_at": listed[0]["created_at"],
                           "tokens": [token_id]}]
        assert authenticate_token(wh, token, "10.0.0.1").name == "ana"
        r = run(["users", "passwd", "ana"], input="another long passphrase\n")
        assert r.exit_code == 0, r.output
        with pytest.raises(AuthenticationError):
            authenticate_password(wh, "ana", PASSWORD, settings=SETTINGS)
        assert authenticate_password(wh, "ana", "another long passphrase", settings=SETTINGS).name == "ana"
        r = run(["users", "revoke-token", "ana", token_id])
        assert r.exit_code == 0, r.output
        with pytest.raises(AuthenticationError):
            authenticate_token(wh, token)
        r = run(["users", "disable", "ana"])
        assert r.exit_code == 0, r.output
        assert get_user(wh, "ana").disabled
        assert "disabled" in run(["users", "list"]).stdout

    actions = [b["action"] for b in seen]
    assert actions == ["user-add", "user-token", "user-login", "user-passwd", "user-login", "user-login",
                       "user-revoke-token", "user-login", "user-disable"]
    assert seen[0]["details"] == {"user": "ana", "role": "department_head", "departments": ["Sales", "Marketing"]}
    assert seen[0]["tables"] == ["user_departments", "users"]
    secret = token.split("_", 2)[2]
    with wh.connect(read_only=True) as conn:
        pw_hash = conn.scalar("SELECT password_hash FROM users WHERE user_name = 'ana'")
    assert pw_hash.startswith("$argon2id$")
    text = json.dumps(seen, default=str) + "".join(dump_tables(wh, ("access_log", "login_attempts")).values())
    for leak in (PASSWORD, "another long passphrase", token, secret, pw_hash):
        assert leak not in text
    # the token table keeps only a digest of the secret
    assert secret not in dump_tables(wh, ("api_tokens",))["api_tokens"]


def test_user_commands_refuse_what_is_wrong(wh):
    assert run(["users", "add", "bob", "--role", "admin"], input="short\n").exit_code == 2
    r = run(["users", "add", "bob", "--role", "department_head"], input=PASSWORD + "\n")
    assert r.exit_code == 2 and "at least one --department" in r.output
    r = run(["users", "add", "bob", "--role", "executive", "--department", "Sales"], input=PASSWORD + "\n")
    assert r.exit_code == 2 and "department_head only" in r.output
    r = run(["users", "add", "bob", "--role", "department_head", "--department", "Legal"], input=PASSWORD + "\n")
    assert r.exit_code == 2 and "Legal" in r.output
    r = run(["users", "add", "bob", "--role", "wizard"], input=PASSWORD + "\n")
    assert r.exit_code == 2
    r = run(["users", "add", "../bob", "--role", "admin"], input=PASSWORD + "\n")
    assert r.exit_code == 2 and "not a valid user name" in r.output
    assert list_users(wh) == []
    assert run(["users", "add", "bob", "--role", "admin"], input=PASSWORD + "\n").exit_code == 0
    r = run(["users", "add", "bob", "--role", "admin"], input=PASSWORD + "\n")
    assert r.exit_code == 2 and "exists already" in r.output
    assert run(["users", "disable", "nobody"]).exit_code == 2
    assert run(["users", "token", "nobody"]).exit_code == 2
    assert [u.name for u in list_users(wh)] == ["bob"]


def test_a_token_is_revoked_only_by_naming_its_owner(wh):
    add_user(wh, "ana", "analyst", [], PASSWORD, settings=SETTINGS)
    add_user(wh, "bob", "analyst", [], PASSWORD, settings=SETTINGS)
    r = run(["users", "token", "ana"])
    token = r.stdout.strip()
    token_id = token.split("_")[1]
    with pytest.raises(UserError, match="no active token"):
        revoke_token(wh, "bob", token_id)
    assert authenticate_token(wh, token).name == "ana"  # still valid
    revoke_token(wh, "ana", token_id)
    with pytest.raises(UserError):
        revoke_token(wh, "ana", token_id)  # twice


def test_commands_on_a_warehouse_without_user_tables_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("FINLIB_DB_URL", f"duckdb://{tmp_path / 'old.duckdb'}")
    with get_warehouse().connect() as conn:
        conn.execute("CREATE TABLE x (a INTEGER)")
    r = run(["users", "list"])
    assert r.exit_code == 2 and "finlib db init" in r.output


def test_enable_and_access_check(wh, tmp_path):
    add_user(wh, "ana", "department_head", ["Marketing"], PASSWORD, settings=SETTINGS)
    add_user(wh, "aud", "auditor", [], PASSWORD, settings=SETTINGS)
    r = run(["access", "check", "ana", "department", "--param", "department=Marketing"])
    assert r.exit_code == 0 and r.stdout.startswith("allowed") and "Marketing" in r.stdout
    r = run(["access", "check", "ana", "department", "--param", "department=Sales"])
    assert r.exit_code == 77 and "refused: ana may not see the figures of Sales" in r.stderr
    r = run(["access", "check", "ana", "department", "--param", "department=Marketing",
             "--param", "department=Sales"])
    assert r.exit_code == 77
    assert run(["access", "check", "aud", "period_close"]).exit_code == 77
    assert run(["access", "check", "aud", "audit_read"]).exit_code == 0
    run_dir = tmp_path / "department" / "2026-02" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps(
        {"notebook": "notebooks/department.ipynb", "parameters": {"department": "Sales"}, "variant": {}}))
    assert run(["access", "check", "ana", str(run_dir)]).exit_code == 77
    assert run(["access", "check", "aud", str(run_dir / "manifest.json")]).exit_code == 0
    assert run(["users", "disable", "ana"]).exit_code == 0
    assert run(["access", "check", "ana", "department"]).exit_code == 77
    assert run(["users", "enable", "ana"]).exit_code == 0
    assert not get_user(wh, "ana").disabled
    assert authenticate_password(wh, "ana", PASSWORD, settings=SETTINGS).name == "ana"
