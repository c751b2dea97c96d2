"""What the governance report shows, as DataFrames: the month's controls, the failures with
their evidence (downloadable as CSV), the trend of failures and the compliance matrix.

Every function returns data; ``notebooks/governance.ipynb`` only names and shows them. A tool
cannot certify compliance: these tables show which controls ran, what they found and the
rows behind each finding; an auditor judges them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from pathlib import Path

import pandas as pd

from finlib.alerts import store
from finlib.governance.config import ControlsConfig, load_config
from finlib.governance.registry import CONTROLS, jsonable
from finlib.governance.runner import ALERT_RULE, evaluate_controls, run_controls
from finlib.periods import add_months, format_period, parse_period


def month_controls(wh, period, record: bool = False, reports: Path | None = None,
                   config: ControlsConfig | None = None) -> list[dict]:
    """The month's results (one per failing entity, one ``pass`` per clean control).

    ``record=False`` evaluates read-only; ``record=True`` is ``finlib controls run``: the
    results are stored in ``control_results`` and failures raise ``control_failure`` alerts.
    """
    if record:
        return run_controls(wh, period, config=config, reports=reports)["results"]
    return evaluate_controls(wh, period, config=config, reports=reports)


def results_table(results: list[dict]) -> pd.DataFrame:
    """One row per result: ``control``, ``status``, ``entity``, ``value``, ``expected``,
    ``message``, ``evidence_rows``."""
    cols = ["control", "status", "entity", "value", "expected", "message", "evidence_rows"]
    return pd.DataFrame([{**{k: r[k] for k in cols[:-1]}, "evidence_rows": len(r["evidence"])} for r in results],
                        columns=cols)


def control_summary(results: list[dict]) -> pd.DataFrame:
    """Per control: ``control``, ``title``, ``status`` (fail if any entity failed),
    ``failing`` (entities), ``checked``, ``frameworks`` (joined with "; ")."""
    rows = []
    for name in dict.fromkeys(r["control"] for r in results):
        rs = [r for r in results if r["control"] == name]
        failing = sum(1 for r in rs if r["status"] == "fail")
        rows.append({"control": name, "title": rs[0].get("title", CONTROLS[name].title),
                     "status": "fail" if failing else "pass", "failing": failing,
                     "checked": rs[0].get("checked"), "frameworks": "; ".join(rs[0]["frameworks"])})
    return pd.DataFrame(rows, columns=["control", "title", "status", "failing", "checked", "frameworks"])


def failures_table(results: list[dict]) -> pd.DataFrame:
    """The failing entities: ``control``, ``entity``, ``value``, ``expected``, ``message``,
    ``evidence_rows``."""
    t = results_table([r for r in results if r["status"] == "fail"])
    return t.drop(columns=["status"]).reset_index(drop=True)


def evidence_table(results: list[dict]) -> pd.DataFrame:
    """Every evidence row of every failure, long: ``control``, ``entity`` then the row's own
    columns (the union; a row from another table leaves the others empty)."""
    rows = [{"control": r["control"], "entity": r["entity"], **e}
            for r in results if r["status"] == "fail" for e in r["evidence"]]
    return pd.DataFrame(rows)


def table(df: pd.DataFrame, max_rows: int | None = None):
    """``df`` for display without truncating long text (messages, framework lists): a pandas
    Styler without the index, at most ``max_rows`` rows (the CSV downloads hold them all)."""
    shown = df if max_rows is None else df.head(max_rows)
    return shown.style.hide(axis="index").format(precision=2, na_rep="")


def csv_data_uri(df: pd.DataFrame) -> str:
    """``data:text/csv;base64,...``: a CSV download that works in an offline HTML report."""
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return "data:text/csv;base64," + base64.b64encode(buf.getvalue().encode("utf-8")).decode("ascii")


def evidence_links(results: list[dict], period) -> str:
    """HTML: one CSV download link per failing entity (its evidence rows) and one for all."""
    month = format_period(parse_period(period))
    fails = [r for r in results if r["status"] == "fail"]
    if not fails:
        return "<p>No failure: no evidence to download.</p>"
    items = []
    for r in fails:
        df = pd.DataFrame(r["evidence"])
        name = f"evidence-{month}-{r['control']}-{r['entity']}".replace(" ", "_").replace("·", "").replace("/", "_")
        items.append(f'<li><a download="{html.escape(name)}.csv" href="{csv_data_uri(df)}">'
                     f"{html.escape(r['control'])} · {html.escape(r['entity'])}</a> ({len(df)} rows)</li>")
    every = evidence_table(results)
    return (f'<p><a download="evidence-{month}.csv" href="{csv_data_uri(every)}">All evidence of {month} (CSV, '
            f"{len(every)} rows)</a></p><ul>{''.join(items)}</ul>")


def compliance_matrix(results: list[dict], config: ControlsConfig | None = None) -> pd.DataFrame:
    """Per framework reference: ``framework``, ``controls`` (the controls mapped to it, "; "),
    ``last_result`` (fail when any of them failed this period, pass when all ran clean,
    ``not run`` when none ran) and ``failing`` (entities)."""
    cfg = config or load_config()
    status = {n: ("fail" if any(r["status"] == "fail" for r in results if r["control"] == n) else "pass")
              for n in {r["control"] for r in results}}
    failing = {n: sum(1 for r in results if r["control"] == n and r["status"] == "fail") for n in status}
    refs: dict[str, list[str]] = {}
    for name, ctl in CONTROLS.items():
        settings = cfg.controls[name]
        for ref in settings.frameworks if settings.frameworks is not None else ctl.frameworks:
            refs.setdefault(ref, []).append(name)
    rows = []
    for ref in sorted(refs):
        ran = [n for n in refs[ref] if n in status]
        last = ("fail" if any(status[n] == "fail" for n in ran) else "pass") if ran else "not run"
        rows.append({"framework": ref, "controls": "; ".join(refs[ref]), "last_result": last,
                     "failing": sum(failing.get(n, 0) for n in ran)})
    return pd.DataFrame(rows, columns=["framework", "controls", "last_result", "failing"])


def failure_trend(wh, period, months: int = 6, reports: Path | None = None,
                  current: list[dict] | None = None) -> pd.DataFrame:
    """Failing entities per control and month for the ``months`` months up to ``period``.

    From the latest stored run of each month (``control_results``, source ``run <id>``);
    a month never run is evaluated now, read-only (source ``live``), without the
    report-archive control. ``current`` (the month's results already computed) is used
    for ``period`` itself. Columns: ``period`` (YYYY-MM), ``control``, ``failing``,
    ``source``.
    """
    p = parse_period(period)
    periods = [add_months(p, -k) for k in range(months - 1, -1, -1)]
    stored = _stored_failures(wh, periods)
    rows = []
    for q in periods:
        key = format_period(q)
        if q == p and current is not None:
            res, source = current, "this report"
        elif key in stored:
            rows += stored[key]
            continue
        else:
            names = [n for n, c in CONTROLS.items() if c.needs_connection]
            try:
                res, source = evaluate_controls(wh, q, names, reports=reports), "live"
            except Exception:  # noqa: BLE001 - a month the warehouse does not hold stays empty
                continue
        for name in dict.fromkeys(r["control"] for r in res):
            rows.append({"period": key, "control": name, "source": source,
                         "failing": sum(1 for r in res if r["control"] == name and r["status"] == "fail")})
    return pd.DataFrame(rows, columns=["period", "control", "failing", "source"])


def _stored_failures(wh, periods: list[dt.date]) -> dict[str, list[dict]]:
    with wh.connect(read_only=True) as conn:
        if not conn.table_exists("control_results"):
            return {}
        marks = ", ".join(f":p{i}" for i in range(len(periods)))
        df = conn.query_df(f"""
            SELECT r.period, r.run_id, r.control, SUM(CASE WHEN r.status = 'fail' THEN 1 ELSE 0 END) AS failing
            FROM control_results r
            WHERE r.period IN ({marks}) AND r.run_id = (SELECT max(x.run_id) FROM control_results x
                                                       WHERE x.period = r.period)
            GROUP BY r.period, r.run_id, r.control""", {f"p{i}": q for i, q in enumerate(periods)})
    out: dict[str, list[dict]] = {}
    for row in df.itertuples(index=False):
        key = format_period(parse_period(row.period, strict=False))
        out.setdefault(key, []).append({"period": key, "control": row.control, "failing": int(row.failing),
                                        "source": f"run {row.run_id}"})
    return out


def trend_pivot(trend: pd.DataFrame) -> pd.DataFrame:
    """The trend as a month × control table of failing entities."""
    if trend.empty:
        return trend
    return trend.pivot_table(index="period", columns="control", values="failing", aggfunc="sum").fillna(0).astype(int)


def failure_alerts(wh, results: list[dict], period) -> list[dict]:
    """The ``control_failure`` alerts of the failures (the ``alerts`` scrap): ``id``, ``rule``,
    ``severity``, ``state`` (``new`` when never stored), ``entity``, ``message``, ``value``,
    ``threshold``, ``period``."""

    p = parse_period(period)
    cfg = load_config()
    items = []
    for r in results:
        if r["status"] != "fail":
            continue
        entity = {"control": r["control"], "entity": r["entity"]}
        items.append({"id": store.alert_id(ALERT_RULE, entity, p), "rule": ALERT_RULE,
                      "severity": cfg.alerts.severity, "state": "new", "entity": entity,
                      "message": f"control {r['control']} failed: {r['message']}", "value": r["value"],
                      "threshold": r["expected"], "period": p.isoformat()})
    with wh.connect(read_only=True) as conn:
        stored = store.lookup(conn, [a["id"] for a in items])
    for a in items:
        if a["id"] in stored:
            a["state"] = stored[a["id"]]["state"]
    return items


def kpis(results: list[dict], period) -> dict:
    """Headline figures: ``period`` (YYYY-MM), ``controls`` (run), ``controls_failed``,
    ``controls_passed``, ``failing_entities``."""
    s = control_summary(results)
    return {"period": format_period(parse_period(period)), "controls": int(len(s)),
            "controls_failed": int((s["status"] == "fail").sum()), "controls_passed": int((s["status"] == "pass").sum()),
            "failing_entities": int(s["failing"].sum())}


def scraps(results: list[dict], summary: pd.DataFrame, failures: pd.DataFrame, matrix: pd.DataFrame,
           trend: pd.DataFrame, alerts: list[dict], period, data_as_of: str) -> dict:
    """The governance notebook's scraps (docs/SCRAPS.md)."""
    return jsonable({
        "kpis": kpis(results, period), "controls": summary.to_dict(orient="records"),
        "failures": failures.to_dict(orient="records"), "compliance_matrix": matrix.to_dict(orient="records"),
        "failure_trend": trend.to_dict(orient="records"), "alerts": alerts,
        "period": format_period(parse_period(period)), "data_as_of": data_as_of,
    })
