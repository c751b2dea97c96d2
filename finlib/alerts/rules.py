"""The alert rules, registered by name.

A rule is evaluated for a period *P* (a ``datetime.date``, the first day of the month; see
:mod:`finlib.periods`). Each figure a rule compares is computed by the same code the
dashboards and reports show: the monthly facts of :mod:`finlib.metrics.facts` (SQL on
DuckDB and PostgreSQL, money converted to the reporting currency) and the metric
functions of :mod:`finlib.metrics` (budget variance, campaign ROI, CAC, NRR). A rule only
adds the comparison with its threshold, so an alert and a dashboard never disagree about
a figure. Comparisons are exact: money is compared as decimals (cents for the budget
lines), never divided, so a figure exactly on a threshold never fires and a budget,
spend or customer count of zero is never divided by. Every returned item is a
:class:`Finding`: the entity it concerns (a dict of ids), the figure compared
(``value``), the line it crossed (``threshold``) and the figures that made it fire
(``details``).

New rules plug in with :func:`register_rule`::

    @register_rule("my_rule", config=MyRuleConfig, entity_keys=("feature_id",),
                   title="...")
    def my_rule(conn, period, cfg) -> list[Finding]: ...

The six default rules are those of docs/ALERTS.md; a seventh, ``nrr_target`` (retention
below its target), is disabled unless ``parameters/alerts.yaml`` enables it. Thresholds,
severities and links are configured in ``parameters/alerts.yaml`` (see
:mod:`finlib.alerts.config`).

Conventions: money in the reporting currency (:func:`finlib.config.reporting_currency`;
costs positive as incurred, revenue positive as earned); ratios are plain fractions
(0.10 = 10 %); ROI is (return − cost) / cost, never ROAS. Department names are found by
name (``Sales``, ``Marketing``), never by id.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finlib.errors import WarehouseError
from finlib.metrics import departments, facts, monitoring, retention
from finlib.periods import add_months, month_end
from finlib.warehouse.db import translate_params

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


# ---- configuration models (one per rule; extra keys are errors) ---------------------------

class RuleConfig(BaseModel):
    """Settings every rule has. ``threshold`` means what the rule's docstring says."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    severity: Severity = "warning"
    data_issue_severity: Severity = Field(
        "info", description="severity of a data issue the rule reports (e.g. a budget of zero)")
    threshold: float = Field(ge=0)
    link: str | None = Field(
        None, description="report-section link template: {base} {rule} {period} {month} "
                          "and the entity's keys")
    channels: list[str] | None = Field(
        None, description="channel names this rule is delivered to (default: every channel)")
    description: str | None = None


class BudgetVarianceConfig(RuleConfig):
    threshold: float = Field(0.10, ge=0, description="maximum |actual − budget| / budget")
    min_amount: float = Field(1000.0, ge=0, allow_inf_nan=False,
                              description="materiality floor for spend without a budget line "
                                          "(reporting currency)")


class RevenueTargetConfig(RuleConfig):
    threshold: float = Field(0.05, ge=0, lt=1, description="tolerance below the revenue target")


class CostControlConfig(RuleConfig):
    threshold: float = Field(0.15, ge=0, description="rise allowed over the trailing mean")
    trailing_months: int = Field(3, ge=1, le=24, description="months in the trailing mean")


class CampaignRoiConfig(RuleConfig):
    threshold: float = Field(2.0, description="minimum ROI, a ratio (2.0 = 200 %)")
    lookback_months: int = Field(12, ge=1, le=60,
                                 description="campaigns that ended within this many months up to P")


class CacConfig(RuleConfig):
    threshold: float = Field(0.20, ge=0, description="tolerance above the CAC target")
    by_channel: bool = Field(True, description="also check channels that have a CAC target")


class NrrTargetConfig(RuleConfig):
    enabled: bool = False
    threshold: float = Field(0.05, ge=0, lt=1,
                             description="tolerance below the NRR target, a fraction of the target")
    months: int = Field(12, ge=1, le=36, description="NRR look-back in months")


class ProductDevelopmentConfig(RuleConfig):
    threshold: float = Field(0.25, ge=0, description="overrun allowed over a feature's budget")


# ---- findings and the registry ------------------------------------------------------------

@dataclass
class Finding:
    """One rule firing for one entity in one period."""

    rule: str
    period: date
    entity: dict[str, str]
    value: float | None
    threshold: float | None
    details: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    data_issue: bool = False


RuleFunc = Callable[[Any, date, RuleConfig], list[Finding]]


@dataclass(frozen=True)
class Rule:
    name: str
    evaluate: RuleFunc
    config_model: type[RuleConfig]
    entity_keys: tuple[str, ...]
    title: str


RULES: dict[str, Rule] = {}


def register_rule(name: str, *, config: type[RuleConfig], entity_keys: tuple[str, ...] = (),
                  title: str = "") -> Callable[[RuleFunc], RuleFunc]:
    """Register ``func(conn, period, cfg) -> list[Finding]`` as rule ``name``."""

    def decorate(func: RuleFunc) -> RuleFunc:
        RULES[name] = Rule(name, func, config, tuple(entity_keys), title or name)
        return func

    return decorate


def evaluate(conn, period: date, rule_configs: dict[str, RuleConfig]) -> list[Finding]:
    """Run every enabled rule of ``rule_configs`` for ``period`` (the first day of the
    month) on one open connection."""
    out: list[Finding] = []
    for name, cfg in rule_configs.items():
        if cfg.enabled:
            out.extend(RULES[name].evaluate(conn, period, cfg))
    return out


# ---- helpers -----------------------------------------------------------------------------

def exact(x) -> Decimal:
    """A number as an exact decimal: a config value or a figure from the facts (floats
    through their shortest repr, so 0.1 stays 0.1 and 949.99 stays 949.99)."""
    return x if isinstance(x, Decimal) else Decimal(repr(float(x)) if isinstance(x, float) else str(x))


def float_or_none(x) -> float | None:
    """``x`` as a float; ``None`` for a missing value (None or NaN)."""
    if x is None:
        return None
    f = float(x)
    return None if math.isnan(f) else f


def _query_rows(conn, sql: str, params: dict) -> list[dict]:
    """Run ``sql`` and return rows as dicts, DECIMAL kept exact (``Decimal``) on both
    backends (pandas would turn DuckDB's DECIMAL into float)."""
    try:
        if conn.backend == "duckdb":
            cur = conn.raw.execute(translate_params(sql, "duckdb"), params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        else:
            with conn.raw.cursor() as cur:
                cur.execute(translate_params(sql, "postgresql"), params)
                names = [d.name for d in cur.description]
                rows = cur.fetchall()
    except Exception as exc:
        raise WarehouseError(f"alert rule query failed: {exc}") from exc
    return [dict(zip(names, r, strict=True)) for r in rows]


def _money(x) -> str:
    return "n/a" if x is None else f"{float(x):,.2f}"


def _pct(x) -> str:
    return "n/a" if x is None else f"{float(x) * 100:.1f} %"


def _target(conn, period: date, kpi: str, dimension: str | None = None) -> Decimal | None:
    """The ``kpi_targets`` target of ``kpi`` for ``period`` and ``dimension`` (None = the
    company-wide row), the largest if several rows exist; ``None`` when there is none."""
    t = facts.kpi_targets(conn, period, kpi=kpi)
    t = t[t["dimension"].isna()] if dimension is None else t[t["dimension"] == dimension]
    return exact(float(t["target"].max())) if len(t) else None


# ---- the six default rules ----------------------------------------------------------------

@register_rule("budget_variance", config=BudgetVarianceConfig,
               entity_keys=("department_id", "account_id"), title="Budget variance")
def budget_variance(conn, period: date, cfg: BudgetVarianceConfig) -> list[Finding]:
    r"""Budget lines whose actual strays from budget by more than the threshold, and spend
    without a budget line above a materiality floor.

    For each department × account of P (:func:`finlib.metrics.facts.budget_vs_actual`,
    :func:`finlib.metrics.monitoring.budget_variance`, the figures the budget views show):

    .. math:: \frac{|A - B|}{B} > t \quad (t = 0.10)

    where :math:`A` = the line's ledger actual in P (reporting currency, each entry
    converted at the rate of P; 0 when none) and :math:`B` = ``budgets.amount``. Evaluated
    as :math:`|A - B| > t \cdot B` exactly in cents. ``value`` is :math:`|A - B| / B` (a
    fraction), ``threshold`` is :math:`t`. Details give actual, budget, variance = A − B,
    variance_pct = (A − B) / |B| and ``favourable`` (revenue above plan or cost below plan).

    *Unbudgeted spend*: a cost line (``cogs``/``opex``) with no budget line fires when
    :math:`A > m` (``min_amount``, default 1,000 in the reporting currency); ``value`` is
    :math:`A`, ``threshold`` is :math:`m`, ``details.unbudgeted`` is true and the message
    says "no budget".

    A budget of zero or less is a data issue, reported (``value`` None, ``details.issue``)
    and never divided by: a negative budget always, a zero budget when its line has a
    non-zero actual. Reference: docs/METRICS.md, *Variance*.
    """
    lines = monitoring.budget_variance(facts.budget_vs_actual(conn, period), cfg.threshold,
                                       cfg.min_amount)
    out = []
    for r in lines[lines["outside_tolerance"].astype(bool)].to_dict("records"):
        actual, budget = exact(r["actual"]), float_or_none(r["budget"])
        entity = {"department_id": str(r["department_id"]), "account_id": str(r["account_id"])}
        label = f"{r['department'] or r['department_id']} / {r['account'] or r['account_id']}"
        details = {
            "department": r["department"], "account": r["account"],
            "account_type": r["account_type"], "category": r["category"],
            "actual": float(actual), "budget": budget,
            "variance": float_or_none(r["variance"]),
            "variance_pct": float_or_none(r["variance_pct"]),
            "favourable": None,  # set below for a line with a budget
            "unbudgeted": bool(r["unbudgeted"]),
        }
        if budget is None:
            details["issue"] = "no budget"
            out.append(Finding(
                "budget_variance", period, entity, float(actual), cfg.min_amount, details,
                f"{label}: actual {_money(actual)} with no budget (spend above the "
                f"{_money(cfg.min_amount)} materiality floor)"))
            continue
        budget_d = exact(budget)
        variance = actual - budget_d
        is_revenue = r["account_type"] == "revenue"
        details["favourable"] = (variance > 0) if is_revenue else (variance < 0)
        if budget_d <= 0:
            details["issue"] = "budget is zero or negative: variance % is undefined"
            details["variance_pct"] = None
            out.append(Finding("budget_variance", period, entity, None, cfg.threshold,
                               details, f"{label}: budget {_money(budget)} with actual "
                               f"{_money(actual)} (data issue, not divided by)", data_issue=True))
            continue
        ratio = abs(variance) / budget_d
        out.append(Finding(
            "budget_variance", period, entity, float(ratio), cfg.threshold, details,
            f"{label}: actual {_money(actual)} vs budget {_money(budget)} "
            f"({'+' if variance >= 0 else ''}{_pct(variance / budget_d)}, "
            f"{'favourable' if details['favourable'] else 'unfavourable'}; "
            f"limit ±{_pct(cfg.threshold)})",
        ))
    return out


@register_rule("revenue_target", config=RevenueTargetConfig, entity_keys=(),
               title="Revenue below target")
def revenue_target(conn, period: date, cfg: RevenueTargetConfig) -> list[Finding]:
    r"""Recognised revenue of P below its target by more than the tolerance.

    .. math:: R < T \cdot (1 - t) \quad (t = 0.05)

    :math:`R` = recognised revenue of P (:func:`finlib.metrics.facts.recognised_revenue`:
    ``revenue_recognized`` in the reporting currency; recognised revenue, not MRR);
    :math:`T` = ``kpi_targets.target`` with kpi ``revenue``, no dimension, period P. No
    target, no alert. ``value`` is :math:`R`, ``threshold`` is :math:`T (1 - t)`; details
    give the target, the shortfall :math:`T - R` and attainment :math:`R / T`.
    """
    target = _target(conn, period, "revenue")
    if target is None:
        return []
    revenue = exact(float(facts.recognised_revenue(conn, period)["revenue"].iloc[0]))
    factor = Decimal(1) - exact(cfg.threshold)
    line = target * factor
    if not revenue < line:
        return []
    return [Finding(
        "revenue_target", period, {}, float(revenue), float(line),
        {"revenue": float(revenue), "target": float(target), "tolerance": cfg.threshold,
         "shortfall": float(target - revenue),
         "attainment": float(revenue / target) if target != 0 else None},
        f"recognised revenue {_money(revenue)} vs target {_money(target)} "
        f"(alert below {_money(line)})",
    )]


@register_rule("cost_control", config=CostControlConfig,
               entity_keys=("department_id", "account_id"), title="Cost control")
def cost_control(conn, period: date, cfg: CostControlConfig) -> list[Finding]:
    r"""Cost lines that jump above their trailing average *and* exceed their budget.

    For each (department, account) with ``account_type`` cogs or opex
    (:func:`finlib.metrics.monitoring.cost_rise` over
    :func:`finlib.metrics.facts.budget_vs_actual`):

    .. math:: A_P > (1 + g)\,\bar A_{P-3..P-1} \quad\text{and}\quad A_P > B_P \quad (g = 0.15)

    :math:`A_m` = the line's ledger actual in month m (reporting currency at the rate of m,
    0 for a month without entries), :math:`\bar A` = mean over the ``trailing_months`` (3)
    months before P, :math:`B_P` = the line's budget in P (a line without a budget row
    counts as budget 0: unbudgeted spend exceeds its budget). Evaluated as
    :math:`n A_P > (1 + g) \sum A_m` exactly in cents. The rule needs a full trailing
    window: when the ledger starts after P − 3 months, it reports nothing for P. ``value``
    is :math:`A_P`, ``threshold`` is :math:`\max((1 + g)\bar A, B_P)`, the line both
    conditions put together.
    """
    n = cfg.trailing_months
    since = add_months(period, -n)
    first = conn.scalar("SELECT MIN(period) FROM gl_entries")
    if first is None or first > since:
        return []
    lines = monitoring.cost_rise(facts.budget_vs_actual(conn, since, period), period,
                                 cfg.threshold, n)
    growth = Decimal(1) + exact(cfg.threshold)
    out = []
    for r in lines[lines["fires"]].to_dict("records"):
        actual, mean = exact(r["actual"]), exact(r["trailing_mean"])
        budget = float_or_none(r["budget"])
        line = max(growth * mean, exact(budget) if budget is not None else Decimal(0))
        rise = float_or_none(r["rise_pct"])
        label = f"{r['department'] or r['department_id']} / {r['account'] or r['account_id']}"
        out.append(Finding(
            "cost_control", period,
            {"department_id": str(r["department_id"]), "account_id": str(r["account_id"])},
            float(actual), float(line),
            {"department": r["department"], "account": r["account"],
             "account_type": r["account_type"], "category": r["category"],
             "actual": float(actual), "trailing_mean": float(mean), "trailing_months": n,
             "rise_pct": rise, "budget": budget, "budget_missing": budget is None,
             "over_budget": float(actual - exact(budget or 0))},
            f"{label}: {_money(actual)} vs trailing {n}-month mean {_money(mean)} "
            f"(+{_pct(rise) if rise is not None else 'n/a'}) and budget {_money(budget)}",
        ))
    return out


@register_rule("campaign_roi", config=CampaignRoiConfig, entity_keys=("campaign_id",),
               title="Campaign ROI")
def campaign_roi(conn, period: date, cfg: CampaignRoiConfig) -> list[Finding]:
    r"""Marketing campaigns that ended recently and returned too little.

    For each marketing campaign whose ``ended_on`` lies within the ``lookback_months`` (12)
    months up to the end of P (from the first day of P − 11 months to the last day of P),
    with the figures of the campaign ROI dashboard
    (:func:`finlib.metrics.facts.campaign_results`,
    :func:`finlib.metrics.departments.campaign_roi`):

    .. math:: ROI = \frac{ARR_{new} - S}{S} < r \quad (r = 2.0 = 200\,\%)

    :math:`S` = ``marketing_campaigns.spend``; :math:`ARR_{new}` = 12 × the MRR, at the end
    of their signup month (reporting currency at that day's rate), of the customers whose
    ``acquisition_campaign_id`` is the campaign. Evaluated as :math:`ARR_{new} - S < r S`
    in exact decimals. A campaign without spend has no ROI and is skipped. ``value`` is the
    ROI, ``threshold`` is :math:`r`; details give spend, new ARR, customers and ROAS =
    ARR_new / S for reference (ROAS is not ROI). Reference: docs/METRICS.md, *ROI*.
    """
    since = add_months(period, -(cfg.lookback_months - 1))
    camps = departments.campaign_roi(facts.campaign_results(conn, since, month_end(period)))
    r_min = exact(cfg.threshold)
    out = []
    for r in camps.to_dict("records"):
        spend, arr = exact(r["spend"]), 12 * exact(r["new_mrr"])
        if not spend > 0 or not arr - spend < r_min * spend:
            continue
        out.append(Finding(
            "campaign_roi", period, {"campaign_id": str(r["campaign_id"])},
            float(r["roi"]), cfg.threshold,
            {"campaign": r["name"], "channel": r["channel"],
             "ended_on": str(r["ended_on"])[:10], "spend": float(r["spend"]),
             "new_arr": float(r["new_arr"]), "customers": int(r["customers"]),
             "roas": float(r["roas"])},
            f"campaign {r['name'] or r['campaign_id']}: ROI {_pct(r['roi'])} "
            f"(new ARR {_money(r['new_arr'])} on spend {_money(spend)}; minimum "
            f"{_pct(cfg.threshold)})",
        ))
    return out


@register_rule("cac", config=CacConfig, entity_keys=(), title="Customer acquisition cost")
def cac(conn, period: date, cfg: CacConfig) -> list[Finding]:
    r"""Customer acquisition cost above target by more than the tolerance.

    Blended (entity ``{}``), when a ``kpi_targets`` row kpi ``cac`` without dimension
    exists, with the figures of the headline CAC (:func:`finlib.metrics.facts.acquisition`,
    :func:`finlib.metrics.departments.cac`):

    .. math:: CAC = \frac{C_{S+M}}{N} > T (1 + t) \quad (t = 0.20)

    :math:`C_{S+M}` = ledger of P on ``opex`` accounts in the departments named ``Sales``
    and ``Marketing`` (reporting currency); :math:`N` = new *paying* customers of P (a
    ``new`` MRR movement in P; a signup that never pays does not count).

    Per channel (entity ``{"channel": …}``), for each channel with a ``cac`` target whose
    dimension is that channel (:func:`finlib.metrics.facts.acquisition_by_channel`,
    :func:`finlib.metrics.departments.cac_by_channel`): :math:`C` = ledger of P whose
    ``campaign_id`` is a campaign of that channel, :math:`N` = new paying customers of P
    whose ``acquisition_campaign_id`` is a campaign of that channel.

    Evaluated as :math:`C > T (1 + t) N` in exact decimals. Cost with no new customer
    (:math:`N = 0`, :math:`C > 0`) is a data issue, reported and never divided by.
    ``value`` is CAC (reporting currency per new customer), ``threshold`` is
    :math:`T (1 + t)`. Reference: docs/METRICS.md, *CAC*.
    """
    f = Decimal(1) + exact(cfg.threshold)
    checks = []  # (channel or None, cost, new customers, CAC as the metrics compute it, target)
    target = _target(conn, period, "cac")
    if target is not None:
        a = facts.acquisition(conn, period).iloc[0]
        cost = float(a["sales_cost"]) + float(a["marketing_cost"])
        n = int(a["new_customers"])
        checks.append((None, cost, n, departments.cac(cost, n), target))
    if cfg.by_channel:
        t = facts.kpi_targets(conn, period, kpi="cac")
        channels = sorted(str(c) for c in t["dimension"].dropna().unique())
        if channels:
            by = departments.cac_by_channel(facts.acquisition_by_channel(conn, period)).set_index("channel")
            for ch in channels:
                cost = float(by.loc[ch, "spend"]) if ch in by.index else 0.0
                n = int(by.loc[ch, "new_customers"]) if ch in by.index else 0
                value = float(by.loc[ch, "cac"]) if ch in by.index else math.nan
                checks.append((ch, cost, n, value, _target(conn, period, "cac", ch)))
    out = []
    for channel, cost, n, value, tgt in checks:
        cost_d = exact(cost)
        if not ((n == 0 and cost_d > 0) or (n > 0 and cost_d > tgt * f * n)):
            continue
        entity = {} if channel is None else {"channel": channel}
        scope = "blended" if channel is None else f"channel {channel}"
        line = tgt * f
        details = {"scope": scope, "cost": cost, "new_customers": n,
                   "target": float(tgt), "tolerance": cfg.threshold}
        if n == 0:
            details["issue"] = "cost but no new paying customers: CAC is undefined"
            out.append(Finding("cac", period, entity, None, float(line), details,
                               f"{scope} CAC: cost {_money(cost)} with no new paying customers "
                               "(data issue, not divided by)", data_issue=True))
            continue
        details["cac"] = value
        out.append(Finding(
            "cac", period, entity, value, float(line), details,
            f"{scope} CAC {_money(value)} ({_money(cost)} / {n} new paying customers) vs target "
            f"{_money(tgt)} (alert above {_money(line)})",
        ))
    return out


@register_rule("product_development", config=ProductDevelopmentConfig,
               entity_keys=("feature_id",), title="Feature over budget")
def product_development(conn, period: date, cfg: ProductDevelopmentConfig) -> list[Finding]:
    r"""Features whose development cost to date overruns their budget.

    .. math:: \sum_{m \le P} D_m > (1 + o)\,B \quad (o = 0.25)

    :math:`D_m` = sum of ``dev_costs.cost`` of the feature in month m (reporting currency), summed up to
    and including P; :math:`B` = ``features.budget``. No division: a feature with a zero
    budget fires as soon as it costs anything. ``value`` is the cost to date, ``threshold``
    is :math:`(1 + o) B`; details give the budget, overrun = cost − budget and overrun_pct
    = cost / budget − 1 (None for a zero budget).
    """
    sql = """
    WITH cost AS (
        SELECT feature_id, SUM(cost) AS cost_to_date,
               SUM(CASE WHEN period = :p THEN cost ELSE 0 END) AS cost_in_period
        FROM dev_costs WHERE period <= :p
        GROUP BY feature_id
    )
    SELECT f.feature_id, f.name, f.team, f.product_id, f.budget,
           c.cost_to_date, c.cost_in_period
    FROM features f JOIN cost c ON c.feature_id = f.feature_id
    WHERE c.cost_to_date > :f * f.budget
    ORDER BY f.feature_id
    """
    f = Decimal(1) + exact(cfg.threshold)
    out = []
    for r in _query_rows(conn, sql, {"p": period, "f": f}):
        cost, budget = exact(r["cost_to_date"]), exact(r["budget"])
        out.append(Finding(
            "product_development", period, {"feature_id": str(r["feature_id"])},
            float(cost), float(budget * f),
            {"feature": r["name"], "team": r["team"], "product_id": str(r["product_id"]),
             "budget": float(budget), "cost_to_date": float(cost),
             "cost_in_period": float(r["cost_in_period"]),
             "overrun": float(cost - budget),
             "overrun_pct": float(cost / budget - 1) if budget > 0 else None},
            f"feature {r['name'] or r['feature_id']}: cost to date {_money(cost)} vs budget "
            f"{_money(budget)} (alert above {_money(budget * f)})",
        ))
    return out


@register_rule("nrr_target", config=NrrTargetConfig, entity_keys=(),
               title="Net revenue retention below target")
def nrr_target(conn, period: date, cfg: NrrTargetConfig) -> list[Finding]:
    r"""Net revenue retention of P below its target by more than the tolerance.

    .. math:: NRR = \frac{\sum_c MRR_c(P)}{\sum_c MRR_c(P - 12)} < T (1 - t) \quad (t = 0.05)

    over the customers :math:`c` paying at the end of month P − 12 (``months``, default
    12), with the figures of the retention dashboard
    (:func:`finlib.metrics.facts.retention_cohort`,
    :func:`finlib.metrics.retention.revenue_retention`): MRR of the subscriptions active
    on each month's last day (``end_date`` exclusive), in the reporting currency; new and
    reactivated customers are not in the cohort (docs/METRICS.md, *NRR*). :math:`T` =
    ``kpi_targets.target`` with kpi ``nrr``, no dimension, period P (a ratio: 1.05 =
    105 %). Evaluated as :math:`\sum MRR(P) < T (1 - t) \sum MRR(P-12)` in exact decimals,
    so nothing is divided. No target, or no customer paying 12 months earlier: no alert.
    ``value`` is NRR (ratio), ``threshold`` is :math:`T (1 - t)`; details give the target,
    both MRR sums (reporting currency per month) and the cohort size. Disabled by default.
    """
    target = _target(conn, period, "nrr")
    if target is None:
        return []
    cohort = facts.retention_cohort(conn, period, months=cfg.months)
    if cohort.empty:
        return []
    rr = retention.revenue_retention(cohort)
    then, now = exact(rr.mrr_then), exact(rr.mrr_now)
    factor = Decimal(1) - exact(cfg.threshold)
    line = target * factor
    if not (then > 0 and now < line * then):
        return []
    return [Finding(
        "nrr_target", period, {}, rr.nrr, float(line),
        {"nrr": rr.nrr, "target": float(target), "tolerance": cfg.threshold,
         "months": cfg.months, "mrr_then": rr.mrr_then, "mrr_now": rr.mrr_now,
         "customers": int(rr.customers)},
        f"NRR ({cfg.months} months) {_pct(rr.nrr)} vs target {_pct(target)} "
        f"(alert below {_pct(line)})",
    )]
