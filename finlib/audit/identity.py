"""Who is acting: the one identity shared by the audit trail and access control.

By default the actor is the operating-system user running the process (``kind="os"``).
A caller that has authenticated somebody else (the dashboard server with a token or a
login, a scheduler acting for a user) says so for the duration of the work::

    with acting_as("ana", kind="user", via="session"):
        ...  # every write batch and access record in here is attributed to ana

``FINLIB_ACTOR`` overrides the OS user for a whole process (for service accounts; it is
recorded with ``kind="env"`` so an auditor can tell). The identity is a
:class:`contextvars.ContextVar`, so threads and asyncio tasks of a server each keep their
own. Names are plain strings: the users table of access control uses the same names, so a
trail entry's ``actor`` is the user who logged in.
"""

from __future__ import annotations

import contextvars
import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

KINDS = ("os", "env", "user", "token", "service")


@dataclass(frozen=True)
class Actor:
    """An acting identity: ``name`` (the user name), ``kind`` (how it was established:
    os, env, user, token, service) and ``via`` (free text: "session", "api-token", ...)."""

    name: str
    kind: str = "os"
    via: str | None = None

    def as_dict(self) -> dict:
        d = {"name": self.name, "kind": self.kind}
        if self.via:
            d["via"] = self.via
        return d


_CURRENT: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("finlib_actor", default=None)


def os_user() -> str:
    """The operating-system user of this process ("unknown" without a passwd entry)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - containers without a passwd entry
        return "unknown"


def current_actor() -> Actor:
    """The actor set by :func:`acting_as`, else ``FINLIB_ACTOR``, else the OS user."""
    actor = _CURRENT.get()
    if actor is not None:
        return actor
    env = os.environ.get("FINLIB_ACTOR", "").strip()
    if env:
        return Actor(env, "env")
    return Actor(os_user(), "os")


@contextmanager
def acting_as(name: str, kind: str = "user", via: str | None = None) -> Iterator[Actor]:
    """Attribute everything done inside the block to ``name``."""
    if not name or not str(name).strip():
        raise ValueError("acting_as: the user name must not be empty")
    if kind not in KINDS:
        raise ValueError(f"acting_as: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    actor = Actor(str(name).strip(), kind, via)
    token = _CURRENT.set(actor)
    try:
        yield actor
    finally:
        _CURRENT.reset(token)


_REASON: contextvars.ContextVar[str | None] = contextvars.ContextVar("finlib_audit_reason", default=None)


def current_reason() -> str | None:
    """The reason given for the current change (:func:`because`, else ``FINLIB_AUDIT_REASON``)."""
    return _REASON.get() or (os.environ.get("FINLIB_AUDIT_REASON") or "").strip() or None


@contextmanager
def because(reason: str) -> Iterator[None]:
    """Record ``reason`` in every audit entry written inside the block."""
    token = _REASON.set(reason)
    try:
        yield
    finally:
        _REASON.reset(token)
