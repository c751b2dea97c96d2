"""Access-control settings: ``parameters/access.yaml`` (lockout, sessions, passwords).

Every key is optional; a wrong key or value is one :class:`~finlib.errors.ConfigError`
naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field
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


class AccessSettings(_Strict):
    lockout: Lockout = Lockout()
    sessions: Sessions = Sessions()
    passwords: Passwords = Passwords()


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
        raise ConfigError(f"{path}: expected a mapping of lockout, sessions, passwords")
    try:
        return AccessSettings.model_validate(data)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
