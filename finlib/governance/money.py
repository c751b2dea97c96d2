"""The one place the controls express ledger money in the reporting currency.

Controls that **sum across currencies** (the ledger side of ``revenue_ledger_tie``,
``dev_cost_tie`` and ``campaign_spend_tie``; the materiality of ``budget_coverage``) take
their SQL from :func:`ledger_money` and nowhere else. Controls that compare money of one
document in its own currency (a subscription's invoices against its recognised revenue)
compare the amounts as stored.

Today the amount is taken **as stored** (the ``currency`` column is not converted): correct
for a single-currency ledger. To convert, this function alone changes: return the shared
conversion's CTE, join and expression (rate of the row's period, as for income and
expense), e.g. ``amount × fx_rates.rate_to_reporting`` of the span holding on the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MoneySQL:
    """SQL pieces: ``ctes`` (``name AS (...)`` items to put in a ``WITH`` list, may be
    empty), ``join`` (appended after ``FROM <table> <alias>``), ``amount`` (the expression in
    the reporting currency, DECIMAL) and the ``params`` they need."""

    ctes: tuple[str, ...] = ()
    join: str = ""
    amount: str = ""
    params: dict = field(default_factory=dict)

    def with_prefix(self) -> str:
        """``"name AS (...), "`` for the start of a ``WITH`` list ('' when none)."""
        return "".join(c + ",\n" for c in self.ctes)


def ledger_money(alias: str = "g") -> MoneySQL:
    """``gl_entries`` row ``alias``'s ``amount`` in the reporting currency (today: as stored)."""
    return MoneySQL(amount=f"{alias}.amount")
