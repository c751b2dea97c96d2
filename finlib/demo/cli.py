"""``finlib demo-data``: fill the warehouse with the demo company."""

from __future__ import annotations

import click

from finlib import demo  # its API loads on first use
from finlib.warehouse.db import get_warehouse


@click.command("demo-data")
@click.option("--scale", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True,
              help="small ~500, medium ~5,000, large ~100,000 customers")
@click.option("--seed", type=int, default=42, show_default=True, help="random seed (same seed, same data)")
@click.option("--end", "end", default=None, metavar="YYYY-MM",
              help="last closed month (default: the month before today)")
@click.option("--force", is_flag=True, help="replace the data of a warehouse that is not empty")
@click.option("--quiet", is_flag=True, help="no progress display")
def demo_data(scale: str, seed: int, end: str | None, force: bool, quiet: bool) -> None:
    """Generate 36 months of a coherent demo company with planted truth.

    Writes every canonical table of FINLIB_DB_URL in one transaction, and the truth file
    beside the warehouse (data/warehouse.truth.json for the default DuckDB file).
    """
    wh = get_warehouse()
    res = demo.generate(wh, scale, seed, end, force=force, progress=not quiet)
    t = res["truth"]
    total = sum(res["rows"].values())
    click.echo(f"{wh.display_url}: demo company '{scale}' seed {seed}, "
               f"{t['first_period'][:7]} .. {t['last_closed_month'][:7]}: "
               f"{total:,} rows in {len(res['rows'])} tables, {res['seconds']:.1f} s")
    click.echo(f"truth: {res['truth_path'] or 'in the warehouse (warehouse_meta.demo_truth)'}")
