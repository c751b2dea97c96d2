"""Authentication: passwords (with lockout) and API tokens.

:func:`authenticate_password` and :func:`authenticate_token` return the :class:`User` or
raise :class:`AuthenticationError`. Every attempt is one write batch (action
``user-login``) holding its ``login_attempts`` row, its ``access_log`` record and, when it
causes one, the lock: so the count of failures and the lock cannot disagree.

Lockout (``parameters/access.yaml``, ``lockout``): ``max_failures`` failed password logins
of one user within ``window_minutes`` lock the user for ``lock_minutes``. While locked every
password login is refused without checking the password (no oracle) and does not extend
the lock; failures before a lock or a successful login no longer count. API tokens are not
counted (their secret has 256 bits) and still work during a password lock.

Nothing here reveals whether a user exists: an unknown user and a wrong password get the
same message and cost one argon2 verification each; hashes and tokens are compared in
constant time, and neither appears in any message or log record.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import secrets

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from finlib.access.log import append_access
from finlib.access.policy import Decision, User
from finlib.access.settings import AccessSettings, load_settings
from finlib.access.users import HASHER, Clock, _load, parse_token, token_digest, utcnow
from finlib.errors import AccessDenied
from finlib.warehouse.db import Connection, Warehouse
from finlib.warehouse.load import Batch, write_batch

_DUMMY_DIGEST = token_digest(secrets.token_urlsafe(32))

WRONG = "wrong user name or password"
LOCKED = "too many failed logins: this user is locked for a while, try again later"
DISABLED = "this user is disabled"
BAD_TOKEN = "invalid or revoked token"
NOT_A_USER = "your single sign-on account is not a user of this workbench (or it is disabled): ask its administrator"


class AuthenticationError(AccessDenied):
    """A login was refused. ``reason`` (``failed``, ``unknown``, ``locked``, ``disabled``,
    ``revoked``, ``malformed``) is for logs; the message is safe to show."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _record_attempt(b: Batch, name: str, method: str, address: str | None, outcome: str,
                    now: dt.datetime) -> None:
    b.execute("INSERT INTO login_attempts (attempt_id, user_name, attempted_at, method, address, outcome) "
              "VALUES (:i, :n, :t, :m, :a, :o)",
              {"i": secrets.token_hex(8), "n": name[:64], "t": now, "m": method,
               "a": (address or None) and str(address)[:64], "o": outcome})
    b._count("login_attempts", 1)


def _failures(conn: Connection, name: str, since: dt.datetime) -> int:
    return int(conn.scalar(
        "SELECT count(*) FROM login_attempts WHERE user_name = :n AND method = 'password' "
        "AND outcome = 'failed' AND attempted_at > :since", {"n": name, "since": since}) or 0)


def _last_ok(conn: Connection, name: str) -> dt.datetime | None:
    return conn.scalar("SELECT max(attempted_at) FROM login_attempts WHERE user_name = :n "
                       "AND method = 'password' AND outcome = 'ok'", {"n": name})


def _phantom_locked(conn: Connection, name: str, now: dt.datetime, lock) -> bool:
    """Would a user called ``name`` be locked now? Replays the lockout over the recent failed
    attempts of a name that is no user, so that a lock message never tells that a name exists."""
    horizon = now - dt.timedelta(minutes=lock.window_minutes + lock.lock_minutes)
    times = [r[0] for r in conn.query(
        "SELECT attempted_at FROM login_attempts WHERE user_name = :n AND method = 'password' "
        "AND outcome = 'failed' AND attempted_at > :h ORDER BY attempted_at", {"n": name, "h": horizon})]
    window, length = dt.timedelta(minutes=lock.window_minutes), dt.timedelta(minutes=lock.lock_minutes)
    locked_until: dt.datetime | None = None
    fails: list[dt.datetime] = []
    for t in times:
        fails = [f for f in fails if f > t - window and (locked_until is None or f >= locked_until)] + [t]
        if len(fails) >= lock.max_failures:
            locked_until, fails = t + length, []
    return locked_until is not None and now < locked_until


@functools.cache
def _dummy_hash() -> str:
    """A valid argon2 hash of a random password: verified against when the user is unknown."""
    return HASHER.hash(secrets.token_urlsafe(24))


def _verify(pw_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(pw_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate_password(wh: Warehouse, name: str, password: str, address: str | None = None, *,
                          settings: AccessSettings | None = None, clock: Clock = utcnow) -> User:
    """The user ``name`` if ``password`` is right and the user is enabled and not locked."""
    settings = settings or load_settings()
    lock = settings.lockout
    name = str(name or "")[:64]
    password = password if isinstance(password, str) else ""
    now = clock()
    error: AuthenticationError | None = None
    with write_batch(wh, action="user-login", target=name, actor=name or "anonymous",
                     details={"method": "password"}) as b:
        found = _load(b.conn, name) if name else None
        if found is None:
            _verify(_dummy_hash(), password)  # the same cost as a known user
            if _phantom_locked(b.conn, name, now, lock):  # the same lock as a known user
                _record_attempt(b, name, "password", address, "locked", now)
                append_access(b, name or "anonymous", "login", None, address, "denied", ts=now,
                              method="password", reason="unknown")
                error = AuthenticationError(LOCKED, "unknown")
            else:
                _record_attempt(b, name, "password", address, "failed", now)
                append_access(b, name or "anonymous", "login", None, address, "failed", ts=now,
                              method="password", reason="unknown")
                error = AuthenticationError(WRONG, "unknown")
        else:
            user, pw_hash, locked_until = found
            if locked_until is not None and now < locked_until:
                _record_attempt(b, name, "password", address, "locked", now)
                append_access(b, name, "login", None, address, "denied", ts=now, method="password",
                              reason="locked", locked_until=locked_until.isoformat())
                error = AuthenticationError(LOCKED, "locked")
            elif not _verify(pw_hash, password):
                _record_attempt(b, name, "password", address, "failed", now)
                append_access(b, name, "login", None, address, "failed", ts=now, method="password",
                              reason="wrong password")
                since = max(t for t in (now - dt.timedelta(minutes=lock.window_minutes), locked_until,
                                        _last_ok(b.conn, name)) if t is not None)
                n = _failures(b.conn, name, since)
                if n >= lock.max_failures:
                    until = now + dt.timedelta(minutes=lock.lock_minutes)
                    b.execute("UPDATE users SET locked_until = :u WHERE user_name = :n",
                              {"u": until, "n": name})
                    b._count("users", 1)
                    append_access(b, name, "lock", None, address, "denied", ts=now, failures=n,
                                  window_minutes=lock.window_minutes, locked_until=until.isoformat())
                error = AuthenticationError(WRONG, "failed")
            elif user.disabled:
                _record_attempt(b, name, "password", address, "disabled", now)
                append_access(b, name, "login", None, address, "denied", ts=now, method="password",
                              reason="disabled")
                error = AuthenticationError(DISABLED, "disabled")
            else:
                _record_attempt(b, name, "password", address, "ok", now)
                append_access(b, name, "login", None, address, "ok", ts=now, method="password")
                if HASHER.check_needs_rehash(pw_hash):
                    b.execute("UPDATE users SET password_hash = :h WHERE user_name = :n",
                              {"h": HASHER.hash(password), "n": name})
                    b._count("users", 1)
    if error is not None:
        raise error
    return user


def authenticate_token(wh: Warehouse, token: str, address: str | None = None, *,
                       clock: Clock = utcnow) -> User:
    """The owner of the API ``token`` if the token is valid, not revoked, and the owner enabled."""
    now = clock()
    parsed = parse_token(token)
    error: AuthenticationError | None = None
    with write_batch(wh, action="user-login", target="token", actor="anonymous",
                     details={"method": "token"}) as b:
        row = None
        if parsed is not None:
            rows = b.conn.query("SELECT user_name, token_hash, revoked_at FROM api_tokens WHERE token_id = :i",
                                {"i": parsed[0]})
            row = rows[0] if rows else None
        digest = token_digest(parsed[1]) if parsed else _DUMMY_DIGEST
        matches = hmac.compare_digest(digest, row[1] if row else _DUMMY_DIGEST) and row is not None
        owner = row[0] if row else f"token:{parsed[0] if parsed else '?'}"
        b.actor = owner
        found = _load(b.conn, owner) if matches else None
        if not matches or found is None:
            reason = "malformed" if parsed is None else "unknown" if row is None else "failed"
            _record_attempt(b, owner, "token", address, "failed", now)
            append_access(b, owner, "login", None, address, "failed", ts=now, method="token", reason=reason)
            error = AuthenticationError(BAD_TOKEN, reason)
        elif row[2] is not None:
            _record_attempt(b, owner, "token", address, "failed", now)
            append_access(b, owner, "login", None, address, "denied", ts=now, method="token",
                          reason="revoked", token_id=parsed[0])
            error = AuthenticationError(BAD_TOKEN, "revoked")
        elif found[0].disabled:
            _record_attempt(b, owner, "token", address, "disabled", now)
            append_access(b, owner, "login", None, address, "denied", ts=now, method="token",
                          reason="disabled", token_id=parsed[0])
            error = AuthenticationError(DISABLED, "disabled")
        else:
            user = found[0]
            _record_attempt(b, owner, "token", address, "ok", now)
            append_access(b, owner, "login", None, address, "ok", ts=now, method="token", token_id=parsed[0])
            b.execute("UPDATE api_tokens SET last_used_at = :t WHERE token_id = :i", {"t": now, "i": parsed[0]})
            b._count("api_tokens", 1)
    if error is not None:
        raise error
    return user


def authenticate_proxy(wh: Warehouse, name: str, address: str | None = None, *, record_ok: bool = True,
                       record_denied: bool = True, clock: Clock = utcnow) -> User:
    """The user ``name`` as a trusted single sign-on proxy named it: it must exist and be enabled.

    The caller has checked that the request came from a trusted proxy (the proxy authenticated
    the person; finlib decides the role and departments). A refusal (unknown or disabled) is
    logged as ``denied``; a success is logged (``ok``, ``method`` ``proxy``) when ``record_ok``
    (the server logs a proxy user's first request, not every one); a refusal is logged when
    ``record_denied`` (the server rate-limits them per name and address). No ``login_attempts`` row:
    the lockout counts password guesses, and there is no password here."""
    now = clock()
    name = str(name or "").strip()
    found = None
    with wh.connect(read_only=True) as conn:
        if name and len(name) <= 64:
            found = _load(conn, name)
    user = found[0] if found else None
    reason = "unknown" if user is None else "disabled" if user.disabled else None
    if (reason is not None and record_denied) or (reason is None and record_ok):
        shown = name[:64] or "anonymous"
        with write_batch(wh, action="user-login", target=shown, actor=shown, details={"method": "proxy"}) as b:
            append_access(b, shown, "login", None, address, "denied" if reason else "ok", ts=now,
                          method="proxy", **({"reason": reason} if reason else {}))
    if reason is not None:
        raise AuthenticationError(NOT_A_USER, reason)
    return user


def record_refusal(wh: Warehouse, user: User | None, action: str, target: str | None,
                   address: str | None, reason: str, *, clock: Clock = utcnow, **details) -> None:
    """Log a refused authorisation (a dashboard, report, parameter or action)."""
    with write_batch(wh, action="access-denied", target=target or action,
                     actor=user.name if user else "anonymous") as b:
        append_access(b, user.name if user else "anonymous", action, target, address, "denied",
                      ts=clock(), reason=reason, **details)



def enforce(wh: Warehouse, user: User | None, decision: Decision, *, action: str, target: str | None,
            address: str | None = None, clock: Clock = utcnow, **details) -> Decision:
    """Log ``decision`` in the access log and return it if allowed; else raise
    :class:`~finlib.errors.AccessDenied` with its reason. One call for the server per page,
    report, API or action: ``enforce(wh, user, can_open_dashboard(user, nb, params),
    action="open-dashboard", target=nb, address=ip, parameters=params)``."""
    name = user.name if user else "anonymous"
    with write_batch(wh, action="access" if decision.allowed else "access-denied",
                     target=target or action, actor=name) as b:
        append_access(b, name, action, target, address, "ok" if decision.allowed else "denied",
                      ts=clock(), reason=decision.reason, **details)
    return decision.check()
