"""Periods: the first day of a month, parsed from the forms people and schedulers use.

A *period* is always a :class:`datetime.date` on the first of a month (DESIGN.md). Every
metric accepts ``"YYYY-MM"``, ``"YYYY-MM-DD"``, a ``date``/``datetime`` or a pandas
``Timestamp`` and normalises it with :func:`parse_period`.
"""

from __future__ import annotations

import datetime as _dt

from finlib.errors import ConfigError


def parse_period(value) -> _dt.date:
    """Return the first day of the month that ``value`` falls in.

    >>> parse_period("2024-03")
    datetime.date(2024, 3, 1)
    >>> parse_period("2024-03-17")
    datetime.date(2024, 3, 1)
    """
    if value is None:
        raise ConfigError("a period is required (YYYY-MM)")
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, _dt.datetime):
        return _dt.date(value.year, value.month, 1)
    if isinstance(value, _dt.date):
        return _dt.date(value.year, value.month, 1)
    text = str(value).strip()
    for fmt in ("%Y-%m", "%Y-%m-%d"):
        try:
            d = _dt.datetime.strptime(text, fmt)
            return _dt.date(d.year, d.month, 1)
        except ValueError:
            continue
    raise ConfigError(f"period {value!r} is not a month: use YYYY-MM (e.g. 2024-03)")


def add_months(period, n: int) -> _dt.date:
    """The period ``n`` months after ``period`` (``n`` may be negative)."""
    p = parse_period(period)
    idx = p.year * 12 + (p.month - 1) + n
    return _dt.date(idx // 12, idx % 12 + 1, 1)


def month_end(period) -> _dt.date:
    """The last day of ``period``'s month."""
    return add_months(period, 1) - _dt.timedelta(days=1)


def last_closed_month(today: _dt.date | None = None) -> _dt.date:
    """The month before today's month (CONTRACTS.md)."""
    return add_months(today or _dt.date.today(), -1)


def months_between(start, end) -> list[_dt.date]:
    """Every period from ``start`` to ``end`` inclusive."""
    s, e = parse_period(start), parse_period(end)
    out = []
    while s <= e:
        out.append(s)
        s = add_months(s, 1)
    return out
