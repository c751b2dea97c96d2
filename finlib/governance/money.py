"""The one place the controls express ledger money in the reporting currency.

Controls that **sum across currencies** (the ledger side of ``revenue_ledger_tie``,
``dev_cost_tie`` and ``campaign_spend_tie``; the materiality of ``budget_coverage``) take
their SQL from :func:`ledger_money` and nowhere else. Controls that compare money of one
document in its own currency (a subscription's invoices against its recognised revenue)
compare the amounts as stored.

The conversion is finlib's one conversion (:func:`finlib.metrics.facts.in_reporting_currency`):
a ledger line converts at the rate of its period (the ``fx_rates`` row with the latest
``rate_date`` on or before the period's first day; docs/CURRENCY.md), so a control and a
dashboard add the same money.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from finlib.metrics import facts


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
    """``gl_entries`` row ``alias``'s ``amount`` in the reporting currency, at the rate of
    its period (:func:`finlib.metrics.facts.in_reporting_currency`)."""
    fx, rate = f"{alias}_fx", f"{alias}_rate"
    return MoneySQL(
        ctes=(facts.fx_cte(fx),),
        join=facts.fx_join(rate, f"{alias}.currency", f"{alias}.period", fx=fx),
        amount=facts.in_reporting_currency(f"{alias}.amount", f"{alias}.currency", f"{rate}.rate",
                                           f"{alias}.period"),
    )
