"""Delivery channels: a JSON-lines log, e-mail over SMTP, a Slack-compatible webhook.

Channels plug into a small registry (:func:`register_channel`): a channel type has a
pydantic config model (validated from ``parameters/alerts.yaml``) and a class whose
:meth:`Channel.send` takes a list of alert dicts and returns, for each alert id, ``None``
when delivered or an error message when not. The engine records the outcome in
``alert_deliveries``: a delivered alert is never sent again on that channel, an undelivered
one is retried on the next check.

Secrets (SMTP user and password, a webhook URL that embeds a token) come only from
environment variables named in the file, are read at send time, and are redacted from
every error message and log line.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from finlib import config
from finlib.alerts.rules import SEVERITIES, Severity
from finlib.audit.integration import log_deliveries
from finlib.security import outbound

log = logging.getLogger("finlib.alerts")


class ChannelConfig(BaseModel):
    """Settings every channel has."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: str
    enabled: bool = True
    min_severity: Severity = Field("info", description="deliver alerts of this severity or higher")

    def accepts(self, severity: str) -> bool:
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)


@dataclass(frozen=True)
class ChannelType:
    name: str
    config_model: type[ChannelConfig]
    factory: Callable[[str, ChannelConfig], Channel]


CHANNEL_TYPES: dict[str, ChannelType] = {}


def register_channel(type_name: str, config_model: type[ChannelConfig]):
    """Class decorator: register a :class:`Channel` subclass as channel type ``type_name``."""

    def decorate(cls):
        CHANNEL_TYPES[type_name] = ChannelType(type_name, config_model, cls)
        return cls

    return decorate


def make_channel(name: str, cfg: ChannelConfig) -> Channel:
    return log_deliveries(CHANNEL_TYPES[cfg.type].factory(name, cfg))  # timed, in the integration log


class Channel:
    """A configured delivery channel. Subclasses implement :meth:`send`."""

    def __init__(self, name: str, cfg: ChannelConfig):
        self.name = name
        self.cfg = cfg
        #: bytes handed to the outside by the last :meth:`send` (the integration log records it)
        self.bytes_sent = 0

    def secrets(self) -> list[str]:
        """Values that must never appear in an error message or a log line."""
        return []

    def redact(self, text: str) -> str:
        for s in self.secrets():
            if s:
                text = text.replace(s, "***")
        return text

    def send(self, alerts: list[dict]) -> dict[str, str | None]:
        raise NotImplementedError


def _env(var: str | None, what: str) -> str | None:
    if not var:
        return None
    value = os.environ.get(var)
    if value is None or value == "":
        raise ChannelUnavailable(f"environment variable {var} ({what}) is not set")
    return value


class ChannelUnavailable(Exception):
    """A channel cannot send now (server down, secret missing); the alert stays pending."""


def summary_line(a: dict) -> str:
    text = f"[{a['severity']}] {a['rule']} {str(a['period'])[:7]}: {a.get('message') or ''}"
    return text.rstrip()


def alert_text(a: dict) -> str:
    lines = [summary_line(a), f"  id: {a['id']}  state: {a.get('state', 'open')}"]
    if a.get("value") is not None or a.get("threshold") is not None:
        lines.append(f"  value: {a.get('value')}  threshold: {a.get('threshold')}")
    if a.get("entity"):
        lines.append("  entity: " + json.dumps(a["entity"], sort_keys=True))
    if a.get("report_link"):
        lines.append(f"  report: {a['report_link']}")
    return "\n".join(lines)


# ---- JSON lines -------------------------------------------------------------------------

class JsonlConfig(ChannelConfig):
    type: str = "jsonl"
    path: str = Field("data/alerts.jsonl", description="relative to the project root")

    def resolved_path(self) -> Path:
        p = Path(self.path)
        return p if p.is_absolute() else config.project_root() / p


@register_channel("jsonl", JsonlConfig)
class JsonlChannel(Channel):
    """Append one JSON object per alert to a file (all lines of a call in one write)."""

    cfg: JsonlConfig

    def send(self, alerts: list[dict]) -> dict[str, str | None]:
        self.bytes_sent = 0
        path = self.cfg.resolved_path()
        payload = "".join(json.dumps({"channel": self.name, **a}, sort_keys=True, default=str)
                          + "\n" for a in alerts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                data = payload.encode("utf-8")
                os.write(fd, data)
                self.bytes_sent = len(data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            return {a["id"]: f"cannot write {path}: {exc.strerror or exc}" for a in alerts}
        return {a["id"]: None for a in alerts}


# ---- e-mail ------------------------------------------------------------------------------

class SmtpConfig(ChannelConfig):
    type: str = "smtp"
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    username_env: str | None = Field(None, description="environment variable with the SMTP user")
    password_env: str | None = Field(None, description="environment variable with the password")
    starttls: bool = False  # older spelling of tls: starttls
    ssl: bool = False  # older spelling of tls: ssl
    tls: Literal["starttls", "ssl", "none"] | None = Field(
        None, description="starttls (default), ssl (implicit TLS) or none (a local relay only)")
    allow_plaintext: bool = Field(False, description="allow tls: none to a host that is not local")
    cafile: str | None = Field(None, description="CA bundle to verify the server (default: the system's)")
    timeout: float = Field(10, gt=0)
    subject_prefix: str = "[finlib]"

    @model_validator(mode="after")
    def _tls_mode(self):
        if self.tls is None:
            self.tls = "ssl" if self.ssl else "starttls"
        if self.tls == "none" and not (outbound.is_local_host(self.host) or self.allow_plaintext):
            raise ValueError(f"tls: none sends mail and the password in clear text to {self.host}: "
                             "only allowed for a local relay (or set allow_plaintext: true)")
        return self

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, str) else v


@register_channel("smtp", SmtpConfig)
class SmtpChannel(Channel):
    """One e-mail per check listing the new alerts (a digest), over SMTP with smtplib."""

    cfg: SmtpConfig

    def secrets(self) -> list[str]:
        out = []
        for var in (self.cfg.username_env, self.cfg.password_env):
            if var and os.environ.get(var):
                out.append(os.environ[var])
        return out

    def message(self, alerts: list[dict]):
        msg = EmailMessage()
        if len(alerts) == 1:
            subject = f"{self.cfg.subject_prefix} {summary_line(alerts[0])}"
        else:
            worst = max((a["severity"] for a in alerts), key=SEVERITIES.index)
            subject = f"{self.cfg.subject_prefix} {len(alerts)} new alerts (highest: {worst})"
        msg["Subject"] = subject[:200]
        msg["From"] = self.cfg.sender
        msg["To"] = ", ".join(self.cfg.to)
        body = "\n\n".join(alert_text(a) for a in alerts)
        msg.set_content(body + "\n\nAcknowledge with: finlib alerts ack ID\n")
        return msg

    def send(self, alerts: list[dict]) -> dict[str, str | None]:
        self.bytes_sent = 0
        try:
            user = _env(self.cfg.username_env, "SMTP user")
            password = _env(self.cfg.password_env, "SMTP password")
            tls = ssl.create_default_context(cafile=self.cfg.cafile) if self.cfg.tls != "none" else None
            if self.cfg.tls == "ssl":
                smtp_cm = smtplib.SMTP_SSL(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout, context=tls)
            else:
                smtp_cm = smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout)
            with smtp_cm as smtp:
                if self.cfg.tls == "starttls":
                    smtp.starttls(context=tls)  # refuses to go on in clear text
                if user or password:
                    smtp.login(user or "", password or "")
                msg = self.message(alerts)
                smtp.send_message(msg)
                self.bytes_sent = len(msg.as_bytes())
        except (OSError, smtplib.SMTPException, ChannelUnavailable) as exc:
            err = self.redact(f"{type(exc).__name__}: {exc}")
            return {a["id"]: err for a in alerts}
        return {a["id"]: None for a in alerts}


# ---- webhook -----------------------------------------------------------------------------

class WebhookConfig(ChannelConfig):
    type: str = "webhook"
    url: str | None = Field(None, description="the endpoint, when it holds no secret")
    url_env: str | None = Field(None, description="environment variable holding the URL")
    secret_env: str | None = Field(None, description="environment variable with the Standard "
                                   "Webhooks signing secret (whsec_...): requests are signed")
    timeout: float = Field(10, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self):
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give exactly one of url or url_env")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self


@register_channel("webhook", WebhookConfig)
class WebhookChannel(Channel):
    """A Slack-compatible JSON POST (``{"text": ..., "blocks": [...]}``) per alert."""

    cfg: WebhookConfig

    def secrets(self) -> list[str]:
        return [os.environ[v] for v in (self.cfg.url_env, self.cfg.secret_env) if v and os.environ.get(v)]

    @staticmethod
    def payload(a: dict) -> dict[str, Any]:
        text = outbound.escape_slack(alert_text(a))  # alert text is data, never markup
        return {"text": text,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}

    def send(self, alerts: list[dict]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        self.bytes_sent = 0
        try:
            url = self.cfg.url or _env(self.cfg.url_env, "webhook URL")
            secret = _env(self.cfg.secret_env, "webhook signing secret")
        except ChannelUnavailable as exc:
            return {a["id"]: str(exc) for a in alerts}
        down: str | None = None
        for a in alerts:
            if down:  # the endpoint is unreachable: don't wait a timeout per alert
                out[a["id"]] = down
                continue
            body = json.dumps(self.payload(a), default=str).encode("utf-8")
            headers = {"Content-Type": "application/json", **outbound.sign(secret, body)}
            req = urllib.request.Request(url, data=body, method="POST", headers=headers)
            call = outbound.CallTimer(self.name, outbound.endpoint_of(url), bool(secret))
            try:
                with urllib.request.urlopen(req, timeout=self.cfg.timeout) as resp:
                    self.bytes_sent += len(body)  # the request body was accepted by the server
                    resp.read()
                    call.status = resp.status
                out[a["id"]] = None
            except urllib.error.HTTPError as exc:
                self.bytes_sent += len(body)  # sent, then refused
                call.status = exc.code
                out[a["id"]] = self.redact(f"HTTP {exc.code} {exc.reason}")
            except (urllib.error.URLError, OSError) as exc:
                down = self.redact(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
                out[a["id"]] = down
            finally:
                call.done()
        return out
