"""Cost allocation controls: dev costs and campaign spend tie to the ledger lines tagged with
their feature or campaign; every material cost line has a budget.

Ledger money goes through :func:`finlib.governance.money.ledger_money` (the one place that
expresses ledger amounts in the reporting currency). Ids are compared exactly as stored.
"""

from __future__ import annotations

from pydantic import Field

from finlib.governance.controls._evidence import by_key, count_and_failures, money, off_by
from finlib.governance.money import ledger_money
from finlib.governance.registry import Context, ControlSettings, Finding, Outcome, control


class ToleranceSettings(ControlSettings):
    tolerance: float = Field(1.00, ge=0, description="money, reporting currency: differences up to this pass")


class CoverageSettings(ControlSettings):
    materiality: float = Field(1000.00, ge=0, description="money: unbudgeted cost up to this is immaterial")
    account_types: list[str] = ["cogs", "opex"]


_GL_COLS = ("g.entry_id, g.period, g.posted_at, g.account_id, g.department_id, g.amount, g.currency, "
            "g.feature_id, g.campaign_id, g.vendor, g.memo, g.created_by, g.approved_by, g.is_manual")


@control("dev_cost_tie", ToleranceSettings,
         frameworks=("ASC 350-40-30-1 / IAS 38.66", "SOX 404: cost allocation and capitalisation support"),
         entity="feature <id>", title="Dev costs tie to the ledger",
         fails_when="a feature's dev_costs of the period differ from the ledger lines of the period carrying "
                    "its feature_id by more than the tolerance")
def dev_cost_tie(ctx: Context, cfg: ToleranceSettings) -> Outcome:
    r"""Dev costs per feature against the feature-tagged ledger lines of the period.

    .. math:: \Big|\sum_{P} \text{dev\_costs.cost}_f - \sum_{P,\ \text{feature\_id}=f}
              \text{gl\_entries.amount}\Big| > \text{tolerance}

    Both sides FULL OUTER JOINed: a feature with ledger lines but no dev cost (or the
    reverse) fails too. ``value`` = dev costs, ``expected`` = ledger (money).
    """
    m = ledger_money("g")
    sql = f"""
    WITH {m.with_prefix()}dc AS (
        SELECT feature_id, SUM(cost) AS dev_cost FROM dev_costs WHERE period = :p GROUP BY feature_id),
    gl AS (
        SELECT g.feature_id, SUM({m.amount}) AS ledger FROM gl_entries g {m.join}
        WHERE g.period = :p AND g.feature_id IS NOT NULL GROUP BY g.feature_id)
    SELECT COALESCE(dc.feature_id, gl.feature_id) AS feature_id,
           CAST(COALESCE(dc.dev_cost, 0) AS DOUBLE PRECISION) AS dev_cost,
           CAST(COALESCE(gl.ledger, 0) AS DOUBLE PRECISION) AS ledger
    FROM dc FULL OUTER JOIN gl ON gl.feature_id = dc.feature_id
    """
    checked, rows = count_and_failures(ctx.conn, sql, "ABS(dev_cost - ledger) > :tol",
                                       ("feature_id", "dev_cost", "ledger"),
                                       {**ctx.params, **m.params, "tol": cfg.tolerance})
    ids = [r[0] for r in rows]
    dc = by_key(ctx.conn, "SELECT feature_id, milestone_id, period, cost, hours FROM dev_costs "
                          "WHERE period = :p AND feature_id IN ({ids}) ORDER BY feature_id, milestone_id",
                "feature_id", ids, ctx.params, ctx.evidence_rows, source="dev_costs")
    gl = by_key(ctx.conn, f"SELECT {_GL_COLS} FROM gl_entries g WHERE g.period = :p AND g.feature_id IN ({{ids}}) "
                          "ORDER BY g.feature_id, g.entry_id",
                "feature_id", ids, ctx.params, ctx.evidence_rows, source="gl_entries")
    return Outcome([Finding(
        f"feature {fid}", round(cost, 2), round(ledger, 2),
        f"feature {fid}: dev costs of {ctx.month} are {money(cost)}, its ledger lines {money(ledger)} "
        f"{off_by(cost, ledger, cfg.tolerance)}",
        dc.get(str(fid), []) + gl.get(str(fid), [])) for fid, cost, ledger in rows], checked)


@control("campaign_spend_tie", ToleranceSettings,
         frameworks=("ASC 720-35-25-1 / IAS 38.69(c)", "SOX 404: expense reconciliation"),
         entity="campaign <id>", title="Campaign spend ties to the ledger",
         fails_when="a marketing campaign that ended on or before the period's last day has a spend that differs "
                    "from the total of the ledger lines carrying its campaign_id by more than the tolerance")
def campaign_spend_tie(ctx: Context, cfg: ToleranceSettings) -> Outcome:
    r"""Finished campaigns' recorded spend against their tagged ledger lines (all periods).

    .. math:: \text{ended\_on} \le \text{last day of } P \ \wedge\
              \Big|\text{spend}_c - \sum_{\text{campaign\_id}=c} \text{gl\_entries.amount}\Big| > \text{tolerance}

    A campaign still running (``ended_on`` empty or later) is not checked: its spend is not
    final. ``value`` = ``marketing_campaigns.spend``, ``expected`` = ledger total (money).
    """
    m = ledger_money("g")
    sql = f"""
    WITH {m.with_prefix()}gl AS (
        SELECT g.campaign_id, SUM({m.amount}) AS ledger FROM gl_entries g {m.join}
        WHERE g.campaign_id IS NOT NULL GROUP BY g.campaign_id)
    SELECT c.campaign_id, CAST(c.spend AS DOUBLE PRECISION) AS spend,
           CAST(COALESCE(gl.ledger, 0) AS DOUBLE PRECISION) AS ledger
    FROM marketing_campaigns c LEFT JOIN gl ON gl.campaign_id = c.campaign_id
    WHERE c.ended_on IS NOT NULL AND c.ended_on <= :e
    """
    checked, rows = count_and_failures(ctx.conn, sql, "ABS(spend - ledger) > :tol",
                                       ("campaign_id", "spend", "ledger"),
                                       {**ctx.params, **m.params, "tol": cfg.tolerance})
    ids = [r[0] for r in rows]
    camp = by_key(ctx.conn, "SELECT campaign_id, name, channel, started_on, ended_on, spend, product_id "
                            "FROM marketing_campaigns WHERE campaign_id IN ({ids})",
                  "campaign_id", ids, ctx.params, 1, source="marketing_campaigns")
    gl = by_key(ctx.conn, f"SELECT {_GL_COLS} FROM gl_entries g WHERE g.campaign_id IN ({{ids}}) "
                          "ORDER BY g.campaign_id, g.period, g.entry_id",
                "campaign_id", ids, ctx.params, ctx.evidence_rows, source="gl_entries")
    return Outcome([Finding(
        f"campaign {cid}", round(spend, 2), round(ledger, 2),
        f"campaign {cid} (ended by {ctx.end}): recorded spend {money(spend)}, its ledger lines total "
        f"{money(ledger)} {off_by(spend, ledger, cfg.tolerance)}",
        camp.get(str(cid), []) + gl.get(str(cid), [])) for cid, spend, ledger in rows], checked)


@control("budget_coverage", CoverageSettings,
         frameworks=("COSO 2013 Principle 10 (control activities)", "SOX 404: authorisation of expenditure"),
         entity="department <id> · account <id>", title="Material cost lines have a budget",
         fails_when="a department × account has cost posted in the period above the materiality floor but no "
                    "budget line for the period")
def budget_coverage(ctx: Context, cfg: CoverageSettings) -> Outcome:
    r"""Unbudgeted spend: cost lines of the period without a budget row.

    .. math:: \sum_{P,\ d,\ a} \text{gl\_entries.amount} > \text{materiality} \ \wedge\
              \nexists\ \text{budgets}(P, d, a)

    Over accounts whose type is in ``account_types`` (cogs, opex). The sum is in the
    reporting currency (:func:`~finlib.governance.money.ledger_money`). A line at or under
    the floor is immaterial and passes. ``value`` = the line's cost, ``expected`` = None
    (no budget exists).
    """
    m = ledger_money("g")
    types = list(cfg.account_types)
    marks = ", ".join(f":t{i}" for i in range(len(types))) or "NULL"
    sql = f"""
    WITH {m.with_prefix()}cost AS (
        SELECT g.department_id, g.account_id, SUM({m.amount}) AS actual, count(*) AS lines
        FROM gl_entries g {m.join} JOIN accounts a ON a.account_id = g.account_id
        WHERE g.period = :p AND a.account_type IN ({marks})
        GROUP BY g.department_id, g.account_id)
    SELECT c.department_id || ' · ' || c.account_id AS line, c.department_id, c.account_id,
           CAST(c.actual AS DOUBLE PRECISION) AS actual, c.lines, b.account_id AS budgeted
    FROM cost c LEFT JOIN budgets b ON b.period = :p AND b.department_id = c.department_id
                                   AND b.account_id = c.account_id
    """
    params = {**ctx.params, **m.params, "floor": cfg.materiality, **{f"t{i}": t for i, t in enumerate(types)}}
    checked, rows = count_and_failures(ctx.conn, sql, "budgeted IS NULL AND actual > :floor",
                                       ("line", "department_id", "account_id", "actual", "lines"), params)
    ids = [r[0] for r in rows]
    gl = by_key(ctx.conn, f"SELECT g.department_id || ' · ' || g.account_id AS line, {_GL_COLS} FROM gl_entries g "
                          "WHERE g.period = :p AND g.department_id || ' · ' || g.account_id IN ({ids}) "
                          "ORDER BY line, g.amount DESC, g.entry_id",
                "line", ids, ctx.params, ctx.evidence_rows, source="gl_entries")
    return Outcome([Finding(
        f"department {dep} · account {acc}", round(actual, 2), None,
        f"department {dep} · account {acc}: {money(actual)} of cost in {ctx.month} ({int(lines)} ledger lines) and "
        f"no budget line (materiality {money(cfg.materiality)})", gl.get(str(line), []))
        for line, dep, acc, actual, lines in rows], checked)
