"""``finlib dashboards serve``: the Voilà dashboard server.

Registered in ``finlib/cli.py`` as ``"dashboards": "finlib.dashboards.cli:dashboards"``;
also runnable as ``python -m finlib.dashboards serve``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from finlib.cli import run_click
from finlib.dashboards.server import ServeOptions
from finlib.dashboards.server import serve as run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def dashboards() -> None:
    """Voilà dashboards: the notebooks in notebooks/ as web pages for executives."""


@dashboards.command()
@click.option("--port", type=int, default=None, help="Port (default: $PORT, else 8866).")
@click.option(
    "--ip",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Every address needs a finlib login (finlib users add).",
)
@click.option(
    "--notebooks",
    "notebooks",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of dashboard notebooks to serve (default: notebooks/). Nothing else is served.",
)
@click.option(
    "--pool-size",
    type=int,
    default=None,
    help="Preheated kernels kept ready per notebook (default from voila.json: 1; 0 disables).",
)
@click.option("--certfile", default=None, help="PEM certificate: serve HTTPS only (or FINLIB_TLS_CERT).")
@click.option("--keyfile", default=None, help="PEM private key (or FINLIB_TLS_KEY).")
@click.option("--no-auth", is_flag=True, help="Development only, 127.0.0.1 only: no login (logged loudly).")
@click.option("--unsafe-owner-db", is_flag=True,
              help="Development only, 127.0.0.1 only: on PostgreSQL, kernels read with the owner's "
                   "connection instead of FINLIB_DASHBOARD_DB_URL (logged loudly).")
@click.option("--log-level", default=None, type=click.Choice(["DEBUG", "INFO", "WARN", "ERROR"]))
def serve(port, ip, notebooks, pool_size, certfile, keyfile, no_auth, unsafe_owner_db, log_level) -> None:
    """Serve the dashboards with Voilà (preheated kernels, idle culling, no tracebacks).

    The warehouse is FINLIB_DB_URL, as for every command; on PostgreSQL kernels connect
    with FINLIB_DASHBOARD_DB_URL as the login role of their viewer's scope (docs/ACCESS.md).
    The landing page lists the dashboards. Stop with Ctrl-C.
    """
    opts = ServeOptions(ip=ip, pool_size=pool_size, log_level=log_level, no_auth=no_auth,
                        unsafe_owner_db=unsafe_owner_db)
    if port is not None:
        opts.port = port
    if notebooks is not None:
        opts.notebooks = notebooks
    if certfile:
        opts.certfile = certfile
    if keyfile:
        opts.keyfile = keyfile
    opts.check()
    if no_auth:
        click.echo("dashboards: WARNING --no-auth: NO LOGIN, every visitor is an admin", err=True)
    if unsafe_owner_db:
        click.echo("dashboards: WARNING --unsafe-owner-db: kernels read with the OWNER's connection", err=True)
    click.echo(f"dashboards: {opts.url} serving {Path(opts.notebooks).resolve()}", err=True)
    run(opts)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m finlib.dashboards``: messages, not tracebacks."""
    return run_click(dashboards, argv, "python -m finlib.dashboards")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
