"""Reading and validating ``parameters/alerts.yaml``.

The file is data, read here and nowhere else. It is validated with pydantic: unknown keys,
unknown rules or channel types, wrong types and bad link templates raise one
:class:`~finlib.errors.AlertError` that names the file and every offending key. Secrets are
never in the file: a channel names the *environment variables* that hold them
(``password_env``, ``url_env``).

Layout::

    version: 1
    report_base: reports          # {base} in link templates
    rules:
      budget_variance: {enabled: true, severity: warning, threshold: 0.10, link: "..."}
      ...                         # a rule left out runs with its defaults (docs/ALERTS.md)
    channels:
      log: {type: jsonl, path: data/alerts.jsonl}
      email: {type: smtp, enabled: false, host: ..., port: 25, from: ..., to: [...],
              username_env: ..., password_env: ...}
      slack: {type: webhook, enabled: false, url_env: FINLIB_ALERT_WEBHOOK_URL}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from finlib import config as finlib_config
from finlib.alerts.channels import CHANNEL_TYPES, ChannelConfig
from finlib.alerts.rules import RULES, RuleConfig
from finlib.errors import AlertError

SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey")


class _Top(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    report_base: str = "reports"
    rules: dict[str, dict[str, Any]] = {}
    channels: dict[str, dict[str, Any]] = {}


@dataclass
class AlertsConfig:
    """The validated configuration: rule settings by rule name, channels by channel name."""

    path: Path | None
    report_base: str
    rules: dict[str, RuleConfig]
    channels: dict[str, ChannelConfig] = field(default_factory=dict)

    def enabled_channels(self) -> dict[str, ChannelConfig]:
        return {n: c for n, c in self.channels.items() if c.enabled}


def default_path() -> Path:
    return finlib_config.parameters_dir() / "alerts.yaml"


def _problem(where: str, err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()))
    key = f"{where}.{loc}" if loc else where
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        last = str(err["loc"][-1]).lower() if err.get("loc") else ""
        if any(w in last for w in SECRET_WORDS):
            msg = ("secrets never go in this file: name the environment variable that holds "
                   "it instead (e.g. password_env, url_env)")
        else:
            msg = "unknown key"
    elif "input" in err and not isinstance(err["input"], (dict, list)):
        msg += f" (got {err['input']!r})"
    return f"{key}: {msg}"


def _check_link(template: str, keys: set[str]) -> str | None:
    try:
        names = {f for _, f, _, _ in Formatter().parse(template) if f is not None}
    except ValueError as exc:
        return f"not a valid template: {exc}"
    unknown = {n.split(".")[0].split("[")[0] for n in names} - keys - {""}
    if "" in names:
        return "positional {} placeholders are not allowed; use names"
    if unknown:
        return (f"unknown placeholder(s) {sorted(unknown)}; use any of {sorted(keys)}")
    return None


def parse_config(data: Any, path: Path | str | None = None) -> AlertsConfig:
    """Validate a parsed YAML mapping; raise :class:`AlertError` listing every problem."""
    where = str(path) if path else "alerts config"
    data = finlib_config.parameters_mapping(data, where, AlertError)
    problems: list[str] = []
    try:
        top = _Top.model_validate(data)
    except ValidationError as exc:
        raise AlertError(f"{where}: invalid alert configuration:\n  "
                         + "\n  ".join(_problem("", e).lstrip(".") for e in exc.errors())) from None

    channels: dict[str, ChannelConfig] = {}
    for name, raw in top.channels.items():
        if not isinstance(raw, dict):
            problems.append(f"channels.{name}: expected a mapping")
            continue
        ctype = raw.get("type")
        if ctype not in CHANNEL_TYPES:
            problems.append(f"channels.{name}.type: must be one of {sorted(CHANNEL_TYPES)} "
                            f"(got {ctype!r})")
            continue
        try:
            channels[name] = CHANNEL_TYPES[ctype].config_model.model_validate(raw)
        except ValidationError as exc:
            problems += [_problem(f"channels.{name}", e) for e in exc.errors()]

    rules: dict[str, RuleConfig] = {}
    unknown = [n for n in top.rules if n not in RULES]
    for n in unknown:
        problems.append(f"rules.{n}: unknown rule; known rules are {sorted(RULES)}")
    for name, rule in RULES.items():
        raw = top.rules.get(name, {})
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            problems.append(f"rules.{name}: expected a mapping")
            continue
        try:
            cfg = rule.config_model.model_validate(raw)
        except ValidationError as exc:
            problems += [_problem(f"rules.{name}", e) for e in exc.errors()]
            continue
        if cfg.link:
            keys = {"base", "rule", "period", "month", *rule.entity_keys}
            if name == "cac":
                keys.add("channel")
            err = _check_link(cfg.link, keys)
            if err:
                problems.append(f"rules.{name}.link: {err}")
        for ch in cfg.channels or []:
            if ch not in top.channels:
                problems.append(f"rules.{name}.channels: no channel named {ch!r} "
                                f"(channels: {sorted(top.channels)})")
        rules[name] = cfg

    if problems:
        raise AlertError(f"{where}: invalid alert configuration:\n  " + "\n  ".join(problems))
    return AlertsConfig(Path(path) if path else None, top.report_base, rules, channels)


def load_config(path: Path | str | None = None) -> AlertsConfig:
    """Read and validate the alert configuration (default ``parameters/alerts.yaml``).

    A missing file is an error: the thresholds' one source of truth must exist.
    """
    p = Path(path) if path else default_path()
    data = finlib_config.read_parameters_yaml(p, AlertError, "alert configuration", "alerts.yaml")
    return parse_config(data, p)
