"""Phase 3: the company side: staff, features, campaigns, the cost ledger, budgets, targets.

Cost model
----------
* Headcount per department follows ARR (:data:`model.EMPLOYEES_PER_MUSD_ARR` employees per
  USD 1 million of ARR, never shrinking); every employee-month is one payroll line
  (``salaries``). Product engineers spend ~60 % of their months on a feature in
  development: those payroll lines carry ``feature_id``.
* Features in development also buy contractors (``contractors``, Product, ``feature_id``).
  ``dev_costs`` is the sum of the feature-tagged ledger lines per feature and period
  (hours: 160 per allocated engineer-month, contractor spend / 95 USD).
* Each marketing campaign's spend is ``new ARR / (1 + ROI)`` with ROI drawn from
  U(2.6, 6) (two planted exceptions), spread over its months as ``advertising`` lines
  tagged with ``campaign_id``; ``marketing_campaigns.spend`` is their sum.
* Software, travel, hosting (cogs), rent and professional fees are smooth series; G&A also
  pays a Berlin office in EUR and UK legal fees in GBP (constant amounts, no budget line).
* Budgets are the actuals perturbed by at most 8 % (last closed month: 0 to 6 % above
  actual); KPI targets likewise. The planted alert breaches and near misses of the last
  closed month are then set exactly (see :func:`plant_alerts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from finlib.demo import _arrow as A
from finlib.demo import model as M
from finlib.demo.blocks import DAY, month_first
from finlib.demo.simulate import Simulation, rng_for

FIRST = ("alex", "sam", "maria", "li", "noah", "emma", "omar", "ines", "jonas", "aisha", "lucas",
         "mia", "ravi", "sofia", "yuki", "liam", "zoe", "david", "nora", "felix", "hana", "ivan")
LAST = ("smith", "garcia", "chen", "muller", "khan", "rossi", "silva", "novak", "tanaka", "dubois",
        "berg", "costa", "haddad", "kowalski", "nguyen", "obrien", "patel", "sato", "weber", "young")
DEPT_IDS = list(M.DEPARTMENT_IDS.values())


@dataclass
class Company:
    months: np.ndarray
    mlast: np.ndarray
    # staff
    emp_dept: np.ndarray
    emp_hire: np.ndarray
    emp_salary: np.ndarray  # cents per month at hire
    emp_names: list[str]
    reps: list[str]
    csms: list[str]
    # features
    feature_ids: list[str]
    feature_names: list[str]
    feature_product: np.ndarray
    feature_team: np.ndarray
    feature_start: np.ndarray  # month index (may be negative for legacy)
    feature_release: np.ndarray  # month index (> 35: not released yet)
    feature_popularity: np.ndarray
    adoption_feature: int
    # campaigns
    campaign_ids: list[str]
    # filled by build_costs
    gl: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)


def plan(sim: Simulation, scale: M.Scale, seed: int) -> Company:
    """Staff roster, features and campaign ids (needed before the customer blocks)."""
    rng = rng_for(seed, 3)
    T = M.N_MONTHS
    months = sim.months
    mlast = month_first(months[0], np.arange(1, T + 1)) - DAY
    arr_musd = 12 * sim.mrr.sum(axis=0) / 100 / 1e6
    dept, hire, sal = [], [], []
    for d in DEPT_IDS:
        target = np.maximum(2, np.round(M.EMPLOYEES_PER_MUSD_ARR[d] * arr_musd)).astype(int)
        head = np.maximum.accumulate(target)
        for k in range(head[-1]):
            dept.append(d)
            hire.append(int(np.argmax(head > k)))
            sal.append(round(M.MONTHLY_SALARY[d] * rng.lognormal(0, 0.15) * 100))
    n = len(dept)
    names = [f"{FIRST[i % len(FIRST)]}.{LAST[(i // len(FIRST)) % len(LAST)]}{'' if i < len(FIRST) * len(LAST) else i}"
             for i in rng.permutation(n)]
    emp_dept = np.array(dept)
    reps = [nm for nm, d in zip(names, dept, strict=True) if d == "D10"]
    csms = [nm for nm, d in zip(names, dept, strict=True) if d == "D40"]

    # features: 3 legacy (released before the window), then scale.features new ones
    nl, nn = len(M.LEGACY_FEATURE_NAMES), scale.features
    start = np.r_[rng.integers(-30, -12, nl), rng.integers(0, 31, nn)]
    dur = np.r_[np.full(nl, 8), rng.integers(4, 10, nn)] + np.r_[np.zeros(nl, int), rng.integers(0, 4, nn)]
    product = np.zeros(nl + nn, dtype=int)
    adoption = nl + 2  # "Workflow Automation"
    start[adoption], dur[adoption] = M.ADOPTION_RELEASE_T - 8, 8
    for j in (nl + 0, nl + 1):  # built for the add-on product, released at its launch
        product[j] = 1
        start[j], dur[j] = M.ADDON_LAUNCH_T - int(rng.integers(6, 10)), 0
        dur[j] = M.ADDON_LAUNCH_T - start[j]
    release = start + dur
    # two features still in development at the end of the window
    start[-2:] = T - np.array([7, 4])
    release[-2:] = T + 1
    # the launched product (model.LAUNCH_PRODUCT) is built by the last new feature released
    # by its launch (a label only: no draw and no cost changes)
    own = np.arange(nl + nn) >= nl + 3
    own[-2:] = False
    built = np.flatnonzero(own & (release <= M.LAUNCH_T))
    if len(built):
        product[built[np.argmax(release[built])]] = 2
    fnames = list(M.LEGACY_FEATURE_NAMES) + list(M.FEATURE_NAMES[:nn])
    fids = [f"F{i + 1:02d}" for i in range(nl + nn)]
    popularity = rng.uniform(0.15, 0.45, nl + nn)
    popularity[:nl] = 0.45
    camp_ids = [f"MC{i + 1:03d}" for i in range(len(sim.campaigns))]
    return Company(
        months=months, mlast=mlast, emp_dept=emp_dept, emp_hire=np.array(hire), emp_salary=np.array(sal),
        emp_names=names, reps=reps, csms=csms, feature_ids=fids, feature_names=fnames,
        feature_product=product, feature_team=rng.integers(0, len(M.TEAMS), nl + nn),
        feature_start=start, feature_release=release, feature_popularity=popularity,
        adoption_feature=adoption, campaign_ids=camp_ids,
    )


def split_cents(total: np.ndarray, k: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Split each ``total[i]`` into ``k[i]`` positive-weighted parts that sum exactly."""
    row = np.repeat(np.arange(len(total)), k)
    w = rng.uniform(0.5, 1.5, len(row))
    ws = np.bincount(row, weights=w, minlength=len(total))
    cw = np.cumsum(w) - np.repeat(np.cumsum(ws) - ws, k)
    cum = np.round(total[row] * cw / ws[row]).astype(np.int64)
    first = np.r_[0, np.cumsum(k)[:-1]]
    part = cum - np.r_[0, cum[:-1]]
    part[first[k > 0]] = cum[first[k > 0]]
    return row, part


class Ledger:
    """Accumulates cost ledger lines as numpy columns."""

    def __init__(self):
        self.cols: dict[str, list] = {k: [] for k in (
            "t", "dept", "acct", "amount", "currency", "feature", "campaign", "vendor", "memo",
            "source", "created_by", "approved_by", "manual")}

    def add(self, t, dept, acct, amount, *, currency="USD", feature=-1, campaign=-1, vendor="",
            memo="", source="ap", created_by="ap-sync", approved_by="", manual=False):
        n = len(amount)

        def b(v, dt=object):
            return np.asarray(v, dtype=dt) if np.ndim(v) else np.full(n, v, dtype=dt)

        for key, v, dt in (("t", t, np.int64), ("dept", dept, object), ("acct", acct, object),
                           ("amount", amount, np.int64), ("currency", currency, object),
                           ("feature", feature, np.int64), ("campaign", campaign, np.int64),
                           ("vendor", vendor, object), ("memo", memo, object), ("source", source, object),
                           ("created_by", created_by, object), ("approved_by", approved_by, object),
                           ("manual", manual, bool)):
            self.cols[key].append(b(v, dt))

    def frame(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.cols.items()}


# lines with a free-form monthly total: (dept, account, vendors, kind)
FREE_LINES = [
    ("D10", "6100", M.SOFTWARE_VENDORS["D10"], "software"),
    ("D20", "6100", M.SOFTWARE_VENDORS["D20"], "software"),
    ("D30", "6100", M.SOFTWARE_VENDORS["D30"], "software"),
    ("D40", "6100", M.SOFTWARE_VENDORS["D40"], "software"),
    ("D50", "6100", M.SOFTWARE_VENDORS["D50"], "software"),
    ("D10", "6400", ("Delta Air Lines", "Marriott", "Uber"), "travel"),
    ("D20", "6400", ("Expo Partners", "Hilton"), "travel"),
    ("D40", "6400", ("Lufthansa", "Hyatt"), "travel"),
    ("D30", "5000", ("Amazon Web Services", "Datadog", "Cloudflare"), "hosting"),
    ("D50", "6500", ("WeWork", "Facilities Co"), "rent"),
    ("D50", "6600", ("Deloitte", "Baker McKenzie", "Grant Thornton"), "fees"),
]

# planted lines in the last closed month P (see plant_alerts)
BV_BREACH_OVER = ("D10", "6100")
BV_BREACH_UNDER = ("D40", "6400")
BV_NEAR_OVER = ("D50", "6500")
BV_NEAR_UNDER = ("D30", "6100")
CC_BREACH = ("D30", "5000")
CC_NEAR_RATIO = ("D50", "6600")
CC_NEAR_BUDGET = ("D40", "6100")


def build_costs(co: Company, sim: Simulation, scale: M.Scale, seed: int) -> dict:
    """Every company-level table and the planted truth about it. Returns a dict with
    ``tables`` (name -> pyarrow.Table), ``truth`` (alerts, governance, campaigns) and the
    figures :func:`kpi_targets` needs."""
    rng = rng_for(seed, 4)
    T = M.N_MONTHS
    P = T - 1
    months, mlast = co.months, co.mlast
    size = np.sqrt(scale.customers / 500)
    led = Ledger()
    headcount = {d: np.array([(np.asarray(co.emp_dept) == d)[co.emp_hire <= t].sum() for t in range(T)])
                 for d in DEPT_IDS}

    # ---- payroll (one line per employee-month), Product engineers allocated to features
    in_dev = [np.flatnonzero((co.feature_start <= t) & (co.feature_release > t)) for t in range(T)]
    e_idx, e_t = [], []
    for t in range(T):
        who = np.flatnonzero(co.emp_hire <= t)
        e_idx.append(who)
        e_t.append(np.full(len(who), t))
    e_idx, e_t = np.concatenate(e_idx), np.concatenate(e_t)
    years = (e_t - co.emp_hire[e_idx]) // 12
    pay = np.round(co.emp_salary[e_idx] * 1.03 ** years).astype(np.int64)
    feat = np.full(len(e_idx), -1)
    prod_eng = np.flatnonzero(co.emp_dept[e_idx] == "D30")
    u = rng.random(len(prod_eng))
    for i, j in enumerate(prod_eng):
        cand = in_dev[e_t[j]]
        if len(cand) and u[i] < 0.6:
            feat[j] = cand[int(u[i] * 1e6) % len(cand)]
    names = np.array(co.emp_names, dtype=object)
    led.add(e_t, co.emp_dept[e_idx], "6000", pay, feature=feat, vendor="ADP Payroll",
            memo=np.char.add("Salary ", names[e_idx].astype(str)).astype(object), source="payroll",
            created_by="payroll-sync")

    # ---- contractors on features in development
    ft, ff = [], []
    for t in range(T):
        ff.append(in_dev[t])
        ft.append(np.full(len(in_dev[t]), t))
    ff, ft = np.concatenate(ff), np.concatenate(ft)
    amt = np.round(rng.uniform(5_000, 15_000, len(ff)) * size * 100).astype(np.int64)
    row, part = split_cents(amt, rng.integers(1, 3, len(ff)), rng)
    vendors = np.array(["Toptal", "Andela", "EPAM Systems", "Thoughtworks"], dtype=object)
    led.add(ft[row], "D30", "6300", part, feature=ff[row], vendor=vendors[rng.integers(0, 4, len(row))],
            memo="Contract development")

    # ---- marketing campaigns: spend = new ARR / (1 + ROI)
    camp = sim.campaigns
    nc = len(camp)
    acquired = sim.campaign >= 0
    new_arr = np.zeros(nc, dtype=np.int64)
    first_mrr = sim.mrr[np.flatnonzero(acquired), sim.signup_t[acquired]]
    np.add.at(new_arr, sim.campaign[acquired], 12 * first_mrr)
    n_acq = np.bincount(sim.campaign[acquired], minlength=nc)
    roi = rng.uniform(2.6, 6.0, nc)
    in_window = (camp.end_t >= P - 11) & (camp.end_t <= P) & (n_acq > 0)
    cands = np.flatnonzero(in_window)
    cands = cands[np.argsort(-new_arr[cands], kind="stable")]
    roi_breach = int(cands[0])
    roi_near = int(next(c for c in cands[1:] if camp.channel[c] != camp.channel[roi_breach]))
    roi[roi_breach], roi[roi_near] = 1.20, 2.06
    spend = np.where(new_arr > 0, np.round(new_arr / (1 + roi)), np.round(5_000 * size * 100)).astype(np.int64)
    c_idx, c_t = [], []
    for j in range(nc):
        ts = np.arange(camp.start_t[j], min(camp.end_t[j], P) + 1)
        c_idx.append(np.full(len(ts), j))
        c_t.append(ts)
    c_idx, c_t = np.concatenate(c_idx), np.concatenate(c_t)
    w = rng.uniform(0.7, 1.3, len(c_idx))
    wsum = np.bincount(c_idx, weights=w, minlength=nc)
    cw = np.cumsum(w) - np.repeat(np.cumsum(wsum) - wsum, np.bincount(c_idx, minlength=nc))
    cum = np.round(spend[c_idx] * cw / wsum[c_idx]).astype(np.int64)
    month_amt = cum - np.r_[0, cum[:-1]]
    firsts = np.r_[0, np.flatnonzero(np.diff(c_idx)) + 1]
    month_amt[firsts] = cum[firsts]
    row, part = split_cents(month_amt, rng.integers(2, 4, len(c_idx)), rng)
    ch_names = np.array(M.CAMPAIGN_CHANNELS, dtype=object)[camp.channel[c_idx[row]]]
    v = np.array([M.CHANNEL_VENDORS[ch][i % 2] for ch, i in zip(ch_names, rng.integers(0, 2, len(row)), strict=True)], dtype=object)
    led.add(c_t[row], "D20", "6200", part, campaign=c_idx[row], vendor=v, memo="Campaign media spend")
    camp_spend_total = np.bincount(c_idx[row], weights=part, minlength=nc)  # float, exact for < 2**53

    # ---- smooth free-form lines
    total_mrr = sim.mrr.sum(axis=0)
    hc_all = sum(headcount.values())
    L = {}
    for d, a, _vendors, kind in FREE_LINES:
        h = headcount[d]
        if kind == "software":
            rate = rng.uniform(180, 260)
            base = (h * rate + 1_500 * size) * (1 + rng.normal(0, 0.02, T))
        elif kind == "travel":
            base = h * 450 * (1 + rng.normal(0, 0.08, T))
        elif kind == "hosting":
            base = 0.07 * total_mrr / 100 * (1 + rng.normal(0, 0.03, T))
        elif kind == "rent":
            base = 600.0 * hc_all[(np.arange(T) // 12) * 12]
        else:
            base = (4_000 * size + 0.002 * total_mrr / 100) * (1 + rng.normal(0, 0.05, T))
        L[(d, a)] = np.round(base * 100).astype(np.int64)

    # planted cost lines in P (actuals); budgets are planted below
    def trail(line):
        return L[line][P - 3:P].mean()

    L[CC_BREACH][P] = round(1.30 * trail(CC_BREACH))
    L[CC_NEAR_RATIO][P] = round(1.14 * trail(CC_NEAR_RATIO))
    L[CC_NEAR_BUDGET][P] = round(1.25 * trail(CC_NEAR_BUDGET))
    L[BV_BREACH_OVER][P] = min(L[BV_BREACH_OVER][P], round(1.08 * trail(BV_BREACH_OVER)))
    L[BV_NEAR_UNDER][P] = min(L[BV_NEAR_UNDER][P], round(1.05 * trail(BV_NEAR_UNDER)))

    staff = list(M.FINANCE_STAFF)
    manual_lines = {("D30", "5000"), ("D50", "6600"), ("D50", "6500")}
    for d, a, vend, kind in FREE_LINES:
        k = rng.integers(1, 4, T) + (1 if (d, a) in manual_lines else 0)
        row, part = split_cents(L[(d, a)], k, rng)
        vendor = np.array(vend, dtype=object)[rng.integers(0, len(vend), len(row))]
        manual = np.zeros(len(row), bool)
        if (d, a) in manual_lines:  # the last line of each month is a manual accrual
            last = np.r_[np.flatnonzero(np.diff(row)), len(row) - 1]
            manual[last] = True
        cb = np.where(manual, np.array(staff, dtype=object)[rng.integers(0, len(staff), len(row))], "ap-sync")
        ab = np.where(manual, np.array([staff[(staff.index(x) + 1) % len(staff)] if x in staff else "" for x in cb],
                                       dtype=object), "")
        memo = np.where(manual, "Month-end accrual", f"{kind.capitalize()} invoice")
        led.add(row, d, a, part, vendor=np.where(manual, "Accrual", vendor), memo=memo,
                source=np.where(manual, "manual", "ap"), created_by=cb, approved_by=ab, manual=manual)
    # foreign-currency lines: constant amounts, no budget line
    led.add(np.arange(T), "D50", "6510", np.full(T, round(18_000 * size * 100)), currency="EUR",
            vendor="Berlin Office GmbH", memo="Office rent Berlin")
    led.add(np.arange(T), "D50", "6610", np.full(T, round(4_500 * size * 100)), currency="GBP",
            vendor="Clifford & Partners LLP", memo="UK legal retainer")

    g = led.frame()
    n = len(g["t"])
    # deterministic order and ids
    order = np.lexsort((g["amount"], g["acct"].astype(str), g["dept"].astype(str), g["t"]))
    g = {k: v[order] for k, v in g.items()}
    entry_no = np.arange(1, n + 1)
    # segregation-of-duties violations: three manual entries approved by their creator
    man = np.flatnonzero(g["manual"])
    sod = np.r_[man[g["t"][man] == P][:1], rng.choice(man[g["t"][man] < P], 2, replace=False)]
    sod = np.sort(sod)
    g["approved_by"][sod] = g["created_by"][sod]
    posted = (months[g["t"]].astype("datetime64[s]") + rng.integers(0, 28, n).astype("timedelta64[D]")
              + rng.integers(8 * 3600, 19 * 3600, n).astype("timedelta64[s]"))
    fid = np.array(co.feature_ids, dtype=object)
    cid = np.array(co.campaign_ids, dtype=object)
    entry_ids = A.ids("G", entry_no, 8)
    gl = A.table(
        entry_id=entry_ids, posted_at=pa.array(posted), period=A.dates(months[g["t"]]),
        account_id=pa.array(g["acct"].astype(str)), department_id=pa.array(g["dept"].astype(str)),
        amount=A.money(g["amount"]), currency=pa.array(g["currency"].astype(str)),
        feature_id=pa.array(np.where(g["feature"] >= 0, fid[np.maximum(g["feature"], 0)], None), pa.string()),
        campaign_id=pa.array(np.where(g["campaign"] >= 0, cid[np.maximum(g["campaign"], 0)], None), pa.string()),
        vendor=pa.array(np.where(g["vendor"] == "", None, g["vendor"]), pa.string()),
        memo=pa.array(g["memo"].astype(str)), source_system=pa.array(g["source"].astype(str)),
        created_by=pa.array(g["created_by"].astype(str)),
        approved_by=pa.array(np.where(g["approved_by"] == "", None, g["approved_by"]), pa.string()),
        is_manual=pa.array(g["manual"]),
    )
    sod_ids = [entry_ids[int(i)].as_py() for i in sod]

    # ---- line actuals (cents) per (dept, account) and period, from the ledger itself
    usd = g["currency"] == "USD"
    lines = sorted({(d, a) for d, a in zip(g["dept"][usd], g["acct"][usd], strict=True)})
    actual = {ln: np.zeros(T, dtype=np.int64) for ln in lines}
    for ln in lines:
        m = usd & (g["dept"] == ln[0]) & (g["acct"] == ln[1])
        actual[ln] = np.bincount(g["t"][m], weights=g["amount"][m], minlength=T).round().astype(np.int64)

    # ---- dev costs = feature-tagged ledger lines per feature and period
    fm = g["feature"] >= 0
    key = g["feature"][fm] * T + g["t"][fm]
    amt = g["amount"][fm]
    hrs = np.where(g["acct"][fm] == "6000", 160.0, amt / 100 / 95.0)
    uk, inv = np.unique(key, return_inverse=True)
    dc_cost = np.bincount(inv, weights=amt).round().astype(np.int64)
    dc_hours = np.round(np.bincount(inv, weights=hrs), 1)
    dc_f, dc_t = uk // T, uk % T

    # ---- features, budgets (product_development plants), milestones
    nf = len(co.feature_ids)
    cum_p = np.bincount(dc_f, weights=dc_cost, minlength=nf).round().astype(np.int64)
    cand = [f for f in np.argsort(-cum_p, kind="stable") if cum_p[f] > 0 and f != co.adoption_feature]
    pd_breach, pd_near = int(cand[0]), int(cand[1])
    budget = np.round(cum_p * rng.uniform(1.05, 1.5, nf)).astype(np.int64)
    still = co.feature_release > P
    budget[still] = np.round(cum_p[still] * rng.uniform(1.6, 2.2, still.sum())).astype(np.int64)
    legacy = co.feature_start < 0
    budget[legacy] = np.round(150_000 * size * 100 * rng.uniform(0.8, 1.2, legacy.sum())).astype(np.int64)
    budget[pd_breach] = round(cum_p[pd_breach] / 1.40)
    budget[pd_near] = round(cum_p[pd_near] / 1.22)
    start_d = np.where(legacy, months[0] - (-co.feature_start * 30).astype("timedelta64[D]"),
                       months[np.clip(co.feature_start, 0, P)])
    rel_d = np.where(co.feature_release < 0, months[0] - (-co.feature_release * 30).astype("timedelta64[D]"),
                     months[np.clip(co.feature_release, 0, P)])
    rel_d = np.where(co.feature_release > P, np.datetime64("NaT"), rel_d).astype("datetime64[D]")
    feats = A.table(
        feature_id=pa.array(co.feature_ids), product_id=A.pick(("P1", "P2", M.LAUNCH_PRODUCT[0]), co.feature_product),
        name=pa.array(co.feature_names), team=A.pick(M.TEAMS, co.feature_team),
        started_on=A.dates(start_d), released_on=A.dates(rel_d), budget=A.money(budget),
    )
    ms_rows = []
    fracs, shares = (0.2, 0.6, 0.85, 1.0), (0.15, 0.45, 0.25, 0.15)
    ms_names = ("Design", "Build", "Beta", "GA")
    for f in range(nf):
        dur_days = max(30, (co.feature_release[f] - co.feature_start[f]) * 30)
        planned_total = int(dur_days * rng.uniform(0.75, 1.0))
        b_left = int(budget[f])
        for i in range(4):
            planned = start_d[f] + np.timedelta64(int(fracs[i] * planned_total), "D")
            if i == 3:
                done = rel_d[f]
                bud = b_left
            else:
                done = start_d[f] + np.timedelta64(int(fracs[i] * dur_days) + int(rng.integers(0, 10)), "D")
                bud = round(budget[f] * shares[i])
                b_left -= bud
            if np.isnat(done) or done > mlast[P]:
                done = np.datetime64("NaT")
            ms_rows.append((f"M{f + 1:02d}{i + 1}", co.feature_ids[f], ms_names[i], planned, done, bud))
    ms_id = np.array([r[0] for r in ms_rows], dtype=object)
    np.repeat(np.arange(nf), 4)
    ms_done = np.array([r[4] for r in ms_rows], dtype="datetime64[D]")
    milestones = A.table(
        milestone_id=pa.array(ms_id.astype(str)), feature_id=pa.array([r[1] for r in ms_rows]),
        name=pa.array([r[2] for r in ms_rows]), planned_on=A.dates([r[3] for r in ms_rows]),
        completed_on=A.dates(ms_done), budget=A.money([r[5] for r in ms_rows]),
    )
    # the milestone in progress on the first day of the period
    dc_ms = np.empty(len(dc_f), dtype=object)
    for i, (f, t) in enumerate(zip(dc_f, dc_t, strict=True)):
        open_ = [j for j in range(4) if np.isnat(ms_done[4 * f + j]) or ms_done[4 * f + j] >= months[t]]
        dc_ms[i] = ms_id[4 * f + (open_[0] if open_ else 3)]
    dev_costs = A.table(
        feature_id=pa.array(np.array(co.feature_ids, dtype=object)[dc_f].astype(str)),
        milestone_id=pa.array(dc_ms.astype(str)), period=A.dates(months[dc_t]), cost=A.money(dc_cost),
        hours=pa.array(dc_hours),
    )

    # ---- budgets (budget_variance and cost_control plants)
    bud_rows = []
    for ln in lines:
        if ln[1] in ("4000", "4010"):
            continue
        act = actual[ln].astype(float)
        b = act * (1 + np.clip(rng.normal(0, 0.035, T), -0.08, 0.08))
        b[P] = act[P] * rng.uniform(1.0, 1.06)
        ratio = {BV_BREACH_OVER: 1.18, BV_BREACH_UNDER: 0.85, BV_NEAR_OVER: 1.095, BV_NEAR_UNDER: 0.905,
                 CC_BREACH: 1.06, CC_NEAR_RATIO: 1.04, CC_NEAR_BUDGET: 0.97}.get(ln)
        if ratio:
            b[P] = act[P] / ratio  # actual = ratio x budget
        for t in range(T):
            if act[t] > 0:
                bud_rows.append((t, ln[0], ln[1], round(b[t])))
    bt = np.array([r[0] for r in bud_rows])
    budgets = A.table(
        period=A.dates(months[bt]), department_id=pa.array([r[1] for r in bud_rows]),
        account_id=pa.array([r[2] for r in bud_rows]), amount=A.money([r[3] for r in bud_rows]),
    )

    # ---- marketing campaigns table
    ch = np.array(M.CAMPAIGN_CHANNELS)[camp.channel]
    # the planted launch's campaign: the first one running in its launch month that is not
    # another launch or a planted campaign-ROI alert (a label only: spend is unchanged)
    sells = np.flatnonzero((camp.start_t <= M.LAUNCH_T) & (camp.end_t >= M.LAUNCH_T) & ~camp.launch
                           & ~np.isin(np.arange(nc), [roi_breach, roi_near]))
    product = np.where(camp.launch, "P2", None).astype(object)
    product[sells[:1]] = M.LAUNCH_PRODUCT[0]
    cname = [("Analytics Add-on launch" if camp.launch[j] else
              f"{M.LAUNCH_PRODUCT[1]} launch" if product[j] == M.LAUNCH_PRODUCT[0] else
              f"{ch[j]} {str(months[min(camp.start_t[j], P)])[:7]} #{j + 1}") for j in range(nc)]
    started = months[camp.start_t] + camp.start_day.astype("timedelta64[D]")
    ended = np.where(camp.end_t <= P, mlast[np.minimum(camp.end_t, P)] - camp.end_day.astype("timedelta64[D]"),
                     np.datetime64("NaT")).astype("datetime64[D]")
    mcamp = A.table(
        campaign_id=pa.array(co.campaign_ids), name=pa.array(cname), channel=pa.array(ch),
        started_on=A.dates(started), ended_on=A.dates(ended),
        spend=A.money(np.round(camp_spend_total).astype(np.int64)),
        product_id=pa.array(product, pa.string()),
    )

    # ---- CAC inputs (for targets)
    sm = usd & np.isin(g["dept"], ["D10", "D20"])
    sm_opex = np.bincount(g["t"][sm], weights=g["amount"][sm], minlength=T)
    new_by_t = np.bincount(sim.signup_t[sim.signup_t >= 0], minlength=T)
    ch_spend = np.zeros((len(M.CAMPAIGN_CHANNELS), T))
    cm = g["campaign"] >= 0
    np.add.at(ch_spend, (camp.channel[g["campaign"][cm]], g["t"][cm]), g["amount"][cm])
    ch_new = np.zeros((len(M.CAMPAIGN_CHANNELS), T))
    acq = np.flatnonzero(acquired)
    np.add.at(ch_new, (camp.channel[sim.campaign[acq]], sim.signup_t[acq]), 1)

    return {
        "gl": gl, "features": feats, "milestones": milestones, "dev_costs": dev_costs,
        "budgets": budgets, "marketing_campaigns": mcamp,
        "sm_opex": sm_opex, "new_by_t": new_by_t, "ch_spend": ch_spend, "ch_new": ch_new,
        "truth": {
            "roi_breach": co.campaign_ids[roi_breach], "roi_near": co.campaign_ids[roi_near],
            "roi": {co.campaign_ids[roi_breach]: 1.20, co.campaign_ids[roi_near]: 2.06},
            "pd_breach": co.feature_ids[pd_breach], "pd_near": co.feature_ids[pd_near],
            "sod_entries": sod_ids,
        },
    }
