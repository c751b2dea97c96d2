"""Reporting periods: a period is the first day of a month (``datetime.date``).

The one module that parses, shifts and formats periods; every other module imports it.

Accepted spellings: ``YYYY-MM``, ``YYYY-MM-DD`` (must be the 1st), a ``date``/``datetime``,
and the symbolic values ``last_closed_month`` (the month before today's), ``current_month``
and ``previous_month`` (the month before ``last_closed_month``).

Two readings of the same spellings:

:func:`parse_period`
    for what people type (parameters, ``--period``): strict, a day other than the 1st is
    refused, ``None`` means the last closed month.
:func:`month_of`
    for what code and data pass (metrics, facts): any day maps to its month and a pandas
    ``Timestamp`` is accepted; a period is required.

:func:`add_months` and :func:`month_end` take anything :func:`month_of` takes.
"""

from __future__ import annotations

import datetime as dt
import re

from finlib.errors import ConfigError

SYMBOLIC = ("last_closed_month", "current_month", "previous_month")


def month_start(d: dt.date) -> dt.date:
    return dt.date(d.year, d.month, 1)


def add_months(period, n: int) -> dt.date:
    """First day of the month ``n`` months after ``period`` (negative ``n`` goes back).

    ``period`` is a date (any day: its month) or anything :func:`month_of` accepts.
    """
    if not isinstance(period, dt.date):
        period = month_of(period)
    idx = period.year * 12 + (period.month - 1) + n
    return dt.date(idx // 12, idx % 12 + 1, 1)


def month_end(period) -> dt.date:
    """Last day of ``period``'s month (``period`` as for :func:`add_months`)."""
    return add_months(period, 1) - dt.timedelta(days=1)


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


def month_of(value) -> dt.date:
    """The period (first day of the month) that ``value`` falls in; a period is required.

    Lenient, for dates coming out of code and data: ``YYYY-MM``, ``YYYY-MM-DD`` (any day),
    a ``date``/``datetime``, a pandas ``Timestamp`` or a symbolic value. ``None`` is a
    :class:`~finlib.errors.ConfigError`.

    >>> month_of("2024-03-17")
    datetime.date(2024, 3, 1)
    """
    if value is None:
        raise ConfigError("a period is required (YYYY-MM)")
    return parse_period(value, strict=False)


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
