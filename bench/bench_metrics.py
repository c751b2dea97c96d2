"""Benchmark: every monthly fact and metric for one period, finlib (SQL in the warehouse)
against a straightforward pandas implementation (load tables, group by), at three scales.

    .venv/bin/python bench/bench_metrics.py [--scales small,medium,large] [--source auto|demo|synthetic]

Warehouses are cached under ``data/bench/``. With ``--source auto`` the demo generator
(``finlib.demo.generate``) builds them when it exists, else a synthetic generator below
(same canonical schema, sized like the scales: large = 100k customers × 36 months and
10 million ledger rows). Each path runs in a fresh child process so that its peak
memory (ru_maxrss, which includes DuckDB's buffers) is its own. Prints one line per scale
and path, then the ratios. Figures, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYNTH = {  # customers, months, ledger rows
    "small": (1_000, 24, 100_000),
    "medium": (10_000, 36, 1_000_000),
    "large": (100_000, 36, 10_000_000),
}


# -- building warehouses ------------------------------------------------------------------

def _demo_generate():
    try:
        from finlib import demo
    except ImportError:
        return None
    return demo if hasattr(demo, "generate") else None


def build(scale: str, source: str) -> tuple[str, str, str]:
    """Return (url, period, source used), building and caching the warehouse if missing."""
    demo = _demo_generate() if source in ("auto", "demo") else None
    if source == "demo" and demo is None:
        raise SystemExit("finlib.demo.generate is not available")
    used = "demo" if demo is not None else "synthetic"
    path = ROOT / "data" / "bench" / f"{used}-{scale}.duckdb"
    meta = path.with_suffix(".json")
    url = f"duckdb://{path}"
    if not (path.exists() and meta.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        for p in (path, meta, Path(str(path) + ".wal")):
            p.unlink(missing_ok=True)
        from finlib.warehouse.db import get_warehouse

        wh = get_warehouse(url)
        t0 = time.perf_counter()
        if demo is not None:
            demo.generate(wh, scale, 42)
            period = demo.load_truth(wh)["last_closed_month"]
        else:
            period = synthesize(wh, *SYNTH[scale])
        meta.write_text(json.dumps({"period": period, "source": used,
                                    "build_seconds": round(time.perf_counter() - t0, 1)}))
    period = json.loads(meta.read_text())["period"]
    return url, period, used


def synthesize(wh, n_cust: int, months: int, n_gl: int, seed: int = 42) -> str:
    """A synthetic warehouse in the canonical schema; returns the last period (YYYY-MM-01)."""
    import numpy as np
    import pyarrow as pa

    from finlib.warehouse.create import init_db
    from finlib.warehouse.load import write_batch

    rng = np.random.default_rng(seed)
    init_db(wh)
    first = np.datetime64("2022-01-01")
    month_starts = np.array([np.datetime64(f"{2022 + m // 12}-{m % 12 + 1:02d}-01") for m in range(months + 1)])
    periods = month_starts[:months]
    last = str(periods[-1])
    n_days = int((month_starts[-1] - first).astype(int))

    def ids(prefix, n):
        return pa.array([f"{prefix}{i}" for i in range(n)])

    def money(x):
        return pa.array(np.round(x, 2)).cast(pa.decimal128(18, 2))

    t: dict[str, pa.Table] = {}
    depts = ["Sales", "Marketing", "Product", "Customer Success", "G&A"]
    t["departments"] = pa.table({"department_id": ids("d", 5), "name": depts})
    acc = [("Subscription revenue", "revenue", "subscription"), ("Hosting", "cogs", "hosting"),
           ("Salaries", "opex", "salaries"), ("Software", "opex", "software"),
           ("Advertising", "opex", "advertising"), ("Contractors", "opex", "contractors"),
           ("Travel", "opex", "travel"), ("Rent", "opex", "rent")]
    t["accounts"] = pa.table({"account_id": ids("a", len(acc)), "name": [a[0] for a in acc],
                              "account_type": [a[1] for a in acc], "category": [a[2] for a in acc]})
    n_prod, n_feat, n_camp = 4, 60, 120
    t["products"] = pa.table({"product_id": ids("p", n_prod), "name": [f"Product {i}" for i in range(n_prod)],
                              "launched_on": pa.array(first + np.array([0, 200, 400, 600]).astype("timedelta64[D]"))})
    cs = (first + rng.integers(0, n_days - 60, n_camp).astype("timedelta64[D]"))
    t["marketing_campaigns"] = pa.table({
        "campaign_id": ids("m", n_camp), "name": [f"Campaign {i}" for i in range(n_camp)],
        "channel": pa.array(rng.choice(["paid_search", "social", "events", "content"], n_camp)),
        "started_on": pa.array(cs), "ended_on": pa.array(cs + np.timedelta64(60, "D")),
        "spend": money(np.zeros(n_camp)),
        "product_id": pa.array([f"p{i % n_prod}" if i % 10 == 0 else None for i in range(n_camp)])})
    signup = first + rng.integers(0, n_days - 1, n_cust).astype("timedelta64[D]")
    has_camp = rng.random(n_cust) < 0.4
    camp_ids = np.where(has_camp, np.char.add("m", rng.integers(0, n_camp, n_cust).astype(str)), None)
    t["customers"] = pa.table({
        "customer_id": ids("c", n_cust), "name": ids("Customer ", n_cust),
        "segment": pa.array(rng.choice(["SMB", "Mid-Market", "Enterprise"], n_cust, p=[0.7, 0.25, 0.05])),
        "region": pa.array(rng.choice(["EU", "NA", "APAC"], n_cust)), "industry": pa.array(["SaaS"] * n_cust),
        "signup_date": pa.array(signup), "acquisition_channel": pa.array(rng.choice(["organic", "paid"], n_cust)),
        "acquisition_campaign_id": pa.array(camp_ids.tolist()),
        "cs_tier": pa.array(rng.choice(["tech-touch", "pooled", "dedicated"], n_cust, p=[0.6, 0.3, 0.1])),
        "csm_owner": pa.array([None] * n_cust, pa.string())})
    # subscriptions: a first plan, a price change for half, a second product for a quarter
    base = np.round(np.exp(rng.normal(5, 1, n_cust)), 2)
    churn_day = np.where(rng.random(n_cust) < 0.35, rng.integers(30, 900, n_cust), -1)
    rows_c, rows_p, rows_s, rows_e, rows_m = [], [], [], [], []
    end1 = np.where(churn_day > 0, signup + churn_day.astype("timedelta64[D]"), np.datetime64("NaT"))
    change = rng.random(n_cust) < 0.5
    change_day = signup + rng.integers(20, 700, n_cust).astype("timedelta64[D]")
    change = change & ((churn_day < 0) | (change_day < end1))
    idx = np.arange(n_cust)
    rows_c += [idx, idx[change]]
    rows_p += [np.zeros(n_cust, int), np.zeros(change.sum(), int)]
    rows_s += [signup, change_day[change]]
    rows_e += [np.where(change, change_day, end1), end1[change]]
    rows_m += [base, np.round(base[change] * rng.uniform(0.7, 1.5, change.sum()), 2)]
    xs = rng.random(n_cust) < 0.25
    xs_day = signup + rng.integers(30, 600, n_cust).astype("timedelta64[D]")
    xs = xs & ((churn_day < 0) | (xs_day < end1))
    rows_c.append(idx[xs])
    rows_p.append(rng.integers(1, n_prod, xs.sum()))
    rows_s.append(xs_day[xs])
    rows_e.append(end1[xs])
    rows_m.append(np.round(base[xs] * 0.3, 2))
    c = np.concatenate(rows_c)
    pr = np.concatenate(rows_p)
    s = np.concatenate(rows_s)
    e = np.concatenate(rows_e)
    m = np.concatenate(rows_m)
    n_sub = len(c)
    t["subscriptions"] = pa.table({
        "subscription_id": ids("s", n_sub), "customer_id": pa.array(np.char.add("c", c.astype(str))),
        "product_id": pa.array(np.char.add("p", pr.astype(str))), "start_date": pa.array(s),
        "end_date": pa.array(e), "mrr": money(m), "currency": pa.array(["USD"] * n_sub),
        "billing_period": pa.array(rng.choice(["monthly", "annual"], n_sub, p=[0.8, 0.2]))})
    # revenue recognised: one row per customer and month it paid (approx: signup..end)
    cm_c, cm_p, cm_a = [], [], []
    for k, p0 in enumerate(periods):
        pe = month_starts[k + 1]
        act = (signup < pe) & (np.isnat(end1) | (end1 >= pe))
        cm_c.append(idx[act])
        cm_p.append(np.full(act.sum(), p0))
        cm_a.append(base[act])
    rc = np.concatenate(cm_c)
    t["revenue_recognized"] = pa.table({"period": pa.array(np.concatenate(cm_p)),
                                        "customer_id": pa.array(np.char.add("c", rc.astype(str))),
                                        "subscription_id": pa.array([None] * len(rc), pa.string()),
                                        "amount": money(np.concatenate(cm_a))})
    # features, milestones, dev costs
    fstart = first + rng.integers(0, n_days - 200, n_feat).astype("timedelta64[D]")
    t["features"] = pa.table({"feature_id": ids("f", n_feat),
                              "product_id": pa.array([f"p{i % n_prod}" for i in range(n_feat)]),
                              "name": ids("Feature ", n_feat), "team": pa.array([f"team{i % 6}" for i in range(n_feat)]),
                              "started_on": pa.array(fstart), "released_on": pa.array(fstart + np.timedelta64(120, "D")),
                              "budget": money(rng.uniform(50_000, 300_000, n_feat))})
    n_ms = n_feat * 3
    ms_f = np.repeat(np.arange(n_feat), 3)
    planned = fstart[ms_f] + np.tile([40, 80, 120], n_feat).astype("timedelta64[D]")
    done = planned + rng.integers(-10, 40, n_ms).astype("timedelta64[D]")
    t["milestones"] = pa.table({"milestone_id": ids("ms", n_ms), "feature_id": pa.array(np.char.add("f", ms_f.astype(str))),
                                "name": pa.array(np.tile(["alpha", "beta", "GA"], n_feat)),
                                "planned_on": pa.array(planned),
                                "completed_on": pa.array(np.where(done < month_starts[-1], done, np.datetime64("NaT"))),
                                "budget": money(rng.uniform(10_000, 100_000, n_ms))})
    dc_f, dc_m, dc_p = [], [], []
    for k in range(n_ms):
        f = ms_f[k]
        for p0 in periods[(periods >= planned[k] - np.timedelta64(40, "D")) & (periods <= planned[k])]:
            dc_f.append(f)
            dc_m.append(k)
            dc_p.append(p0)
    n_dc = len(dc_f)
    t["dev_costs"] = pa.table({"feature_id": pa.array([f"f{x}" for x in dc_f]), "milestone_id": pa.array([f"ms{x}" for x in dc_m]),
                               "period": pa.array(np.array(dc_p)), "cost": money(rng.uniform(5_000, 40_000, n_dc)),
                               "hours": pa.array(rng.uniform(50, 400, n_dc))})
    # ledger: n_gl lines
    gp = periods[rng.integers(0, months, n_gl)]
    ga = rng.integers(0, len(acc), n_gl)
    gd = np.where(ga == 0, 4, np.where(ga == 4, 1, rng.integers(0, 5, n_gl)))
    adv = ga == 4
    gcamp = np.where(adv, np.char.add("m", rng.integers(0, n_camp, n_gl).astype(str)), None)
    con = ga == 5
    gd = np.where(con, 2, gd)
    gfeat = np.where(con, np.char.add("f", rng.integers(0, n_feat, n_gl).astype(str)), None)
    t["gl_entries"] = pa.table({
        "entry_id": ids("e", n_gl), "posted_at": pa.array((gp + rng.integers(0, 28, n_gl).astype("timedelta64[D]")).astype("datetime64[us]")),
        "period": pa.array(gp), "account_id": pa.array(np.char.add("a", ga.astype(str))),
        "department_id": pa.array(np.char.add("d", gd.astype(str))), "amount": money(rng.uniform(10, 2_000, n_gl)),
        "currency": pa.array(np.full(n_gl, "USD")), "feature_id": pa.array(gfeat.tolist()),
        "campaign_id": pa.array(gcamp.tolist()), "is_manual": pa.array(np.zeros(n_gl, bool))})
    bp, bd, ba = np.meshgrid(np.arange(months), np.arange(5), np.arange(len(acc)), indexing="ij")
    nb = bp.size
    t["budgets"] = pa.table({"period": pa.array(periods[bp.ravel()]), "department_id": pa.array(np.char.add("d", bd.ravel().astype(str))),
                             "account_id": pa.array(np.char.add("a", ba.ravel().astype(str))),
                             "amount": money(rng.uniform(0, 2_000, nb) * n_gl / (months * 40) )})
    t["kpi_targets"] = pa.table({"period": pa.array(periods), "kpi": pa.array(["revenue"] * months),
                                 "dimension": pa.array([None] * months, pa.string()),
                                 "target": pa.array(rng.uniform(0.9, 1.1, months) * base.sum() * 0.5)})
    # health scores (monthly per customer), usage, requests, opportunities
    hs_c = rc
    hs_p = np.concatenate(cm_p)
    nh = len(hs_c)
    sc = rng.uniform(0, 100, nh)
    t["health_scores"] = pa.table({"customer_id": pa.array(np.char.add("c", hs_c.astype(str))),
                                   "scored_on": pa.array(hs_p + np.timedelta64(20, "D")), "score": sc,
                                   "usage_score": sc, "support_score": sc, "sentiment_score": sc, "payment_score": sc})
    nu = nh // 3
    pick = rng.integers(0, nh, nu)
    t["feature_usage"] = pa.table({"period": pa.array(hs_p[pick]), "customer_id": pa.array(np.char.add("c", hs_c[pick].astype(str))),
                                   "feature_id": pa.array(np.char.add("f", rng.integers(0, n_feat, nu).astype(str))),
                                   "active_users": pa.array(rng.integers(0, 20, nu)), "events": pa.array(rng.integers(0, 500, nu))})
    nr = n_cust // 5
    t["feature_requests"] = pa.table({"request_id": ids("r", nr), "customer_id": pa.array(np.char.add("c", rng.integers(0, n_cust, nr).astype(str))),
                                      "feature_id": pa.array(np.char.add("f", rng.integers(0, n_feat, nr).astype(str))),
                                      "requested_on": pa.array(first + rng.integers(0, n_days, nr).astype("timedelta64[D]"))})
    no = n_cust // 2
    created = first + rng.integers(0, n_days - 30, no).astype("timedelta64[D]")
    stage = rng.choice(["open", "won", "lost"], no, p=[0.2, 0.4, 0.4])
    t["opportunities"] = pa.table({"opportunity_id": ids("o", no), "customer_id": pa.array(np.char.add("c", rng.integers(0, n_cust, no).astype(str))),
                                   "owner": pa.array(rng.choice(["ann", "bob", "cy"], no)),
                                   "kind": pa.array(rng.choice(["new", "expansion", "renewal"], no)),
                                   "created_on": pa.array(created),
                                   "closed_on": pa.array(np.where(stage == "open", np.datetime64("NaT"), created + np.timedelta64(25, "D"))),
                                   "stage": pa.array(stage), "arr": money(rng.uniform(1_000, 50_000, no))})
    from finlib.warehouse.schema import LOAD_ORDER

    with write_batch(wh, action="bench-data", target="bench") as b:
        for name in LOAD_ORDER:
            if name in t:
                b.append(name, t[name])
        b.execute("UPDATE marketing_campaigns SET spend = COALESCE((SELECT SUM(amount) FROM gl_entries g "
                  "WHERE g.campaign_id = marketing_campaigns.campaign_id), 0)")
    return last


# -- the two paths (run in a child process) --------------------------------------------------

def run_finlib(url: str, period: str) -> dict:
    from finlib.metrics.kpis import period_metrics
    from finlib.warehouse.db import get_warehouse

    out = period_metrics(get_warehouse(url), period)
    return {"mrr": out["headline"]["mrr"], "recognised_revenue": out["headline"]["recognised_revenue"],
            "nrr": out["headline"]["nrr"]}


def run_pandas(url: str, period: str) -> dict:
    from finlib.warehouse.db import get_warehouse
    from tests.metrics import reference

    t = reference.load_tables(get_warehouse(url))
    fig = reference.period_figures(t, period)
    return {"mrr": round(fig["movements"]["mrr_end"], 2), "recognised_revenue": fig["recognised_revenue"],
            "nrr": fig["nrr"]}


def _peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` belongs to the process image, so it
    starts afresh at exec; ``ru_maxrss`` would carry over the parent's peak (Linux keeps it
    across execve), e.g. the memory of generating a demo warehouse in the parent."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, url: str, period: str) -> None:
    import duckdb  # noqa: F401  imports are not timed: both paths need the same ones
    import pandas  # noqa: F401

    import tests.metrics.reference  # noqa: F401

    t0 = time.perf_counter()
    res = (run_finlib if path == "finlib" else run_pandas)(url, period)
    secs = time.perf_counter() - t0
    peak_mb = _peak_rss_mb()
    print(json.dumps({"seconds": secs, "peak_mb": peak_mb, "check": res}))


def measure(path: str, url: str, period: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", path, url, period], check=False,
                       capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    if r.returncode != 0:
        raise SystemExit(f"{path} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="small,medium,large")
    ap.add_argument("--source", default="auto", choices=["auto", "demo", "synthetic"])
    ap.add_argument("--child", nargs=3, metavar=("PATH", "URL", "PERIOD"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    print(f"{'scale':8} {'source':9} {'period':10} {'path':7} {'seconds':>8} {'peak MB':>8}  figures")
    rows = []
    for scale in a.scales.split(","):
        url, period, used = build(scale, a.source)
        f = measure("finlib", url, period)
        p = measure("pandas", url, period)
        for name, r in (("finlib", f), ("pandas", p)):
            print(f"{scale:8} {used:9} {period:10} {name:7} {r['seconds']:8.2f} {r['peak_mb']:8.0f}  {r['check']}")
        rows.append((scale, f, p))
        sys.stdout.flush()
    print("\nscale    finlib s  pandas s  speed-up  finlib MB  pandas MB")
    for scale, f, p in rows:
        print(f"{scale:8} {f['seconds']:8.2f} {p['seconds']:9.2f} {p['seconds'] / f['seconds']:8.1f}x "
              f"{f['peak_mb']:9.0f} {p['peak_mb']:10.0f}")
    if len(rows) > 1:
        print("\ntime growth (finlib): " + ", ".join(
            f"{rows[i][0]}→{rows[i + 1][0]} ×{rows[i + 1][1]['seconds'] / rows[i][1]['seconds']:.1f}"
            for i in range(len(rows) - 1)))


if __name__ == "__main__":
    main()
