"""``finlib users ...`` (user administration) and ``finlib access ...`` (roles, PostgreSQL RLS)."""

from __future__ import annotations

import json
import sys

import click

from finlib.errors import AccessDenied
from finlib.warehouse.schema import DEPARTMENTS, ROLES


def _wh():
    from finlib.access.users import require_tables
    from finlib.warehouse.db import get_warehouse

    wh = get_warehouse()
    require_tables(wh)
    return wh


def _read_password(prompt: str) -> str:
    """One line of standard input when it is not a terminal, else a hidden prompt asked twice."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("no password on standard input")
        return line.rstrip("\r\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@click.group()
def users() -> None:
    """Users, roles and API tokens (docs/ACCESS.md). Every change is in the audit trail."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="what the user may open")
@click.option("--department", "departments", multiple=True, type=click.Choice(DEPARTMENTS),
              help="a department of a department_head (repeat for several)")
def add_cmd(name: str, role: str, departments: tuple[str, ...]) -> None:
    """Add user NAME. The password is read from standard input, or prompted (twice)."""
    from finlib.access.users import add_user, check_name, check_role_departments

    check_name(name)
    check_role_departments(role, departments)
    user = add_user(_wh(), name, role, departments, _read_password(f"Password for {name}"))
    extra = f" ({', '.join(user.departments)})" if user.departments else ""
    click.echo(f"added {user.name}: {user.role}{extra}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def list_cmd(as_json: bool) -> None:
    """Every user with role, departments, state and active token ids (never a hash)."""
    from finlib.access.users import list_users

    rows = list_users(_wh())
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no users (add one with `finlib users add NAME --role ROLE`)")
        return
    for r in rows:
        state = "disabled" if r.disabled else (f"locked until {r.locked_until:%Y-%m-%d %H:%M} UTC"
                                               if r.locked_until else "active")
        depts = ", ".join(r.departments) or "-"
        click.echo(f"{r.name:<20} {r.role:<16} {depts:<30} {state:<30} tokens: {', '.join(r.tokens) or '-'}")


@users.command("disable")
@click.argument("name")
def disable_cmd(name: str) -> None:
    """Disable NAME: no login; its sessions and tokens stop working."""
    from finlib.access.users import disable_user

    disable_user(_wh(), name)
    click.echo(f"disabled {name}")


@users.command("enable")
@click.argument("name")
def enable_cmd(name: str) -> None:
    """Enable NAME again."""
    from finlib.access.users import enable_user

    enable_user(_wh(), name)
    click.echo(f"enabled {name}")


@users.command("passwd")
@click.argument("name")
def passwd_cmd(name: str) -> None:
    """Set a new password for NAME (standard input or prompt); its sessions end."""
    from finlib.access.users import get_user, set_password

    wh = _wh()
    if get_user(wh, name) is None:
        raise click.UsageError(f"no user {name!r}")
    set_password(wh, name, _read_password(f"New password for {name}"))
    click.echo(f"password of {name} changed")


@users.command("token")
@click.argument("name")
def token_cmd(name: str) -> None:
    """Print a new API token for NAME, once (only its hash is kept)."""
    from finlib.access.users import new_token

    token_id, token = new_token(_wh(), name)
    click.echo(token)
    click.echo(f"token id {token_id}: shown once; revoke with `finlib users revoke-token {name} {token_id}`",
               err=True)


@users.command("revoke-token")
@click.argument("name")
@click.argument("token_id")
def revoke_cmd(name: str, token_id: str) -> None:
    """Revoke the API token TOKEN_ID of NAME."""
    from finlib.access.users import revoke_token

    revoke_token(_wh(), name, token_id)
    click.echo(f"revoked token {token_id} of {name}")


@click.group()
def access() -> None:
    """The role table and PostgreSQL row-level security (docs/ACCESS.md)."""


@access.command("roles")
def roles_cmd() -> None:
    """Print the role table (the one docs/ACCESS.md shows)."""
    from finlib.access.policy import role_table_markdown

    click.echo(role_table_markdown())


@access.command("check")
@click.argument("name")
@click.argument("what")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="a page parameter (repeatable)")
def check_cmd(name: str, what: str, params: tuple[str, ...]) -> None:
    """Would user NAME be allowed WHAT: a dashboard (notebook name), an action
    (user_admin, period_close, ...) or a report (path of its manifest.json)? Exit 0 if allowed,
    77 if refused."""
    from pathlib import Path

    from finlib.access import policy
    from finlib.access.users import get_user

    user = get_user(_wh(), name)
    if user is None:
        raise click.UsageError(f"no user {name!r}")
    query: dict[str, list[str]] = {}
    for p in params:
        key, sep, value = p.partition("=")
        if not sep:
            raise click.UsageError(f"--param {p!r}: write KEY=VALUE")
        query.setdefault(key, []).append(value)
    if what in policy.ACTIONS:
        decision = policy.can(user, what)
    elif what.endswith("manifest.json") or Path(what).is_dir():
        path = Path(what) if what.endswith(".json") else Path(what) / "manifest.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"{path}: not a readable manifest ({exc})") from exc
        decision = policy.can_open_report(user, manifest)
    else:
        decision = policy.can_open_dashboard(user, what, query)
    if not decision.allowed:
        raise AccessDenied(f"refused: {decision.reason}")
    click.echo(f"allowed: {decision.reason} (departments: {', '.join(decision.departments)})")


@access.command("pg-setup")
@click.option("--apply", "do_apply", is_flag=True, help="run it on FINLIB_DB_URL instead of printing it")
@click.option("--prefix", default="finlib", show_default=True, help="prefix of the role names")
def pg_setup_cmd(do_apply: bool, prefix: str) -> None:
    """Print (or --apply) the SQL creating read-only dashboard roles with row-level security."""
    from finlib.access import pg
    from finlib.warehouse.db import get_warehouse

    if not do_apply:
        click.echo(pg.setup_script(prefix), nl=False)
        return
    stmts = pg.apply_setup(get_warehouse(), prefix)
    click.echo(f"applied {len(stmts)} statements: row-level security on {', '.join(pg.rls_tables())}; "
               f"kernels connect as {pg.login_role(None, prefix)} or {prefix}_dash_<department>")
