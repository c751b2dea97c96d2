"""The real dashboards (notebooks/) served by a real Voilà server, in a real Chromium.

One server for the session (the committed configuration: one preheated kernel per
notebook) on a small demo warehouse (``finlib.demo.generate(..., "small", 42,
end="2026-10")``). Expected figures are computed here with finlib on the same warehouse.
Screenshots: ``test-output/dashboards/<page>.png``.

The test that writes to the warehouse (Refresh) runs last in this module.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from finlib.dashboards import ERROR_SELECTOR, KPI_SELECTOR
from tests.dashboards.logins import log_in

pytestmark = [pytest.mark.browser]

LOAD_TIMEOUT = 120_000  # ms: a page whose kernel the pool has not refilled yet starts cold
CHANGE_TIMEOUT = 60_000
DEPARTMENTS = ("Sales", "Marketing", "Product", "Customer Success")
PAGES = [("executive", ""), ("product_roi", ""), ("retention_roi", ""), ("budget_variance", "")] + [
    ("department", f"department={d.replace(' ', '+')}") for d in DEPARTMENTS]
PYTHON_ERROR_MARKERS = ("Traceback", "There was an error when executing cell", "Error at server",
                        "An exception occurred", "File \"/")


def open_page(page, server, notebook: str, query: str = "") -> None:
    log_in(page, server)
    page.goto(server.render_url(f"{notebook}.ipynb", query), wait_until="commit", timeout=LOAD_TIMEOUT)
    page.wait_for_selector(f"{KPI_SELECTOR}, {ERROR_SELECTOR}", state="visible", timeout=LOAD_TIMEOUT)
    page.wait_for_load_state("load")


def settle(page) -> None:
    """Let charts finish drawing (plotly renders after the widgets)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p.querySelector('.main-svg'))",
        timeout=30_000)
    page.wait_for_timeout(300)


def screenshot(page, path) -> None:
    """The whole page: Voilà scrolls inside a container, so grow the viewport to its height."""
    height = page.evaluate(
        "() => Math.max(document.documentElement.scrollHeight, ...[...document.querySelectorAll('body *')]"
        ".filter(e => e.scrollHeight > e.clientHeight + 4 && /auto|scroll/.test(getComputedStyle(e).overflowY))"
        ".map(e => e.scrollHeight))")
    page.set_viewport_size({"width": 1280, "height": min(int(height) + 40, 16000)})
    page.wait_for_timeout(500)  # responsive charts re-layout
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def assert_no_python_error(page) -> None:
    text = page.inner_text("body")
    for marker in PYTHON_ERROR_MARKERS:
        assert marker not in text, f"{marker!r} on the page"
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    assert page.locator(ERROR_SELECTOR).count() == 0, page.locator(ERROR_SELECTOR).first.inner_text()


def tile_value(page, kpi: str) -> float | None:
    raw = page.locator(f'{KPI_SELECTOR}[data-kpi="{kpi}"]').first.get_attribute("data-value")
    return None if raw is None else float(raw)


def control_value(page, name: str) -> str:
    return page.locator(f".finlib-control-{name} select").input_value()


def as_of_text(page) -> str:
    return page.locator(".finlib-as-of").first.inner_text()


# -- every page -----------------------------------------------------------------------------


@pytest.mark.parametrize(("notebook", "query"), PAGES, ids=[q.split("=")[-1].replace("+", "_") or n
                                                            for n, q in PAGES])
def test_every_dashboard_loads_without_errors(real_server, page, output_dir, notebook, query):
    open_page(page, real_server, notebook, query)
    settle(page)
    assert_no_python_error(page)
    assert page.locator(KPI_SELECTOR).count() >= 3
    assert as_of_text(page).startswith("Data as of ")
    assert page.locator(".finlib-control-period select").count() == 1
    if notebook == "department":
        assert control_value(page, "department") == query.split("=")[1].replace("+", " ")
    name = notebook + ("-" + query.split("=")[1].replace("+", "_") if query else "")
    screenshot(page, output_dir / f"{name}.png")
    assert page.console_errors == []


# -- figures against finlib -------------------------------------------------------------------------


def test_executive_revenue_tile_equals_finlib(real_server, page, demo_env):
    from finlib.metrics.kpis import headline_kpis

    open_page(page, real_server, "executive")
    period = control_value(page, "period")
    assert period == "2026-10"  # last closed month of the demo data (today's clock permitting)
    want = headline_kpis(demo_env.wh, period)["recognised_revenue"]
    assert tile_value(page, "revenue") == pytest.approx(want, abs=1e-4)
    assert want > 0


def test_changing_the_period_updates_the_tile_in_place(real_server, page, demo_env):
    from finlib.metrics.kpis import headline_kpis

    open_page(page, real_server, "executive")
    page.evaluate("window.__finlibNoReload = 'still here'")
    before = tile_value(page, "revenue")
    target = "2026-06"
    want = headline_kpis(demo_env.wh, target)["recognised_revenue"]
    assert want != pytest.approx(before)
    page.locator(".finlib-control-period select").select_option(target)
    page.wait_for_function(
        "([sel, want]) => Math.abs(parseFloat(document.querySelector(sel)?.dataset.value) - want) < 1e-3",
        arg=[f'{KPI_SELECTOR}[data-kpi="revenue"]', want], timeout=CHANGE_TIMEOUT)
    assert page.evaluate("window.__finlibNoReload") == "still here"  # the same document: no reload
    assert page.console_errors == []


@pytest.mark.parametrize("department", ["Sales", "Marketing"])
def test_the_department_comes_from_the_address(real_server, page, demo_env, department):
    from finlib.views import data
    from finlib.views import department as view

    open_page(page, real_server, "department", f"department={department}")
    assert control_value(page, "department") == department
    period = control_value(page, "period")
    m = data.metrics(period)
    if department == "Sales":
        k = view.sales_kpis(m, scope=view.DEPARTMENTS)
        assert tile_value(page, "new_arr_won") == pytest.approx(k["new_arr_won"], abs=1e-4)
        assert tile_value(page, "sales_cost") == pytest.approx(k["sales_cost"], abs=1e-4)
        assert page.locator(f'{KPI_SELECTOR}[data-kpi="cac"]').count() == 0
    else:
        k = view.marketing_kpis(m, scope=view.DEPARTMENTS)
        assert tile_value(page, "cac") == pytest.approx(k["cac"], abs=1e-4)
        assert page.locator(f'{KPI_SELECTOR}[data-kpi="new_arr_won"]').count() == 0
    assert_no_python_error(page)


# -- errors -----------------------------------------------------------------------------------------


def test_a_month_without_data_is_a_short_message(real_server, page, output_dir):
    open_page(page, real_server, "executive", "period=2031-01")
    alert = page.locator(ERROR_SELECTOR).first
    text = alert.inner_text().strip()
    assert text.startswith("No data for 2031-01")
    assert len(text) < 200
    body = page.inner_text("body")
    for marker in ("Traceback", "File \"/", "NoDataError"):
        assert marker not in body
    screenshot(page, output_dir / "executive-no-data.png")


def test_an_unknown_department_is_a_short_message(real_server, page):
    open_page(page, real_server, "department", "department=Legal")
    text = page.locator(ERROR_SELECTOR).first.inner_text().strip()
    # refused by the server before any kernel runs (the policy knows the departments)
    assert text == "Not allowed: no department 'Legal'"
    assert "Traceback" not in page.inner_text("body")


# -- refresh (writes to the warehouse: keep last) --------------------------------------------------


def test_refresh_picks_up_newly_ingested_data(real_server, page, demo_env):
    from finlib.metrics.kpis import headline_kpis
    from finlib.warehouse.load import write_batch

    real_server.wait_until_kernels_idle(timeout=120)  # the pool's kernels computed ahead of time
    open_page(page, real_server, "executive")
    period = control_value(page, "period")
    before_value, before_as_of = tile_value(page, "revenue"), as_of_text(page)

    import pandas as pd

    wh = demo_env.wh
    with wh.connect(read_only=True) as conn:
        customer = conn.scalar("SELECT min(customer_id) FROM customers")
    finished = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) + dt.timedelta(minutes=5)
    with write_batch(wh, action="ingest", target="revenue_recognized", actor="test") as batch:
        batch.append("revenue_recognized", pd.DataFrame(
            {"period": [dt.date.fromisoformat(period + "-01")], "customer_id": [customer],
             "subscription_id": [None], "amount": [12345.0]}))
        batch.append("ingest_batches", pd.DataFrame({
            "batch_id": ["test-refresh"], "table_name": ["revenue_recognized"], "file_name": ["test.csv"],
            "sha256": ["0" * 64], "rows": [1], "started_at": [finished], "finished_at": [finished],
            "user_name": ["test"], "outcome": ["accepted"], "mode": ["append"]}))
    want = headline_kpis(wh, period)["recognised_revenue"]
    assert want == pytest.approx(before_value + 12345.0, abs=1e-3)

    page.evaluate("window.__finlibNoReload = 1")
    page.locator(".finlib-refresh button, button.finlib-refresh").first.click()
    page.wait_for_function(
        "([sel, want]) => Math.abs(parseFloat(document.querySelector(sel)?.dataset.value) - want) < 1e-3",
        arg=[f'{KPI_SELECTOR}[data-kpi="revenue"]', want], timeout=CHANGE_TIMEOUT)
    assert as_of_text(page) != before_as_of
    assert finished.strftime("%Y-%m-%d %H:%M") in as_of_text(page)
    assert page.evaluate("window.__finlibNoReload") == 1

    # a page opened now, from a kernel that computed ahead of time, shows the new data too
    fresh = page.context.new_page()
    t0 = time.monotonic()
    open_page(fresh, real_server, "executive")
    assert tile_value(fresh, "revenue") == pytest.approx(want, abs=1e-3), time.monotonic() - t0
    fresh.close()
    assert page.console_errors == []
