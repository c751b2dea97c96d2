"""Report reproducibility: every ROI and KPI figure an archived report of the period
published (its ``kpis`` scrap) is recomputed from the warehouse with the finlib functions the
notebook used, and must agree within a relative tolerance.

Which figures are compared, per job (company-wide runs only: a run whose ``department`` or
``segment`` parameter narrows it is compared on the figures that do not depend on it):
:data:`FIGURES`. Archived runs live in ``reports/<job>/<YYYY-MM>/<run_id>/``
(``notebook.ipynb`` with the scraps, ``manifest.json``); only succeeded runs count, by default
only the latest run of each job and variant (the report that stands).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

from pydantic import Field

from finlib.governance.registry import Context, ControlSettings, Finding, Outcome, control, jsonable
from finlib.jobs.archive import iter_run_dirs, read_manifest
from finlib.metrics.kpis import period_metrics
from finlib.views import budget_variance, product_roi

SCRAP_MIME = "application/scrapbook.scrap.json+json"

_HEADLINE = ("mrr", "arr", "recognised_revenue", "nrr", "grr", "logo_churn", "cac", "gross_margin")
_BUDGET = ("opex_actual", "opex_budget", "opex_variance", "ytd_actual", "ytd_budget", "ytd_utilisation")
_PRODUCT = ("dev_cost_to_date", "attributed_arr", "product_roi", "launch_roi")
_ROI = ("roi_sales", "roi_marketing", "roi_product", "roi_customer_success")

#: job -> kpis scrap keys compared; ``department`` runs by department
FIGURES: dict[str, tuple[str, ...]] = {
    "executive": _HEADLINE + _ROI + ("opex_actual", "opex_budget", "ytd_utilisation"),
    "budget_variance": _BUDGET,
    "product_roi": _PRODUCT,
    "retention_roi": ("mrr", "arr", "nrr", "grr", "logo_churn", "cs_roi"),
    "department:Product": _PRODUCT,
    "department:Marketing": ("cac",),
}


class ReproSettings(ControlSettings):
    relative_tolerance: float = Field(0.005, ge=0, description="0.005 = 0.5 %")
    runs: Literal["latest", "all"] = "latest"


def read_scraps(notebook: Path) -> dict:
    """``{name: data}`` of the scrapbook scraps in an executed notebook (read as JSON, without
    importing scrapbook)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    out = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) or []:
            data = (o.get("data") or {}).get(SCRAP_MIME)
            if isinstance(data, dict) and "name" in data:
                out[data["name"]] = data.get("data")
    return out


def archived_runs(reports: Path, month: str, runs: str = "latest") -> list[dict]:
    """Succeeded archived runs of ``month`` (``YYYY-MM``): dicts with ``job``, ``run_id``,
    ``path``, ``manifest``; the governance job's own runs are skipped."""

    found = []
    for job, period, run_id, path in iter_run_dirs(reports):
        if period != month or job == "governance":
            continue
        try:
            man = read_manifest(path)
        except (OSError, ValueError):
            continue
        if man.get("status") != "succeeded" or not (path / "notebook.ipynb").exists():
            continue
        found.append({"job": job, "run_id": run_id, "path": path, "manifest": man,
                      "variant": man.get("variant_label") or ""})
    found.sort(key=lambda r: r["run_id"])
    if runs == "latest":
        latest = {(r["job"], r["variant"]): r for r in found}
        found = sorted(latest.values(), key=lambda r: r["run_id"])
    return found


def figures_for(run: dict, kpis: dict) -> tuple[str, ...]:
    job = run["job"]
    params = run["manifest"].get("parameters") or {}
    if job == "department":
        return FIGURES.get(f"department:{kpis.get('department') or params.get('department')}", ())
    if str(params.get("department", "all")) != "all" or str(params.get("segment", "all")) != "all":
        return _PRODUCT if job == "product_roi" else ()
    return FIGURES.get(job, ())


def recompute(wh, month: str) -> dict:
    """Every figure of :data:`FIGURES`, recomputed now for ``month`` with the functions the
    notebooks call: :func:`finlib.metrics.kpis.period_metrics` and the views' ``kpis``
    builders (budget variance for all departments, product ROI without the adoption model,
    the executive's cross-domain ROI)."""

    m = period_metrics(wh, month)
    out = dict(m["headline"])
    out.update(budget_variance.budget_kpis(m, month, budget_variance.tolerance(), "all"))
    out.update(product_roi.product_kpis(m))
    cross = m["cross_domain_roi"].set_index("domain")["roi"]  # as executive.kpis names them
    out.update({f"roi_{dom.lower().replace(' ', '_')}": cross[dom] for dom in cross.index})
    cs = m["cs_investment_roi"]
    out["cs_roi"] = cs.roi
    return {k: jsonable(v) for k, v in out.items()}


def _number(x) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def relative_difference(published: float | None, recomputed: float | None) -> float | None:
    """``|published − recomputed| / |recomputed|``; 0 when both are 0 (or both undefined),
    ``inf`` when only one is; None never."""
    if published is None and recomputed is None:
        return 0.0
    if published is None or recomputed is None:
        return math.inf
    if recomputed == 0:
        return 0.0 if abs(published) < 1e-9 else math.inf
    return abs(published - recomputed) / abs(recomputed)


@control("roi_reproducible", ReproSettings,
         frameworks=("SOX 404: key reports and end-user computing", "PCAOB AS 1105.10 (information produced by "
                     "the company)", "COSO 2013 Principle 13 (quality information)"),
         entity="report <run_id> · <figure>", title="Published figures reproduce",
         fails_when="an ROI or KPI figure published in an archived report of the period (its scraps) no longer "
                    "reproduces from the warehouse within the relative tolerance (0.5 %)",
         needs_connection=False)
def roi_reproducible(ctx: Context, cfg: ReproSettings) -> Outcome:
    r"""Recompute every published figure and compare.

    .. math:: \frac{|x_\text{published} - x_\text{now}|}{|x_\text{now}|} > \text{relative\_tolerance}

    (a figure defined on one side only, or non-zero against zero, fails). ``value`` = the
    published figure, ``expected`` = the recomputed one. Evidence: the run, its report, the
    data fingerprint it recorded and the difference.
    """
    runs = archived_runs(ctx.reports, ctx.month, cfg.runs)
    if not runs:
        return Outcome([], 0, f"no archived report for {ctx.month} in {ctx.reports}")
    now = None
    findings, checked = [], 0
    for run in runs:
        try:
            kpis = read_scraps(run["path"] / "notebook.ipynb").get("kpis") or {}
        except (OSError, ValueError):
            kpis = {}
        for fig in figures_for(run, kpis):
            if fig not in kpis:
                continue
            if now is None:
                now = recompute(ctx.wh, ctx.month)
            if fig not in now:
                continue
            checked += 1
            pub, cur = _number(kpis[fig]), _number(now[fig])
            rel = relative_difference(pub, cur)
            if rel <= cfg.relative_tolerance:
                continue
            man = run["manifest"]
            rel_txt = "undefined on one side" if math.isinf(rel) else f"{rel:.2%}"
            findings.append(Finding(
                f"report {run['run_id']} · {fig}", pub, cur,
                f"{run['job']} report {run['run_id']} published {fig} = {pub!r} for {ctx.month}; the warehouse now "
                f"gives {cur!r} ({rel_txt} apart, tolerance {cfg.relative_tolerance:.1%}): the report was made on "
                "data or formulas that have since changed",
                [{"source": "report", "run_id": run["run_id"], "job": run["job"], "figure": fig,
                  "published": pub, "recomputed": cur,
                  "relative_difference": None if math.isinf(rel) else rel,
                  "report": str(run["path"] / "report.html"),
                  "run_started_at": man.get("started_at"),
                  "data_fingerprint_at_run": jsonable(man.get("data_fingerprint") or man.get("fingerprint")),
                  "parameters": json.dumps(man.get("parameters") or {}, sort_keys=True, default=str)}]))
    return Outcome(findings, checked)
