"""A real Voilà server (the committed configuration, preheated kernels) in a real Chromium."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import date

import pytest

from finlib.dashboards import ERROR_SELECTOR, KPI_SELECTOR
from tests.dashboards.fixtures.warehouse import PERIODS, expected_revenue
from tests.dashboards.logins import log_in, password

pytestmark = pytest.mark.browser

KPI = "kpi_fixture.ipynb"
LOAD_TIMEOUT = 90_000  # ms: a cold kernel on a busy 2-core machine


def money(value) -> str:
    return f"{float(value):,.2f}"


def open_dashboard(page, server, notebook=KPI, query=""):
    log_in(page, server)
    page.goto(server.render_url(notebook, query), wait_until="domcontentloaded")
    page.wait_for_selector(f"{KPI_SELECTOR}, {ERROR_SELECTOR}", timeout=LOAD_TIMEOUT)
    page.wait_for_load_state("load")


def assert_no_python_error(page):
    text = page.inner_text("body")
    for marker in ("Traceback", "There was an error when executing cell", "Error at server",
                   "An exception occurred"):
        assert marker not in text
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0


def test_landing_page_lists_every_dashboard(dashboard_server, page, output_dir):
    log_in(page, dashboard_server)
    page.goto(dashboard_server.url)
    links = page.locator("a[href*='/voila/render/']")
    names = sorted(links.all_inner_texts())
    assert [n.strip() for n in names] == ["kpi_fixture.ipynb", "status_fixture.ipynb"]
    page.screenshot(path=str(output_dir / "landing.png"), full_page=True)
    assert page.console_errors == []


def test_dashboard_loads_with_no_python_error_and_no_console_error(dashboard_server, page, output_dir):
    open_dashboard(page, dashboard_server)
    latest = PERIODS[-1]
    tile = page.locator(KPI_SELECTOR)
    assert tile.locator(".kpi-value").inner_text() == money(expected_revenue("Sales", latest))
    assert_no_python_error(page)
    page.screenshot(path=str(output_dir / "kpi_fixture.png"), full_page=True)
    assert page.console_errors == []


def test_changing_the_period_updates_the_tile_in_place_without_reload(dashboard_server, page):
    open_dashboard(page, dashboard_server)
    page.evaluate("window.__finlibNoReload = 42")
    target = PERIODS[1]
    page.locator("select").first.select_option(target.isoformat()[:7])
    want = money(expected_revenue("Sales", target))
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel)?.innerText.includes(want)",
        arg=[f"{KPI_SELECTOR} .kpi-value", want], timeout=20_000,
    )
    assert page.evaluate("window.__finlibNoReload") == 42  # same document: no reload
    assert page.locator(f"{KPI_SELECTOR} .kpi-period").inner_text() == "2024-02"
    assert page.console_errors == []


@pytest.mark.parametrize("department", ["Marketing", "Customer Success"])
def test_department_in_the_query_string_reaches_the_kernel(dashboard_server, page, department):
    open_dashboard(page, dashboard_server, query=f"department={department.replace(' ', '+')}")
    tile = page.locator(KPI_SELECTOR).inner_text()
    assert f"Revenue, {department}" in tile
    assert money(expected_revenue(department, PERIODS[-1])) in tile
    assert page.console_errors == []


def test_two_queries_in_a_row_each_get_their_own_department(dashboard_server, page):
    """The second view is served by the kernel the pool refilled after the first."""
    dashboard_server.wait_until_kernels_idle()
    open_dashboard(page, dashboard_server, query="department=Product&period=2024-03")
    assert money(expected_revenue("Product", date(2024, 3, 1))) in page.locator(KPI_SELECTOR).inner_text()
    open_dashboard(page, dashboard_server, query="department=G%26A")
    assert "Revenue, G&A" in page.locator(KPI_SELECTOR).inner_text()


def test_missing_data_is_a_short_message_not_a_traceback(dashboard_server, page, output_dir):
    open_dashboard(page, dashboard_server, query="period=2031-01")
    alert = page.locator(ERROR_SELECTOR)
    assert alert.inner_text().strip() == "no data for 2031-01"
    assert_no_python_error(page)
    page.screenshot(path=str(output_dir / "kpi_fixture_error.png"), full_page=True)


def test_an_unknown_department_is_a_short_message(dashboard_server, page):
    open_dashboard(page, dashboard_server, query="department=Legal")
    text = page.locator(ERROR_SELECTOR).inner_text()
    # refused by the server before any kernel runs (the policy knows the departments)
    assert text == "Not allowed: no department 'Legal'"
    assert_no_python_error(page)


def test_second_dashboard_reads_the_warehouse_when_opened(dashboard_server, page, output_dir):
    open_dashboard(page, dashboard_server, notebook="status_fixture.ipynb")
    assert page.locator(f"{KPI_SELECTOR} .kpi-value").inner_text() == str(5 * len(PERIODS) * 2)
    page.screenshot(path=str(output_dir / "status_fixture.png"), full_page=True)
    assert page.console_errors == []


@pytest.mark.parametrize("path", [
    "voila/files/kpi_fixture.ipynb",
    "voila/files/../../../pyproject.toml",
    "voila/render/../../../pyproject.toml",
    "voila/files/%2e%2e/conftest.py",
])
def test_nothing_outside_the_dashboards_is_served(dashboard_server, path):
    cookie = dashboard_server.login("admin", password("admin"))
    req = urllib.request.Request(dashboard_server.url + path, headers={"Cookie": f"finlib_session={cookie}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code in (403, 404)


def test_a_server_on_all_interfaces_requires_a_login(tmp_path):
    from finlib.dashboards.harness import DashboardServer
    from finlib.warehouse.db import get_warehouse
    from tests.dashboards import logins
    from tests.dashboards.conftest import FIXTURE_NOTEBOOKS
    from tests.dashboards.fixtures import warehouse

    # its own warehouse: logins write, and the session's server has the shared one open
    db_url = warehouse.build(tmp_path / "warehouse.duckdb")
    logins.add_users(get_warehouse(db_url))
    with DashboardServer(FIXTURE_NOTEBOOKS, db_url, ip="0.0.0.0", pool_size=0,
                         log_path=tmp_path / "voila.log") as srv:
        for url in (srv.url, srv.render_url(KPI), srv.url + "voila/api/contents/"):
            try:
                r = urllib.request.urlopen(url, timeout=10)
                body = r.read().decode(errors="replace")
                # an unauthenticated GET is redirected to the login page, never served
                assert "/login" in r.url and "Log in" in body, url
                assert "href='/voila/render/" not in body and 'href="/voila/render/' not in body, url
            except urllib.error.HTTPError as exc:
                assert exc.code in (401, 403), url
        cookie = srv.login("exec", password("exec"))
        req = urllib.request.Request(srv.url, headers={"Cookie": f"finlib_session={cookie}"})
        assert "kpi_fixture.ipynb" in urllib.request.urlopen(req, timeout=10).read().decode()
        assert password("exec") not in srv.log() and cookie not in srv.log()
