"""Subscriptions' end_date convention: a mapping declares inclusive ends (the loader adds a
day), and a one-day gap between a customer's subscriptions is warned about (both backends)."""

from __future__ import annotations

import pytest

from finlib.errors import ConfigError
from finlib.ingest.loader import ingest_file
from finlib.ingest.mapping import parse_mapping
from finlib.metrics.facts import mrr_movements
from tests.ingest.test_ingest import batches, write

C3 = "0015g00000AbCdEAA1"  # a seeded customer without subscriptions
# a billing export that gives the last day of service: a price change at the end of March
EXPORT = ("subscription_id,customer_id,product_id,start_date,end_date,mrr,currency,billing_period\n"
          f"s1,{C3},p1,2024-01-01,2024-03-31,100.00,USD,monthly\n"
          f"s2,{C3},p1,2024-04-01,,150.00,USD,monthly\n")


def movements(wh) -> dict[str, tuple[float, ...]]:
    """(churn, reactivation, expansion, contraction) per month, March and April 2024."""
    df = mrr_movements(wh, "2024-03", "2024-04")
    return {f"{p:%Y-%m}": (r.churn, r.reactivation, r.expansion, r.contraction)
            for p, r in zip(df["period"], df.itertuples(), strict=True)}


def test_inclusive_end_dates_load_a_month_end_price_change_as_expansion(wh, tmp_path):
    m = parse_mapping({"table": "subscriptions", "end_date": "inclusive"}, name="billing")
    res = ingest_file(wh, "subscriptions", write(tmp_path, "subs.csv", EXPORT), mapping=m)
    assert res.warnings == []
    with wh.connect(read_only=True) as conn:
        ends = conn.query("SELECT subscription_id, CAST(end_date AS VARCHAR) FROM subscriptions "
                          "WHERE customer_id = :c ORDER BY 1", {"c": C3})
    assert ends == [("s1", "2024-04-01"), ("s2", None)]
    assert movements(wh) == {"2024-03": (0.0, 0.0, 0.0, 0.0), "2024-04": (0.0, 0.0, 50.0, 0.0)}


def test_last_days_loaded_as_exclusive_ends_churn_and_reactivate_and_are_warned_about(wh, tmp_path, capsys):
    from finlib.cli import main

    assert main(["ingest", "subscriptions", str(write(tmp_path, "subs.csv", EXPORT))]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 subscription of subs.csv leaves exactly one day" in err
    assert f"customer {C3}: s1 ends 2024-03-31, s2 starts 2024-04-01" in err
    assert "end_date: inclusive" in err
    with wh.connect(read_only=True) as conn:
        [(message,)] = conn.query("SELECT message FROM ingest_batches WHERE outcome = 'accepted'")
    assert message.startswith("2 rows loaded; warning: 1 subscription of subs.csv")
    # what the warning is about: the month-end price change became churn + reactivation
    assert movements(wh) == {"2024-03": (100.0, 0.0, 0.0, 0.0), "2024-04": (0.0, 150.0, 0.0, 0.0)}


def test_the_gap_is_found_against_subscriptions_already_loaded(wh, tmp_path):
    first, second = EXPORT.splitlines()[:2], EXPORT.splitlines()[::2]
    assert ingest_file(wh, "subscriptions", write(tmp_path, "a.csv", "\n".join(first) + "\n")).warnings == []
    res = ingest_file(wh, "subscriptions", write(tmp_path, "b.csv", "\n".join(second) + "\n"))
    [w] = res.warnings
    assert "s1 ends 2024-03-31, s2 starts 2024-04-01" in w
    assert [b[1] for b in batches(wh)] == ["accepted", "accepted"]


def test_end_date_convention_is_checked_in_the_mapping():
    with pytest.raises(ConfigError, match="inclusive.*exclusive"):
        parse_mapping({"table": "subscriptions", "end_date": "last_day"})
    with pytest.raises(ConfigError, match="subscriptions only"):
        parse_mapping({"table": "invoices", "end_date": "inclusive"})
    assert parse_mapping({"table": "subscriptions"}).end_date == "exclusive"
