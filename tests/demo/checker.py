"""An independent re-computation of the six default alert rules (docs/ALERTS.md definitions).

Deliberately written from the rule text, not from the generator's code: plain SQL over the
canonical tables plus a little pandas. ``evaluate(conn, period)`` returns one dict per
evaluated entity: ``rule``, ``entity``, ``value`` (the ratio compared), ``fired``.
"""

from __future__ import annotations

import datetime as dt


def _months_back(d: dt.date, k: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 - k, 12)
    return dt.date(y, m + 1, 1)


def _month_end(d: dt.date) -> dt.date:
    return _months_back(d, -1) - dt.timedelta(days=1)


def evaluate(conn, period: dt.date) -> list[dict]:
    p = period
    out: list[dict] = []

    # budget_variance: |actual - budget| / budget > 0.10 per budget line of P
    df = conn.query_df(
        """
        SELECT b.department_id, b.account_id, CAST(b.amount AS DOUBLE PRECISION) AS budget,
               CAST(COALESCE((SELECT SUM(g.amount) FROM gl_entries g
                              WHERE g.department_id = b.department_id AND g.account_id = b.account_id
                                AND g.period = b.period), 0) AS DOUBLE PRECISION) AS actual
        FROM budgets b WHERE b.period = :p
        """, {"p": p})
    for r in df.itertuples():
        v = abs(r.actual - r.budget) / r.budget
        out.append({"rule": "budget_variance", "entity": {"department_id": r.department_id, "account_id": r.account_id},
                    "value": v, "fired": v > 0.10})

    # revenue_target: recognised revenue < target * 0.95
    rev = conn.scalar("SELECT CAST(SUM(amount) AS DOUBLE PRECISION) FROM revenue_recognized WHERE period = :p", {"p": p})
    tgt = conn.scalar("SELECT target FROM kpi_targets WHERE period = :p AND kpi = 'revenue' AND dimension IS NULL",
                      {"p": p})
    out.append({"rule": "revenue_target", "entity": {}, "value": rev / tgt, "fired": rev < tgt * 0.95})

    # cost_control: actual > 1.15 x mean of the three previous months AND actual > budget
    df = conn.query_df(
        """
        SELECT g.department_id, g.account_id, g.period, CAST(SUM(g.amount) AS DOUBLE PRECISION) AS actual
        FROM gl_entries g JOIN accounts a ON a.account_id = g.account_id
        WHERE a.account_type IN ('cogs', 'opex') AND g.period BETWEEN :p3 AND :p
        GROUP BY g.department_id, g.account_id, g.period
        """, {"p": p, "p3": _months_back(p, 3)})
    budgets = conn.query_df("SELECT department_id, account_id, CAST(amount AS DOUBLE PRECISION) AS budget "
                            "FROM budgets WHERE period = :p", {"p": p})
    bmap = {(r.department_id, r.account_id): r.budget for r in budgets.itertuples()}
    import pandas as pd

    df["period"] = pd.to_datetime(df["period"]).dt.date
    for (d, a), grp in df.groupby(["department_id", "account_id"]):
        by = dict(zip(grp["period"], grp["actual"], strict=True))
        if p not in by:
            continue
        prev = [by.get(_months_back(p, k), 0.0) for k in (1, 2, 3)]
        mean = sum(prev) / 3
        ratio = by[p] / mean if mean else float("inf")
        budget = bmap.get((d, a))
        fired = ratio > 1.15 and budget is not None and by[p] > budget
        out.append({"rule": "cost_control", "entity": {"department_id": d, "account_id": a},
                    "value": ratio, "fired": fired, "over_budget": budget is not None and by[p] > budget})

    # campaign_roi: campaigns ended within the 12 months up to the end of P
    pend = _month_end(p)
    df = conn.query_df(
        """
        WITH acquired AS (
            SELECT c.customer_id, c.acquisition_campaign_id AS campaign_id,
                   CAST(date_trunc('month', c.signup_date) AS DATE) AS signup_month
            FROM customers c WHERE c.acquisition_campaign_id IS NOT NULL
        ), first_mrr AS (
            SELECT a.campaign_id, SUM(s.mrr) AS mrr
            FROM acquired a JOIN subscriptions s ON s.customer_id = a.customer_id
             AND s.start_date <= CAST(a.signup_month + INTERVAL '1 month' - INTERVAL '1 day' AS DATE)
             AND (s.end_date IS NULL OR s.end_date > CAST(a.signup_month + INTERVAL '1 month' - INTERVAL '1 day' AS DATE))
            GROUP BY a.campaign_id
        )
        SELECT m.campaign_id, CAST(m.spend AS DOUBLE PRECISION) AS spend,
               CAST(12 * COALESCE(f.mrr, 0) AS DOUBLE PRECISION) AS new_arr
        FROM marketing_campaigns m LEFT JOIN first_mrr f ON f.campaign_id = m.campaign_id
        WHERE m.ended_on > :lo AND m.ended_on <= :hi
        """, {"lo": _month_end(_months_back(p, 12)), "hi": pend})
    for r in df.itertuples():
        roi = (r.new_arr - r.spend) / r.spend
        out.append({"rule": "campaign_roi", "entity": {"campaign_id": r.campaign_id}, "value": roi, "fired": roi < 2.0})

    # cac: blended and per channel
    nxt = _months_back(p, -1)
    sm = conn.scalar(
        """SELECT CAST(SUM(g.amount) AS DOUBLE PRECISION) FROM gl_entries g
           JOIN departments d ON d.department_id = g.department_id
           JOIN accounts a ON a.account_id = g.account_id
           WHERE g.period = :p AND d.name IN ('Sales', 'Marketing') AND a.account_type = 'opex'""", {"p": p})
    new = conn.scalar("SELECT count(*) FROM customers WHERE signup_date >= :p AND signup_date < :n", {"p": p, "n": nxt})
    tgt = conn.scalar("SELECT target FROM kpi_targets WHERE period = :p AND kpi = 'cac' AND dimension IS NULL", {"p": p})
    cac = sm / new
    out.append({"rule": "cac", "entity": {}, "value": cac / tgt, "fired": cac > tgt * 1.2})
    df = conn.query_df(
        """
        SELECT t.dimension AS channel, t.target,
          (SELECT CAST(SUM(g.amount) AS DOUBLE PRECISION) FROM gl_entries g
             JOIN marketing_campaigns m ON m.campaign_id = g.campaign_id
            WHERE g.period = :p AND m.channel = t.dimension) AS spend,
          (SELECT count(*) FROM customers c JOIN marketing_campaigns m ON m.campaign_id = c.acquisition_campaign_id
            WHERE m.channel = t.dimension AND c.signup_date >= :p AND c.signup_date < :n) AS customers
        FROM kpi_targets t WHERE t.period = :p AND t.kpi = 'cac' AND t.dimension IS NOT NULL
        """, {"p": p, "n": nxt})
    for r in df.itertuples():
        c = r.spend / r.customers
        out.append({"rule": "cac", "entity": {"channel": r.channel}, "value": c / r.target, "fired": c > 1.2 * r.target})

    # product_development: dev costs to date > 1.25 x feature budget
    df = conn.query_df(
        """
        SELECT f.feature_id, CAST(f.budget AS DOUBLE PRECISION) AS budget,
               CAST(COALESCE((SELECT SUM(d.cost) FROM dev_costs d WHERE d.feature_id = f.feature_id
                              AND d.period <= :p), 0) AS DOUBLE PRECISION) AS cost
        FROM features f
        """, {"p": p})
    for r in df.itertuples():
        v = r.cost / r.budget
        out.append({"rule": "product_development", "entity": {"feature_id": r.feature_id}, "value": v, "fired": v > 1.25})
    return out


def find(results: list[dict], rule: str, entity: dict) -> dict | None:
    for r in results:
        if r["rule"] == rule and r["entity"] == entity:
            return r
    return None
