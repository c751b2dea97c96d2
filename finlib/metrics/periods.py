"""Periods for metrics: a thin, lenient layer over :mod:`finlib.periods`.

A *period* is always a :class:`datetime.date` on the first of a month (docs/SCHEMA.md, Periods). Every
metric accepts ``"YYYY-MM"``, ``"YYYY-MM-DD"`` (any day: its month), a ``date``/``datetime``
or a pandas ``Timestamp`` and normalises it with :func:`parse_period`.
"""

from __future__ import annotations

import datetime as _dt

from finlib import periods as _p
from finlib.errors import ConfigError
from finlib.periods import last_closed_month, months_between  # noqa: F401


def parse_period(value) -> _dt.date:
    """Return the first day of the month that ``value`` falls in; a period is required.

    >>> parse_period("2024-03")
    datetime.date(2024, 3, 1)
    >>> parse_period("2024-03-17")
    datetime.date(2024, 3, 1)
    """
    if value is None:
        raise ConfigError("a period is required (YYYY-MM)")
    return _p.parse_period(value, strict=False)


def add_months(period, n: int) -> _dt.date:
    """The period ``n`` months after ``period`` (``n`` may be negative)."""
    return _p.add_months(parse_period(period), n)


def month_end(period) -> _dt.date:
    """The last day of ``period``'s month."""
    return _p.month_end(parse_period(period))
