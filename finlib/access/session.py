"""Signed session values for the login cookie.

A session value is ``<payload>.<signature>``: the payload is base64url JSON (user name,
session version, issue and expiry times, a random nonce), the signature HMAC-SHA256 of it
under the server's key, compared in constant time. The key is ``FINLIB_SESSION_KEY`` (at
least 32 characters; set it so sessions survive a restart and are shared by several server
processes), else 32 random bytes generated once per process (every restart logs everybody
out). Sessions expire after ``sessions.max_age_hours`` (``parameters/access.yaml``, 8 h).

:func:`verify_session` also reloads the user: a session of a user since
disabled, whose password changed or who logged out (``session_version`` bumped) is refused,
and the role and departments returned are the current ones.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets

from finlib.access.policy import User
from finlib.access.settings import load_settings
from finlib.access.users import Clock, get_user, utcnow
from finlib.errors import ConfigError
from finlib.warehouse.db import Warehouse

KEY_ENV = "FINLIB_SESSION_KEY"
MAX_VALUE_LENGTH = 4096
_PROCESS_KEY = secrets.token_bytes(32)


def session_key() -> bytes:
    """``FINLIB_SESSION_KEY`` (UTF-8), else this process's random key."""
    env = os.environ.get(KEY_ENV)
    if env is None or env == "":
        return _PROCESS_KEY
    if len(env) < 32:
        raise ConfigError(f"{KEY_ENV} must have at least 32 characters (e.g. `python -c "
                          "\"import secrets; print(secrets.token_urlsafe(32))\"`)")
    return env.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, key: bytes, purpose: bytes = b"finlib-session") -> str:
    """HMAC-SHA256 of ``payload`` under ``key``, bound to ``purpose``: a session value is
    never accepted as a kernel grant, nor the other way round."""
    return _b64(hmac.new(key, purpose + b"\n" + payload.encode("ascii"), hashlib.sha256).digest())


def _ts(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.UTC).timestamp())


def issue_session(user: User, *, max_age_hours: float | None = None, clock: Clock = utcnow,
                  key: bytes | None = None) -> str:
    """A signed session value for ``user`` (put it in an HttpOnly, SameSite=Lax cookie)."""
    hours = load_settings().sessions.max_age_hours if max_age_hours is None else max_age_hours
    now = clock()
    body = {"u": user.name, "v": int(user.session_version), "iat": _ts(now),
            "exp": _ts(now + dt.timedelta(hours=hours)), "n": secrets.token_hex(8)}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{payload}.{_sign(payload, key or session_key())}"


def read_session(value: str, *, clock: Clock = utcnow, key: bytes | None = None,
                 purpose: bytes = b"finlib-session") -> dict | None:
    """The claims of a genuine, unexpired session value (no warehouse look-up), else ``None``."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH or value.count(".") != 1:
        return None
    payload, sig = value.split(".")
    if not hmac.compare_digest(_sign(payload, key or session_key(), purpose), sig):
        return None
    try:
        body = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("u"), str) \
            or not isinstance(body.get("exp"), int) or not isinstance(body.get("v"), int):
        return None
    if _ts(clock()) >= body["exp"]:
        return None
    return body


def verify_session(value: str, wh: Warehouse, *, clock: Clock = utcnow,
                   key: bytes | None = None) -> User | None:
    """The user of a genuine, unexpired session value, else ``None``.

    The user is reloaded from ``wh``: refused if unknown, disabled, or if its
    ``session_version`` moved on (password changed, disabled, logged out); the role and
    departments returned are the current ones."""
    body = read_session(value, clock=clock, key=key)
    if body is None:
        return None
    user = get_user(wh, body["u"])
    if user is None or user.disabled or user.session_version != body["v"]:
        return None
    return user


# -- kernel grants: the signed identity a dashboard kernel verifies -------------------------

GRANT_ENV = "FINLIB_ACCESS_GRANT"
_GRANT = b"finlib-kernel-grant"


def issue_grant(user: User, notebook: str, departments: tuple[str, ...], *, max_age_hours: float = 12,
                clock: Clock = utcnow, key: bytes | None = None) -> str:
    """A signed statement "``user`` may see ``departments`` in ``notebook``" for a kernel.

    The server issues it after :func:`~finlib.access.policy.can_open_dashboard` allowed the
    page (``departments`` = the decision's) and hands it to the kernel it starts (e.g. in
    :data:`GRANT_ENV`); the kernel, which cannot read the users table, trusts only what
    :func:`verify_grant` returns."""
    now = clock()
    body = {"u": user.name, "r": user.role, "d": list(departments), "nb": notebook, "v": 1,
            "iat": _ts(now), "exp": _ts(now + dt.timedelta(hours=max_age_hours)), "n": secrets.token_hex(8)}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{payload}.{_sign(payload, key or session_key(), _GRANT)}"


def verify_grant(value: str, notebook: str | None = None, *, clock: Clock = utcnow,
                 key: bytes | None = None) -> User | None:
    """The user of a genuine, unexpired grant (for ``notebook`` when given), with the granted
    departments as its departments; else ``None``."""
    body = read_session(value, clock=clock, key=key, purpose=_GRANT)
    if body is None or not isinstance(body.get("d"), list) or not isinstance(body.get("r"), str):
        return None
    if notebook is not None and body.get("nb") != notebook:
        return None
    return User(body["u"], body["r"], tuple(str(d) for d in body["d"]))
