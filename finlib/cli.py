"""The single ``finlib`` command.

Subcommands live beside the code they drive (``finlib/<area>/cli.py``) and are imported
lazily, so ``finlib --help`` stays fast and one area's heavy imports never slow another.
A :class:`~finlib.errors.FinlibError` is printed as a message (no traceback) and the
process exits with the error's code.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from finlib import __version__
from finlib.errors import FinlibError

# name -> "module:attribute" (a click command or group)
COMMANDS: dict[str, str] = {
    "db": "finlib.warehouse.cli:db",
    "demo-data": "finlib.demo.cli:demo_data",
    "ingest": "finlib.ingest.cli:ingest",
    "kpis": "finlib.metrics.cli:kpis",
    "alerts": "finlib.alerts.cli:alerts",
    "run": "finlib.jobs.cli:run",
    "schedule": "finlib.jobs.cli:schedule",
    "reports": "finlib.jobs.cli:reports",
    "jobs": "finlib.jobs.cli:jobs",
    "dashboards": "finlib.dashboards.cli:dashboards",
    "controls": "finlib.governance.cli:controls",
    "period": "finlib.governance.cli:period",
    "users": "finlib.access.cli:users",
    "access": "finlib.access.cli:access",
    "archive": "finlib.security.cli:archive",
    "api": "finlib.security.cli:api",
    "audit": "finlib.audit.cli:audit",
    "retention": "finlib.audit.cli:retention",
}


# name -> the one-line summary ``finlib --help`` prints, so that listing the commands imports
# none of them (tests/test_packaging.py checks each equals the command's own summary)
SUMMARIES: dict[str, str] = {
    "db": "Create and inspect the warehouse (FINLIB_DB_URL).",
    "demo-data": "Generate 36 months of a coherent demo company with planted truth.",
    "ingest": "Validate FILE (CSV or Parquet) and load it into TABLE, all or nothing.",
    "kpis": "Print headline KPIs for a month: MRR, ARR, MRR movements,...",
    "alerts": "Alert rules (parameters/alerts.yaml): check a period, list and...",
    "run": "Run JOBS (names of parameters/jobs/*.yaml), --all, or --due;...",
    "schedule": "Run due jobs in a loop, in the foreground (Ctrl-C stops it).",
    "reports": "Browse the report archive (reports/).",
    "jobs": "Job specs in parameters/jobs/.",
    "dashboards": "Voilà dashboards: the notebooks in notebooks/ as web pages for...",
    "controls": "Financial controls over a period, with evidence...",
    "period": "Close and reopen periods (a closed period refuses every change to...",
    "users": "Users, roles and API tokens (docs/ACCESS.md).",
    "access": "The role table and PostgreSQL row-level security (docs/ACCESS.md).",
    "archive": "Encrypted archive files (FINLIB_ARCHIVE_KEY, keys newest first,...",
    "api": "API usage and security: inbound webhook calls recorded in the...",
    "audit": "The tamper-evident audit trail of every change to the warehouse.",
    "retention": "Keep records for their retention period; archive and delete what is...",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (``--help`` lists them from
    :data:`SUMMARIES` without importing any)."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def format_commands(self, ctx, formatter):
        rows = [(name, SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is not None or name not in COMMANDS:
            return cmd
        module, attr = COMMANDS[name].split(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("finlib"):
                return None  # area not installed in this build
            raise
        return getattr(mod, attr, None)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="finlib")
def cli() -> None:
    """Financial analytics workbench: warehouse, metrics, alerts, jobs and reports.

    The warehouse is FINLIB_DB_URL (default: the DuckDB file data/warehouse.duckdb).
    """


def run_click(command: click.Command, argv: list[str] | None, prog_name: str) -> int:
    """Run a click command with finlib's error policy: a :class:`FinlibError` is printed as a
    message (no traceback) and its ``exit_code`` returned."""
    try:
        command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except FinlibError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # every file the workbench writes is private to its user (0600 / 0700)
    return run_click(cli, argv, "finlib")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def entry_point() -> None:
    """Console-script entry: exit with :func:`main`'s status."""
    sys.exit(main())
