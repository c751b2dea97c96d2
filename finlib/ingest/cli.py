"""``finlib ingest``: load a CSV or Parquet export into a canonical table."""

from __future__ import annotations

import sys
import time

import click

from finlib.errors import ValidationError

REPLACE_HELP = (
    "Load again a file already accepted into TABLE, saying what it replaces: "
    "'keys' deletes the rows whose key (primary or natural) is in the file (an upsert); "
    "'all' empties the table first (a full refresh); "
    "'period=2024-01' (or 'period=2024-01..2024-03') deletes those months and requires every "
    "row of the file to fall in them. Without --replace a file already loaded (same sha256) "
    "is refused and new rows must have new keys."
)


class _StderrProgress:
    """Progress on stderr: a rich bar on a terminal, one line per phase otherwise."""

    def __init__(self, big: bool):
        self.tty = sys.stderr.isatty()
        self.big = big
        self.phase = None
        self.t0 = time.monotonic()
        self._progress = None
        self._task = None

    def __call__(self, phase: str, fraction: float | None) -> None:
        if self.tty:
            if self._progress is None:
                from rich.console import Console
                from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

                self._progress = Progress(TextColumn("{task.description:<11}"), BarColumn(),
                                          TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                          console=Console(stderr=True), transient=True)
                self._progress.start()
            if phase != self.phase:
                self._task = self._progress.add_task(phase, total=1.0)
                self.phase = phase
            if fraction is not None:
                self._progress.update(self._task, completed=fraction)
        elif self.big and phase != self.phase:
            self.phase = phase
            click.echo(f"{phase}... ({time.monotonic() - self.t0:.1f} s)", err=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def print_problems(exc: ValidationError, limit: int | None = None) -> None:
    """Print a ValidationError's problems as a table on stderr."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=None, show_lines=False, header_style="bold")
    for col in ("file", "line", "column", "value", "rule", "message"):
        table.add_column(col, overflow="fold")
    for p in exc.problems[:limit]:
        v = p.get("value")
        table.add_row(str(p.get("file") or ""), "" if p.get("line") is None else str(p["line"]),
                      str(p.get("column") or ""), "" if v is None else repr(v)[:40],
                      str(p.get("rule") or ""), str(p.get("message") or ""))
    Console(stderr=True, width=160 if not sys.stderr.isatty() else None).print(table)


@click.command("ingest", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("table")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--mapping", "-m", metavar="YAML",
              help="A mapping file, or the name of one in parameters/mappings/ "
                   "(e.g. stripe_invoices). Without it the header must use the table's column names.")
@click.option("--encoding", default=None, metavar="ENC",
              help="The CSV's text encoding (default utf-8), e.g. latin-1 or cp1252.")
@click.option("--replace", "replace", default=None, metavar="WHAT", help=REPLACE_HELP)
@click.option("--max-errors", default=50, show_default=True, type=click.IntRange(1),
              help="Report at most this many problems.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def ingest(table, file, mapping, encoding, replace, max_errors, as_json):
    """Validate FILE (CSV or Parquet) and load it into TABLE, all or nothing.

    Every rule of the canonical schema is checked first (required columns, types, allowed
    values, ranges, first-of-month periods, keys unique and new, foreign keys present,
    plausible dates, amounts to the cent, currencies with fx rates, row rules such as an
    end after its start; docs/INGEST.md); ids and text are trimmed of surrounding spaces.
    Every problem is listed with its line, and nothing is written unless the whole file is
    valid. Each attempt is recorded in ingest_batches; warnings (e.g. one-day gaps between
    a customer's subscriptions) are printed and recorded with the batch.

    \b
    Examples:
      finlib ingest gl_entries ledger.csv
      finlib ingest invoices samples/exports/stripe_invoices.csv --mapping stripe_invoices
      finlib ingest gl_entries march.csv --replace period=2024-03
    """
    import json
    import os

    from finlib.ingest.loader import ingest_file
    from finlib.ingest.mapping import load_mapping
    from finlib.warehouse.db import get_warehouse

    m = load_mapping(mapping) if mapping else None
    wh = get_warehouse()
    try:
        big = os.path.getsize(file) > 20_000_000
    except OSError:
        big = False
    progress = _StderrProgress(big)
    try:
        result = ingest_file(wh, table, file, mapping=m, encoding=encoding, replace=replace,
                             max_errors=max_errors, progress=progress)
    except ValidationError as exc:
        progress.close()
        print_problems(exc)
        raise
    finally:
        progress.close()
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    if as_json:
        click.echo(json.dumps({"batch_id": result.batch_id, "table": result.table, "file": result.file,
                               "sha256": result.sha256, "rows": result.rows, "deleted": result.deleted,
                               "replace": result.replace, "seconds": round(result.seconds, 3),
                               "warnings": result.warnings}))
        return
    extra = f", {result.deleted:,} replaced ({result.replace})" if result.replace else ""
    rate = f" ({result.rows_per_second:,.0f} rows/s)" if result.seconds >= 1 else ""  # noise for small files
    click.echo(f"{result.table}: {result.rows:,} rows loaded from {os.path.basename(file)}{extra} "
               f"in {result.seconds:.1f} s{rate}; batch {result.batch_id}")
