"""Phase 1: the customer-month simulation (compact state matrices, vectorised over customers).

The month loop runs 36 times; each iteration is a handful of numpy operations over every
customer, so 100,000 customers take a few seconds. The result is a :class:`Simulation`
holding ``customers x months`` matrices (MRR per product in integer cents at each month
end, health components on each month's first day); the billing, usage and ledger tables
are derived from it later, block by block. See :mod:`finlib.demo.model` for the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from finlib.demo import model as M


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent, reproducible generator for one part of the demo data."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *stream]))


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Campaigns:
    """Marketing campaigns: one row each, months are window indices (inclusive)."""

    channel: np.ndarray  # index into model.CAMPAIGN_CHANNELS
    start_t: np.ndarray
    end_t: np.ndarray  # may exceed 35 (still running: ended_on NULL)
    start_day: np.ndarray
    end_day: np.ndarray
    launch: np.ndarray  # bool: the add-on launch campaign (product_id set)

    def __len__(self) -> int:
        return len(self.channel)


@dataclass
class Experiment:
    """A randomised retention campaign."""

    start_t: int
    window: int
    effect: float  # added to churn log-odds in treatment
    members: np.ndarray  # customer indices
    treated: np.ndarray  # bool per member
    p_control: np.ndarray = field(default=None)  # window churn probability without treatment
    p_treated: np.ndarray = field(default=None)  # ... with treatment
    churned: np.ndarray = field(default=None)  # observed churn in the window


@dataclass
class Simulation:
    n: int
    months: np.ndarray  # datetime64[D], first day of each month
    segment: np.ndarray
    region: np.ndarray
    industry: np.ndarray
    legacy: np.ndarray
    signup_t: np.ndarray  # -1 for legacy
    signup_date: np.ndarray
    channel: np.ndarray  # index into model.CHANNELS
    campaign: np.ndarray  # index into campaigns, -1 if none
    annual: np.ndarray
    base_cents: np.ndarray
    seats: np.ndarray
    core: np.ndarray  # (n, T) int64 cents at month end (0 = not paying)
    addon: np.ndarray  # (n, T)
    health: np.ndarray  # (n, T, 4) float32 component scores on the month's first day
    start_active: np.ndarray  # (n, T) bool: paying at the start of the month (scored)
    expansion: np.ndarray  # (n, T) int64 cents of natural (sales-led) core expansion
    adopter: np.ndarray  # bool
    adopt_on: np.ndarray  # (n, T) bool: the adoption increment is part of the price
    campaigns: Campaigns
    retention: Experiment
    pilot: Experiment
    launch: np.ndarray | None = None  # (n, T) int64 cents of the launched product (plant_launch)
    launch_adopter: np.ndarray | None = None  # bool

    @property
    def mrr(self) -> np.ndarray:
        """MRR of the core and add-on products: what the company plan (headcount, costs,
        budgets) is sized on. The launched product is on top (:attr:`mrr_all`)."""
        return self.core + self.addon

    @property
    def mrr_all(self) -> np.ndarray:
        """MRR of every product, the launched one included (what the warehouse shows)."""
        return self.mrr if self.launch is None else self.mrr + self.launch

    @property
    def active_end(self) -> np.ndarray:
        return (self.core + self.addon) > 0


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``weights`` (largest remainder)."""
    raw = total * weights / weights.sum()
    counts = np.floor(raw).astype(np.int64)
    rest = total - counts.sum()
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def _campaigns(rng: np.random.Generator, lanes: int, T: int) -> Campaigns:
    rows = []
    for ch in range(len(M.CAMPAIGN_CHANNELS)):
        for lane in range(lanes):
            t = -int(rng.integers(0, 3))
            while t < T:
                dur = int(rng.integers(2, 5))
                if t + dur - 1 >= 0:
                    rows.append((max(t, 0), t + dur - 1, ch, lane))
                t += dur
    rows.sort(key=lambda r: (r[0], r[2], r[3]))
    arr = np.array(rows, dtype=np.int64)
    start_t, end_t, ch = arr[:, 0], arr[:, 1], arr[:, 2]
    launch = np.zeros(len(arr), dtype=bool)
    ev = M.CAMPAIGN_CHANNELS.index("Events")
    cand = np.flatnonzero((ch == ev) & (start_t <= M.ADDON_LAUNCH_T) & (end_t >= M.ADDON_LAUNCH_T))
    launch[cand[:1]] = True
    return Campaigns(channel=ch, start_t=start_t, end_t=end_t,
                     start_day=rng.integers(0, 5, len(arr)),
                     end_day=rng.integers(0, 3, len(arr)), launch=launch)


def simulate(scale: M.Scale, seed: int, first_period: np.datetime64, progress=None) -> Simulation:
    """Run the customer-month simulation.

    Parameters
    ----------
    scale : Scale
    seed : int
    first_period : numpy.datetime64
        First day of month ``t = 0``.
    progress : callable, optional
        ``progress(advance)`` called once per simulated month.
    """
    T = M.N_MONTHS
    rng = rng_for(seed, 1)
    months = (np.datetime64(first_period, "M") + np.arange(T)).astype("datetime64[D]")
    N = scale.customers
    n_legacy = round(N * M.LEGACY_SHARE)
    per_month = _allocate(N - n_legacy, np.exp(M.GROWTH * np.arange(T)))
    signup_t = np.concatenate([np.full(n_legacy, -1), np.repeat(np.arange(T), per_month)])
    legacy = signup_t < 0

    segment = rng.choice(3, size=N, p=M.SEGMENT_MIX)
    region = rng.choice(len(M.REGIONS), size=N, p=M.REGION_P)
    industry = rng.integers(0, len(M.INDUSTRIES), N)
    signup_date = np.where(
        legacy,
        months[0] - rng.integers(30, 1100, N).astype("timedelta64[D]"),
        months[np.maximum(signup_t, 0)] + rng.integers(0, 28, N).astype("timedelta64[D]"),
    )
    # acquisition channel: at least two customers per campaign channel per month (so every
    # channel has a CAC), the rest drawn from CHANNEL_P
    channel = rng.choice(len(M.CHANNELS), size=N, p=M.CHANNEL_P)
    camp_ch = np.array([M.CHANNELS.index(c) for c in M.CAMPAIGN_CHANNELS])
    offsets = np.concatenate([[n_legacy], n_legacy + np.cumsum(per_month)])
    for t in range(T):
        if per_month[t] >= 2 * len(camp_ch) + 2:
            channel[offsets[t]:offsets[t] + 2 * len(camp_ch)] = np.repeat(camp_ch, 2)

    campaigns = _campaigns(rng, scale.campaign_lanes, T)
    reach = rng.uniform(0.5, 1.5, len(campaigns))
    campaign = np.full(N, -1, dtype=np.int64)
    for t in range(T):
        lo, hi = offsets[t], offsets[t + 1]
        for k, ch in enumerate(camp_ch):
            who = lo + np.flatnonzero(channel[lo:hi] == ch)
            cand = np.flatnonzero((campaigns.channel == k) & (campaigns.start_t <= t) & (campaigns.end_t >= t))
            if len(who) and len(cand):
                w = reach[cand] / reach[cand].sum()
                campaign[who] = cand[rng.choice(len(cand), size=len(who), p=w)]
            elif len(who):  # no campaign running: organic after all
                channel[who] = M.CHANNELS.index("Organic")
    # every campaign that ran acquires at least one customer (ROI is defined)
    counts = np.bincount(campaign[campaign >= 0], minlength=len(campaigns))
    for j in np.flatnonzero(counts == 0):
        if campaigns.start_t[j] >= T:
            continue
        donors = np.flatnonzero((campaign >= 0) & (campaigns.channel[np.maximum(campaign, 0)] == campaigns.channel[j])
                                & (signup_t >= campaigns.start_t[j]) & (signup_t <= campaigns.end_t[j]))
        donors = donors[counts[campaign[donors]] >= 2]
        if len(donors):
            c = donors[0]
            counts[campaign[c]] -= 1
            campaign[c] = j
            counts[j] += 1

    annual = rng.random(N) < M.ANNUAL_P[segment]
    base = np.round(M.BASE_MRR[segment] * rng.lognormal(0.0, M.BASE_MRR_SIGMA, N) * 100).astype(np.int64)
    seats = np.maximum(1, np.round(base / 100 / M.SEAT_PRICE * rng.uniform(0.8, 1.2, N))).astype(np.int64)
    addon_price = np.round(M.ADDON_PRICE[segment] * rng.lognormal(0, 0.2, N) * 100).astype(np.int64)
    launch_customer = (campaign >= 0) & campaigns.launch[np.maximum(campaign, 0)]

    # health: persistent customer quality, component-specific level, AR(1) shocks
    q = (rng.standard_normal(N) + np.where(legacy, 0.5, 0.0))[:, None]  # legacy = survivors
    u = rng.standard_normal((N, 4))
    e = rng.standard_normal((N, 4))
    shift = M.SEGMENT_HEALTH_SHIFT[segment]

    core = np.zeros((N, T), dtype=np.int64)
    addon_m = np.zeros((N, T), dtype=np.int64)
    health = np.zeros((N, T, 4), dtype=np.float32)
    start_active = np.zeros((N, T), dtype=bool)
    expansion = np.zeros((N, T), dtype=np.int64)
    adopt_on = np.zeros((N, T), dtype=bool)

    active = np.zeros(N, dtype=bool)
    ever = np.zeros(N, dtype=bool)
    churn_t = np.full(N, -999)
    natural = np.zeros(N, dtype=np.int64)
    addon = np.zeros(N, dtype=np.int64)
    adopted = np.zeros(N, dtype=bool)
    adopter = np.zeros(N, dtype=bool)
    effect_cents = round(M.EFFECT_MRR * 100)
    experiments: dict[str, Experiment] = {}
    surv: dict[str, list] = {}

    for t in range(T):
        e = M.HEALTH_AR * e + np.sqrt(1 - M.HEALTH_AR ** 2) * rng.standard_normal((N, 4))
        comp = np.clip(50 + shift + 13 * (0.4 * q + 0.4 * u + 0.825 * e), 0, 100)
        comp = np.round(comp, 1)
        health[:, t, :] = comp
        score = np.round(comp @ M.HEALTH_WEIGHTS, 1)
        sa = legacy.copy() if t == 0 else active.copy()
        start_active[:, t] = sa
        x = (comp - 50.0) / 10.0
        eta = M.CHURN_INTERCEPT + x @ M.CHURN_COEFFICIENTS

        # randomised retention campaigns, assigned on the first day of their month
        for name, t0, eligible, eff in (
            ("retention", M.RETENTION_START_T, sa & (score < M.AT_RISK_SCORE), M.RETENTION_EFFECT),
            ("pilot", M.PILOT_START_T, sa & (segment == 2) & (score < 70.0), 0.0),
        ):
            if t == t0:
                members = np.flatnonzero(eligible)
                treated = np.zeros(len(members), dtype=bool)
                treated[rng.permutation(len(members))[: len(members) // 2]] = True
                experiments[name] = Experiment(t0, M.RETENTION_WINDOW, eff, members, treated)
                surv[name] = [np.ones(len(members)), np.ones(len(members)), np.zeros(len(members), bool)]
        treat_shift = np.zeros(N)
        for ex in experiments.values():
            if ex.start_t <= t < ex.start_t + ex.window:
                treat_shift[ex.members[ex.treated]] += ex.effect

        churn = np.zeros(N, dtype=bool)
        if t >= 1:
            churn = sa & (rng.random(N) < logistic(eta + treat_shift))
        for name, ex in experiments.items():
            if ex.start_t <= t < ex.start_t + ex.window:
                m = ex.members
                s = surv[name]
                s[0] *= 1 - logistic(eta[m])
                s[1] *= 1 - logistic(eta[m] + ex.effect)
                s[2] |= churn[m]
        cont = sa & ~churn

        if t >= 1:
            xu = x[:, 0]
            pe = M.EXPANSION_P[segment] * np.exp(0.25 * xu)
            pcn = M.CONTRACTION_P[segment] * np.exp(-0.25 * xu)
            r = rng.random(N)
            size = rng.uniform(0.08, 0.25, N)
            exp_ = cont & (r < pe)
            amt = np.round(size * base).astype(np.int64)
            natural = np.where(exp_, natural + amt, natural)
            expansion[:, t] = np.where(exp_, amt, 0)
            con_amt = np.round(rng.uniform(0.08, 0.2, N) * base).astype(np.int64)
            con_ = cont & (r >= pe) & (r < pe + pcn) & (natural - con_amt >= 0.3 * base)
            natural = np.where(con_, natural - con_amt, natural)
        if t >= M.ADDON_LAUNCH_T:
            r = rng.random(N)
            cross = cont & (addon == 0) & (r < M.CROSS_SELL_P)
            drop = cont & (addon > 0) & (r < M.ADDON_DROP_P)
            addon = np.where(cross, addon_price, np.where(drop, 0, addon))
        if t == M.ADOPTION_RELEASE_T:
            new_adopters = cont & (rng.random(N) < M.ADOPTION_P[segment])
            adopted |= new_adopters
            adopter |= new_adopters

        # churned customers lose everything but remember their price for a comeback
        addon = np.where(churn, 0, addon)
        adopted &= ~churn
        churn_t = np.where(churn, t, churn_t)
        gap = t - churn_t
        react = ~sa & ever & (gap >= 2) & (gap <= 24) & (rng.random(N) < M.REACTIVATION_P)
        natural = np.where(react, np.round(natural * rng.uniform(0.8, 1.1, N)).astype(np.int64), natural)
        new = signup_t == t
        if t == 0:
            new = new | legacy
        natural = np.where(new, base, natural)
        addon = np.where(new & launch_customer, addon_price, addon)
        ever |= new
        active = cont | react | new
        core[:, t] = np.where(active, natural + np.where(adopted, effect_cents, 0), 0)
        addon_m[:, t] = np.where(active, addon, 0)
        adopt_on[:, t] = active & adopted
        if progress:
            progress(1)

    for name, ex in experiments.items():
        s = surv[name]
        ex.p_control, ex.p_treated, ex.churned = 1 - s[0], 1 - s[1], s[2]

    return Simulation(
        n=N, months=months, segment=segment, region=region, industry=industry, legacy=legacy,
        signup_t=signup_t, signup_date=signup_date.astype("datetime64[D]"), channel=channel,
        campaign=campaign, annual=annual, base_cents=base, seats=seats, core=core,
        addon=addon_m, health=health, start_active=start_active, expansion=expansion,
        adopter=adopter, adopt_on=adopt_on, campaigns=campaigns,
        retention=experiments["retention"], pilot=experiments["pilot"],
    )


def plant_launch(sim: Simulation, seed: int) -> None:
    """The planted product launch (:mod:`finlib.demo.model`, "Product launch"), in place.

    Customers paying at the end of ``LAUNCH_T - 1`` and at the end of ``LAUNCH_T`` adopt
    with probability ``LAUNCH_ADOPTION_P[segment]`` and pay ``LAUNCH_PRICE`` more every
    month from ``LAUNCH_T`` until the first month end at which they pay nothing (a
    comeback does not restore it). Draws from its own stream, so nothing else changes.
    """
    rng = rng_for(seed, 8)
    L = M.LAUNCH_T
    active = sim.active_end
    eligible = active[:, L - 1] & active[:, L]
    adopter = eligible & (rng.random(sim.n) < M.LAUNCH_ADOPTION_P[sim.segment])
    still = np.cumprod(active[:, L:], axis=1).astype(bool)
    launch = np.zeros_like(sim.core)
    launch[:, L:] = np.where(adopter[:, None] & still, round(M.LAUNCH_PRICE * 100), 0)
    sim.launch, sim.launch_adopter = launch, adopter
