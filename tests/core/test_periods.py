import datetime as dt

import pytest

from finlib.errors import ConfigError
from finlib.periods import add_months, month_end, parse_period


def test_last_closed_month_is_the_month_before_today():
    assert parse_period("last_closed_month", today=dt.date(2026, 1, 15)) == dt.date(2025, 12, 1)
    assert parse_period(None, today=dt.date(2026, 11, 26)) == dt.date(2026, 10, 1)


def test_add_months_crosses_years_both_ways():
    assert add_months(dt.date(2024, 11, 1), 3) == dt.date(2025, 2, 1)
    assert add_months(dt.date(2024, 1, 1), -13) == dt.date(2022, 12, 1)


def test_month_end_knows_leap_years():
    assert month_end(dt.date(2024, 2, 1)) == dt.date(2024, 2, 29)
    assert month_end(dt.date(2023, 2, 1)) == dt.date(2023, 2, 28)


@pytest.mark.parametrize("bad", ["2024-13", "2024-03-15", "March 2024", "24-03"])
def test_bad_periods_are_refused_with_a_clear_message(bad):
    with pytest.raises(ConfigError, match="period"):
        parse_period(bad)


def test_month_of_maps_any_day_to_its_month_and_requires_a_period():
    import pandas as pd

    from finlib.periods import month_of

    assert month_of("2024-03-17") == dt.date(2024, 3, 1)
    assert month_of(dt.datetime(2024, 3, 31, 23, 59)) == dt.date(2024, 3, 1)
    assert month_of(pd.Timestamp("2024-02-29")) == dt.date(2024, 2, 1)
    with pytest.raises(ConfigError, match="period is required"):
        month_of(None)


def test_add_months_and_month_end_accept_any_spelling_of_a_month():
    assert add_months("2024-11", 3) == dt.date(2025, 2, 1)
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 1)
    assert month_end("2024-02-10") == dt.date(2024, 2, 29)
