"""The alert rules: each one SQL over the canonical tables, registered by name.

A rule is evaluated for a period *P* (the month starting on ``P``, a first of month). It
runs one query in the common SQL subset of DuckDB and PostgreSQL; the query's ``WHERE``
clause *is* the rule, written without division and with exact DECIMAL arithmetic, so a
figure exactly on a threshold never fires and a budget or spend of zero is never divided
by. Every returned row is a :class:`Finding`: the entity it concerns (a dict of ids), the
figure compared (``value``), the line it crossed (``threshold``) and the figures that made
it fire (``details``).

New rules plug in with :func:`register_rule`::

    @register_rule("my_rule", config=MyRuleConfig, entity_keys=("feature_id",),
                   title="...")
    def my_rule(conn, period, cfg) -> list[Finding]: ...

The six defaults are those of docs/ALERTS.md, "The default rules"; a seventh, ``nrr_target``
(retention below its target), is disabled unless ``parameters/alerts.yaml`` enables it; their thresholds, severities and
links are configured in ``parameters/alerts.yaml`` (see :mod:`finlib.alerts.config`).

Conventions: amounts are summed as stored (DECIMAL, reporting currency, costs positive as
incurred, revenue positive as earned); ratios are plain fractions (0.10 = 10 %); ROI is
(return − cost) / cost, never ROAS. Department names are found by name (``Sales``,
``Marketing``), never by id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finlib.periods import add_months

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


# ---- periods -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """The month being evaluated: ``start`` (first day, inclusive), ``end`` (next month's
    first day, exclusive)."""

    start: date

    @property
    def end(self) -> date:
        return add_months(self.start, 1)

    def shift(self, months: int) -> date:
        return add_months(self.start, months)


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


RuleFunc = Callable[[Any, Period, RuleConfig], list[Finding]]


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
    """Run every enabled rule of ``rule_configs`` for ``period`` on one open connection."""
    p = Period(period)
    out: list[Finding] = []
    for name, cfg in rule_configs.items():
        if cfg.enabled:
            out.extend(RULES[name].evaluate(conn, p, cfg))
    return out


# ---- helpers -----------------------------------------------------------------------------

def _dec(x: float) -> Decimal:
    """A config number as an exact decimal (0.1 stays 0.1, not 0.1000000000000000055)."""
    return Decimal(str(x))


def _f(x) -> float | None:
    return None if x is None else float(x)


def _rows(conn, sql: str, params: dict) -> list[dict]:
    """Run ``sql`` and return rows as dicts, DECIMAL kept exact (``Decimal``) on both
    backends (pandas would turn DuckDB's DECIMAL into float)."""
    from finlib.errors import WarehouseError
    from finlib.warehouse.db import translate_params

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


def _D(x) -> Decimal:
    """Any number as a Decimal (floats through their shortest repr)."""
    return x if isinstance(x, Decimal) else Decimal(str(x))


def _money(x) -> str:
    return "n/a" if x is None else f"{float(x):,.2f}"


def _pct(x) -> str:
    return "n/a" if x is None else f"{float(x) * 100:.1f} %"


# ---- the six default rules ----------------------------------------------------------------

@register_rule("budget_variance", config=BudgetVarianceConfig,
               entity_keys=("department_id", "account_id"), title="Budget variance")
def budget_variance(conn, period: Period, cfg: BudgetVarianceConfig) -> list[Finding]:
    r"""Budget lines whose actual strays from budget by more than the threshold.

    For each budget line (department, account) of P:

    .. math:: \frac{|A - B|}{B} > t \quad (t = 0.10)

    where :math:`A` = sum of ``gl_entries.amount`` for the line in P (0 when none) and
    :math:`B` = ``budgets.amount``. Evaluated as :math:`|A - B| > t \cdot B` in exact
    DECIMAL arithmetic. ``value`` is :math:`|A - B| / B` (a fraction), ``threshold`` is
    :math:`t`. Details give actual, budget, variance = A − B (USD), variance_pct =
    (A − B) / |B| and ``favourable`` (revenue above plan or cost below plan).

    A budget of zero or less is a data issue, reported (``value`` None, ``details.issue``)
    and never divided by: a negative budget always, a zero budget when its line has a
    non-zero actual. Reference: docs/METRICS.md, "Conventions" (variance).
    """
    sql = """
    WITH actual AS (
        SELECT department_id, account_id, SUM(amount) AS actual
        FROM gl_entries WHERE period = :p
        GROUP BY department_id, account_id
    )
    SELECT b.department_id, b.account_id, d.name AS department, a.name AS account,
           a.account_type, a.category, b.amount AS budget,
           COALESCE(x.actual, 0) AS actual
    FROM budgets b
    LEFT JOIN actual x ON x.department_id = b.department_id AND x.account_id = b.account_id
    LEFT JOIN departments d ON d.department_id = b.department_id
    LEFT JOIN accounts a ON a.account_id = b.account_id
    WHERE b.period = :p
      AND (b.amount < 0
           OR (b.amount = 0 AND COALESCE(x.actual, 0) <> 0)
           OR (b.amount > 0 AND ABS(COALESCE(x.actual, 0) - b.amount) > :t * b.amount))
    ORDER BY b.department_id, b.account_id
    """
    out = []
    for r in _rows(conn, sql, {"p": period.start, "t": _dec(cfg.threshold)}):
        actual, budget = _D(r["actual"]), _D(r["budget"])
        variance = actual - budget
        is_revenue = r["account_type"] == "revenue"
        details = {
            "department": r["department"], "account": r["account"],
            "account_type": r["account_type"], "category": r["category"],
            "actual": float(actual), "budget": float(budget), "variance": float(variance),
            "variance_pct": float(variance / abs(budget)) if budget != 0 else None,
            "favourable": (variance > 0) if is_revenue else (variance < 0),
        }
        entity = {"department_id": str(r["department_id"]), "account_id": str(r["account_id"])}
        label = f"{r['department'] or r['department_id']} / {r['account'] or r['account_id']}"
        if budget <= 0:
            details["issue"] = "budget is zero or negative: variance % is undefined"
            out.append(Finding("budget_variance", period.start, entity, None, cfg.threshold,
                               details, f"{label}: budget {_money(budget)} with actual "
                               f"{_money(actual)} (data issue, not divided by)", data_issue=True))
            continue
        ratio = abs(variance) / budget
        out.append(Finding(
            "budget_variance", period.start, entity, float(ratio), cfg.threshold, details,
            f"{label}: actual {_money(actual)} vs budget {_money(budget)} "
            f"({'+' if variance >= 0 else ''}{_pct(variance / budget)}, "
            f"{'favourable' if details['favourable'] else 'unfavourable'}; "
            f"limit ±{_pct(cfg.threshold)})",
        ))
    return out


@register_rule("revenue_target", config=RevenueTargetConfig, entity_keys=(),
               title="Revenue below target")
def revenue_target(conn, period: Period, cfg: RevenueTargetConfig) -> list[Finding]:
    r"""Recognised revenue of P below its target by more than the tolerance.

    .. math:: R < T \cdot (1 - t) \quad (t = 0.05)

    :math:`R` = sum of ``revenue_recognized.amount`` for P (USD; recognised revenue, not
    MRR); :math:`T` = ``kpi_targets.target`` with kpi ``revenue``, no dimension, period P.
    No target, no alert. ``value`` is :math:`R`, ``threshold`` is :math:`T (1 - t)`; details
    give the target, the shortfall :math:`T - R` and attainment :math:`R / T`.
    """
    sql = """
    WITH rev AS (
        SELECT COALESCE(SUM(amount), 0) AS revenue FROM revenue_recognized WHERE period = :p
    ),
    tgt AS (
        SELECT MAX(CAST(target AS DECIMAL(18, 4))) AS target
        FROM kpi_targets WHERE period = :p AND kpi = 'revenue' AND dimension IS NULL
    )
    SELECT rev.revenue, tgt.target
    FROM rev CROSS JOIN tgt
    WHERE tgt.target IS NOT NULL AND rev.revenue < tgt.target * :f
    """
    factor = Decimal(1) - _dec(cfg.threshold)
    out = []
    for r in _rows(conn, sql, {"p": period.start, "f": factor}):
        revenue, target = _D(r["revenue"]), _D(r["target"])
        line = target * factor
        out.append(Finding(
            "revenue_target", period.start, {}, float(revenue), float(line),
            {"revenue": float(revenue), "target": float(target), "tolerance": cfg.threshold,
             "shortfall": float(target - revenue),
             "attainment": float(revenue / target) if target != 0 else None},
            f"recognised revenue {_money(revenue)} vs target {_money(target)} "
            f"(alert below {_money(line)})",
        ))
    return out


@register_rule("cost_control", config=CostControlConfig,
               entity_keys=("department_id", "account_id"), title="Cost control")
def cost_control(conn, period: Period, cfg: CostControlConfig) -> list[Finding]:
    r"""Cost lines that jump above their trailing average *and* exceed their budget.

    For each (department, account) with ``account_type`` cogs or opex:

    .. math:: A_P > (1 + g)\,\bar A_{P-3..P-1} \quad\text{and}\quad A_P > B_P \quad (g = 0.15)

    :math:`A_m` = sum of ``gl_entries.amount`` for the line in month m (USD, 0 for a month
    without entries), :math:`\bar A` = mean over the ``trailing_months`` (3) months before P,
    :math:`B_P` = the line's budget in P (a line without a budget row counts as budget 0:
    unbudgeted spend exceeds its budget). Evaluated as :math:`n A_P > (1 + g) \sum A_m` in
    exact DECIMAL. The rule needs a full trailing window: when the ledger starts after
    P − 3 months, it reports nothing for P. ``value`` is :math:`A_P`, ``threshold`` is
    :math:`\max((1 + g)\bar A, B_P)`, the line both conditions put together.
    """
    n = cfg.trailing_months
    since = period.shift(-n)
    first = conn.scalar("SELECT MIN(period) FROM gl_entries")
    if first is None or first > since:
        return []
    sql = """
    WITH lines AS (
        SELECT g.department_id, g.account_id,
               SUM(CASE WHEN g.period = :p THEN g.amount ELSE 0 END) AS actual,
               SUM(CASE WHEN g.period < :p THEN g.amount ELSE 0 END) AS history
        FROM gl_entries g
        JOIN accounts a ON a.account_id = g.account_id
        WHERE a.account_type IN ('cogs', 'opex') AND g.period >= :h AND g.period <= :p
        GROUP BY g.department_id, g.account_id
    )
    SELECT l.department_id, l.account_id, d.name AS department, a.name AS account,
           a.account_type, a.category, l.actual, l.history, b.amount AS budget
    FROM lines l
    LEFT JOIN budgets b ON b.period = :p AND b.department_id = l.department_id
                       AND b.account_id = l.account_id
    LEFT JOIN departments d ON d.department_id = l.department_id
    LEFT JOIN accounts a ON a.account_id = l.account_id
    WHERE l.actual * :n > :g * l.history
      AND l.actual > COALESCE(b.amount, 0)
    ORDER BY l.department_id, l.account_id
    """
    growth = Decimal(1) + _dec(cfg.threshold)
    out = []
    for r in _rows(conn, sql, {"p": period.start, "h": since, "n": n, "g": growth}):
        actual = _D(r["actual"])
        mean = _D(r["history"]) / n
        budget = _D(r["budget"]) if r["budget"] is not None else None
        line = max(growth * mean, budget if budget is not None else Decimal(0))
        label = f"{r['department'] or r['department_id']} / {r['account'] or r['account_id']}"
        out.append(Finding(
            "cost_control", period.start,
            {"department_id": str(r["department_id"]), "account_id": str(r["account_id"])},
            float(actual), float(line),
            {"department": r["department"], "account": r["account"],
             "account_type": r["account_type"], "category": r["category"],
             "actual": float(actual), "trailing_mean": float(mean), "trailing_months": n,
             "rise_pct": float(actual / mean - 1) if mean > 0 else None,
             "budget": _f(budget), "budget_missing": budget is None,
             "over_budget": float(actual - (budget or 0))},
            f"{label}: {_money(actual)} vs trailing {n}-month mean {_money(mean)} "
            f"(+{_pct(actual / mean - 1) if mean > 0 else 'n/a'}) and budget {_money(budget)}",
        ))
    return out


@register_rule("campaign_roi", config=CampaignRoiConfig, entity_keys=("campaign_id",),
               title="Campaign ROI")
def campaign_roi(conn, period: Period, cfg: CampaignRoiConfig) -> list[Finding]:
    r"""Marketing campaigns that ended recently and returned too little.

    For each marketing campaign whose ``ended_on`` lies within the ``lookback_months`` (12)
    months up to the end of P (from the first day of P − 11 months to the last day of P):

    .. math:: ROI = \frac{ARR_{new} - S}{S} < r \quad (r = 2.0 = 200\,\%)

    :math:`S` = ``marketing_campaigns.spend``; :math:`ARR_{new}` = 12 × the MRR, at the end
    of their signup month, of the customers whose ``acquisition_campaign_id`` is the
    campaign (subscriptions active on that month's last day: ``start_date <= M`` and
    ``end_date`` NULL or ``> M``). Evaluated as :math:`ARR_{new} - S < r S`. A campaign
    without spend has no ROI and is skipped. ``value`` is the ROI, ``threshold`` is
    :math:`r`; details give spend, new ARR, customers and ROAS = ARR_new / S for reference
    (ROAS is not ROI). Reference: docs/METRICS.md, "Conventions" (ROI).
    """
    sql = """
    WITH camp AS (
        SELECT campaign_id, name, channel, ended_on, spend
        FROM marketing_campaigns
        WHERE ended_on IS NOT NULL AND ended_on >= :since AND ended_on < :e
    ),
    acq AS (
        SELECT c.customer_id, c.acquisition_campaign_id AS campaign_id,
               CAST(CAST(date_trunc('month', c.signup_date) AS DATE) + INTERVAL '1 month'
                    AS DATE) AS next_start
        FROM customers c
        JOIN camp ON camp.campaign_id = c.acquisition_campaign_id
    ),
    mrr AS (
        SELECT acq.campaign_id, COUNT(DISTINCT acq.customer_id) AS customers,
               COALESCE(SUM(s.mrr), 0) AS mrr
        FROM acq
        LEFT JOIN subscriptions s
               ON s.customer_id = acq.customer_id
              AND s.start_date < acq.next_start
              AND (s.end_date IS NULL OR s.end_date >= acq.next_start)
        GROUP BY acq.campaign_id
    )
    SELECT camp.campaign_id, camp.name, camp.channel, camp.ended_on, camp.spend,
           COALESCE(m.customers, 0) AS customers, COALESCE(m.mrr, 0) AS mrr
    FROM camp
    LEFT JOIN mrr m ON m.campaign_id = camp.campaign_id
    WHERE camp.spend > 0
      AND 12 * COALESCE(m.mrr, 0) - camp.spend < :r * camp.spend
    ORDER BY camp.campaign_id
    """
    params = {"since": period.shift(-(cfg.lookback_months - 1)), "e": period.end,
              "r": _dec(cfg.threshold)}
    out = []
    for r in _rows(conn, sql, params):
        spend, arr = _D(r["spend"]), 12 * _D(r["mrr"])
        roi = (arr - spend) / spend
        out.append(Finding(
            "campaign_roi", period.start, {"campaign_id": str(r["campaign_id"])},
            float(roi), cfg.threshold,
            {"campaign": r["name"], "channel": r["channel"],
             "ended_on": str(r["ended_on"])[:10], "spend": float(spend),
             "new_arr": float(arr), "customers": int(r["customers"]),
             "roas": float(arr / spend)},
            f"campaign {r['name'] or r['campaign_id']}: ROI {_pct(roi)} "
            f"(new ARR {_money(arr)} on spend {_money(spend)}; minimum {_pct(cfg.threshold)})",
        ))
    return out


@register_rule("cac", config=CacConfig, entity_keys=(), title="Customer acquisition cost")
def cac(conn, period: Period, cfg: CacConfig) -> list[Finding]:
    r"""Customer acquisition cost above target by more than the tolerance.

    Blended (entity ``{}``), when a ``kpi_targets`` row kpi ``cac`` without dimension exists:

    .. math:: CAC = \frac{C_{S+M}}{N} > T (1 + t) \quad (t = 0.20)

    :math:`C_{S+M}` = ``gl_entries`` of P on ``opex`` accounts in the departments named
    ``Sales`` and ``Marketing`` (USD); :math:`N` = customers whose ``signup_date`` is in P.

    Per channel (entity ``{"channel": …}``), for each channel with a ``cac`` target whose
    dimension is that channel: :math:`C` = ``gl_entries`` of P whose ``campaign_id`` is a
    campaign of that channel, :math:`N` = customers with ``signup_date`` in P whose
    ``acquisition_campaign_id`` is a campaign of that channel.

    Evaluated as :math:`C > T (1 + t) N`. Cost with no new customer (:math:`N = 0`,
    :math:`C > 0`) is a data issue, reported and never divided by. ``value`` is CAC (USD
    per customer), ``threshold`` is :math:`T (1 + t)`.
    """
    f = Decimal(1) + _dec(cfg.threshold)
    condition = "(n = 0 AND cost > 0) OR (n > 0 AND cost > target * :f * n)"
    blended = f"""
    WITH cost AS (
        SELECT COALESCE(SUM(g.amount), 0) AS cost
        FROM gl_entries g
        JOIN accounts a ON a.account_id = g.account_id
        JOIN departments d ON d.department_id = g.department_id
        WHERE g.period = :p AND a.account_type = 'opex' AND d.name IN ('Sales', 'Marketing')
    ),
    new_customers AS (
        SELECT COUNT(*) AS n FROM customers WHERE signup_date >= :p AND signup_date < :e
    ),
    tgt AS (
        SELECT MAX(CAST(target AS DECIMAL(18, 4))) AS target
        FROM kpi_targets WHERE period = :p AND kpi = 'cac' AND dimension IS NULL
    ),
    x AS (SELECT cost.cost, new_customers.n, tgt.target
          FROM cost CROSS JOIN new_customers CROSS JOIN tgt)
    SELECT CAST(NULL AS VARCHAR) AS channel, cost, n, target FROM x
    WHERE target IS NOT NULL AND ({condition})
    """
    by_channel = f"""
    WITH tgt AS (
        SELECT dimension AS channel, MAX(CAST(target AS DECIMAL(18, 4))) AS target
        FROM kpi_targets WHERE period = :p AND kpi = 'cac' AND dimension IS NOT NULL
        GROUP BY dimension
    ),
    camp AS (
        SELECT campaign_id, channel FROM marketing_campaigns
        WHERE channel IN (SELECT channel FROM tgt)
    ),
    spend AS (
        SELECT camp.channel, SUM(g.amount) AS cost
        FROM gl_entries g JOIN camp ON camp.campaign_id = g.campaign_id
        WHERE g.period = :p
        GROUP BY camp.channel
    ),
    acq AS (
        SELECT camp.channel, COUNT(*) AS n
        FROM customers c JOIN camp ON camp.campaign_id = c.acquisition_campaign_id
        WHERE c.signup_date >= :p AND c.signup_date < :e
        GROUP BY camp.channel
    ),
    x AS (
        SELECT tgt.channel, COALESCE(spend.cost, 0) AS cost, COALESCE(acq.n, 0) AS n, tgt.target
        FROM tgt
        LEFT JOIN spend ON spend.channel = tgt.channel
        LEFT JOIN acq ON acq.channel = tgt.channel
    )
    SELECT channel, cost, n, target FROM x WHERE {condition}
    ORDER BY channel
    """
    params = {"p": period.start, "e": period.end, "f": f}
    rows = _rows(conn, blended, params)
    if cfg.by_channel:
        rows += _rows(conn, by_channel, params)
    out = []
    for r in rows:
        cost, n, target = _D(r["cost"]), int(r["n"]), _D(r["target"])
        entity = {} if r["channel"] is None else {"channel": str(r["channel"])}
        scope = "blended" if not entity else f"channel {entity['channel']}"
        line = target * f
        details = {"scope": scope, "cost": float(cost), "new_customers": n,
                   "target": float(target), "tolerance": cfg.threshold}
        if n == 0:
            details["issue"] = "cost but no new customers: CAC is undefined"
            out.append(Finding("cac", period.start, entity, None, float(line), details,
                               f"{scope} CAC: cost {_money(cost)} with no new customers "
                               "(data issue, not divided by)", data_issue=True))
            continue
        value = cost / n
        details["cac"] = float(value)
        out.append(Finding(
            "cac", period.start, entity, float(value), float(line), details,
            f"{scope} CAC {_money(value)} ({_money(cost)} / {n} new customers) vs target "
            f"{_money(target)} (alert above {_money(line)})",
        ))
    return out


@register_rule("product_development", config=ProductDevelopmentConfig,
               entity_keys=("feature_id",), title="Feature over budget")
def product_development(conn, period: Period, cfg: ProductDevelopmentConfig) -> list[Finding]:
    r"""Features whose development cost to date overruns their budget.

    .. math:: \sum_{m \le P} D_m > (1 + o)\,B \quad (o = 0.25)

    :math:`D_m` = sum of ``dev_costs.cost`` of the feature in month m (USD), summed up to
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
    f = Decimal(1) + _dec(cfg.threshold)
    out = []
    for r in _rows(conn, sql, {"p": period.start, "f": f}):
        cost, budget = _D(r["cost_to_date"]), _D(r["budget"])
        out.append(Finding(
            "product_development", period.start, {"feature_id": str(r["feature_id"])},
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
def nrr_target(conn, period: Period, cfg: NrrTargetConfig) -> list[Finding]:
    r"""Net revenue retention of P below its target by more than the tolerance.

    .. math:: NRR = \frac{\sum_c MRR_c(P)}{\sum_c MRR_c(P - 12)} < T (1 - t) \quad (t = 0.05)

    over the customers :math:`c` paying at the end of month P − 12 (``months``, default
    12): MRR summed from ``subscriptions`` active on each month's last day
    (``start_date <= M`` and ``end_date`` NULL or ``> M``; ``end_date`` exclusive); new and
    reactivated customers are not in the cohort (docs/METRICS.md, *NRR*). :math:`T` =
    ``kpi_targets.target`` with kpi ``nrr``, no dimension, period P (a ratio: 1.05 =
    105 %). Evaluated as :math:`\sum MRR(P) < T (1 - t) \sum MRR(P-12)` in exact DECIMAL,
    so nothing is divided. No target, or no customer paying 12 months earlier: no alert.
    ``value`` is NRR (ratio), ``threshold`` is :math:`T (1 - t)`; details give the target,
    both MRR sums (USD/month) and the cohort size. Disabled by default.
    """
    from finlib.periods import month_end

    sql = """
    WITH cm AS (
        SELECT customer_id,
               SUM(CASE WHEN start_date <= :then_end AND (end_date IS NULL OR end_date > :then_end)
                        THEN mrr ELSE 0 END) AS mrr_then,
               SUM(CASE WHEN start_date <= :now_end AND (end_date IS NULL OR end_date > :now_end)
                        THEN mrr ELSE 0 END) AS mrr_now
        FROM subscriptions
        WHERE start_date <= :now_end AND (end_date IS NULL OR end_date > :then_end)
        GROUP BY customer_id
    ),
    cohort AS (
        SELECT COALESCE(SUM(mrr_then), 0) AS mrr_then, COALESCE(SUM(mrr_now), 0) AS mrr_now,
               COUNT(*) AS customers
        FROM cm WHERE mrr_then > 0
    ),
    tgt AS (
        SELECT MAX(CAST(target AS DECIMAL(18, 6))) AS target
        FROM kpi_targets WHERE period = :p AND kpi = 'nrr' AND dimension IS NULL
    )
    SELECT cohort.mrr_then, cohort.mrr_now, cohort.customers, tgt.target
    FROM cohort CROSS JOIN tgt
    WHERE tgt.target IS NOT NULL AND cohort.mrr_then > 0
      AND cohort.mrr_now < tgt.target * :f * cohort.mrr_then
    """
    factor = Decimal(1) - _dec(cfg.threshold)
    params = {"p": period.start, "f": factor, "now_end": month_end(period.start),
              "then_end": month_end(period.shift(-cfg.months))}
    out = []
    for r in _rows(conn, sql, params):
        then, now, target = _D(r["mrr_then"]), _D(r["mrr_now"]), _D(r["target"])
        nrr, line = now / then, target * factor
        out.append(Finding(
            "nrr_target", period.start, {}, float(nrr), float(line),
            {"nrr": float(nrr), "target": float(target), "tolerance": cfg.threshold,
             "months": cfg.months, "mrr_then": float(then), "mrr_now": float(now),
             "customers": int(r["customers"])},
            f"NRR ({cfg.months} months) {_pct(nrr)} vs target {_pct(target)} "
            f"(alert below {_pct(line)})",
        ))
    return out
