"""Planted control failures and near misses on the demo company (last closed month P).

:func:`plant_controls` runs inside the generator's write batch, after every table is
written, and returns the ``controls`` key of the demo truth: for each control the entities
that must fail in P and the near misses that must not. Every choice is a deterministic
query (ordered by id), so the same seed plants the same rows at every scale. Alert plants
(budget lines, campaigns, features of :mod:`finlib.demo.costs`) are left alone, so the alert
truths still hold.

=========================  ==============================================  ==========================================
control                    failure in P                                    near miss (must not fail)
=========================  ==============================================  ==========================================
``revenue_schedule``       an annual subscription recognises +40.00        another recognises +0.60 (tolerance 1.00)
``deferred_revenue``       a monthly invoice of P issued on P+1's 2nd day  a monthly subscription +0.50 ahead of billing
``revenue_ledger_tie``     a manual +250.00 revenue line in the ledger     P−1: a +0.70 revenue line (tolerance 1.00)
``dev_cost_tie``           a feature's dev cost +300.00                    another feature +0.80
``campaign_spend_tie``     a campaign that ended 13+ months ago +500.00    the running campaign +5,000 (not final);
                                                                           an ended one +0.90
``budget_coverage``        a budget line of P entered for P+1 (and the     500.00 a month of unbudgeted cost (under the
                           foreign-currency lines, never budgeted)         1,000.00 materiality floor)
``segregation_of_duties``  the self-approved accrual of P (cost model)     manual accruals approved by a colleague;
                           and an accrual with its approver removed        system postings without approver
``closed_period_changes``  P closed, reopened with a reason, then a        P−1 closed and reopened without change; the
                           late credit note booked into it                 demo load itself (before the first close)
``roi_reproducible``       :func:`plant_report`: an archived report whose  the same report's ``mrr`` 0.3 % off
                           ``roi_marketing`` is 5 % off
=========================  ==============================================  ==========================================
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from finlib.demo.costs import (
    BV_BREACH_OVER,
    BV_BREACH_UNDER,
    BV_NEAR_OVER,
    BV_NEAR_UNDER,
    CC_BREACH,
    CC_NEAR_BUDGET,
    CC_NEAR_RATIO,
)
from finlib.demo.truth import load_truth
from finlib.governance.controls.reports import FIGURES, SCRAP_MIME, recompute
from finlib.governance.errors import PeriodClosedError
from finlib.governance.periods_close import PERIOD_COLUMNS, closed_state, empty_fingerprint, fingerprints
from finlib.jobs import archive
from finlib.periods import add_months, format_period, month_end, parse_period

MATERIALITY = 1000.00  # the budget_coverage default of parameters/controls.yaml


def _p(x) -> dt.date:
    return parse_period(str(x)[:10], strict=False)


def _one(conn, sql: str, params: dict | None = None):
    rows = conn.query(sql, params)
    if not rows:
        raise RuntimeError(f"controls plant: no candidate for {sql.split('FROM')[0].strip()[:60]}")
    return rows[0]


def plant_controls(b, truth: dict, rows: dict[str, int] | None = None) -> dict:
    """Plant inside write batch ``b`` (the generator's); returns the ``controls`` truth.
    ``rows`` (the generator's rows written per table) is kept up to date."""

    conn = b.conn
    P = _p(truth["last_closed_month"])
    E, N, P1 = month_end(P), add_months(P, 1), add_months(P, -1)
    month = format_period(P)
    fails: list[dict] = []
    near: list[dict] = []

    def fail(control, entity, cause, period=P):
        fails.append({"control": control, "period": format_period(period), "entity": entity, "cause": cause})

    def miss(control, entity, why, period=P):
        near.append({"control": control, "period": format_period(period), "entity": entity, "why": why})

    def gl_line(entry_id, period, account, dept, amount, memo, *, manual=False, created="billing-sync",
                approved=None, source="billing", campaign=None, feature=None):
        b.execute("INSERT INTO gl_entries (entry_id, posted_at, period, account_id, department_id, amount, currency, "
                  "feature_id, campaign_id, vendor, memo, source_system, created_by, approved_by, is_manual) VALUES "
                  "(:i, :t, :p, :a, :d, :m, 'USD', :f, :c, NULL, :memo, :s, :cb, :ab, :man)",
                  {"i": entry_id, "t": dt.datetime.combine(month_end(period), dt.time(21, 0)), "p": period,
                   "a": account, "d": dept, "m": amount, "f": feature, "c": campaign, "memo": memo, "s": source,
                   "cb": created, "ab": approved, "man": manual})
        b._count("gl_entries", 1)
        if rows is not None:
            rows["gl_entries"] = rows.get("gl_entries", 0) + 1

    # -- revenue_schedule: annual subscriptions with a year billed ahead (so deferred revenue is unaffected)
    annual = conn.query("""
        SELECT r.subscription_id FROM revenue_recognized r JOIN subscriptions s ON s.subscription_id = r.subscription_id
        WHERE r.period = :p AND s.billing_period = 'annual' AND r.amount > 100
          AND (SELECT SUM(i.amount) FROM invoices i WHERE i.subscription_id = r.subscription_id AND i.status <> 'void'
               AND i.issued_on <= :e) - (SELECT SUM(x.amount) FROM revenue_recognized x
               WHERE x.subscription_id = r.subscription_id AND x.period <= :p) > 1000
        ORDER BY r.subscription_id LIMIT 2""", {"p": P, "e": E})
    s_fail, s_near = annual[0][0], annual[1][0]
    for sid, delta in ((s_fail, 40.00), (s_near, 0.60)):
        b.update("revenue_recognized", "amount = amount + :d", "period = :p AND subscription_id = :s "
                 "AND customer_id = (SELECT min(customer_id) FROM revenue_recognized WHERE period = :p "
                 "AND subscription_id = :s)", {"d": delta, "p": P, "s": sid})
    fail("revenue_schedule", f"subscription {s_fail}", "40.00 more revenue than the ratable schedule of its invoice")
    miss("revenue_schedule", f"subscription {s_near}", "0.60 more revenue than its schedule: inside the 1.00 tolerance")

    # -- deferred_revenue: monthly subscriptions billed at the start of each month
    monthly = conn.query("""
        SELECT i.subscription_id, i.invoice_id FROM invoices i JOIN subscriptions s ON s.subscription_id = i.subscription_id
        WHERE s.billing_period = 'monthly' AND i.status = 'paid' AND i.issued_on = :p AND i.service_start = :p
          AND i.service_end = :e AND i.amount > 100 AND i.subscription_id NOT IN (:a, :b)
          AND (SELECT count(*) FROM invoices v WHERE v.subscription_id = i.subscription_id AND v.status = 'void') = 0
        ORDER BY i.subscription_id LIMIT 2""", {"p": P, "e": E, "a": s_fail, "b": s_near})
    (d_fail, d_inv), (d_near, _) = monthly[0], monthly[1]
    b.update("invoices", "issued_on = :d", "invoice_id = :i", {"d": N + dt.timedelta(days=1), "i": d_inv})
    b.update("revenue_recognized", "amount = amount + 0.50", "period = :p AND subscription_id = :s",
             {"p": P, "s": d_near})
    fail("deferred_revenue", f"subscription {d_fail}", f"invoice {d_inv} for {month} issued after the month: "
         "its revenue was recognised before it was billed")
    miss("deferred_revenue", f"subscription {d_near}", "0.50 recognised ahead of billing: inside the tolerance")
    # the ledger follows the sub-ledger's +40.00 +0.60 +0.50: the tie fails only for its own plant
    gl_line("GCTL-REV-01", P, "4000", "D10", 41.10, "Revenue recognition adjustment")

    # -- revenue_ledger_tie: a manual revenue line in P (approved by a colleague); P-1 within tolerance
    gl_line("GCTL-REV-02", P, "4000", "D10", 250.00, "Manual revenue adjustment", manual=True,
            created="j.fischer", approved="m.rossi", source="manual")
    gl_line("GCTL-REV-03", P1, "4000", "D10", 0.70, "Rounding", source="billing")
    fail("revenue_ledger_tie", "company", "a manual 250.00 revenue line with no revenue_recognized behind it")
    miss("revenue_ledger_tie", "company", "the ledger is 0.70 above the sub-ledger: inside the tolerance", P1)

    # -- dev_cost_tie: the features with the largest cost in P, except the alert plants
    excluded = [truth.get("alerts", {}).get("breaches", []), truth.get("alerts", {}).get("near_misses", [])]
    skip_c = {e["entity"].get("campaign_id") for group in excluded for e in group if "campaign_id" in e["entity"]}
    # +300.00 never goes to the product_development near miss (it must stay under its line); a planted
    # breach only moves further over; +0.80 moves nothing
    near_f = {e["entity"].get("feature_id") for e in truth.get("alerts", {}).get("near_misses", [])
              if "feature_id" in e["entity"]}
    in_p = [f for (f,) in conn.query("SELECT feature_id FROM dev_costs WHERE period = :p GROUP BY feature_id "
                                     "ORDER BY SUM(cost) DESC, feature_id", {"p": P})]
    f_fail = next(f for f in in_p if f not in near_f)
    feats = [f_fail, next(f for f in in_p if f != f_fail)]
    for fid, delta in ((feats[0], 300.00), (feats[1], 0.80)):
        b.update("dev_costs", "cost = cost + :d", "period = :p AND feature_id = :f AND "
                 "COALESCE(milestone_id, '') = (SELECT min(COALESCE(milestone_id, '')) FROM dev_costs "
                 "WHERE period = :p AND feature_id = :f)", {"d": delta, "p": P, "f": fid})
    fail("dev_cost_tie", f"feature {feats[0]}", "dev cost 300.00 above the feature's ledger lines")
    miss("dev_cost_tie", f"feature {feats[1]}", "dev cost 0.80 above its ledger lines: inside the tolerance")

    # -- campaign_spend_tie: campaigns that ended more than 12 months ago (outside the campaign ROI rule)
    old = [c for (c,) in conn.query("SELECT campaign_id FROM marketing_campaigns WHERE ended_on < :cut "
                                    "ORDER BY campaign_id", {"cut": add_months(P, -12)}) if c not in skip_c]
    running = _one(conn, "SELECT campaign_id FROM marketing_campaigns WHERE ended_on IS NULL AND product_id IS NULL "
                         "ORDER BY campaign_id")[0]
    for cid, delta in ((old[0], 500.00), (old[1], 0.90), (running, 5000.00)):
        b.update("marketing_campaigns", "spend = spend + :d", "campaign_id = :c", {"d": delta, "c": cid})
    fail("campaign_spend_tie", f"campaign {old[0]}", "recorded spend 500.00 above its ledger lines")
    miss("campaign_spend_tie", f"campaign {old[1]}", "spend 0.90 above its ledger lines: inside the tolerance")
    miss("campaign_spend_tie", f"campaign {running}", "still running: spend booked as planned, not final")

    # -- budget_coverage: delete one ordinary budget line of P; add a small unbudgeted line
    planted = {BV_BREACH_OVER, BV_BREACH_UNDER, BV_NEAR_OVER, BV_NEAR_UNDER, CC_BREACH, CC_NEAR_BUDGET, CC_NEAR_RATIO}
    lines = conn.query("""
        SELECT b.department_id, b.account_id FROM budgets b JOIN accounts a ON a.account_id = b.account_id
        WHERE b.period = :p AND a.account_type IN ('cogs', 'opex')
          AND (SELECT SUM(g.amount) FROM gl_entries g WHERE g.period = :p AND g.department_id = b.department_id
               AND g.account_id = b.account_id) > :floor * 5
        ORDER BY b.department_id, b.account_id""", {"p": P, "floor": MATERIALITY})
    dep, acc = next((d, a) for d, a in lines if (d, a) not in planted)
    b.update("budgets", "period = :n", "period = :p AND department_id = :d AND account_id = :a",
             {"n": N, "p": P, "d": dep, "a": acc})
    fail("budget_coverage", f"department {dep} · account {acc}", "its budget line for the month was entered "
         "for the next month")
    for d, a in conn.query("""
        SELECT c.department_id, c.account_id FROM (SELECT g.department_id, g.account_id FROM gl_entries g
        JOIN accounts x ON x.account_id = g.account_id WHERE g.period = :p AND x.account_type IN ('cogs', 'opex')
        GROUP BY 1, 2) c WHERE NOT EXISTS (SELECT 1 FROM budgets b WHERE b.period = :p
        AND b.department_id = c.department_id AND b.account_id = c.account_id) ORDER BY 1, 2""", {"p": P}):
        if (d, a) != (dep, acc):
            fail("budget_coverage", f"department {d} · account {a}", "a foreign-currency cost line with no budget")
    n_dep, n_acc = _one(conn, """
        SELECT d.department_id, a.account_id FROM departments d CROSS JOIN accounts a
        WHERE a.account_type = 'opex' AND NOT EXISTS (SELECT 1 FROM gl_entries g WHERE g.department_id = d.department_id
              AND g.account_id = a.account_id AND g.period >= :q)
          AND NOT EXISTS (SELECT 1 FROM budgets x WHERE x.department_id = d.department_id AND x.account_id = a.account_id)
        ORDER BY d.department_id DESC, a.account_id DESC""", {"q": add_months(P, -3)})
    for k in range(4):  # a steady small line: not a cost-control rise either
        gl_line(f"GCTL-BUD-{k}", add_months(P, k - 3), n_acc, n_dep, MATERIALITY / 2, "Small unbudgeted service",
                created="ap-sync", source="ap")
    miss("budget_coverage", f"department {n_dep} · account {n_acc}",
         f"{MATERIALITY / 2:,.2f} of unbudgeted cost: under the {MATERIALITY:,.2f} materiality floor")

    # -- segregation_of_duties
    for (eid,) in conn.query("SELECT entry_id FROM gl_entries WHERE period = :p AND is_manual AND approved_by = created_by "
                             "ORDER BY entry_id", {"p": P}):
        fail("segregation_of_duties", f"entry {eid}", "a manual accrual approved by its creator")
    approved = [e for (e,) in conn.query(
        "SELECT entry_id FROM gl_entries WHERE period = :p AND is_manual AND approved_by IS NOT NULL "
        "AND approved_by <> created_by AND entry_id NOT LIKE 'GCTL-%' ORDER BY entry_id", {"p": P})]
    b.update("gl_entries", "approved_by = NULL", "entry_id = :e", {"e": approved[0]})
    fail("segregation_of_duties", f"entry {approved[0]}", "a manual accrual with no approver")
    miss("segregation_of_duties", f"entry {approved[1]}", "a manual accrual approved by a colleague")
    miss("segregation_of_duties", "entry GCTL-REV-02", "a manual revenue line approved by a colleague")
    sys_entry = _one(conn, "SELECT entry_id FROM gl_entries WHERE period = :p AND NOT is_manual AND approved_by IS NULL "
                           "ORDER BY entry_id", {"p": P})[0]
    miss("segregation_of_duties", f"entry {sys_entry}", "a system posting: needs no approver")

    # -- closed_period_changes: a close history (P reopened for a late credit note; P-1 reviewed, unchanged)

    still_closed = sorted(format_period(p) for p, s in closed_state(conn).items() if s == "close")
    if still_closed:  # the rebuild replaces every row: refuse before the close history is replaced
        raise PeriodClosedError(
            f"period {', '.join(still_closed)} is closed: rebuilding the demo data would change it; nothing was "
            f"written. Reopen it first with `finlib period reopen {still_closed[0]} --reason \"...\"`, or point "
            "FINLIB_DB_URL at another warehouse.")
    for t in ("period_changes", "period_fingerprints", "period_closes"):  # the demo's own close history
        b.delete(t)
    at = dt.datetime.combine(N, dt.time(18, 0)) + dt.timedelta(days=2)  # closed on the 3rd of the next month
    at1 = dt.datetime.combine(P, dt.time(18, 0)) + dt.timedelta(days=2)
    events = [("c1", P1, "close", "controller", at1, None), ("c2", P1, "reopen", "controller", at1 + dt.timedelta(days=1),
                                                             "review of accruals (no change)"),
              ("c3", P, "close", "controller", at, None),
              ("c4", P, "reopen", "cfo", at + dt.timedelta(days=1), "late vendor credit note")]
    for eid, per, action, actor, when, reason in events:
        b.execute("INSERT INTO period_closes (event_id, period, action, actor, recorded_at, reason) VALUES "
                  "(:e, :p, :a, :u, :t, :r)", {"e": when.strftime("%Y%m%dT%H%M%S000000-") + eid, "p": per,
                                               "a": action, "u": actor, "t": when, "r": reason})
    gl_line("GCTL-CPC-01", P, "6100", "D50", -100.00, "Vendor credit note (booked after close)",
            created="ap-sync", source="ap")
    batch = "demo-late-credit-note"
    b.execute("INSERT INTO period_changes (change_id, period, table_name, batch_id, action, target, actor, changed_at, "
              "rows_before, rows_after, details) VALUES ('demo-change-1', :p, 'gl_entries', :b, 'ingest', "
              "'gl_entries', 'ana', :t, :nb, :na, :d)",
              {"p": P, "b": batch, "t": at + dt.timedelta(days=1, hours=2),
               "nb": int(conn.scalar("SELECT count(*) FROM gl_entries WHERE period = :p", {"p": P})) - 1,
               "na": int(conn.scalar("SELECT count(*) FROM gl_entries WHERE period = :p", {"p": P})),
               "d": json.dumps({"file_name": "late_credit_note.csv", "mode": "append"})})
    for per in (P1, P):
        now = dt.datetime.combine(N, dt.time(0))
        for table in PERIOD_COLUMNS:
            n, fp = fingerprints(conn, table, [per]).get(per, (0, empty_fingerprint(conn.backend)))
            b.execute("INSERT INTO period_fingerprints (period, table_name, rows, fingerprint, recorded_at) "
                      "VALUES (:p, :t, :n, :f, :ts)", {"p": per, "t": table, "n": n, "f": fp, "ts": now})
    fail("closed_period_changes", f"period {month} · batch {batch}",
         "a credit note loaded into the month after it was closed (reopened with a reason)")
    miss("closed_period_changes", f"period {format_period(P1)} · batch {batch}",
         "the previous month was closed and reopened without any change", P1)

    return {
        "period": format_period(P),
        "failures": fails,
        "near_misses": near,
        "report": "roi_reproducible is planted in a report archive by plant_report(wh, reports)",
        "materiality": MATERIALITY,
    }


def plant_report(wh, reports: Path, period=None) -> dict:
    """Archive one executive run for ``period`` (default the demo's last closed month) whose
    ``kpis`` scrap holds today's figures except ``roi_marketing`` published 5 % off (must fail
    ``roi_reproducible``) and ``mrr`` 0.3 % off (a near miss inside 0.5 %).

    Returns ``{"run_id", "failures", "near_misses"}`` in the demo truth's format.
    """

    p = _p(period or load_truth(wh)["last_closed_month"])
    month = format_period(p)
    now = recompute(wh, month)
    kpis = {k: now.get(k) for k in FIGURES["executive"] if now.get(k) is not None}
    kpis["period"] = month
    kpis["roi_marketing"] = kpis["roi_marketing"] * 1.05
    kpis["mrr"] = kpis["mrr"] * 1.003
    run_id = archive.new_run_id()
    reports = Path(reports)
    tmp = archive.temp_run_dir(reports, "executive", month, run_id)
    scrap = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "kpis", "data": True, "display": False}},
             "data": {SCRAP_MIME: {"name": "kpis", "data": kpis, "encoder": "json", "version": 1}}}
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": "scraps", "metadata": {}, "execution_count": 1,
                     "source": "glue('kpis', kpis)", "outputs": [scrap]}]}
    (tmp / archive.NOTEBOOK).write_text(json.dumps(nb), encoding="utf-8")
    (tmp / archive.REPORT).write_text("<html><body>planted demo report</body></html>", encoding="utf-8")
    manifest = {"schema": archive.MANIFEST_SCHEMA, "run_id": run_id, "job": "executive", "title": "Executive summary",
                "period": month, "variant": {}, "variant_label": "", "parameters": {"period": p.isoformat()},
                "status": "succeeded", "started_at": dt.datetime.now(dt.UTC).isoformat(), "kpis": kpis}
    (tmp / archive.MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    archive.publish(tmp, archive.run_dir(reports, "executive", month, run_id))
    return {"run_id": run_id,
            "failures": [{"control": "roi_reproducible", "period": month, "entity": f"report {run_id} · roi_marketing",
                          "cause": "published 5 % above what the warehouse gives"}],
            "near_misses": [{"control": "roi_reproducible", "period": month, "entity": f"report {run_id} · mrr",
                             "why": "published 0.3 % above: inside the 0.5 % tolerance"}]}
