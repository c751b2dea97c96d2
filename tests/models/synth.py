"""A small synthetic warehouse with *known* model parameters, for the model tests.

Independent of finlib.demo (built in parallel): every planted number is in TRUTH below.

* 1,400 customers, months 2022-01 .. 2024-12; signups spread over 2021-07 .. 2023-12.
* Health: a persistent latent health per customer plus monthly noise; four components
  scored 0-100 on the first day of each month (the demo's convention). Churn during month
  M (given paying at the end of M-1) is logistic in the components scored on M's first day:
  logit p = b0 + sum_k b_k (component_k - 50) / 10, coefficients in TRUTH["churn"].
* Feature F1 released 2024-01: 35 % of the customers paying in 2023-12 adopt it in a
  month drawn from 2024-01..2024-03; from that month their MRR rises by
  TRUTH["adoption_effect_mrr"] USD (a price-change row). Adoption is more likely in larger
  segments (so segment controls matter) and independent of churn.
* Natural expansion: each month a paying customer expands with probability 3 % by
  U(5 %, 20 %) of their starting MRR (additive, so the adoption increment stays exact).
* Retention campaign RC1, 2024-04..2024-06 (3 months): 800 customers paying on 2024-04-01,
  half treatment, half control; treatment adds TRUTH["campaign_logodds"] to the churn
  log-odds during the window. The planted window churn rates are the expected ones,
  mean over members of 1 - prod_t (1 - p_t) without and with the shift (like the demo's
  truth file); they are returned by :func:`build`.
* revenue_recognized = MRR per customer-month (for the forecast).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRUTH = {
    "churn": {"intercept": -3.3, "usage_score": -0.45, "support_score": -0.25,
              "sentiment_score": -0.2, "payment_score": -0.35},
    "adoption_feature": "F1",
    "adoption_release": "2024-01-01",
    "adoption_effect_mrr": 40.0,
    "campaign_id": "RC1",
    "campaign_window_months": 3,
    "campaign_logodds": -1.2,
    "campaign_cost": 20_000.0,
    "feature_dev_cost": 60_000.0,
    "last_closed_month": "2024-12-01",
}

COMPONENTS = ("usage_score", "support_score", "sentiment_score", "payment_score")


def build(seed: int = 7, n_customers: int = 1400) -> tuple[dict[str, pd.DataFrame], dict]:
    """The synthetic tables and the truth (TRUTH plus the campaign's expected churn rates)."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2022-01-01", "2024-12-01", freq="MS")
    T = len(months)
    seg = rng.choice(["SMB", "Mid-Market", "Enterprise"], size=n_customers, p=[0.6, 0.3, 0.1])
    base_mrr = np.where(seg == "SMB", 100.0, np.where(seg == "Mid-Market", 500.0, 2000.0))
    base_mrr = np.round(base_mrr * rng.lognormal(0, 0.25, n_customers), 2)
    signup_idx = rng.integers(-6, 24, n_customers)  # month index relative to 2022-01
    signup = [pd.Timestamp("2022-01-01") + pd.DateOffset(months=int(k)) for k in signup_idx]
    latent = rng.normal(0, 1, n_customers)

    ids = np.array([f"C{i:05d}" for i in range(n_customers)])
    churn_month = np.full(n_customers, -1)  # month index in which the customer stops paying
    mrr = np.zeros((n_customers, T))
    comps = {c: np.full((n_customers, T), np.nan) for c in COMPONENTS}
    b = TRUTH["churn"]

    # adoption & campaign plans
    rel = list(months).index(pd.Timestamp(TRUTH["adoption_release"]))
    camp = list(months).index(pd.Timestamp("2024-04-01"))
    adopt_month = np.full(n_customers, -1)
    arm = np.full(n_customers, "", dtype=object)
    extra = np.zeros(n_customers)  # natural expansion, USD / month, additive
    surv_c = surv_t = None

    for t in range(T):
        # risk set of month t: paying at the end of t-1
        at_risk = mrr[:, t - 1] > 0 if t > 0 else np.zeros(n_customers, dtype=bool)
        # new signups start paying in their signup month (earlier signups at t = 0)
        starting = (churn_month < 0) & (np.maximum(signup_idx, 0) == t)
        # health scored on the first day of month t for every customer paying then
        scored = at_risk | starting
        for c in COMPONENTS:
            v = 50 + 10 * (0.9 * latent + rng.normal(0, 0.8, n_customers))
            comps[c][:, t] = np.where(scored, np.clip(np.round(v, 1), 0, 100), np.nan)
        # adoption decided at the release month for customers paying in the month before
        if t == rel:
            p_adopt = np.where(seg == "Enterprise", 0.5, np.where(seg == "Mid-Market", 0.4, 0.3))
            adopters = at_risk & (rng.random(n_customers) < p_adopt)
            adopt_month[adopters] = rel + rng.integers(0, 3, adopters.sum())
        # campaign: customers paying on its first day, randomised 50/50
        if t == camp:
            elig = np.flatnonzero(at_risk)
            chosen = rng.choice(elig, size=min(800, len(elig)), replace=False)
            arm[chosen[: len(chosen) // 2]] = "treatment"
            arm[chosen[len(chosen) // 2:]] = "control"
            surv_c = np.ones(n_customers)
            surv_t = np.ones(n_customers)
        # churn during month t from this month's health (+ the campaign's shift if treated)
        eta = b["intercept"] + sum(b[c] * (np.nan_to_num(comps[c][:, t], nan=50) - 50) / 10 for c in COMPONENTS)
        window = camp <= t < camp + TRUTH["campaign_window_months"]
        shift = np.where(window & (arm == "treatment"), TRUTH["campaign_logodds"], 0.0)
        p = 1 / (1 + np.exp(-(eta + shift)))
        if window:
            surv_c *= 1 - 1 / (1 + np.exp(-eta))
            surv_t *= 1 - 1 / (1 + np.exp(-(eta + TRUTH["campaign_logodds"])))
        leave = at_risk & (rng.random(n_customers) < p)
        churn_month[leave] = t
        expand = at_risk & ~leave & (rng.random(n_customers) < 0.03)
        extra += np.where(expand, np.round(base_mrr * rng.uniform(0.05, 0.2, n_customers), 2), 0.0)
        alive = (at_risk & ~leave) | starting
        price = base_mrr + extra + np.where((adopt_month >= 0) & (t >= adopt_month), TRUTH["adoption_effect_mrr"], 0.0)
        mrr[:, t] = np.where(alive, price, 0.0)

    # ---- tables ------------------------------------------------------------------------
    customers = pd.DataFrame({
        "customer_id": ids, "name": [f"Customer {i}" for i in range(n_customers)], "segment": seg,
        "region": "EMEA", "industry": "Software", "signup_date": [d.date() for d in signup],
        "acquisition_channel": "organic", "cs_tier": "pooled",
    })
    subs = []
    for i in range(n_customers):
        row = mrr[i]
        t = 0
        while t < T:
            if row[t] <= 0:
                t += 1
                continue
            s = t
            while t + 1 < T and row[t + 1] == row[s]:
                t += 1
            start = months[s] if s > 0 or signup_idx[i] >= 0 else signup[i]
            if s > 0 and row[s - 1] <= 0 and signup_idx[i] == s:
                start = signup[i]
            if t + 1 < T:
                nxt = row[t + 1]
                end = (months[t + 1] + pd.Timedelta(days=14)) if nxt <= 0 else months[t + 1]
            else:
                end = None
            subs.append((f"S{i:05d}_{s:02d}", ids[i], "P1", start.date(), None if end is None else end.date(),
                         float(row[s]), "USD", "monthly"))
            t += 1
    subscriptions = pd.DataFrame(subs, columns=["subscription_id", "customer_id", "product_id", "start_date",
                                                "end_date", "mrr", "currency", "billing_period"])
    ci, ti = np.nonzero(~np.isnan(comps["usage_score"]))
    health = pd.DataFrame({"customer_id": ids[ci], "scored_on": [months[t].date() for t in ti]})
    for c in COMPONENTS:
        health[c] = np.round(comps[c][ci, ti], 1)
    health["score"] = np.round(health[list(COMPONENTS)].mean(axis=1), 1)
    usage = []
    for i in np.flatnonzero(adopt_month >= 0):
        for t in range(adopt_month[i], T):
            if mrr[i, t] > 0:
                usage.append((months[t].date(), ids[i], "F1", int(rng.integers(1, 20)), int(rng.integers(5, 200))))
    feature_usage = pd.DataFrame(usage, columns=["period", "customer_id", "feature_id", "active_users", "events"])
    ri, rt = np.nonzero(mrr > 0)
    revenue = pd.DataFrame({"period": [months[t].date() for t in rt], "customer_id": ids[ri],
                            "amount": np.round(mrr[ri, rt], 2)})
    members = pd.DataFrame({"campaign_id": "RC1", "customer_id": ids[arm != ""], "arm": arm[arm != ""],
                            "assigned_on": pd.Timestamp("2024-04-01").date()})
    members_ix = arm != ""
    truth = dict(TRUTH)
    truth["control_churn"] = float(np.mean(1 - surv_c[members_ix]))
    truth["treatment_churn"] = float(np.mean(1 - surv_t[members_ix]))
    truth["uplift"] = truth["control_churn"] - truth["treatment_churn"]
    tables = {
        "products": pd.DataFrame({"product_id": ["P1"], "name": ["Core"], "launched_on": [pd.Timestamp("2020-01-01").date()]}),
        "customers": customers,
        "subscriptions": subscriptions,
        "health_scores": health,
        "features": pd.DataFrame({"feature_id": ["F1"], "product_id": ["P1"], "name": ["Insights"],
                                  "team": ["Growth"], "started_on": [pd.Timestamp("2023-06-01").date()],
                                  "released_on": [pd.Timestamp("2024-01-10").date()], "budget": [50_000.0]}),
        "dev_costs": pd.DataFrame({"feature_id": "F1", "period": [pd.Timestamp(f"2023-{m:02d}-01").date() for m in range(6, 12)],
                                   "cost": TRUTH["feature_dev_cost"] / 6, "hours": 100.0}),
        "feature_usage": feature_usage,
        "retention_campaigns": pd.DataFrame({"campaign_id": ["RC1"], "name": ["Save the base"],
                                             "started_on": [pd.Timestamp("2024-04-01").date()],
                                             "ended_on": [pd.Timestamp("2024-06-30").date()],
                                             "cost": [TRUTH["campaign_cost"]], "target_segment": [None]}),
        "retention_campaign_members": members,
        "revenue_recognized": revenue,
    }
    return tables, truth


def load(wh, tables: dict[str, pd.DataFrame]) -> None:
    """init_db + one write_batch with every table (both backends)."""
    from finlib.warehouse.create import init_db
    from finlib.warehouse.load import write_batch
    from finlib.warehouse.schema import LOAD_ORDER

    init_db(wh)
    with write_batch(wh, action="test-data", target="models-synthetic") as b:
        for name in LOAD_ORDER:
            if name in tables:
                b.append(name, tables[name])
