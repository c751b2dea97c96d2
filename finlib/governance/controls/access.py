"""Access controls over journal entries: segregation of duties on manual entries."""

from __future__ import annotations

from finlib.governance.controls._evidence import money
from finlib.governance.registry import (
    Context,
    ControlSettings,
    Finding,
    Outcome,
    control,
    records,
    scalar,
)


class SodSettings(ControlSettings):
    pass


@control("segregation_of_duties", SodSettings,
         frameworks=("SOX 404 ITGC: access", "COSO 2013 Principle 10 (control activities)"),
         entity="entry <id>", title="Manual entries approved by someone else",
         fails_when="a manual ledger line (is_manual) of the period has no approver, or its approver is its creator")
def segregation_of_duties(ctx: Context, cfg: SodSettings) -> Outcome:
    """Manual journal entries must be approved by a second person.

    Fails for each ``gl_entries`` row of P with ``is_manual`` true whose ``approved_by`` is
    empty, or equal to ``created_by`` (names compared trimmed and case-insensitively: "Ana"
    and "ana " are one person). System postings (``is_manual`` false) need no approver.
    ``value`` = the entry's amount, ``expected`` = None.
    """
    rows = records(ctx.conn, """
        SELECT entry_id, period, posted_at, account_id, department_id, amount, currency, memo, source_system,
               created_by, approved_by, is_manual
        FROM gl_entries
        WHERE period = :p AND is_manual
          AND (approved_by IS NULL OR TRIM(approved_by) = ''
               OR LOWER(TRIM(approved_by)) = LOWER(TRIM(COALESCE(created_by, ''))))
        ORDER BY entry_id""", ctx.params)
    checked = int(scalar(ctx.conn, "SELECT count(*) FROM gl_entries WHERE period = :p AND is_manual", ctx.params) or 0)
    findings = []
    for r in rows:
        who = (r["approved_by"] or "").strip()
        why = (f"was created and approved by the same person ({r['created_by']})" if who
               else f"has no approver (created by {r['created_by'] or 'unknown'})")
        findings.append(Finding(f"entry {r['entry_id']}", r["amount"], None,
                                f"manual entry {r['entry_id']} of {ctx.month} ({money(r['amount'])} {r['currency']}, "
                                f"account {r['account_id']}) {why}", [{"source": "gl_entries", **r}]))
    return Outcome(findings, checked)
