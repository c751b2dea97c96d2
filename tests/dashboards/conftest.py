"""One real Voilà server (preheated kernels, the committed voila.json) and one headless
Chromium for the whole session, against a small DuckDB warehouse built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboards.fixtures import warehouse

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_NOTEBOOKS = Path(__file__).resolve().parent / "fixtures" / "notebooks"
OUTPUT = ROOT / "test-output" / "dashboards"


@pytest.fixture(scope="session")
def fixture_db_url(tmp_path_factory) -> str:
    return warehouse.build(tmp_path_factory.mktemp("dash-wh") / "warehouse.duckdb")


@pytest.fixture(scope="session")
def dashboard_server(fixture_db_url, tmp_path_factory):
    from finlib.dashboards.harness import DashboardServer

    logdir = tmp_path_factory.mktemp("dash-logs")
    srv = DashboardServer(
        FIXTURE_NOTEBOOKS, fixture_db_url,
        env={"FINLIB_DASHBOARD_LOG": str(logdir / "dashboards.log")},
        log_path=logdir / "voila.log",
    )
    srv.start()
    try:
        srv.wait_for_pools(len(list(FIXTURE_NOTEBOOKS.glob("*.ipynb"))))
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and uncaught page errors."""
    from finlib.dashboards.harness import stub_external_assets

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    stub_external_assets(context)
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(f"pageerror: {e}"))
    yield pg
    context.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT
