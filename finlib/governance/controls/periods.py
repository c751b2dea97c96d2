"""Change management over closed periods: every change made after a period's first close."""

from __future__ import annotations

from collections import defaultdict

from finlib.governance.registry import (
    Context,
    ControlSettings,
    Finding,
    Outcome,
    control,
    records,
)


class ClosedChangesSettings(ControlSettings):
    pass


@control("closed_period_changes", ClosedChangesSettings,
         frameworks=("SOX 404 ITGC: change management", "SOX 404: period-end financial reporting process",
                     "COSO 2013 Principle 10 (control activities)"),
         entity="period YYYY-MM · batch <id>", title="No change to a closed period",
         fails_when="data of the period changed after it was first closed (each batch that changed it, "
                    "with the reopen that allowed it)")
def closed_period_changes(ctx: Context, cfg: ClosedChangesSettings) -> Outcome:
    """Every batch recorded in ``period_changes`` for P: a change made after P's first close.

    A closed period refuses every write (:mod:`finlib.governance.periods_close`), so a change
    can only follow a reopen; the finding names the batch, what it changed (table, rows
    before and after), who, when, and the reopen events (who, when, why) as evidence.
    ``value`` = rows after the batch, ``expected`` = rows before (summed over its tables).
    """
    if not ctx.conn.table_exists("period_changes"):
        return Outcome([], 0, "no period tables (run `finlib db init`)")
    changes = records(ctx.conn, """
        SELECT batch_id, change_id, period, table_name, action, target, actor, changed_at, rows_before,
               rows_after, details
        FROM period_changes WHERE period = :p ORDER BY changed_at, batch_id, table_name""", ctx.params)
    events = records(ctx.conn, """
        SELECT event_id, period, action, actor, recorded_at, reason FROM period_closes
        WHERE period = :p ORDER BY recorded_at, event_id""", ctx.params)
    first_close = next((e["recorded_at"] for e in events if e["action"] == "close"), None)
    by_batch: dict[str, list[dict]] = defaultdict(list)
    for c in changes:
        by_batch[str(c["batch_id"])].append(c)
    findings = []
    for bid, rows in by_batch.items():
        c0 = rows[0]
        reopen = [e for e in events if e["action"] == "reopen" and (e["recorded_at"] or "") <= (c0["changed_at"] or "")]
        last = reopen[-1] if reopen else None
        what = ", ".join(f"{r['table_name']} ({r['rows_before']} → {r['rows_after']} rows)" for r in rows)
        why = (f"; reopened by {last['actor']} on {last['recorded_at'][:16]}: {last['reason']!r}" if last else "")
        findings.append(Finding(
            f"period {ctx.month} · batch {bid}", float(sum(r["rows_after"] for r in rows)),
            float(sum(r["rows_before"] for r in rows)),
            f"{c0['action']} by {c0['actor']} on {str(c0['changed_at'])[:16]} changed {what} of {ctx.month} after it "
            f"was first closed on {str(first_close)[:16]}{why}",
            [{"source": "period_changes", **r} for r in rows] + [{"source": "period_closes", **e} for e in events]))
    return Outcome(findings, len(by_batch) if by_batch else len(events))
