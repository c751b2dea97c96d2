"""Phase 2: per-customer tables, derived from the simulation one block of customers at a time.

For a block of customers this module derives, with numpy only:

* ``customers``;
* ``subscriptions``: each run of constant, non-zero MRR of a product is one row. A row that
  follows a price change starts on the first day of the month; a new customer's first row
  starts on its signup date; reactivations and cross-sells start on a day inside the month.
  A row ended by a price change ends (exclusive) on the first day of the next month; one
  ended by churn (or by dropping the add-on) ends on a day inside the churn month, so the
  customer is not paying at that month's end;
* ``invoices``: monthly plans are invoiced per calendar month (the first month pro rata by
  days, the last month in full: no refunds); annual plans are invoiced 12 x MRR per term
  from the row's start, and a row ending inside a term gets a credit note (negative
  invoice, ``kind = credit_note``) for the unused days. A few monthly invoices have a ``void`` duplicate;
* ``revenue_recognized``: every non-void invoice is recognised ratably by days over its
  service period (cumulative rounding to the cent, so each invoice recognises exactly its
  amount), summed per subscription and period; periods after the window stay deferred;
* ``gl_entries`` on the revenue accounts, one per ``revenue_recognized`` row;
* ``health_scores``, ``surveys``, ``feature_usage``, ``feature_requests`` and the
  customer-linked ``opportunities`` (won ``new`` = the signup, won ``expansion`` = each
  sales-led increase and cross-sell, ``renewal`` = each annual term after the first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finlib.demo import _arrow as A
from finlib.demo import model as M
from finlib.demo.simulate import Simulation, rng_for

DAY = np.timedelta64(1, "D")


@dataclass
class Context:
    """What every block needs besides the simulation."""

    sim: Simulation
    seed: int
    feature_ids: list[str]
    feature_release_t: np.ndarray  # month index of release (may be < 0, or > 35: unreleased)
    feature_popularity: np.ndarray
    adoption_feature: int
    campaign_ids: list[str]
    reps: list[str]
    csms: list[str]
    usage_interest: float = 0.5


def month_first(m0: np.datetime64, k) -> np.ndarray:
    return (np.datetime64(m0, "M") + np.asarray(k)).astype("datetime64[D]")


def add_months(d: np.ndarray, k) -> np.ndarray:
    """``d`` plus ``k`` calendar months (days are at most 28, so always valid)."""
    d = np.asarray(d, dtype="datetime64[D]")
    day = d - d.astype("datetime64[M]").astype("datetime64[D]")
    return (d.astype("datetime64[M]") + np.asarray(k)).astype("datetime64[D]") + day


def month_index(m0: np.datetime64, d: np.ndarray) -> np.ndarray:
    return (np.asarray(d, dtype="datetime64[D]").astype("datetime64[M]") - np.datetime64(m0, "M")).astype(np.int64)


def seq_within(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within runs of equal ``keys`` (``keys`` must be sorted)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1]
    lens = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lens)


def expand(counts: np.ndarray):
    """Row index and 0-based offset for ``counts[i]`` copies of each row ``i``."""
    counts = np.asarray(counts, dtype=np.int64)
    row = np.repeat(np.arange(len(counts)), counts)
    off = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, off


def prorate(cents: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """round(cents * num / den) in exact integer arithmetic (half away from zero for >= 0)."""
    return (2 * cents * num + den) // (2 * den)


def _runs(V: np.ndarray):
    """Maximal runs of constant non-zero values along axis 1: (row, t_start, t_end, value)."""
    n, T = V.shape
    brk = np.ones_like(V, dtype=bool)
    brk[:, 1:] = V[:, 1:] != V[:, :-1]
    flat = np.flatnonzero(brk.ravel())
    ends = np.r_[flat[1:] - 1, n * T - 1]
    vals = V.ravel()[flat]
    keep = vals > 0
    s, e = flat[keep], ends[keep]
    return s // T, s % T, e % T, vals[keep]


def _split_draw(rng, rng_other, other: np.ndarray, method: str, *args) -> np.ndarray:
    """One draw per row: rows where ``other`` is False draw from ``rng`` in order (exactly the
    draws a table without those rows would get), the others from ``rng_other``."""
    other = np.asarray(other, dtype=bool)
    a = getattr(rng, method)(*args, int((~other).sum()))
    b = getattr(rng_other, method)(*args, int(other.sum()))
    out = np.empty(len(other), dtype=np.result_type(a, b))
    out[~other], out[other] = a, b
    return out


def churn_within(active_end: np.ndarray, horizon: int) -> np.ndarray:
    """``(n, T)`` bool: the customer pays nothing at some month end of ``t .. t + horizon - 1``
    (months after the window are not looked at)."""
    n, T = active_end.shape
    nxt = np.full(n, T + horizon)  # first month >= t without payment
    out = np.zeros((n, T), dtype=bool)
    for t in range(T - 1, -1, -1):
        nxt = np.where(active_end[:, t], nxt, t)
        out[:, t] = nxt <= t + horizon - 1
    return out


def survey_scores(kind: str, churns: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Scores of one survey kind by inverse-CDF sampling from standard normal draws ``z``:
    ``P0`` (:data:`model.SURVEY_BASE`) for customers who stay, ``P0(s) exp(b s)`` normalised
    for those who churn within the horizon (:mod:`finlib.demo.model`, "Survey scores")."""
    from scipy.special import ndtr

    lo, hi = M.SURVEY_SCALE[kind]
    s = np.arange(lo, hi + 1)
    p0 = M.SURVEY_BASE[kind] / M.SURVEY_BASE[kind].sum()
    p1 = p0 * np.exp(M.SURVEY_CHURN_COEFFICIENT[kind] * s)
    p1 /= p1.sum()
    u = ndtr(z)
    k0 = np.minimum(np.searchsorted(np.cumsum(p0), u), len(s) - 1)
    k1 = np.minimum(np.searchsorted(np.cumsum(p1), u), len(s) - 1)
    return s[np.where(churns, k1, k0)].astype(np.float64)


def build_block(ctx: Context, lo: int, hi: int, block_no: int) -> tuple[dict, np.ndarray]:
    """Derive every per-customer table for customers ``lo .. hi-1``.

    Returns ``({table: pyarrow.Table or list of them}, recognised cents per period)``.
    """
    sim = ctx.sim
    T = M.N_MONTHS
    m0 = sim.months[0]
    months = sim.months
    mlast = month_first(m0, np.arange(1, T + 1)) - DAY
    dim = (mlast - months).astype(np.int64) + 1
    window_end = mlast[-1]
    rng = rng_for(ctx.seed, 2, block_no)
    rng_launch = rng_for(ctx.seed, 2, block_no, 1)  # the launched product's rows draw from here
    nb = hi - lo
    gidx = np.arange(lo, hi)  # global customer index (0-based); customer number = idx + 1
    cust_ids = A.ids("C", gidx + 1, 6)
    seg = sim.segment[lo:hi]
    core, addon = sim.core[lo:hi], sim.addon[lo:hi]
    mrr = core + addon
    active_end = mrr > 0
    start_active = sim.start_active[lo:hi]
    signup_t = sim.signup_t[lo:hi]
    signup_date = sim.signup_date[lo:hi]
    annual = sim.annual[lo:hi]
    health = sim.health[lo:hi]
    sday = rng.integers(0, 28, (nb, T)).astype("timedelta64[D]")  # start day offsets
    eday = rng.integers(1, 28, (nb, T)).astype("timedelta64[D]")  # churn day offsets (2nd..28th)
    out: dict[str, object] = {}

    # ---- customers --------------------------------------------------------------------
    camp = sim.campaign[lo:hi]
    adj = ("Blue", "Northern", "Bright", "Summit", "Silver", "Apex", "Harbor", "Granite", "Nova",
           "Cedar", "Vertex", "Pioneer", "Lumen", "Orbit", "Atlas", "Copper", "Evergreen")
    noun = ("Analytics", "Logistics", "Health", "Labs", "Foods", "Systems", "Capital", "Retail",
            "Energy", "Media", "Robotics", "Networks", "Partners", "Works", "Dynamics")
    sfx = ("Inc", "Ltd", "GmbH", "LLC", "AG", "SA", "Group")
    name = A.pc.binary_join_element_wise(
        A.pick(adj, gidx % len(adj)).cast(A.pa.string()),
        A.pick(noun, (gidx // len(adj)) % len(noun)).cast(A.pa.string()),
        A.pick(sfx, (gidx // (len(adj) * len(noun))) % len(sfx)).cast(A.pa.string()),
        A.pc.cast(A.pa.array(gidx + 1), A.pa.string()), " ")
    csm_idx = np.where(seg == 0, -1, rng.integers(0, len(ctx.csms), nb))
    out["customers"] = A.table(
        customer_id=cust_ids, name=name, segment=A.pick(M.SEGMENTS, seg),
        region=A.pick(M.REGIONS, sim.region[lo:hi]), industry=A.pick(M.INDUSTRIES, sim.industry[lo:hi]),
        signup_date=A.dates(signup_date), acquisition_channel=A.pick(M.CHANNELS, sim.channel[lo:hi]),
        acquisition_campaign_id=A.pick(ctx.campaign_ids, camp), cs_tier=A.pick(M.CS_TIERS, seg),
        csm_owner=A.pick(ctx.csms, csm_idx),
    )

    # ---- subscriptions ----------------------------------------------------------------
    parts = []
    launch = sim.launch[lo:hi] if sim.launch is not None else np.zeros_like(core)
    for prod, V in ((0, core), (1, addon), (2, launch)):
        c, ta, tb, val = _runs(V)
        prev = np.where(ta > 0, V[c, np.maximum(ta - 1, 0)], 0)
        nxt = np.where(tb < T - 1, V[c, np.minimum(tb + 1, T - 1)], -1)
        start = np.where(prev > 0, months[ta],
                         np.where(ta == signup_t[c], signup_date[c],
                                  np.where((ta == 0) & (signup_t[c] < 0), months[0], months[ta] + sday[c, ta])))
        tn = np.minimum(tb + 1, T - 1)
        end = np.where(nxt > 0, months[tn], months[tn] + eday[c, tn])
        end = np.where(nxt < 0, np.datetime64("NaT"), end).astype("datetime64[D]")
        parts.append((np.full(len(c), prod), c, ta, tb, val, start, end, nxt, prev))
    prod, c, ta, tb, val, start, end, nxt, prev = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((ta, prod, c))
    prod, c, ta, tb, val, start, end, nxt, prev = (
        x[order] for x in (prod, c, ta, tb, val, start, end, nxt, prev))
    sub_no = (gidx[c] + 1) * 100 + seq_within(c)
    sub_ids = A.ids("S", sub_no, 8)
    is_annual = annual[c]
    product_ids = ("P1", "P2", M.LAUNCH_PRODUCT[0])
    out["subscriptions"] = A.table(
        subscription_id=sub_ids, customer_id=A.ids("C", gidx[c] + 1, 6),
        product_id=A.pick(product_ids, prod), start_date=A.dates(start), end_date=A.dates(end),
        mrr=A.money(val), currency=A.const("USD", len(c)),
        billing_period=A.pick(("monthly", "annual"), is_annual.astype(np.int64)),
    )
    nsub = len(c)

    # ---- invoices ---------------------------------------------------------------------
    ended_mid = nxt == 0
    # monthly plans
    mon = np.flatnonzero(~is_annual)
    last_m = np.where(nxt[mon] < 0, T - 1, np.where(ended_mid[mon], tb[mon] + 1, tb[mon]))
    r, k = expand(last_m - ta[mon] + 1)
    s_i = mon[r]
    t_i = ta[s_i] + k
    ss = np.where(k == 0, start[s_i], months[t_i])
    se = np.where(ended_mid[s_i] & (t_i == tb[s_i] + 1), end[s_i] - DAY, mlast[t_i])
    partial = (k == 0) & (ss > months[t_i])
    amt = np.where(partial, prorate(val[s_i], (mlast[t_i] - ss).astype(np.int64) + 1, dim[t_i]), val[s_i])
    inv = [(s_i, ss, ss, se, amt, np.zeros(len(s_i), bool))]
    # annual plans: one invoice per term, a credit note when the row ends inside a term
    ann = np.flatnonzero(is_annual)
    renew_rows = []
    for j in range(4):
        ts = add_months(start[ann], 12 * j)
        te = add_months(start[ann], 12 * (j + 1)) - DAY
        lim = np.where(np.isnat(end[ann]), window_end + DAY, end[ann])
        ok = (ts < lim) & (ts <= window_end)
        a = ann[ok]
        inv.append((a, ts[ok], ts[ok], te[ok], 12 * val[a], np.zeros(len(a), bool)))
        if j >= 1:
            renew_rows.append((a, ts[ok], False))
        has_end = ~np.isnat(end[ann])
        cr = ok & has_end & (end[ann] <= te)
        a2 = ann[cr]
        e2 = end[a2]
        unused = (te[cr] - e2).astype(np.int64) + 1
        term_days = (te[cr] - ts[cr]).astype(np.int64) + 1
        inv.append((a2, e2, e2, te[cr], -prorate(12 * val[a2], unused, term_days), np.ones(len(a2), bool)))
        # the next term after the window: an open renewal opportunity
        opn = np.isnat(end[ann]) & (ts > window_end) & (ts - np.timedelta64(90, "D") <= window_end)
        renew_rows.append((ann[opn], ts[opn], True))
    i_sub, i_issued, i_ss, i_se, i_amt, i_credit = (np.concatenate(x) for x in zip(*inv, strict=True))
    # void duplicates of a few monthly invoices (never recognised)
    void_src = np.flatnonzero(~i_credit & ~is_annual[i_sub]
                              & (_split_draw(rng, rng_launch, prod[i_sub] == 2, "random") < 0.003))
    i_void = np.r_[np.zeros(len(i_sub), bool), np.ones(len(void_src), bool)]
    i_sub, i_issued, i_ss, i_se, i_amt, i_credit = (
        np.r_[x, x[void_src]] for x in (i_sub, i_issued, i_ss, i_se, i_amt, i_credit))
    i_cust = c[i_sub]
    order = np.lexsort((i_void, i_credit, i_sub, i_issued, i_cust))
    i_sub, i_issued, i_ss, i_se, i_amt, i_credit, i_void, i_cust = (
        x[order] for x in (i_sub, i_issued, i_ss, i_se, i_amt, i_credit, i_void, i_cust))
    inv_no = (gidx[i_cust] + 1) * 1000 + seq_within(i_cust)
    im = month_index(m0, i_issued)
    u = _split_draw(rng, rng_launch, prod[i_sub] == 2, "random")
    status = np.where(i_void, 2, np.where(~i_credit & (((im == T - 1) & (u < 0.35)) | ((im == T - 2) & (u < 0.05))), 0, 1))
    out["invoices"] = A.table(
        invoice_id=A.ids("I", inv_no, 9), customer_id=A.ids("C", gidx[i_cust] + 1, 6),
        subscription_id=sub_ids.take(A.pa.array(i_sub)), issued_on=A.dates(i_issued),
        service_start=A.dates(i_ss), service_end=A.dates(i_se), amount=A.money(i_amt),
        currency=A.const("USD", len(i_sub)), status=A.pick(("open", "paid", "void"), status),
        kind=A.pick(("invoice", "credit_note"), i_credit.astype(np.int64)),
    )

    # ---- revenue recognition: ratable by days, cumulative rounding per invoice ----------
    keep = ~i_void
    r_sub, r_ss, r_se, r_amt = i_sub[keep], i_ss[keep], i_se[keep], i_amt[keep]
    mi0, mi1 = month_index(m0, r_ss), month_index(m0, r_se)
    r, k = expand(mi1 - mi0 + 1)
    mm = mi0[r] + k
    first = month_first(m0, mm)
    last = month_first(m0, mm + 1) - DAY
    lo_d = np.maximum(r_ss[r], first)
    hi_d = np.minimum(r_se[r], last)
    days = (hi_d - lo_d).astype(np.int64) + 1
    counts = mi1 - mi0 + 1
    gstart = np.cumsum(counts) - counts
    cum = np.cumsum(days)
    cum -= np.repeat(cum[gstart] - days[gstart], counts)
    total = (r_se - r_ss).astype(np.int64)[r] + 1
    cum_amt = prorate(r_amt[r], cum, total)
    piece = cum_amt - np.where(k == 0, 0, np.r_[0, cum_amt[:-1]])
    inwin = (mm >= 0) & (mm < T)
    key = r_sub[r][inwin] * T + mm[inwin]
    pv = piece[inwin]
    o = np.argsort(key, kind="stable")
    key, pv = key[o], pv[o]
    if len(key):
        st = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
        ukey, usum = key[st], np.add.reduceat(pv, st)
    else:
        ukey, usum = key, pv
    nz = usum != 0
    ukey, usum = ukey[nz], usum[nz]
    rs, rt = ukey // T, ukey % T
    rev_by_t = np.array([int(usum[rt == t].sum()) for t in range(T)], dtype=np.int64)
    out["revenue_recognized"] = A.table(
        period=A.dates(months[rt]), customer_id=A.ids("C", gidx[c[rs]] + 1, 6),
        subscription_id=sub_ids.take(A.pa.array(rs)), amount=A.money(usum),
    )
    nrev = len(rs)
    posted = (mlast[rt].astype("datetime64[s]") + np.timedelta64(20 * 3600, "s")
              + _split_draw(rng, rng_launch, prod[rs] == 2, "integers", 0, 3600).astype("timedelta64[s]"))
    out["gl_entries"] = A.table(
        entry_id=A.ids("GR", sub_no[rs] * 100 + rt, 10), posted_at=A.pa.array(posted),
        period=A.dates(months[rt]), account_id=A.pick(("4000", "4010", "4020"), prod[rs]),
        department_id=A.const(M.REVENUE_DEPARTMENT, nrev), amount=A.money(usum),
        currency=A.const("USD", nrev), memo=A.const("Revenue recognition", nrev),
        source_system=A.const("billing", nrev), created_by=A.const("billing-sync", nrev),
        is_manual=A.const(False, nrev),
    )

    # ---- health scores (first day of each month the customer starts paying) ------------
    hc, ht = np.nonzero(start_active)
    comp = health[hc, ht, :].astype(np.float64)
    comp = np.round(comp, 1)
    score = np.round(comp @ M.HEALTH_WEIGHTS, 1)
    out["health_scores"] = A.table(
        customer_id=A.ids("C", gidx[hc] + 1, 6), scored_on=A.dates(months[ht]),
        score=A.pa.array(score), usage_score=A.pa.array(comp[:, 0]),
        support_score=A.pa.array(comp[:, 1]), sentiment_score=A.pa.array(comp[:, 2]),
        payment_score=A.pa.array(comp[:, 3]),
    )

    # ---- surveys: NPS 0-10 and CSAT 1-5, scores drawn given churn within the horizon -----
    u = rng.random(len(hc))
    s_nps = u < 0.07
    s_csat = (u >= 0.07) & (u < 0.16)
    churns = churn_within(active_end, M.SURVEY_HORIZON)[hc, ht]
    nps = survey_scores("nps", churns, rng.normal(0, 1.5, len(hc)) / 1.5)
    csat = survey_scores("csat", churns, rng.normal(0, 0.7, len(hc)) / 0.7)
    sel = s_nps | s_csat
    sc, st_ = hc[sel], ht[sel]
    o = np.lexsort((st_, sc))
    sv_c, sv_t = sc[o], st_[o]
    kind = np.where(s_nps[sel], 0, 1)[o]
    sval = np.where(s_nps[sel], nps[sel], csat[sel])[o].astype(np.int64)
    out["surveys"] = A.table(
        response_id=A.ids("R", (gidx[sv_c] + 1) * 100 + seq_within(sv_c), 8),
        customer_id=A.ids("C", gidx[sv_c] + 1, 6),
        responded_on=A.dates(months[sv_t] + rng.integers(0, 28, len(sv_c)).astype("timedelta64[D]")),
        kind=A.pick(("nps", "csat"), kind), score=A.pa.array(sval),
    )

    # ---- feature usage ------------------------------------------------------------------
    nf = len(ctx.feature_ids)
    tgrid = np.arange(T)[None, :]
    seats = sim.seats[lo:hi]
    pieces = []
    for f in range(nf):
        if f == ctx.adoption_feature:
            mask = sim.adopt_on[lo:hi]
        else:
            rel = ctx.feature_release_t[f]
            if rel > T - 1:
                continue
            prob = ctx.usage_interest * ctx.feature_popularity[f] / 0.3 * (0.5 + health[:, 0, 0] / 100)
            interested = rng.random(nb) < np.minimum(0.95, prob)
            first_t = np.maximum(np.maximum(rel, 0), signup_t) + rng.geometric(0.35, nb) - 1
            mask = active_end & interested[:, None] & (tgrid >= first_t[:, None])
        fc, ft = np.nonzero(mask)
        pieces.append((np.full(len(fc), f), fc, ft))
    uf, uc, ut = (np.concatenate(x) for x in zip(*pieces, strict=True))
    us = health[uc, ut, 0].astype(np.float64)
    users = np.maximum(1, np.round(seats[uc] * (0.15 + 0.7 * us / 100) * rng.uniform(0.6, 1.0, len(uc)))).astype(np.int64)
    events = np.round(users * rng.lognormal(2.5, 0.6, len(uc))).astype(np.int64)
    out["feature_usage"] = A.table(
        period=A.dates(months[ut]), customer_id=A.ids("C", gidx[uc] + 1, 6),
        feature_id=A.pick(ctx.feature_ids, uf), active_users=A.pa.array(users), events=A.pa.array(events),
    )

    # ---- feature requests: customers ask for features not yet released ----------------
    ask = rng.random(len(hc)) < 0.02
    qc, qt = hc[ask], ht[ask]
    o = np.lexsort((qt, qc))
    qc, qt = qc[o], qt[o]
    rel = ctx.feature_release_t
    pending = [np.flatnonzero((rel > t) & (np.arange(nf) != ctx.adoption_feature)) for t in range(T)]
    fpick = np.full(len(qc), -1)
    uu = rng.random(len(qc))
    for i in range(len(qc)):  # requests are rare (2 % of customer-months)
        p = pending[qt[i]]
        if len(p) and uu[i] >= 0.15:
            fpick[i] = p[int(uu[i] * 1e6) % len(p)]
    out["feature_requests"] = A.table(
        request_id=A.ids("Q", (gidx[qc] + 1) * 100 + seq_within(qc), 8),
        customer_id=A.ids("C", gidx[qc] + 1, 6), feature_id=A.pick(ctx.feature_ids, fpick),
        requested_on=A.dates(months[qt] + rng.integers(0, 28, len(qc)).astype("timedelta64[D]")),
    )

    # ---- opportunities --------------------------------------------------------------------
    o_c, o_kind, o_created, o_closed, o_stage, o_arr = [], [], [], [], [], []

    def add(cc, kind, created, closed, stage, arr):
        o_c.append(cc)
        o_kind.append(np.full(len(cc), kind))
        o_created.append(created)
        o_closed.append(closed)
        o_stage.append(np.full(len(cc), stage) if np.isscalar(stage) else stage)
        o_arr.append(arr)

    newc = np.flatnonzero(signup_t >= 0)
    add(newc, 1, signup_date[newc] - rng.integers(20, 120, len(newc)).astype("timedelta64[D]"),
        signup_date[newc], 1, 12 * mrr[newc, signup_t[newc]])
    ec, et = np.nonzero(sim.expansion[lo:hi] > 0)
    add(ec, 2, months[et] - rng.integers(15, 60, len(ec)).astype("timedelta64[D]"), months[et], 1,
        12 * sim.expansion[lo:hi][ec, et])
    xs = np.flatnonzero((prod == 1) & (prev == 0) & (ta != signup_t[c]))  # cross-sells
    add(c[xs], 2, start[xs] - rng.integers(15, 60, len(xs)).astype("timedelta64[D]"), start[xs], 1, 12 * val[xs])
    lc, lt = np.nonzero(start_active & (rng.random((nb, T)) < 0.004))
    lclose = months[lt] + rng.integers(0, 28, len(lc)).astype("timedelta64[D]")
    add(lc, 2, lclose - rng.integers(15, 60, len(lc)).astype("timedelta64[D]"), lclose, 2,
        12 * np.round(mrr[lc, lt] * rng.uniform(0.1, 0.3, len(lc))).astype(np.int64))
    for rows, ts, is_open in renew_rows:
        add(c[rows], 3, ts - np.timedelta64(90, "D"),
            np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[D]") if is_open else ts,
            0 if is_open else 1, 12 * val[rows])
    n_before = sum(len(x) for x in o_c)
    la = np.flatnonzero((prod == 2) & (prev == 0) & (ta != signup_t[c]))  # launch adoptions (own stream)
    add(c[la], 2, start[la] - rng_launch.integers(15, 60, len(la)).astype("timedelta64[D]"), start[la], 1,
        12 * val[la])
    o_new = np.arange(n_before + len(la)) >= n_before
    oc = np.concatenate(o_c)
    okind, ocreated, oclosed = np.concatenate(o_kind), np.concatenate(o_created), np.concatenate(o_closed)
    ostage, oarr = np.concatenate(o_stage), np.concatenate(o_arr)
    o = np.lexsort((okind, ocreated, oc))
    oc, okind, ocreated, oclosed, ostage, oarr, o_new = (
        x[o] for x in (oc, okind, ocreated, oclosed, ostage, oarr, o_new))
    rep = np.where(seg[oc] == 2, _split_draw(rng, rng_launch, o_new, "integers", 0, max(1, len(ctx.reps) // 3)),
                   _split_draw(rng, rng_launch, o_new, "integers", 0, len(ctx.reps)))
    out["opportunities"] = A.table(
        opportunity_id=A.ids("O", (gidx[oc] + 1) * 1000 + seq_within(oc), 9),
        customer_id=A.ids("C", gidx[oc] + 1, 6), owner=A.pick(ctx.reps, rep),
        kind=A.pick(("", "new", "expansion", "renewal"), okind), created_on=A.dates(ocreated),
        closed_on=A.dates(oclosed), stage=A.pick(("open", "won", "lost"), ostage), arr=A.money(oarr),
    )
    stats = {"subscriptions": nsub}
    return out, rev_by_t, stats
