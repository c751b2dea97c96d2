"""Plausibility rules of ingestion that are configuration, not schema.

``parameters/ingest.yaml`` (every key optional; docs/INGEST.md)::

    dates:
      earliest: 1990-01-01   # no date, period or timestamp before this day
      years_ahead: 10        # ... nor after 31 December of (this year + years_ahead)
    posted_at_max_days: 366  # gl_entries.posted_at at most this many days before the
                             # first or after the last day of the line's period

Currency codes are checked against babel's list (the Unicode CLDR's ISO 4217 codes, current
and historic), less ``XXX`` (no currency) and ``XTS`` (testing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import yaml
from babel.numbers import list_currencies

from finlib import config
from finlib.errors import ConfigError

#: table -> (timestamp column, period column) whose distance the posting-lag rule bounds
POSTING_LAG = {"gl_entries": ("posted_at", "period")}


@dataclass(frozen=True)
class IngestRules:
    """The configurable plausibility rules (see the module docstring)."""

    earliest: dt.date = dt.date(1990, 1, 1)
    years_ahead: int = 10
    posted_at_max_days: int = 366
    source: str = "defaults"

    def latest(self, today: dt.date | None = None) -> dt.date:
        """The last plausible day: 31 December of ``today.year + years_ahead``."""
        return dt.date((today or dt.date.today()).year + self.years_ahead, 12, 31)

    def window(self) -> str:
        return f"{self.earliest:%Y-%m-%d} .. {self.latest():%Y-%m-%d}"


def load_rules(path=None) -> IngestRules:
    """Read ``parameters/ingest.yaml`` (or ``path``); defaults where it is missing."""
    p = path or config.parameters_dir() / "ingest.yaml"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return IngestRules()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with 'dates' and 'posted_at_max_days'")
    dates = data.get("dates") or {}
    unknown = (set(data) - {"dates", "posted_at_max_days"}) | (set(dates) - {"earliest", "years_ahead"})
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {sorted(unknown)}; known: dates.earliest, "
                          "dates.years_ahead, posted_at_max_days")
    try:
        earliest = dates.get("earliest", IngestRules.earliest)
        if not isinstance(earliest, dt.date):
            earliest = dt.date.fromisoformat(str(earliest))
        years = int(dates.get("years_ahead", IngestRules.years_ahead))
        lag = int(data.get("posted_at_max_days", IngestRules.posted_at_max_days))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{p}: {exc} (earliest is a date YYYY-MM-DD, the others whole numbers)") from exc
    if years < 0 or lag < 0:
        raise ConfigError(f"{p}: years_ahead and posted_at_max_days must be >= 0")
    return IngestRules(earliest, years, lag, str(p))


@lru_cache(maxsize=1)
def iso_currencies() -> frozenset[str]:
    """Upper-case ISO 4217 codes (CLDR via babel), without ``XXX`` and ``XTS``."""
    return frozenset(c for c in list_currencies() if len(c) == 3 and c.isupper()) - {"XXX", "XTS"}
