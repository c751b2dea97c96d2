"""Access-control settings: ``parameters/access.yaml`` (lockout, sessions, passwords, and
the single sign-on proxy).

Every key is optional; a wrong key or value is one :class:`~finlib.errors.ConfigError`
naming the file and the key.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from finlib import config
from finlib.errors import ConfigError

FILE_NAME = "access.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lockout(_Strict):
    max_failures: int = Field(5, ge=1, le=1000)
    window_minutes: float = Field(15, gt=0, le=7 * 24 * 60)
    lock_minutes: float = Field(15, gt=0, le=7 * 24 * 60)


class Sessions(_Strict):
    max_age_hours: float = Field(8, gt=0, le=24 * 30)


class Passwords(_Strict):
    min_length: int = Field(12, ge=8, le=1024)


#: request headers that carry other credentials or the server's own grant: never a user header
_RESERVED_HEADERS = {"authorization", "cookie", "host", "x-finlib-grant", "x-forwarded-for", "x-real-ip"}
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


class Proxy(_Strict):
    """Single sign-on through a trusted reverse proxy (off while ``trusted`` is empty).

    A request whose TCP peer address is in ``trusted`` (addresses or networks, e.g.
    ``127.0.0.1`` or ``10.0.4.0/24``) is the user named by its ``user_header``; from any other
    address that header is ignored (and the attempt logged). The peer address is the socket's,
    never ``X-Forwarded-For``: the server does not trust forwarding headers.
    """

    trusted: tuple[str, ...] = ()
    user_header: str = "X-Forwarded-User"

    @field_validator("trusted", mode="before")
    @classmethod
    def _networks(cls, value):
        if value is None:
            return ()
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, list | tuple):
            raise ValueError("a list of addresses or networks, e.g. [127.0.0.1, 10.0.4.0/24]")
        out = []
        for item in value:
            try:
                out.append(str(ipaddress.ip_network(str(item).strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.4.0/24)") from None
        return tuple(out)

    @field_validator("user_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not a header name (letters, digits and '-')")
        if value.lower() in _RESERVED_HEADERS:
            raise ValueError(f"{value!r} carries something else; use e.g. X-Forwarded-User")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.trusted)

    def trusts(self, address: str | None) -> bool:
        """True if ``address`` (a peer IP) is one of the trusted proxies."""
        try:
            ip = ipaddress.ip_address((address or "").split("%")[0])
        except ValueError:
            return False
        if getattr(ip, "ipv4_mapped", None) is not None:
            ip = ip.ipv4_mapped
        return any(ip in ipaddress.ip_network(n) for n in self.trusted)


class AccessSettings(_Strict):
    lockout: Lockout = Lockout()
    sessions: Sessions = Sessions()
    passwords: Passwords = Passwords()
    proxy: Proxy = Proxy()


def settings_path() -> Path:
    return config.parameters_dir() / FILE_NAME


def load_settings(path: Path | None = None) -> AccessSettings:
    """The settings of ``path`` (default ``parameters/access.yaml``; defaults if missing)."""
    path = Path(path) if path is not None else settings_path()
    if not path.exists():
        return AccessSettings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of lockout, sessions, passwords, proxy")
    try:
        return AccessSettings.model_validate(data)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
