"""Users, their departments and API tokens in the warehouse.

Every change is one :func:`~finlib.warehouse.load.write_batch` (action ``user-add``,
``user-disable``, ``user-enable``, ``user-passwd``, ``user-token``, ``user-revoke-token``, ``user-logout``):
the audit trail sees it; its details never hold a password, a token or a hash.
Passwords are hashed with argon2id (``argon2-cffi``); a token is shown once and only the
sha256 of its secret part is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher

from finlib.access.policy import ROLE_TABLE, User
from finlib.access.settings import AccessSettings, load_settings
from finlib.errors import ConfigError, FinlibError
from finlib.warehouse.db import Connection, Warehouse
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import DEPARTMENTS, ROLES

Clock = Callable[[], dt.datetime]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TOKEN_PREFIX = "finlib"
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")

#: one hasher for the process (argon2id, argon2-cffi's RFC 9106 "low memory" defaults)
HASHER = PasswordHasher()


class UserError(FinlibError):
    """A user command cannot be done (unknown user, bad name, role or department, ...)."""

    exit_code = 2


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class UserRow:
    """A user as ``finlib users list`` shows it (no hash)."""

    name: str
    role: str
    departments: tuple[str, ...]
    disabled: bool
    locked_until: dt.datetime | None
    created_at: dt.datetime
    tokens: tuple[str, ...]  #: ids of the tokens not revoked

    def as_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "departments": list(self.departments),
                "disabled": self.disabled,
                "locked_until": self.locked_until.isoformat() if self.locked_until else None,
                "created_at": self.created_at.isoformat(), "tokens": list(self.tokens)}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserError(f"not a valid user name: {str(name)[:80]!r} (letters, digits, '.', '_', '@', '-'; "
                        "at most 64 characters, starting with a letter or digit)")
    return name


def check_role_departments(role: str, departments: Iterable[str]) -> tuple[str, ...]:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    depts = tuple(dict.fromkeys(departments))
    unknown = [d for d in depts if d not in DEPARTMENTS]
    if unknown:
        raise UserError(f"unknown department {unknown[0]!r}: choose from {', '.join(DEPARTMENTS)}")
    if ROLE_TABLE[role].own_department_only and not depts:
        raise UserError(f"a {role} needs at least one --department")
    if not ROLE_TABLE[role].own_department_only and depts:
        raise UserError(f"--department applies to department_head only; a {role} sees every department")
    return tuple(d for d in DEPARTMENTS if d in depts)


def check_password(password: str, settings: AccessSettings) -> None:
    if not isinstance(password, str) or len(password) < settings.passwords.min_length:
        raise UserError(f"the password must have at least {settings.passwords.min_length} characters "
                        "(passwords.min_length in parameters/access.yaml)")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def _exists(conn: Connection, name: str) -> bool:
    return bool(conn.scalar("SELECT count(*) FROM users WHERE user_name = :n", {"n": name}))


def _require(conn: Connection, name: str) -> None:
    if not _exists(conn, name):
        raise UserError(f"no user {name!r}")


def add_user(wh: Warehouse, name: str, role: str, departments: Iterable[str], password: str, *,
             settings: AccessSettings | None = None, clock: Clock = utcnow, actor: str | None = None) -> User:
    """Create a user (refused if the name exists)."""
    settings = settings or load_settings()
    check_name(name)
    depts = check_role_departments(role, departments)
    check_password(password, settings)
    pw_hash = hash_password(password)
    now = clock()
    with write_batch(wh, action="user-add", target=name, actor=actor,
                     details={"user": name, "role": role, "departments": list(depts)}) as b:
        if _exists(b.conn, name):
            raise UserError(f"user {name!r} exists already (use `finlib users passwd`)")
        b.execute("INSERT INTO users (user_name, role, password_hash, disabled, session_version, "
                  "locked_until, created_at, updated_at) VALUES (:n, :r, :h, FALSE, 1, NULL, :t, :t)",
                  {"n": name, "r": role, "h": pw_hash, "t": now})
        b._count("users", 1)
        for d in depts:
            b.execute("INSERT INTO user_departments (user_name, department) VALUES (:n, :d)",
                      {"n": name, "d": d})
            b._count("user_departments", 1)
    return User(name, role, depts, False, 1)


def _load(conn: Connection, name: str) -> tuple[User, str, dt.datetime | None] | None:
    rows = conn.query("SELECT role, password_hash, disabled, session_version, locked_until "
                      "FROM users WHERE user_name = :n", {"n": name})
    if not rows:
        return None
    role, pw_hash, disabled, version, locked_until = rows[0]
    depts = {r[0] for r in conn.query("SELECT department FROM user_departments WHERE user_name = :n",
                                      {"n": name})}
    user = User(name, role, tuple(d for d in DEPARTMENTS if d in depts), bool(disabled), int(version))
    return user, pw_hash, locked_until


def get_user(wh: Warehouse, name: str) -> User | None:
    """The user ``name`` as stored now, or ``None``."""
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    with wh.connect(read_only=True) as conn:
        found = _load(conn, name)
    return found[0] if found else None


def list_users(wh: Warehouse) -> list[UserRow]:
    with wh.connect(read_only=True) as conn:
        users = conn.query("SELECT user_name, role, disabled, locked_until, created_at FROM users "
                           "ORDER BY user_name")
        depts: dict[str, set[str]] = {}
        for n, d in conn.query("SELECT user_name, department FROM user_departments"):
            depts.setdefault(n, set()).add(d)
        tokens: dict[str, list[str]] = {}
        for n, t in conn.query("SELECT user_name, token_id FROM api_tokens WHERE revoked_at IS NULL "
                               "ORDER BY created_at, token_id"):
            tokens.setdefault(n, []).append(t)
    return [UserRow(n, r, tuple(d for d in DEPARTMENTS if d in depts.get(n, ())), bool(dis), lu, ca,
                    tuple(tokens.get(n, ()))) for n, r, dis, lu, ca in users]


def _update_user(wh: Warehouse, name: str, action: str, actor: str | None, clock: Clock, assignments: str,
                 **values) -> None:
    """One audited write batch that sets ``assignments`` (and ``updated_at``) on the existing user ``name``."""
    with write_batch(wh, action=action, target=name, actor=actor, details={"user": name}) as b:
        _require(b.conn, name)
        b.execute(f"UPDATE users SET {assignments}, updated_at = :t WHERE user_name = :n",
                  {"n": name, **values, "t": clock()})
        b._count("users", 1)


def disable_user(wh: Warehouse, name: str, *, clock: Clock = utcnow, actor: str | None = None) -> None:
    """Disable ``name``: no login, and its sessions and tokens stop working at once."""
    _update_user(wh, name, "user-disable", actor, clock,
                 "disabled = TRUE, session_version = session_version + 1")


def enable_user(wh: Warehouse, name: str, *, clock: Clock = utcnow, actor: str | None = None) -> None:
    """Enable ``name`` again (sessions issued before it was disabled stay ended)."""
    _update_user(wh, name, "user-enable", actor, clock, "disabled = FALSE")


def set_password(wh: Warehouse, name: str, password: str, *, settings: AccessSettings | None = None,
                 clock: Clock = utcnow, actor: str | None = None) -> None:
    """Set a new password; every session of ``name`` ends, a lock is lifted."""
    settings = settings or load_settings()
    check_password(password, settings)
    pw_hash = hash_password(password)
    _update_user(wh, name, "user-passwd", actor, clock,
                 "password_hash = :h, session_version = session_version + 1, locked_until = NULL", h=pw_hash)


def end_sessions(wh: Warehouse, name: str, *, clock: Clock = utcnow, actor: str | None = None) -> None:
    """End every session of ``name`` (logout): sessions issued before are refused."""
    _update_user(wh, name, "user-logout", actor, clock, "session_version = session_version + 1")


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token, else ``None``."""
    m = _TOKEN.match(token.strip()) if isinstance(token, str) else None
    return (m.group(1), m.group(2)) if m else None


def new_token(wh: Warehouse, name: str, *, clock: Clock = utcnow, actor: str | None = None) -> tuple[str, str]:
    """A new API token for ``name``: returns ``(token_id, token)``. The token is not stored:
    show it once."""
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with write_batch(wh, action="user-token", target=name, actor=actor,
                     details={"user": name, "token_id": token_id}) as b:
        _require(b.conn, name)
        b.execute("INSERT INTO api_tokens (token_id, user_name, token_hash, created_at, last_used_at, "
                  "revoked_at) VALUES (:i, :n, :h, :t, NULL, NULL)",
                  {"i": token_id, "n": name, "h": token_digest(secret), "t": clock()})
        b._count("api_tokens", 1)
    return token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}"


def revoke_token(wh: Warehouse, name: str, token_id: str, *, clock: Clock = utcnow,
                 actor: str | None = None) -> None:
    """Revoke the token ``token_id`` of ``name`` (refused if it is another user's)."""
    with write_batch(wh, action="user-revoke-token", target=name, actor=actor,
                     details={"user": name, "token_id": str(token_id)[:32]}) as b:
        found = b.conn.scalar("SELECT count(*) FROM api_tokens WHERE token_id = :i AND user_name = :n "
                              "AND revoked_at IS NULL", {"i": token_id, "n": name})
        if not found:
            raise UserError(f"{name!r} has no active token {str(token_id)[:32]!r}")
        b.execute("UPDATE api_tokens SET revoked_at = :t WHERE token_id = :i AND user_name = :n",
                  {"i": token_id, "n": name, "t": clock()})
        b._count("api_tokens", 1)


def require_tables(wh: Warehouse) -> None:
    """A clear error when the warehouse predates access control."""
    with wh.connect(read_only=True) as conn:
        if not conn.table_exists("users"):
            raise ConfigError(f"{wh.display_url} has no users table: run `finlib db init` first")
