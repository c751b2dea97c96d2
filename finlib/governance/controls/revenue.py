"""Revenue recognition controls: the ratable schedule, revenue ahead of billing, and the
sub-ledger's tie to the general ledger.

Conventions: an invoice's service runs from ``service_start`` to ``service_end``
**inclusive**; ``void`` invoices are never recognised; credit notes (negative invoices) are
spread like any invoice. Money of one subscription is compared as stored (its invoices and
its recognised revenue share a currency); the ledger side of the tie goes through
:func:`finlib.governance.money.ledger_money`. Subscriptions are identified by
``subscription_id`` exactly as stored; revenue rows without a subscription are left to the
ledger tie.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from finlib.governance.controls._evidence import by_key, count_and_failures, money, off_by
from finlib.governance.money import ledger_money
from finlib.governance.registry import (
    Context,
    ControlSettings,
    Finding,
    Outcome,
    control,
    query,
    records,
)
from finlib.metrics import facts


class ToleranceSettings(ControlSettings):
    tolerance: float = Field(1.00, ge=0, description="money, reporting currency: differences up to this pass")


class ScheduleSettings(ToleranceSettings):
    convention: Literal["daily", "monthly"] = "daily"


def _dim(d: str) -> str:
    """SQL: the number of days in the month of date expression ``d``."""
    return (f"EXTRACT(DAY FROM CAST(CAST(date_trunc('month', {d}) AS DATE) + INTERVAL '1 month' "
            f"- INTERVAL '1 day' AS DATE))")


def _share_sql(convention: str) -> str:
    """SQL: the share of invoice ``i``'s amount that falls in the period (``:p`` .. ``:e``).

    * ``daily``: days of service in P ÷ days of service;
    * ``monthly``: each month of service weighs 1, a partial month (days covered ÷ days in
      that month); share = weight of P ÷ total weight. Equal whole months, partial months by days.
    """
    in_p = "(LEAST(i.service_end, :e) - GREATEST(i.service_start, :p) + 1)"
    if convention == "daily":
        return f"CAST({in_p} AS DOUBLE PRECISION) / (i.service_end - i.service_start + 1)"
    months = ("((EXTRACT(YEAR FROM i.service_end) - EXTRACT(YEAR FROM i.service_start)) * 12 "
              "+ EXTRACT(MONTH FROM i.service_end) - EXTRACT(MONTH FROM i.service_start))")
    first = f"CAST({_dim('i.service_start')} - EXTRACT(DAY FROM i.service_start) + 1 AS DOUBLE PRECISION) / {_dim('i.service_start')}"
    last = f"CAST(EXTRACT(DAY FROM i.service_end) AS DOUBLE PRECISION) / {_dim('i.service_end')}"
    same = f"CAST(i.service_end - i.service_start + 1 AS DOUBLE PRECISION) / {_dim('i.service_start')}"
    total = f"(CASE WHEN {months} = 0 THEN {same} ELSE {first} + ({months} - 1) + {last} END)"
    weight_p = f"CAST({in_p} AS DOUBLE PRECISION) / {_dim(':p')}"
    return f"({weight_p}) / {total}"


def schedule_sql(convention: str = "daily") -> str:
    """SQL (params ``:p``, ``:e``): per subscription, ``expected`` = Σ non-void invoice amount
    × its share of P and ``recognised`` = Σ ``revenue_recognized.amount`` of P (both sides,
    FULL OUTER JOIN: revenue without any invoice in P is expected to be 0)."""
    return f"""
    WITH inv AS (
        SELECT i.subscription_id, CAST(i.amount AS DOUBLE PRECISION) * {_share_sql(convention)} AS part
        FROM invoices i
        WHERE i.status <> 'void' AND i.subscription_id IS NOT NULL
          AND i.service_end >= i.service_start
          AND i.service_start <= :e AND i.service_end >= :p
    ),
    sched AS (SELECT subscription_id, SUM(part) AS expected FROM inv GROUP BY subscription_id),
    rec AS (
        SELECT subscription_id, CAST(SUM(amount) AS DOUBLE PRECISION) AS recognised
        FROM revenue_recognized WHERE period = :p AND subscription_id IS NOT NULL
        GROUP BY subscription_id
    )
    SELECT COALESCE(s.subscription_id, r.subscription_id) AS subscription_id,
           COALESCE(r.recognised, 0) AS recognised, COALESCE(s.expected, 0) AS expected
    FROM sched s FULL OUTER JOIN rec r ON r.subscription_id = s.subscription_id
    """


@control("revenue_schedule", ScheduleSettings,
         frameworks=("ASC 606-10-25-27 / IFRS 15.35", "ASC 606-10-55-18 / IFRS 15.B16",
                     "SOX 404: revenue recognition process"),
         entity="subscription <id>", title="Revenue follows the ratable schedule",
         fails_when="a subscription's recognised revenue of the period differs by more than the tolerance "
                    "from its invoices spread over their service days (daily) or months (monthly)")
def revenue_schedule(ctx: Context, cfg: ScheduleSettings) -> Outcome:
    r"""Recognised revenue against the ratable schedule of the invoices.

    .. math:: E_s = \sum_{i \in s,\ \text{non-void}} A_i \cdot \frac{d_i(P)}{D_i}, \qquad
              \text{fail when } |R_s - E_s| > \text{tolerance}

    :math:`A_i` the invoice amount, :math:`d_i(P)` its service days inside P, :math:`D_i`
    its service days (``service_end − service_start + 1``); :math:`R_s` the subscription's
    ``revenue_recognized`` of P. ``value`` = :math:`R_s`, ``expected`` = :math:`E_s` (money,
    as stored). Revenue before service starts, after it ends, on a void invoice or in the
    wrong amount all show as a difference.
    """
    sql = schedule_sql(cfg.convention)
    checked, rows = count_and_failures(ctx.conn, sql, "ABS(recognised - expected) > :tol",
                                       ("subscription_id", "recognised", "expected"),
                                       {**ctx.params, "tol": cfg.tolerance})
    ids = [r[0] for r in rows]
    share = _share_sql(cfg.convention)
    inv = by_key(ctx.conn, f"""
        SELECT i.subscription_id, i.invoice_id, i.status, i.issued_on, i.service_start, i.service_end, i.amount,
               (i.service_end - i.service_start + 1) AS service_days,
               CASE WHEN i.service_start <= :e AND i.service_end >= :p
                    THEN LEAST(i.service_end, :e) - GREATEST(i.service_start, :p) + 1 ELSE 0 END AS days_in_period,
               CASE WHEN i.status <> 'void' AND i.service_start <= :e AND i.service_end >= :p
                         AND i.service_end >= i.service_start
                    THEN ROUND(CAST(CAST(i.amount AS DOUBLE PRECISION) * {share} AS NUMERIC), 2) ELSE 0 END
                    AS schedule_in_period
        FROM invoices i WHERE i.subscription_id IN ({{ids}})
          AND i.service_start <= :e AND i.service_end >= :p
        ORDER BY i.subscription_id, i.service_start, i.invoice_id""", "subscription_id", ids, ctx.params,
                  ctx.evidence_rows, source="invoices")
    rec = by_key(ctx.conn, """
        SELECT subscription_id, period, customer_id, amount FROM revenue_recognized
        WHERE period = :p AND subscription_id IN ({ids}) ORDER BY subscription_id""", "subscription_id", ids,
                 ctx.params, ctx.evidence_rows, source="revenue_recognized")
    findings = []
    for sid, recognised, expected in rows:
        findings.append(Finding(
            f"subscription {sid}", round(recognised, 2), round(expected, 2),
            f"subscription {sid}: recognised {money(recognised)} in {ctx.month}, the {cfg.convention} schedule "
            f"of its invoices gives {money(expected)} {off_by(recognised, expected, cfg.tolerance)}",
            inv.get(str(sid), []) + rec.get(str(sid), [])))
    return Outcome(findings, checked)


@control("deferred_revenue", ToleranceSettings,
         frameworks=("ASC 606-10-25-23 / IFRS 15.31", "ASC 606-10-45-1 / IFRS 15.105",
                     "SOX 404: revenue cut-off"),
         entity="subscription <id>", title="No revenue recognised ahead of billing",
         fails_when="revenue recognised up to the end of the period exceeds what was billed by then "
                    "(non-void invoices issued on or before the period's last day) by more than the tolerance")
def deferred_revenue(ctx: Context, cfg: ToleranceSettings) -> Outcome:
    r"""Revenue recognised ahead of billing (the deferred-revenue roll-forward going negative).

    .. math:: R_s(\le P) - B_s(\le P) > \text{tolerance}

    :math:`R_s(\le P)` = Σ ``revenue_recognized.amount`` of the subscription for periods up
    to P; :math:`B_s(\le P)` = Σ non-void invoice amounts issued on or before P's last day.
    Deferred revenue (a contract liability) = billed − recognised ≥ 0 for a business that
    bills in advance; below zero, revenue ran ahead of billing. ``value`` = recognised to
    date, ``expected`` = billed to date (money, as stored).
    """
    sql = """
    WITH rec AS (
        SELECT subscription_id, SUM(amount) AS recognised FROM revenue_recognized
        WHERE period <= :p AND subscription_id IS NOT NULL GROUP BY subscription_id),
    bill AS (
        SELECT subscription_id, SUM(amount) AS billed FROM invoices
        WHERE status <> 'void' AND issued_on <= :e AND subscription_id IS NOT NULL GROUP BY subscription_id)
    SELECT r.subscription_id, CAST(r.recognised AS DOUBLE PRECISION) AS recognised,
           CAST(COALESCE(b.billed, 0) AS DOUBLE PRECISION) AS billed
    FROM rec r LEFT JOIN bill b ON b.subscription_id = r.subscription_id
    """
    checked, rows = count_and_failures(ctx.conn, sql, "recognised - billed > :tol",
                                       ("subscription_id", "recognised", "billed"),
                                       {**ctx.params, "tol": cfg.tolerance})
    ids = [r[0] for r in rows]
    inv = by_key(ctx.conn, """
        SELECT subscription_id, invoice_id, issued_on, status, service_start, service_end, amount FROM invoices
        WHERE issued_on <= :e AND subscription_id IN ({ids}) ORDER BY subscription_id, issued_on, invoice_id""",
                 "subscription_id", ids, ctx.params, ctx.evidence_rows, source="invoices")
    rec = by_key(ctx.conn, """
        SELECT subscription_id, period, SUM(amount) AS amount FROM revenue_recognized
        WHERE period <= :p AND subscription_id IN ({ids}) GROUP BY subscription_id, period
        ORDER BY subscription_id, period""", "subscription_id", ids, ctx.params, ctx.evidence_rows,
                 source="revenue_recognized")
    findings = [Finding(
        f"subscription {sid}", round(recognised, 2), round(billed, 2),
        f"subscription {sid}: {money(recognised)} recognised up to {ctx.end} but only {money(billed)} billed by "
        f"then: {money(recognised - billed)} recognised ahead of billing (tolerance {money(cfg.tolerance)})",
        inv.get(str(sid), []) + rec.get(str(sid), [])) for sid, recognised, billed in rows]
    return Outcome(findings, checked)


@control("revenue_ledger_tie", ToleranceSettings,
         frameworks=("SOX 404: sub-ledger to general ledger reconciliation",
                     "SOX 404: period-end financial reporting process",
                     "COSO 2013 Principle 13 (quality information)"),
         entity="company", title="Recognised revenue ties to the ledger",
         fails_when="total revenue_recognized of the period differs from the revenue posted to the ledger "
                    "(accounts of type revenue) by more than the tolerance")
def revenue_ledger_tie(ctx: Context, cfg: ToleranceSettings) -> Outcome:
    r"""The revenue sub-ledger ties to the general ledger.

    .. math:: \Big|\sum_{P} \text{revenue\_recognized.amount} - \sum_{P,\ \text{revenue accounts}}
              \text{gl\_entries.amount}\Big| > \text{tolerance}

    Both sides in the reporting currency: the sub-ledger by
    :func:`finlib.metrics.facts.recognised_revenue` (each row in its subscription's currency,
    converted at the period's rate), the ledger by :func:`~finlib.governance.money.ledger_money`.
    The evidence rows of the sub-ledger are per product *and currency*, in that currency.
    ``value`` = the sub-ledger total, ``expected`` = the ledger total. Evidence: both sides
    by account / product, and the revenue lines not posted by the billing sync.
    """
    m = ledger_money("g")
    sub = float(facts.recognised_revenue(ctx.conn, ctx.period)["revenue"].iloc[0])
    (led,) = query(ctx.conn, f"""
        WITH {m.with_prefix()}x AS (SELECT 1 AS one)
        SELECT (SELECT CAST(COALESCE(SUM({m.amount}), 0) AS DOUBLE PRECISION)
                FROM gl_entries g {m.join} JOIN accounts a ON a.account_id = g.account_id
                WHERE a.account_type = 'revenue' AND g.period = :p) AS ledger
        FROM x""", {**ctx.params, **m.params})[0]
    if abs(sub - led) <= cfg.tolerance:
        return Outcome([], 1)
    evidence = [{"source": "revenue_recognized", **r} for r in records(ctx.conn, f"""
        SELECT COALESCE(s.product_id, '(no subscription)') AS product_id,
               {facts.recognised_currency_sql("s")} AS currency,
               CAST(SUM(r.amount) AS DOUBLE PRECISION) AS amount, count(*) AS rows
        FROM revenue_recognized r LEFT JOIN subscriptions s ON s.subscription_id = r.subscription_id
        WHERE r.period = :p GROUP BY 1, 2 ORDER BY 1, 2""", ctx.params)]
    evidence += [{"source": "gl_entries", **r} for r in records(ctx.conn, f"""
        WITH {m.with_prefix()}x AS (SELECT 1 AS one)
        SELECT g.account_id, g.currency, COALESCE(g.source_system, '') AS source_system,
               CAST(SUM({m.amount}) AS DOUBLE PRECISION) AS amount, count(*) AS rows
        FROM gl_entries g {m.join} JOIN accounts a ON a.account_id = g.account_id
        WHERE a.account_type = 'revenue' AND g.period = :p GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        {**ctx.params, **m.params})]
    evidence += [{"source": "gl_entries", **r} for r in records(ctx.conn, """
        SELECT g.entry_id, g.posted_at, g.account_id, g.amount, g.currency, g.source_system, g.memo,
               g.created_by, g.approved_by, g.is_manual
        FROM gl_entries g JOIN accounts a ON a.account_id = g.account_id
        WHERE a.account_type = 'revenue' AND g.period = :p AND (g.is_manual OR COALESCE(g.source_system, '') <> 'billing')
        ORDER BY g.entry_id""", ctx.params, limit=ctx.evidence_rows)]
    return Outcome([Finding(
        "company", round(sub, 2), round(led, 2),
        f"recognised revenue of {ctx.month} is {money(sub)} in revenue_recognized but {money(led)} on the "
        f"ledger's revenue accounts {off_by(sub, led, cfg.tolerance)}",
        evidence)], 1)
