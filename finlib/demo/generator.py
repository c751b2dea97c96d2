"""The demo-data generator: orchestration, writing, KPI targets and the truth file.

Three phases:

1. :func:`finlib.demo.simulate.simulate`: the customer-month simulation (compact matrices);
2. :func:`finlib.demo.costs.plan` and :func:`~finlib.demo.costs.build_costs`: staff,
   features, campaigns, the cost ledger, budgets and the planted alert figures;
3. :func:`finlib.demo.blocks.build_block` for each block of customers, appended to the
   warehouse as it is produced (bounded memory), then the KPI targets.

Everything is written in one :func:`finlib.warehouse.load.write_batch` transaction; the
truth file is written after the commit. Same seed, scale and end month, same data.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from finlib.demo import _arrow as A
from finlib.demo import model as M
from finlib.demo.blocks import DAY, Context, build_block, month_first
from finlib.demo.controls_plant import plant_controls
from finlib.demo.costs import (
    BV_BREACH_OVER,
    BV_BREACH_UNDER,
    BV_NEAR_OVER,
    BV_NEAR_UNDER,
    CC_BREACH,
    CC_NEAR_BUDGET,
    CC_NEAR_RATIO,
    build_costs,
    plan,
)
from finlib.demo.simulate import plant_launch, rng_for, simulate
from finlib.demo.truth import store_truth, write_truth_file
from finlib.errors import DemoDataError
from finlib.warehouse.create import init_db
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import CANONICAL_TABLES, LOAD_ORDER

CAC_BREACH_CHANNEL = "Paid Social"
CAC_NEAR_CHANNEL = "Paid Search"


def parse_end(end) -> np.datetime64:
    """The last closed month: ``YYYY-MM`` (or a date); default the month before today."""
    if end is None:
        today = _dt.date.today()
        return np.datetime64(f"{today.year:04d}-{today.month:02d}", "M") - 1
    if isinstance(end, (_dt.date, np.datetime64)):
        return np.datetime64(end, "M")
    try:
        return np.datetime64(str(end)[:7], "M")
    except ValueError:
        raise DemoDataError(f"--end {end!r} is not a month: use YYYY-MM, e.g. 2026-10") from None


def resolve_scale(scale) -> M.Scale:
    if isinstance(scale, M.Scale):
        return scale
    try:
        return M.SCALES[str(scale)]
    except KeyError:
        raise DemoDataError(f"unknown scale {scale!r}: use one of {', '.join(M.SCALES)}") from None


def _existing_rows(wh) -> dict[str, int]:
    out = {}
    with wh.connect(read_only=True) as conn:
        for t in CANONICAL_TABLES:
            if conn.table_exists(t):
                n = conn.scalar(f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT 1) x")
                if n:
                    out[t] = n
    return out


class _Progress:
    """Rich progress on stderr when asked (falls back to plain status lines)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._p = None
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        if self.enabled:
            try:
                self._p = Progress(TextColumn("{task.description:<28}"), BarColumn(),
                                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                   console=Console(stderr=True), transient=False)
                self._p.__enter__()
            except Exception:  # noqa: BLE001  # pragma: no cover - no usable terminal
                self._p = None
        return self

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)

    def task(self, name: str, total: int) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n=1: None
        if self._p is None:
            print(f"demo-data: {name} ...", file=sys.stderr, flush=True)
            return lambda n=1: None
        tid = self._p.add_task(name, total=total)
        return lambda n=1: self._p.advance(tid, n)


def generate(wh, scale="small", seed: int = 42, end=None, *, force: bool = False,
             progress: bool = False) -> dict:
    """Fill every canonical table of ``wh`` with a coherent demo company and plant truth.

    Parameters
    ----------
    wh : Warehouse
    scale : {'small', 'medium', 'large'}
        About 500, 5,000 or 100,000 customers.
    seed : int
        Seeds every random draw (``numpy.random.SeedSequence([seed, part])``).
    end : str or date, optional
        The last closed month ``YYYY-MM`` (default: the month before today). The data
        cover the 36 months ending with it.
    force : bool
        Replace the canonical tables' contents if the warehouse already has data;
        without it a non-empty warehouse is refused.
    progress : bool
        Show progress on stderr.

    Returns
    -------
    dict
        ``rows`` per table, ``seconds``, ``truth_path`` and the ``truth`` itself.
    """
    t0 = time.perf_counter()
    sc = resolve_scale(scale)
    seed = int(seed)
    last = parse_end(end)
    first = last - (M.N_MONTHS - 1)
    init_db(wh)
    existing = _existing_rows(wh)
    if existing and not force:
        listed = ", ".join(sorted(existing))
        raise DemoDataError(
            f"The warehouse {wh.display_url} already has data (in {listed}). "
            "Use `finlib demo-data --force` to replace it with demo data, or point "
            "FINLIB_DB_URL at another warehouse."
        )
    T = M.N_MONTHS
    T - 1
    n_blocks = -(-sc.customers // sc.block)
    with _Progress(progress) as prog:
        sim = simulate(sc, seed, first.astype("datetime64[D]"), progress=prog.task("simulating months", T))
        co = plan(sim, sc, seed)
        step = prog.task("company ledger and plans", 1)
        costs = build_costs(co, sim, sc, seed)
        plant_launch(sim, seed)  # after the company plan: the launch leaves every cost unchanged
        step(1)
        months = sim.months
        ctx = Context(sim=sim, seed=seed, feature_ids=co.feature_ids, feature_release_t=co.feature_release,
                      feature_popularity=co.feature_popularity, adoption_feature=co.adoption_feature,
                      campaign_ids=co.campaign_ids, reps=co.reps, csms=co.csms,
                      usage_interest=sc.usage_interest)
        rows: dict[str, int] = {}
        rev_by_t = np.zeros(T, dtype=np.int64)
        details = {"scale": sc.name, "seed": seed, "first_period": str(months[0]),
                   "last_closed_month": str(months[-1]), "force": bool(force)}
        with write_batch(wh, action="demo-data", target="canonical tables", details=details) as b:
            if wh.backend == "duckdb":
                b.conn.raw.execute("SET preserve_insertion_order = false")
                b.conn.raw.execute("SET memory_limit = '600MB'")  # bound the buffer pool

            def put(table, data):
                rows[table] = rows.get(table, 0) + b.append(table, data)

            if existing:
                for t in reversed(LOAD_ORDER):
                    if t in CANONICAL_TABLES:
                        b.delete(t)
            for name, data in _reference_tables(sim, co, seed).items():
                put(name, data)
            for name in ("marketing_campaigns", "features", "milestones", "gl", "dev_costs", "budgets"):
                put("gl_entries" if name == "gl" else name, costs[name])
            for name, data in _retention_tables(sim, co).items():
                put(name, data)
            put("opportunities", _prospect_opportunities(sim, co, seed))
            step = prog.task("customer blocks", n_blocks)
            for k in range(n_blocks):
                lo, hi = k * sc.block, min(sc.customers, (k + 1) * sc.block)
                tables, rev, _ = build_block(ctx, lo, hi, k)
                rev_by_t += rev
                for name in ("customers", "subscriptions", "invoices", "revenue_recognized", "gl_entries",
                             "health_scores", "surveys", "feature_usage", "feature_requests", "opportunities"):
                    put(name, tables[name])
                del tables
                step(1)
            targets, target_truth = _kpi_targets(sim, costs, rev_by_t, seed)
            put("kpi_targets", targets)
            truth = _truth(sim, co, costs, target_truth, sc, seed)
            truth["controls"] = plant_controls(b, truth, rows)  # control failures and near misses (last closed month)
            store_truth(b, truth)  # data and truth commit together
    path = write_truth_file(wh, truth)
    return {"rows": rows, "seconds": round(time.perf_counter() - t0, 2), "truth_path": str(path) if path else None,
            "truth": truth}


# ---------------------------------------------------------------------------------------
def _reference_tables(sim, co, seed) -> dict:
    rng = rng_for(seed, 5)
    T = M.N_MONTHS
    months = sim.months
    fx_dates, fx_cur, fx_rate = [], [], []
    for cur, base in M.FX_CURRENCIES:
        rate = base * np.exp(np.cumsum(rng.normal(0, 0.015, T)))
        fx_dates.append(months)
        fx_cur += [cur] * T
        fx_rate.append(np.round(rate, 6))
    fx_dates.append(months)
    fx_cur += ["USD"] * T
    fx_rate.append(np.ones(T))
    return {
        "departments": A.table(department_id=pa.array(list(M.DEPARTMENT_IDS.values())),
                               name=pa.array(list(M.DEPARTMENT_IDS))),
        "accounts": A.table(account_id=pa.array([a[0] for a in M.ACCOUNTS]),
                            name=pa.array([a[1] for a in M.ACCOUNTS]),
                            account_type=pa.array([a[2] for a in M.ACCOUNTS]),
                            category=pa.array([a[3] for a in M.ACCOUNTS])),
        "products": A.table(product_id=pa.array(["P1", "P2", M.LAUNCH_PRODUCT[0]]),
                            name=pa.array(["Core Platform", "Analytics Add-on", M.LAUNCH_PRODUCT[1]]),
                            launched_on=A.dates([months[0] - np.timedelta64(2000, "D"),
                                                 months[M.ADDON_LAUNCH_T], months[M.LAUNCH_T]])),
        "fx_rates": A.table(rate_date=A.dates(np.concatenate(fx_dates)), currency=pa.array(fx_cur),
                            rate_to_reporting=pa.array(np.concatenate(fx_rate)).cast(pa.decimal128(18, 8))),
    }


def _retention_tables(sim, co) -> dict:
    months = sim.months
    mlast = month_first(months[0], np.arange(1, M.N_MONTHS + 1)) - DAY
    rows, mem_c, mem_id, mem_arm, mem_on = [], [], [], [], []
    for cid, name, ex, seg, unit in (("RC01", "At-risk save program", sim.retention, None, 400),
                                     ("RC02", "Enterprise QBR pilot", sim.pilot, "Enterprise", 1_500)):
        rows.append((cid, name, months[ex.start_t], mlast[ex.start_t + ex.window - 1],
                     int(ex.treated.sum()) * unit * 100, seg))
        mem_c.append(ex.members)
        mem_id += [cid] * len(ex.members)
        mem_arm.append(np.where(ex.treated, 0, 1))
        mem_on.append(np.full(len(ex.members), months[ex.start_t]))
    camps = A.table(campaign_id=pa.array([r[0] for r in rows]), name=pa.array([r[1] for r in rows]),
                    started_on=A.dates([r[2] for r in rows]), ended_on=A.dates([r[3] for r in rows]),
                    cost=A.money([r[4] for r in rows]), target_segment=pa.array([r[5] for r in rows], pa.string()))
    mc = np.concatenate(mem_c)
    members = A.table(campaign_id=pa.array(mem_id), customer_id=A.ids("C", mc + 1, 6),
                      arm=A.pick(("treatment", "control"), np.concatenate(mem_arm)),
                      assigned_on=A.dates(np.concatenate(mem_on)))
    return {"retention_campaigns": camps, "retention_campaign_members": members}


def _prospect_opportunities(sim, co, seed):
    """Lost and open new-business opportunities of prospects that never became customers."""
    rng = rng_for(seed, 6)
    T = M.N_MONTHS
    new_by_t = np.bincount(sim.signup_t[sim.signup_t >= 0], minlength=T)
    n_lost = np.round(1.2 * new_by_t).astype(int)
    t = np.repeat(np.arange(T), n_lost)
    closed = sim.months[t] + rng.integers(0, 28, len(t)).astype("timedelta64[D]")
    created = closed - rng.integers(20, 150, len(t)).astype("timedelta64[D]")
    stage = np.ones(len(t), dtype=int) * 2
    n_open = round(0.8 * new_by_t[-3:].sum())
    t_o = np.repeat(T - 1, n_open)
    created_o = sim.months[T - 1] - rng.integers(0, 80, n_open).astype("timedelta64[D]")
    seg = rng.choice(3, len(t) + n_open, p=M.SEGMENT_MIX)
    arr = np.round(12 * M.BASE_MRR[seg] * rng.lognormal(0, 0.4, len(seg)) * 100).astype(np.int64)
    n = len(t) + n_open
    del t_o
    return A.table(
        opportunity_id=A.ids("L", np.arange(1, n + 1), 7), customer_id=pa.nulls(n, pa.string()),
        owner=A.pick(co.reps, rng.integers(0, len(co.reps), n)), kind=A.const("new", n),
        created_on=A.dates(np.r_[created, created_o]),
        closed_on=A.dates(np.r_[closed, np.full(n_open, np.datetime64("NaT"), dtype="datetime64[D]")]),
        stage=A.pick(("open", "won", "lost"), np.r_[stage, np.zeros(n_open, int)]), arr=A.money(arr),
    )


def _kpi_targets(sim, costs, rev_by_t, seed):
    """KPI targets near actuals, with the revenue and CAC plants of the last closed month."""
    rng = rng_for(seed, 7)
    T = M.N_MONTHS
    P = T - 1
    rows = []  # (t, kpi, dimension, target)
    rev_ratio = rng.uniform(0.97, 1.04, T)
    rev_target = rev_by_t / 100 * rev_ratio
    rev_target[P] = rev_by_t[P] / 100 / 0.92
    rev_target[P - 1] = rev_by_t[P - 1] / 100 / 0.955
    rows += [(t, "revenue", None, round(float(rev_target[t]), 2)) for t in range(T)]
    mrr_t = sim.mrr_all.sum(axis=0) / 100
    rows += [(t, "mrr", None, round(float(mrr_t[t] * rng.uniform(0.97, 1.04)), 2)) for t in range(T)]
    for s, seg in enumerate(M.SEGMENTS):
        ms = sim.mrr_all[sim.segment == s].sum(axis=0) / 100
        rows += [(t, "mrr", seg, round(float(ms[t] * rng.uniform(0.97, 1.04)), 2)) for t in range(T)]
    mrr = sim.mrr_all
    for t in range(12, T):
        base = mrr[:, t - 12] > 0
        nrr = mrr[base, t].sum() / mrr[base, t - 12].sum()
        rows.append((t, "nrr", None, round(float(nrr * rng.uniform(0.98, 1.02)), 4)))
    cac = costs["sm_opex"] / 100 / np.maximum(costs["new_by_t"], 1)
    cac_t = cac * rng.uniform(0.95, 1.08, T)
    cac_t[P] = cac[P] / 1.30
    cac_t[P - 1] = cac[P - 1] / 1.18
    rows += [(t, "cac", None, round(float(cac_t[t]), 2)) for t in range(T) if costs["new_by_t"][t] > 0]
    ch_spend, ch_new = costs["ch_spend"], costs["ch_new"]
    for k, ch in enumerate(M.CAMPAIGN_CHANNELS):
        for t in range(T):
            if ch_new[k, t] > 0 and ch_spend[k, t] > 0:
                c = ch_spend[k, t] / 100 / ch_new[k, t]
                ratio = rng.uniform(0.95, 1.08)
                target = c * ratio
                if t == P and ch == CAC_BREACH_CHANNEL:
                    target = c / 1.40
                if t == P and ch == CAC_NEAR_CHANNEL:
                    target = c / 1.17
                rows.append((t, "cac", ch, round(float(target), 2)))
        rows += [(t, "campaign_roi", ch, 3.0) for t in range(T)]
    rows += [(t, "campaign_roi", None, 3.0) for t in range(T)]
    for ch in (CAC_BREACH_CHANNEL, CAC_NEAR_CHANNEL):
        k = M.CAMPAIGN_CHANNELS.index(ch)
        if not (ch_new[k, P] > 0 and ch_spend[k, P] > 0):  # pragma: no cover - guarded by the simulation
            raise DemoDataError(f"channel {ch} has no CAC in the last closed month")
    t = np.array([r[0] for r in rows])
    table = A.table(period=A.dates(sim.months[t]), kpi=pa.array([r[1] for r in rows]),
                    dimension=pa.array([r[2] for r in rows], pa.string()),
                    target=pa.array([r[3] for r in rows], pa.float64()))
    return table, {"revenue_p": rev_by_t[P] / 100, "revenue_p1": rev_by_t[P - 1] / 100,
                   "cac_p": cac[P], "cac_p1": cac[P - 1]}


def _truth(sim, co, costs, tt, sc, seed) -> dict:
    months = sim.months
    P = M.N_MONTHS - 1

    def per(t):
        return str(months[t])

    def line(ln):
        return {"department_id": ln[0], "account_id": ln[1]}

    ct = costs["truth"]

    def item(rule, t, entity, value, threshold, note):
        return {"rule": rule, "period": per(t), "entity": entity, "value": value, "threshold": threshold,
                "note": note}

    breaches = [
        item("budget_variance", P, line(BV_BREACH_OVER), 0.18, 0.10, "actual 18 % over budget"),
        item("budget_variance", P, line(BV_BREACH_UNDER), -0.15, 0.10, "actual 15 % under budget (|variance| counts)"),
        item("revenue_target", P, {}, 0.92, 0.95, "recognised revenue = 0.92 x target"),
        item("cost_control", P, line(CC_BREACH), 1.30, 1.15, "1.30 x trailing 3-month mean, 6 % over budget"),
        item("campaign_roi", P, {"campaign_id": ct["roi_breach"]}, 1.20, 2.0, "ROI 1.20 (ended within 12 months)"),
        item("cac", P, {}, 1.30, 1.20, "blended CAC = 1.30 x target"),
        item("cac", P, {"channel": CAC_BREACH_CHANNEL}, 1.40, 1.20, "channel CAC = 1.40 x target"),
        item("product_development", P, {"feature_id": ct["pd_breach"]}, 1.40, 1.25, "cost to date = 1.40 x budget"),
    ]
    near = [
        item("budget_variance", P, line(BV_NEAR_OVER), 0.095, 0.10, "9.5 % over budget"),
        item("budget_variance", P, line(BV_NEAR_UNDER), -0.095, 0.10, "9.5 % under budget"),
        item("revenue_target", P - 1, {}, 0.955, 0.95, "the month before: revenue = 0.955 x target"),
        item("cost_control", P, line(CC_NEAR_RATIO), 1.14, 1.15, "1.14 x trailing mean (over budget)"),
        item("cost_control", P, line(CC_NEAR_BUDGET), 1.25, 1.15, "1.25 x trailing mean but 3 % under budget"),
        item("campaign_roi", P, {"campaign_id": ct["roi_near"]}, 2.06, 2.0, "ROI 2.06"),
        item("cac", P - 1, {}, 1.18, 1.20, "the month before: blended CAC = 1.18 x target"),
        item("cac", P, {"channel": CAC_NEAR_CHANNEL}, 1.17, 1.20, "channel CAC = 1.17 x target"),
        item("product_development", P, {"feature_id": ct["pd_near"]}, 1.22, 1.25, "cost to date = 1.22 x budget"),
    ]
    R = M.ADOPTION_RELEASE_T
    ex = sim.retention
    obs_c, obs_t = ex.churned[~ex.treated], ex.churned[ex.treated]
    adopters = np.flatnonzero(sim.adopter)
    L = M.LAUNCH_T
    launch_adopters = np.flatnonzero(sim.launch_adopter)
    mc = costs["marketing_campaigns"].to_pydict()
    launch_campaigns = [c for c, p in zip(mc["campaign_id"], mc["product_id"], strict=True)
                        if p == M.LAUNCH_PRODUCT[0]]
    return {
        "seed": seed,
        "scale": sc.name,
        "first_period": per(0),
        "last_closed_month": per(P),
        "customers": int(sim.n),
        "adoption": {
            "feature_id": co.feature_ids[co.adoption_feature],
            "feature_name": co.feature_names[co.adoption_feature],
            "release_period": per(R),
            "effect_mrr": M.EFFECT_MRR,
            "adopters": len(adopters),
            "adoption_probability_by_segment": dict(zip(M.SEGMENTS, M.ADOPTION_P.tolist(), strict=True)),
            "adopters_by_segment": dict(zip(M.SEGMENTS, np.bincount(sim.segment[adopters], minlength=3).tolist(), strict=True)),
            "estimand": (
                f"Difference in differences on customer-month MRR (USD, all active subscriptions at the "
                f"month end) for customers paying at every month end of [{per(R - 6)}, {per(R + 6)}) "
                f"(periods R-6 .. R+5); treated = the customer has feature_usage rows for "
                f"{co.feature_ids[co.adoption_feature]} in period {per(R)} (adopters; adoption happens "
                f"only at R and raises the core subscription's MRR by exactly effect_mrr from the first "
                f"day of R); post = period >= {per(R)}. Adoption depends on segment only (Enterprise "
                f"adopts most and also expands most), so control for segment-specific post shifts: OLS "
                f"mrr ~ treated + post + treated:post + C(segment) + C(segment):post, standard errors "
                f"clustered by customer; the treated:post coefficient estimates effect_mrr. Without the "
                f"segment terms the estimate is biased upward."),
        },
        "launch": {
            "product_id": M.LAUNCH_PRODUCT[0],
            "product_name": M.LAUNCH_PRODUCT[1],
            "launch_period": per(L),
            "uplift_mrr": M.LAUNCH_PRICE,
            "adopters": len(launch_adopters),
            "adoption_probability_by_segment": dict(zip(M.SEGMENTS, M.LAUNCH_ADOPTION_P.tolist(), strict=True)),
            "adopters_by_segment": dict(zip(M.SEGMENTS, np.bincount(sim.segment[launch_adopters],
                                                                    minlength=3).tolist(), strict=True)),
            "feature_ids": [f for f, p in zip(co.feature_ids, co.feature_product, strict=True) if p == 2],
            "campaign_ids": launch_campaigns,
            "estimand": (
                f"Average change in a customer's total monthly MRR (USD, every product) caused by "
                f"taking up {M.LAUNCH_PRODUCT[0]} at its launch {per(L)}, for the adopters (ATT). "
                f"Adopters = customers paying at the end of {per(L - 1)} that start paying for "
                f"{M.LAUNCH_PRODUCT[0]} in {per(L)}; adoption depends on segment only (Enterprise "
                f"adopts most and expands most), so compare with non-adopters of the same segment "
                f"(and size band) over the same months: a difference in differences with segment "
                f"cells, standard errors clustered by customer. Adopters against every non-adopter, "
                f"or against themselves before the launch, overstate the uplift."),
        },
        "satisfaction": {
            "horizon_months": M.SURVEY_HORIZON,
            "coefficients": dict(M.SURVEY_CHURN_COEFFICIENT),
            "unit": "log-odds of churn within the horizon per point of score",
            "scales": {k: list(v) for k, v in M.SURVEY_SCALE.items()},
            "base_distribution": {k: (v / v.sum()).round(6).tolist() for k, v in M.SURVEY_BASE.items()},
            "formula": ("logit P(churn within horizon | score) = a + coefficient * score, exactly, for "
                        "each kind (nps 0-10, csat 1-5); the score depends on nothing else, so the same "
                        "slope holds given segment, MRR and tenure"),
            "label": ("churn = the customer, paying at the end of the month before the response "
                      "month, pays nothing at some month end of the response month .. response "
                      "month + horizon - 1"),
            "note": "scores are drawn given the churn outcome: they predict churn, they do not cause it",
        },
        "churn_model": {
            "intercept": M.CHURN_INTERCEPT,
            "coefficients": dict(zip(M.HEALTH_COMPONENTS, M.CHURN_COEFFICIENTS.tolist(), strict=True)),
            "transformation": "x = (component_score - 50) / 10 for each health component (0-100 scale)",
            "unit": "monthly churn log-odds",
            "formula": ("P(churn in month t) = logistic(intercept + sum_k coefficient_k * x_k) with x_k "
                        "from the health_scores row scored_on the first day of month t"),
            "label": ("the customer paid at the end of month t-1 and has no active subscription at the "
                      "end of month t (its last subscription's end_date falls inside month t)"),
            "extra_terms": {"retention_treatment": M.RETENTION_EFFECT},
            "segment_effects": "none: segments differ in churn only through their health scores",
        },
        "retention_campaign": {
            "campaign_id": "RC01",
            "window_months": ex.window,
            "start_period": per(ex.start_t),
            "eligibility": f"paying at the start of {per(ex.start_t)} and composite health score < {M.AT_RISK_SCORE}",
            "control_churn_rate": round(float(ex.p_control.mean()), 4),
            "treatment_churn_rate": round(float(ex.p_treated.mean()), 4),
            "uplift": round(float(ex.p_control.mean() - ex.p_treated.mean()), 4),
            "definition": ("churn rate = share of members whose subscriptions all end (churn) within the "
                           "window's months; rates are the model's expected probabilities over all "
                           "members; uplift = control - treatment"),
            "log_odds_effect": M.RETENTION_EFFECT,
            "members": {"treatment": int(ex.treated.sum()), "control": int((~ex.treated).sum())},
            "observed": {"control_churn_rate": round(float(obs_c.mean()), 4),
                         "treatment_churn_rate": round(float(obs_t.mean()), 4)},
        },
        "other_retention_campaigns": [{"campaign_id": "RC02", "effect": "none (log-odds effect 0)",
                                       "start_period": per(sim.pilot.start_t)}],
        "alerts": {"breaches": breaches, "near_misses": near},
        "governance": {
            "sod_violations": ct["sod_entries"],
            "note": "manual gl_entries whose approved_by equals created_by",
        },
        "conventions": {
            "revenue_department_id": M.REVENUE_DEPARTMENT,
            "foreign_currency_lines": [{"department_id": "D50", "account_id": "6510", "currency": "EUR"},
                                       {"department_id": "D50", "account_id": "6610", "currency": "GBP"}],
            "churn_end_date": "a day inside the churn month; price changes start/end on the 1st",
            "annual_billing": "12 x MRR per term; credit note (negative invoice) for unused days when a row ends mid-term",
            "void_invoices": "a few monthly invoices have a void duplicate, never recognised",
        },
    }
