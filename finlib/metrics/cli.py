"""``finlib kpis``: the company's headline figures for a period."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from finlib.periods import last_closed_month, month_of
from finlib.warehouse.db import get_warehouse


def _fmt(key: str, value, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "favourable" if value else "unfavourable"
    if unit == "ratio":
        return f"{value * 100:,.1f} %"
    if unit == "count":
        return f"{int(value):,}"
    if unit == "months":
        return f"{value:,.1f}"
    return f"{value:,.2f}"


@click.command("kpis")
@click.option("--period", "period", default=None, metavar="YYYY-MM",
              help="Month to report (default: the last closed month).")
@click.option("--segment", "segment", default=None,
              type=click.Choice(["SMB", "Mid-Market", "Enterprise"]),
              help="Only this customer segment's customers (MRR, movements, retention, recognised "
                   "revenue and the segment's revenue target); CAC stays company-wide.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--as-of", "as_of", type=int, default=None, metavar="SEQ",
              help="Recompute on the data as it stood after audit entry SEQ (finlib audit log).")
def kpis(period: str | None, segment: str | None, as_json: bool, as_of: int | None = None) -> None:
    """Print headline KPIs for a month: MRR, ARR, MRR movements, recognised revenue vs
    target, NRR, GRR, logo churn and CAC (optionally for one customer segment)."""
    from finlib.metrics.kpis import headline_kpis, kpi_labels

    p = month_of(period) if period else last_closed_month()
    if as_of is not None:
        from finlib.audit.history import warehouse_as_of

        with warehouse_as_of(get_warehouse(), as_of) as past:
            figures = headline_kpis(past, p, segment=segment)
    else:
        figures = headline_kpis(get_warehouse(), p, segment=segment)
    if as_json:
        click.echo(json.dumps(figures, allow_nan=False))
        return

    scope = f" — segment {segment} (CAC company-wide)" if segment else ""
    table = Table(title=f"Headline KPIs — {p:%Y-%m}{scope}", title_justify="left")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, (label, unit) in kpi_labels().items():
        table.add_row(label, _fmt(key, figures.get(key), unit), "" if unit in ("flag", "count") else unit)
    Console().print(table)
