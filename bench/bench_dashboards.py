"""Dashboard figures in a real browser (not timed tests): prints a table, writes JSON.

    .venv/bin/python bench/bench_dashboards.py [NOTEBOOK ...] [--loads 5] [--sessions 10]

Notebooks: the arguments, else every notebook in notebooks/, else the test fixture (with a
small warehouse built on the fly). The warehouse is FINLIB_DB_URL (default data/warehouse.duckdb);
for the fixture fallback a temporary one is built.

Measured per notebook:
* open, cold: a server without preheating (``--pool-size 0``); navigation -> KPI tile visible
* open, preheated: the committed configuration; after each load the pool is allowed to
  refill (pool filled + kernels idle) before the next load
* control change: the first <select> gets another option -> the KPI tile's text changes
* memory per kernel: RSS (and USS) of the dashboard kernels
* concurrency: N sessions of the first notebook opened at once on one preheated server

Targets: preheated open < 1.5 s, control change < 0.5 s, 10 sessions without error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# These imports deliberately follow the sys.path bootstrap above (the script also runs
# without an installed finlib), hence E402.
from finlib import config  # noqa: E402
from finlib.dashboards import ERROR_SELECTOR, KPI_SELECTOR  # noqa: E402
from finlib.dashboards.harness import DashboardServer, chromium, stub_external_assets  # noqa: E402

FIXTURE_DIR = ROOT / "tests" / "dashboards" / "fixtures" / "notebooks"
TIMEOUT_MS = 120_000


def pick_notebooks(args) -> tuple[Path, list[str], str]:
    """(folder to serve, notebook names, warehouse URL)."""
    if args.notebooks:
        paths = [Path(p).resolve() for p in args.notebooks]
        folder = paths[0].parent
        if any(p.parent != folder for p in paths):
            sys.exit("all notebooks must be in one folder")
        return folder, [p.name for p in paths], config.db_url()
    real = sorted(config.notebooks_dir().glob("*.ipynb"))
    if real:
        return config.notebooks_dir(), [p.name for p in real], config.db_url()
    from tests.dashboards.fixtures import warehouse

    tmp = Path(tempfile.mkdtemp(prefix="bench-dash-"))
    url = warehouse.build(tmp / "warehouse.duckdb")
    return FIXTURE_DIR, sorted(p.name for p in FIXTURE_DIR.glob("*.ipynb")), url


#: the dashboard server requires a login: the bench logs in as this user (a user of the warehouse)
BENCH_USER = os.environ.get("FINLIB_BENCH_USER", "")
BENCH_PASSWORD = os.environ.get("FINLIB_BENCH_PASSWORD", "")


def new_page(browser, server=None):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    stub_external_assets(ctx)
    if server is not None and BENCH_USER:
        server.login_context(ctx, BENCH_USER, BENCH_PASSWORD)
    page = ctx.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return ctx, page


def timed_open(browser, url: str, ctx=None, server=None) -> tuple[float, object, object]:
    if ctx is None:
        ctx, page = new_page(browser, server)
    else:
        page = ctx.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(f"{KPI_SELECTOR}, {ERROR_SELECTOR}", state="visible", timeout=TIMEOUT_MS)
    elapsed = time.perf_counter() - t0
    if page.locator(ERROR_SELECTOR).count():
        page.errors.append("dashboard error: " + page.locator(ERROR_SELECTOR).first.inner_text())
    return elapsed, ctx, page


def control_change(page) -> dict | None:
    """Pick another month in the period control (else the first <select>).

    Returns seconds from the change until the first KPI tile shows new content (``tile_s``),
    the first chart is redrawn (``chart_s``) and every chart is redrawn (``charts_s``).
    """
    select = page.locator(".finlib-control-period select")
    if not select.count():
        select = page.locator("select").first
    if not select.count():
        return None
    options = select.locator("option").evaluate_all("os => os.map(o => o.value)")
    current = select.input_value()
    others = [o for o in options if o != current]
    if not others:
        return None
    before = page.locator(KPI_SELECTOR).first.evaluate("e => e.outerHTML")
    charts = page.evaluate("() => { const ps = [...document.querySelectorAll('.js-plotly-plot')];"
                           " ps.forEach(p => p.__finlibOld = 1); return ps.length; }")
    t0 = time.perf_counter()
    select.select_option(others[0])
    out: dict = {}
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel)?.outerHTML !== before",
        arg=[KPI_SELECTOR, before], timeout=30_000, polling=10,
    )
    out["tile_s"] = time.perf_counter() - t0
    fresh = ("() => [...document.querySelectorAll('.js-plotly-plot')]"
             ".filter(p => !p.__finlibOld && p.querySelector('.main-svg')).length")
    if charts:
        page.wait_for_function(f"({fresh})() >= 1", timeout=30_000, polling=10)
        out["chart_s"] = time.perf_counter() - t0
        page.wait_for_function(f"({fresh})() >= {charts}", timeout=60_000, polling=20)
        out["charts_s"] = time.perf_counter() - t0
    return out


def close(ctx, page) -> None:
    """Close like a viewer closing the tab: Voilà shuts the kernel down on beforeunload."""
    try:
        page.close(run_before_unload=True)
        time.sleep(0.3)  # let the shutdown request leave
    finally:
        if ctx is not None:
            ctx.close()


def kernel_memory(server) -> list[dict]:
    out = []
    for p in server.kernel_processes():
        try:
            mi = p.memory_full_info()
            out.append({"pid": p.pid, "rss_mb": mi.rss / 2**20, "uss_mb": mi.uss / 2**20})
        except Exception:  # noqa: BLE001, S110 - the kernel just exited
            pass
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit="s"):
    return "-" if x is None else f"{x:.2f} {unit}"


def bench(args) -> dict:
    folder, notebooks, db_url = pick_notebooks(args)
    results: dict = {"notebooks": {}, "folder": str(folder), "loads": args.loads}
    print(f"serving {folder}: {', '.join(notebooks)}", flush=True)
    with chromium() as browser:
        # -- cold: no preheating, every load starts a kernel --------------------------
        with DashboardServer(folder, db_url, pool_size=0) as srv:
            for nb in notebooks:
                r = results["notebooks"].setdefault(nb, {"errors": []})
                times = []
                for _ in range(args.loads):
                    t, ctx, page = timed_open(browser, srv.render_url(nb), server=srv)
                    times.append(t)
                    r["errors"] += page.errors
                    close(ctx, page)
                r["cold_open_s"] = times
                print(f"  {nb}: cold open median {fmt(median(times))}", flush=True)
        # -- preheated: the committed configuration -----------------------------------
        with DashboardServer(folder, db_url) as srv:
            fills = len(notebooks)
            srv.wait_for_pools(fills, timeout=300)
            for nb in notebooks:
                r = results["notebooks"][nb]
                times, changes, mem = [], [], []
                ctx = None
                for _ in range(args.loads):
                    # the first load has an empty browser cache (Voilà's JavaScript is
                    # downloaded); later loads reuse the context, like a returning viewer
                    t, ctx, page = timed_open(browser, srv.render_url(nb), ctx, server=srv)
                    times.append(t)
                    changes.append(control_change(page))
                    r["errors"] += page.errors
                    mem = kernel_memory(srv) or mem
                    close(None, page)
                    fills += 1
                    srv.wait_for_pools(fills, timeout=300)
                ctx.close()
                r["preheated_open_s"] = times
                r["control_change"] = changes
                r["control_change_s"] = [c.get("tile_s") if c else None for c in changes]
                r["control_chart_s"] = [c.get("chart_s") if c else None for c in changes]
                r["control_all_charts_s"] = [c.get("charts_s") if c else None for c in changes]
                r["kernel_memory_mb"] = mem
                print(f"  {nb}: preheated open {fmt(times[0])} (empty browser cache), median of the rest "
                      f"{fmt(median(times[1:]))}; control change: tile {fmt(median(r['control_change_s']))}, "
                      f"first chart {fmt(median(r['control_chart_s']))}, "
                      f"all charts {fmt(median(r['control_all_charts_s']))}", flush=True)
            # -- concurrency: N sessions of the first notebook at once ----------------
            nb = notebooks[0]
            time.sleep(2)
            results["kernels_before_concurrency"] = len(srv.kernel_processes())
            sessions = []
            t0 = time.perf_counter()
            for _ in range(args.sessions):
                ctx, page = new_page(browser, srv)
                page.goto(srv.render_url(nb), wait_until="commit")
                sessions.append((ctx, page))
            done, failures = [], []
            for _ctx, page in sessions:
                try:
                    page.wait_for_selector(KPI_SELECTOR, state="visible", timeout=TIMEOUT_MS * 3)
                    done.append(time.perf_counter() - t0)
                    if page.errors:
                        failures.append("; ".join(page.errors))
                except Exception as exc:  # noqa: BLE001
                    failures.append(str(exc).splitlines()[0])
            # interact with every session to prove each kernel is live
            live = sum(control_change(page) is not None for _, page in sessions) if not failures else 0
            mem = kernel_memory(srv)
            for ctx, page in sessions:
                close(ctx, page)
            results["concurrency"] = {
                "notebook": nb, "sessions": args.sessions, "ok": len(done) - len(failures),
                "failures": failures, "all_loaded_s": max(done) if done else None,
                "first_loaded_s": min(done) if done else None, "live_controls": live,
                "kernels": len(mem), "kernels_rss_mb_total": sum(m["rss_mb"] for m in mem),
            }
    return results


def report(results: dict) -> None:
    print()
    print(f"{'notebook':22} {'cold open':>10} {'preheated':>10} {'(1st)':>8} {'ctl tile':>9} {'ctl chart':>10} "
          f"{'all charts':>11} {'RSS/kernel':>11} {'USS/kernel':>11} errors")
    for nb, r in results["notebooks"].items():
        mem = r.get("kernel_memory_mb") or []
        rss = median([m["rss_mb"] for m in mem])
        uss = median([m["uss_mb"] for m in mem])
        pre = r.get("preheated_open_s") or []
        print(f"{nb:22} {fmt(median(r.get('cold_open_s', []))):>10} "
              f"{fmt(median(pre[1:] or pre)):>10} {fmt(pre[0] if pre else None):>8} "
              f"{fmt(median(r.get('control_change_s', []))):>9} {fmt(median(r.get('control_chart_s', []))):>10} "
              f"{fmt(median(r.get('control_all_charts_s', []))):>11} {fmt(rss, 'MB'):>11} "
              f"{fmt(uss, 'MB'):>11} {len(r['errors'])}")
    c = results.get("concurrency")
    if c:
        print(f"\n{c['sessions']} concurrent sessions of {c['notebook']}: {c['ok']} ok, "
              f"{len(c['failures'])} failed; first tile {fmt(c['first_loaded_s'])}, "
              f"all tiles {fmt(c['all_loaded_s'])}; controls live in {c['live_controls']}; "
              f"{c['kernels']} kernels, {c['kernels_rss_mb_total']:.0f} MB RSS in total")
        for f in c["failures"][:5]:
            print("  failure:", f)
    print("\ncold open: median of", results["loads"], "loads without preheating; preheated: median of loads 2..n "
          "(browser cache warm), (1st): load 1 (empty browser cache); ctl: period control change to the first "
          "KPI tile / first chart / every chart redrawn (median). Targets: preheated open < 1.5 s, "
          "control < 0.5 s, 10 sessions without error.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to measure (one folder)")
    ap.add_argument("--loads", type=int, default=5, help="loads per notebook and mode")
    ap.add_argument("--sessions", type=int, default=10, help="concurrent sessions")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "dashboards.json")
    args = ap.parse_args(argv)
    if not shutil.which("chromium") and not Path("/usr/bin/chromium").exists():
        print("chromium missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    results = bench(args)
    report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    failed = results.get("concurrency", {}).get("failures") or any(
        r["errors"] for r in results["notebooks"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
