"""A straightforward pandas implementation of the monthly facts, from raw tables.

This is the *oracle* and the *baseline*: tests compare the SQL facts
(:mod:`finlib.metrics.facts`) with it, and ``bench/bench_metrics.py`` times it against the
warehouse path. It loads whole tables into DataFrames and groups by, with date
comparisons written directly from the definitions (a subscription is active at the end of
month M when ``start_date <= last_day(M) < end_date``), not from the month-range trick the
SQL uses. Not for production use on large warehouses: it reads every row.

Money is converted to the reporting currency independently of the SQL (``merge_asof`` on
``fx_rates``): ledger and recognised revenue at the rate of their period's first day, MRR
at the rate of its month's last day (docs/CURRENCY.md).
"""

from __future__ import annotations

import pandas as pd

from finlib.periods import add_months, month_end, month_of

MONEY = {"fx_rates": ["rate_to_reporting"], "gl_entries": ["amount"], "budgets": ["amount"], "subscriptions": ["mrr"],
         "revenue_recognized": ["amount"], "dev_costs": ["cost"], "marketing_campaigns": ["spend"],
         "opportunities": ["arr"], "features": ["budget"], "milestones": ["budget"]}
DATES = {"fx_rates": ["rate_date"], "subscriptions": ["start_date", "end_date"], "customers": ["signup_date"],
         "gl_entries": ["period"], "budgets": ["period"], "revenue_recognized": ["period"],
         "dev_costs": ["period"], "opportunities": ["closed_on"], "marketing_campaigns": ["ended_on"]}
TABLES = ("subscriptions", "customers", "gl_entries", "accounts", "departments", "budgets",
          "revenue_recognized", "dev_costs", "marketing_campaigns", "opportunities", "fx_rates")


def load_tables(wh, names=TABLES) -> dict[str, pd.DataFrame]:
    """Every row of each table as a DataFrame (money as float, dates as datetime64)."""
    out = {}
    with wh.connect(read_only=True) as conn:
        for name in names:
            cols = conn.columns(name)
            sel = ", ".join(f"CAST({c} AS DOUBLE PRECISION) AS {c}" if c in MONEY.get(name, []) else c for c in cols)
            df = conn.query_df(f"SELECT {sel} FROM {name}")
            for c in DATES.get(name, []):
                df[c] = pd.to_datetime(df[c])
            out[name] = df
    return out


def rates(fx: pd.DataFrame | None, currency: pd.Series, day) -> pd.Series:
    """Per row: the ``rate_to_reporting`` of ``currency`` on the latest ``rate_date`` on or
    before ``day`` (a Series of dates or one date); 1.0 for the reporting currency; NaN when
    there is none."""
    from finlib import config

    rc = config.reporting_currency()
    days = pd.Series(pd.to_datetime(day), index=currency.index) if not isinstance(day, pd.Series) else day
    left = pd.DataFrame({"currency": currency.astype(str), "day": pd.to_datetime(days), "i": range(len(currency))})
    out = pd.Series(float("nan"), index=currency.index)
    if fx is not None and len(fx) and len(left):
        right = fx[fx["currency"] != rc].rename(columns={"rate_date": "day"}).sort_values("day")
        right = right.assign(day=pd.to_datetime(right["day"]).astype(left["day"].dtype))
        m = pd.merge_asof(left.sort_values("day"), right[["day", "currency", "rate_to_reporting"]],
                          on="day", by="currency", direction="backward").sort_values("i")
        out[:] = m["rate_to_reporting"].to_numpy()
    out[currency.astype(str).to_numpy() == rc] = 1.0
    return out


def mrr_panel(subs: pd.DataFrame, periods, fx: pd.DataFrame | None = None) -> pd.DataFrame:
    """``period``, ``customer_id``, ``mrr`` (> 0) at each month end, by direct date
    comparison, in the reporting currency at the rate of the month's last day."""
    parts = []
    for p in periods:
        last = pd.Timestamp(month_end(p))
        act = subs[(subs["start_date"] <= last) & (subs["end_date"].isna() | (subs["end_date"] > last))]
        act = act.assign(mrr=act["mrr"] * rates(fx, act["currency"], last))
        g = act.groupby("customer_id")["mrr"].sum()
        g = g[g > 0]
        parts.append(pd.DataFrame({"period": pd.Timestamp(p), "customer_id": g.index, "mrr": g.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def first_paid_month(subs: pd.DataFrame) -> pd.Series:
    """Per customer: the first month at whose end they paid (a subscription with mrr > 0
    active then). A subscription not active at the end of its start month never is."""
    start_month = subs["start_date"].dt.to_period("M").dt.to_timestamp()
    start_last = start_month + pd.offsets.MonthEnd(0)
    ok = (subs["mrr"] > 0) & (subs["end_date"].isna() | (subs["end_date"] > start_last))
    return start_month[ok].groupby(subs.loc[ok, "customer_id"]).min()


def movements(subs: pd.DataFrame, period, fx: pd.DataFrame | None = None) -> dict:
    """Company MRR movements of one month, pandas-only."""
    p = month_of(period)
    panel = mrr_panel(subs, [add_months(p, -1), p], fx)
    wide = panel.pivot_table(index="customer_id", columns="period", values="mrr", aggfunc="sum").fillna(0.0)
    s = wide.get(pd.Timestamp(add_months(p, -1)), pd.Series(0.0, index=wide.index))
    e = wide.get(pd.Timestamp(p), pd.Series(0.0, index=wide.index))
    first = first_paid_month(subs).reindex(wide.index)
    started = (s == 0) & (e > 0)
    new = started & (first == pd.Timestamp(p))
    return {
        "mrr_start": float(s.sum()), "mrr_end": float(e.sum()),
        "new": float(e[new].sum()), "reactivation": float(e[started & ~new].sum()),
        "expansion": float((e - s)[(s > 0) & (e > s)].sum()),
        "contraction": float((s - e)[(s > 0) & (e > 0) & (e < s)].sum()),
        "churn": float(s[(s > 0) & (e == 0)].sum()),
        "customers_start": int((s > 0).sum()), "churned_customers": int(((s > 0) & (e == 0)).sum()),
        "new_customers": int(new.sum()),
    }


def period_figures(t: dict[str, pd.DataFrame], period) -> dict:
    """The monthly facts of one period computed with pandas from whole tables ``t``
    (:func:`load_tables`): MRR and movements, recognised revenue, ledger by line, budget
    vs actual, dev cost by feature and milestone, CAC inputs, NRR/GRR (12 months) and
    campaign results."""
    p = month_of(period)
    P = pd.Timestamp(p)
    subs = t["subscriptions"]
    fx = t.get("fx_rates")
    out: dict = {"period": p}
    out["movements"] = movements(subs, p, fx)
    rr = t["revenue_recognized"]
    rr = rr[rr["period"] == P].merge(subs[["subscription_id", "currency"]], on="subscription_id", how="left")
    from finlib import config

    rr_cur = rr["currency"].fillna(config.reporting_currency())
    out["recognised_revenue"] = float((rr["amount"] * rates(fx, rr_cur, P)).sum())
    gl = t["gl_entries"]
    gl = gl[gl["period"] == P]
    gl = gl.assign(amount=gl["amount"] * rates(fx, gl["currency"], gl["period"]))
    glp = gl.merge(t["accounts"], on="account_id").merge(
        t["departments"].rename(columns={"name": "department"}), on="department_id")
    out["ledger"] = glp.groupby(["department_id", "account_id"])["amount"].sum()
    b = t["budgets"][t["budgets"]["period"] == P].groupby(["department_id", "account_id"])["amount"].sum()
    out["budget_vs_actual"] = pd.DataFrame({"actual": out["ledger"], "budget": b}).fillna({"actual": 0.0})
    dc = t["dev_costs"][t["dev_costs"]["period"] <= P]
    out["dev_costs"] = dc.groupby(["feature_id", dc["milestone_id"].fillna("")])["cost"].sum()
    sm = glp[(glp["account_type"] == "opex") & glp["department"].isin(["Sales", "Marketing"])]
    cust = t["customers"]
    signups = cust[(cust["signup_date"] >= P) & (cust["signup_date"] < pd.Timestamp(add_months(p, 1)))]
    out["acquisition"] = {
        "sales_cost": float(sm.loc[sm["department"] == "Sales", "amount"].sum()),
        "marketing_cost": float(sm.loc[sm["department"] == "Marketing", "amount"].sum()),
        "new_customers": out["movements"]["new_customers"],  # new paying customers (a `new` movement)
        "new_mrr": out["movements"]["new"],
        "signups": int(signups["customer_id"].nunique()),
        "revenue": float(glp.loc[glp["account_type"] == "revenue", "amount"].sum()),
        "cogs": float(glp.loc[glp["account_type"] == "cogs", "amount"].sum()),
    }
    then = add_months(p, -12)
    pan = mrr_panel(subs, [then, p], fx).pivot_table(index="customer_id", columns="period", values="mrr").fillna(0.0)
    m_then = pan.get(pd.Timestamp(then), pd.Series(0.0, index=pan.index))
    m_now = pan.get(P, pd.Series(0.0, index=pan.index))
    coh = m_then > 0
    base = m_then[coh].sum()
    out["nrr"] = float(m_now[coh].sum() / base) if base > 0 else float("nan")
    out["grr"] = float(pd.concat([m_now[coh], m_then[coh]], axis=1).min(axis=1).sum() / base) if base > 0 else float("nan")
    acq = cust.dropna(subset=["acquisition_campaign_id"])
    sm_month = acq["signup_date"].dt.to_period("M").dt.to_timestamp()
    rows = []
    for month, grp in acq.groupby(sm_month):
        last = month + pd.offsets.MonthEnd(0)
        act = subs[subs["customer_id"].isin(grp["customer_id"]) & (subs["start_date"] <= last)
                   & (subs["end_date"].isna() | (subs["end_date"] > last))]
        act = act.assign(mrr=act["mrr"] * rates(fx, act["currency"], last))
        m = act.groupby("customer_id")["mrr"].sum()
        rows.append(grp.assign(new_mrr=grp["customer_id"].map(m).fillna(0.0)))
    camp = pd.concat(rows) if rows else acq.assign(new_mrr=0.0)
    out["campaign_new_mrr"] = camp.groupby("acquisition_campaign_id")["new_mrr"].sum()
    return out
