"""Reporting periods: a period is the first day of a month (``datetime.date``).

Accepted spellings: ``YYYY-MM``, ``YYYY-MM-DD`` (must be the 1st), a ``date``/``datetime``,
and the symbolic values ``last_closed_month`` (the month before today's), ``current_month``
and ``previous_month`` (the month before ``last_closed_month``).
"""

from __future__ import annotations

import datetime as dt
import re

from finlib.errors import ConfigError

SYMBOLIC = ("last_closed_month", "current_month", "previous_month")


def month_start(d: dt.date) -> dt.date:
    return dt.date(d.year, d.month, 1)


def add_months(period: dt.date, n: int) -> dt.date:
    """First day of the month ``n`` months after ``period`` (negative ``n`` goes back)."""
    idx = period.year * 12 + (period.month - 1) + n
    return dt.date(idx // 12, idx % 12 + 1, 1)


def month_end(period: dt.date) -> dt.date:
    """Last day of ``period``'s month."""
    return add_months(month_start(period), 1) - dt.timedelta(days=1)


def last_closed_month(today: dt.date | None = None) -> dt.date:
    today = today or dt.date.today()
    return add_months(month_start(today), -1)


def parse_period(value: str | dt.date | None, today: dt.date | None = None) -> dt.date:
    """Parse a period; ``None`` means ``last_closed_month``.

    >>> parse_period("2024-03")
    datetime.date(2024, 3, 1)
    >>> parse_period("last_closed_month", today=dt.date(2026, 11, 26))
    datetime.date(2026, 10, 1)
    """
    if value is None or value == "":
        return last_closed_month(today)
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        if value.day != 1:
            raise ConfigError(f"period {value.isoformat()} is not the first day of a month")
        return value
    text = str(value).strip()
    if text == "last_closed_month":
        return last_closed_month(today)
    if text == "current_month":
        return month_start(today or dt.date.today())
    if text == "previous_month":
        return add_months(last_closed_month(today), -1)
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", text)
    if not m:
        raise ConfigError(
            f"period {text!r} is not understood: use YYYY-MM (e.g. 2024-03) or one of {', '.join(SYMBOLIC)}"
        )
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    if not 1 <= month <= 12:
        raise ConfigError(f"period {text!r}: month must be 01-12")
    if day != 1:
        raise ConfigError(f"period {text!r} is not the first day of a month: use {text[:7]}")
    return dt.date(year, month, 1)


def format_period(period: dt.date) -> str:
    """``YYYY-MM``."""
    return f"{period.year:04d}-{period.month:02d}"
