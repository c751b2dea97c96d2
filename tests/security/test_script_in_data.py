"""Script in data never runs, and a Stripe event moves the executive page, in real Chromium.

One small demo warehouse whose names of features, products, marketing and retention
campaigns, customers and milestones are script payloads (``<img src=x onerror=...>``,
``<script>...</script>``, each setting ``window.__xss``); the real jobs (``finlib run``:
papermill, nbconvert, the report archive) write their HTML reports; one real dashboard
server (Voilà, preheated kernels) serves the dashboards and ``/reports/``. In Chromium:

* each report, opened as a file and through the server's ``/reports/``, and each dashboard
  showing those names: ``window.__xss`` stays undefined, the names read as text, and the
  plotly charts are drawn;
* a report with the payloads pasted in raw (markup that escaped escaping) still runs
  nothing, because of the report's own Content-Security-Policy; the same page without that
  policy does run them (so the check can fail);
* the executive dashboard's Billings tile moves by exactly a signed ``invoice.finalized``
  event's amount converted to the reporting currency, and recognised revenue does not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from finlib.dashboards import ERROR_SELECTOR, KPI_SELECTOR
from finlib.dashboards.harness import DashboardServer, stub_external_assets
from finlib.demo import generate
from finlib.jobs.report import REPORT_CSP
from finlib.metrics.kpis import headline_kpis
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch
from tests.dashboards import logins
from tests.security.test_stripe_webhook import invoice_event, stripe_sign

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-10"
SECRET = "whsec_test_" + "x" * 24
IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=2</script>"
#: table -> the name every row gets
NAMES = {"features": IMG, "products": SCRIPT, "marketing_campaigns": IMG, "retention_campaigns": f"{IMG} {SCRIPT}",
         "customers": IMG, "milestones": SCRIPT}
JOBS = ("product_roi", "retention_roi")
NOTEBOOKS = ("product_roi", "retention_roi", "executive")
LOAD_TIMEOUT = 180_000


class Env:
    def __init__(self, url, wh, reports, runs, server):
        self.url, self.wh, self.reports, self.runs, self.server = url, wh, reports, runs, server


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("xss")
    url = f"duckdb://{base / 'warehouse.duckdb'}"
    reports = base / "reports"
    wh = get_warehouse(url)
    generate(wh, "small", 42, end=PERIOD)
    logins.add_users(wh)
    with write_batch(wh, action="test", target="names", actor="test") as b:
        for table, name in NAMES.items():
            b.update(table, "name = :n", params={"n": name})
    env = {"FINLIB_DB_URL": url, "FINLIB_REPORTS": str(reports), "FINLIB_DASHBOARD_LOG": str(base / "dash.log"),
           "FINLIB_STRIPE_WEBHOOK_SECRET": SECRET}
    # the real job: papermill, nbconvert, the archive (as `make run` does, for two domain jobs)
    done = subprocess.run([sys.executable, "-m", "finlib", "run", *JOBS, "--period", PERIOD, "--quiet"],
                          env={**_environ(), **env}, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = {job: next(p for p in (reports / job / PERIOD).iterdir() if not p.name.startswith(".")) for job in JOBS}
    notebooks = base / "notebooks"
    notebooks.mkdir()
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", notebooks / f"{name}.ipynb")
    srv = DashboardServer(notebooks, url, env=env, log_path=base / "voila.log")
    srv.start()
    try:
        srv.wait_for_pools(len(NOTEBOOKS), timeout=300)
        yield Env(url, wh, reports, runs, srv)
    finally:
        srv.stop()


def _environ() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("FINLIB_")}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    stub_external_assets(context)
    pg = context.new_page()
    pg.csp_violations = []
    pg.on("console", lambda m: pg.csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    yield pg
    context.close()


def charts_drawn(pg, timeout=30_000) -> int:
    pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0", timeout=timeout)
    return pg.locator(".js-plotly-plot .main-svg").count()


HOVER_ALL = """() => { let n = 0;
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    for (let c = 0; c < (el.data || []).length; c++) {
      try { window.Plotly.Fx.hover(el, [{curveNumber: c, pointNumber: 0}]); } catch (e) { continue; }
      n += el.querySelectorAll('.hoverlayer .hovertext').length;
    }
  } return n; }"""
SVG_NAMES = "(t) => [...document.querySelectorAll('.js-plotly-plot svg text')].filter(x => x.textContent.includes(t)).length"


def hover_every_chart(pg) -> int:
    """Show the hover label of each trace's first point (plotly.js's own API in a report; the
    mouse on a dashboard, whose plotly is not global); returns the labels shown."""
    if pg.evaluate("() => !!(window.Plotly && window.Plotly.Fx)"):
        return pg.evaluate(HOVER_ALL)
    shown = 0
    points = pg.locator(".js-plotly-plot .point")
    for i in range(min(points.count(), 12)):
        try:
            points.nth(i).hover(timeout=2_000, force=True)
        except Exception:  # noqa: BLE001 - a point hidden under another is skipped
            continue
        shown += pg.locator(".hoverlayer .hovertext").count()
    return shown


def assert_inert(pg) -> None:
    pg.wait_for_timeout(500)  # an error handler of a broken image fires after load
    assert pg.evaluate("typeof window.__xss") == "undefined"
    assert pg.locator("img[src='x']").count() == 0  # no element was made from a name
    text = pg.inner_text("body")
    assert IMG in text, "the name is not shown as text"
    # in the charts too: axis labels and hover labels are SVG text showing the whole name
    assert pg.evaluate(SVG_NAMES, IMG) > 0
    assert hover_every_chart(pg) > 0
    pg.wait_for_timeout(300)
    assert pg.evaluate("typeof window.__xss") == "undefined"
    assert pg.locator("img[src='x']").count() == 0


# -- reports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("job", JOBS)
def test_a_report_opened_as_a_file_runs_no_script_from_the_data(hostile, page, job):
    report = hostile.runs[job] / "report.html"
    html = report.read_text("utf-8")
    assert IMG not in html and SCRIPT not in html  # escaped in the file itself
    assert html.count("&lt;img src=x onerror=") > 0
    page.goto(report.as_uri())
    assert charts_drawn(page) > 0
    assert_inert(page)
    assert page.csp_violations == []  # the report's own charts need nothing the policy forbids


@pytest.mark.parametrize("job", JOBS)
def test_a_report_through_the_server_runs_no_script_from_the_data(hostile, page, job):
    srv = hostile.server
    logins.log_in(page, srv, "exec")
    run = hostile.runs[job]
    resp = page.goto(f"{srv.url}reports/{job}/{PERIOD}/{run.name}/report.html")
    assert resp.status == 200
    assert "script-src" in resp.headers["content-security-policy"]
    assert charts_drawn(page) > 0
    assert_inert(page)


def test_markup_that_escaped_escaping_is_still_refused_by_the_report_policy(hostile, page):
    """Paste the payloads raw into a real report: its policy blocks them; without the
    policy the same page runs them (the test can tell)."""
    report = hostile.runs["product_roi"] / "report.html"
    html = report.read_text("utf-8")
    assert f'content="{REPORT_CSP}"' in html.replace("&#39;", "'").replace("&#x27;", "'")
    raw = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + IMG + SCRIPT, html, count=1)
    assert IMG in raw
    tampered = report.with_name("tampered.html")
    tampered.write_text(raw, "utf-8")
    page.goto(tampered.as_uri())
    assert charts_drawn(page) > 0
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.csp_violations, "the browser reported no refused script"

    unprotected = report.with_name("unprotected.html")
    unprotected.write_text(re.sub(r'<meta[^>]*Content-Security-Policy[^>]*>', "", raw, count=1), "utf-8")
    page.goto(unprotected.as_uri())
    page.wait_for_timeout(500)
    assert "Content-Security-Policy" not in unprotected.read_text("utf-8")
    assert page.evaluate("window.__xss") in (1, 2)


# -- dashboards ------------------------------------------------------------------------------------


def open_dashboard(pg, srv, notebook: str, query: str = "") -> None:
    logins.log_in(pg, srv, "exec")
    pg.goto(srv.render_url(f"{notebook}.ipynb", query), wait_until="commit", timeout=LOAD_TIMEOUT)
    pg.wait_for_selector(f"{KPI_SELECTOR}, {ERROR_SELECTOR}", state="visible", timeout=LOAD_TIMEOUT)
    pg.wait_for_load_state("load")


@pytest.mark.parametrize("notebook", JOBS)
def test_a_dashboard_showing_the_names_runs_no_script_from_them(hostile, page, notebook):
    open_dashboard(page, hostile.server, notebook, f"period={PERIOD}")
    page.wait_for_function("(t) => document.body.innerText.includes(t)", arg=IMG, timeout=LOAD_TIMEOUT)
    assert charts_drawn(page, timeout=60_000) > 0
    assert_inert(page)
    assert page.locator(ERROR_SELECTOR).count() == 0


# -- live revenue ----------------------------------------------------------------------------------


def tile(pg, kpi: str) -> float:
    return float(pg.locator(f'{KPI_SELECTOR}[data-kpi="{kpi}"]').first.get_attribute("data-value"))


def test_a_signed_stripe_invoice_moves_the_billings_tile_by_its_converted_amount(hostile, page):
    """The executive page, as an executive; a signed ``invoice.finalized`` in EUR for the
    displayed month; Refresh, and a freshly opened page, show billings up by exactly
    amount × the month's EUR rate (read here from ``fx_rates``), revenue unchanged."""
    srv, wh = hostile.server, hostile.wh
    srv.wait_until_kernels_idle(timeout=120)
    open_dashboard(page, srv, "executive", f"period={PERIOD}")
    assert page.locator(".finlib-control-period select").input_value() == PERIOD
    before, revenue = tile(page, "billings"), tile(page, "revenue")
    with wh.connect(read_only=True) as conn:
        customer, subscription = conn.query("SELECT customer_id, min(subscription_id) FROM subscriptions "
                                            "GROUP BY customer_id ORDER BY customer_id LIMIT 1")[0]
        rate = Decimal(str(conn.scalar("SELECT rate_to_reporting FROM fx_rates WHERE currency = 'EUR' AND "
                                       "rate_date <= :d ORDER BY rate_date DESC LIMIT 1", {"d": f"{PERIOD}-01"})))
        billed = Decimal(str(conn.scalar("SELECT sum(amount) FROM invoices WHERE status <> 'void' AND "
                                         "issued_on >= :a AND issued_on < :b AND currency = 'USD'",
                                         {"a": f"{PERIOD}-01", "b": "2026-11-01"})))
        assert conn.scalar("SELECT count(*) FROM invoices WHERE currency <> 'USD' AND issued_on >= :a",
                           {"a": f"{PERIOD}-01"}) == 0
    assert before == pytest.approx(float(billed), abs=0.005)  # the tile before: this month's USD invoices
    want = before + float(Decimal("9876.54") * rate)

    event = json.loads(invoice_event("evt_live_1", kind="invoice.finalized", invoice="in_live_eur",
                                     customer=str(customer), cents=987654, when=f"{PERIOD}-28"))
    event["data"]["object"].update({"subscription": str(subscription), "currency": "eur", "status": "open"})
    body = json.dumps(event).encode()
    req = urllib.request.Request(srv.url + "webhooks/stripe", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Stripe-Signature": stripe_sign(body, SECRET)})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200

    page.locator(".finlib-refresh button, button.finlib-refresh").first.click()
    page.wait_for_function(
        "([sel, want]) => Math.abs(parseFloat(document.querySelector(sel)?.dataset.value) - want) < 0.005",
        arg=[f'{KPI_SELECTOR}[data-kpi="billings"]', want], timeout=60_000)
    assert tile(page, "revenue") == pytest.approx(revenue)  # billings are not revenue
    assert headline_kpis(wh, PERIOD)["recognised_revenue"] == pytest.approx(revenue, abs=1e-4)

    fresh = page.context.new_page()
    t0 = time.monotonic()
    open_dashboard(fresh, srv, "executive", f"period={PERIOD}")
    assert tile(fresh, "billings") == pytest.approx(want, abs=0.005), time.monotonic() - t0
    fresh.close()
