"""The financial controls, one small module per family, each registered in
:data:`finlib.governance.registry.CONTROLS` on import (the order below is the order of
evaluation and of the docs).

================  =====================================================================
module            controls
================  =====================================================================
``revenue``       ``revenue_schedule``, ``deferred_revenue``, ``revenue_ledger_tie``
``costs``         ``dev_cost_tie``, ``campaign_spend_tie``, ``budget_coverage``
``access``        ``segregation_of_duties``
``reports``       ``roi_reproducible``
``periods``       ``closed_period_changes``
================  =====================================================================
"""

from finlib.governance.controls import access, costs, periods, reports, revenue  # noqa: F401
from finlib.governance.registry import CONTROLS

__all__ = ["ORDER", "access", "costs", "periods", "reports", "revenue"]

#: the order of evaluation, of the command's output and of the docs
ORDER = ("revenue_schedule", "deferred_revenue", "revenue_ledger_tie", "dev_cost_tie", "campaign_spend_tie",
         "budget_coverage", "segregation_of_duties", "roi_reproducible", "closed_period_changes")


def _reorder() -> None:
    ordered = {n: CONTROLS[n] for n in ORDER if n in CONTROLS}
    ordered.update({n: c for n, c in CONTROLS.items() if n not in ordered})
    CONTROLS.clear()
    CONTROLS.update(ordered)


_reorder()
