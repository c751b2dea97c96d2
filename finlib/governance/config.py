"""Reading and validating ``parameters/controls.yaml``.

The file is data, read here and nowhere else, and validated with pydantic like the alert
rules: an unknown key, an unknown control or a wrong value raises one
:class:`~finlib.governance.errors.ControlsConfigError` that names the file and every
offending key. A control left out of the file runs with its defaults.

Layout::

    version: 1
    evidence_rows: 100            # rows kept per finding (the rest are counted in the message)
    alerts:
      enabled: true               # raise `control_failure` alerts for failed controls
      severity: warning           # info | warning | critical
      channels: null              # channel names of parameters/alerts.yaml; null: every enabled one
    controls:
      revenue_schedule: {tolerance: 1.00, convention: daily}
      ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import finlib.governance.controls  # noqa: F401  - importing it registers every control
from finlib import config as finlib_config
from finlib.governance.errors import ControlsConfigError
from finlib.governance.registry import CONTROLS, ControlSettings


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    severity: Literal["info", "warning", "critical"] = "warning"
    channels: list[str] | None = None


class _Top(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    evidence_rows: int = Field(100, ge=1, le=100_000)
    alerts: AlertSettings = AlertSettings()
    controls: dict[str, Any] = {}


@dataclass
class ControlsConfig:
    path: Path | None
    evidence_rows: int
    alerts: AlertSettings
    controls: dict[str, ControlSettings]

    def enabled(self) -> list[str]:
        return [n for n, c in self.controls.items() if c.enabled]


def default_path() -> Path:
    return finlib_config.parameters_dir() / "controls.yaml"


def _problem(prefix: str, err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()))
    key = ".".join(x for x in (prefix, loc) if x)
    msg = "unknown key" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
    if err.get("type") != "extra_forbidden" and "input" in err and not isinstance(err["input"], (dict, list)):
        msg += f" (got {err['input']!r})"
    return f"{key}: {msg}"


def parse_config(data: Any, path: Path | str | None = None) -> ControlsConfig:
    """Validate a parsed YAML mapping; raise :class:`ControlsConfigError` listing every problem."""

    where = str(path) if path else "controls config"
    data = finlib_config.parameters_mapping(data, where, ControlsConfigError)
    try:
        top = _Top.model_validate(data)
    except ValidationError as exc:
        raise ControlsConfigError(f"{where}: invalid controls configuration:\n  "
                                  + "\n  ".join(_problem("", e) for e in exc.errors())) from None
    problems = [f"controls.{n}: unknown control; known controls are {', '.join(CONTROLS)}"
                for n in top.controls if n not in CONTROLS]
    controls: dict[str, ControlSettings] = {}
    for name, ctl in CONTROLS.items():
        raw = top.controls.get(name) or {}
        if not isinstance(raw, dict):
            problems.append(f"controls.{name}: expected a mapping")
            continue
        try:
            controls[name] = ctl.settings.model_validate(raw)
        except ValidationError as exc:
            problems += [_problem(f"controls.{name}", e) for e in exc.errors()]
    if problems:
        raise ControlsConfigError(f"{where}: invalid controls configuration:\n  " + "\n  ".join(problems))
    return ControlsConfig(Path(path) if path else None, top.evidence_rows, top.alerts, controls)


def load_config(path: Path | str | None = None) -> ControlsConfig:
    """Read and validate the controls configuration (default ``parameters/controls.yaml``).

    A missing file is an error: tolerances have one source, and it must exist.
    """

    p = Path(path) if path else default_path()
    data = finlib_config.read_parameters_yaml(p, ControlsConfigError, "controls configuration", "controls.yaml")
    return parse_config(data, p)
