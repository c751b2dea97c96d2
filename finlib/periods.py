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


def parse_period(value: str | dt.date | None, today: dt.date | None = None, *,
                 strict: bool = True) -> dt.date:
    """Parse a period; ``None`` means ``last_closed_month``.

    With ``strict`` (the default, for what people type) a date that is not the first of a
    month is refused, since guessing which month was meant hides mistakes; with
    ``strict=False`` (for dates coming out of data) any day maps to its month.

    >>> parse_period("2024-03")
    datetime.date(2024, 3, 1)
    >>> parse_period("last_closed_month", today=dt.date(2026, 11, 26))
    datetime.date(2026, 10, 1)
    """
    if value is None or value == "":
        return last_closed_month(today)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        if not strict:
            return month_start(value)
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
    if day != 1 and not strict:
        day = 1
    if day != 1:
        raise ConfigError(f"period {text!r} is not the first day of a month: use {text[:7]}")
    try:
        dt.date(year, month, day if m.group(3) else 1)
    except ValueError as exc:
        raise ConfigError(f"period {text!r}: {exc}") from None
    return dt.date(year, month, 1)


def months_between(start, end) -> list[dt.date]:
    """Every period from ``start`` to ``end`` inclusive (any day of the month accepted)."""
    s, e = parse_period(start, strict=False), parse_period(end, strict=False)
    out = []
    while s <= e:
        out.append(s)
        s = add_months(s, 1)
    return out


def format_period(period: dt.date) -> str:
    """``YYYY-MM``."""
    return f"{period.year:04d}-{period.month:02d}"
