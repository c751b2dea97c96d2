"""Benchmark ``make run``: every job in parameters/jobs/ on a MEDIUM demo warehouse.

Prints figures (not a timed test) and writes them to ``bench/results/jobs-<stamp>.json``:

* the full run **cold** (2 workers, the ``make run`` default): a fresh process tree with an
  empty bytecode cache (``PYTHONPYCACHEPREFIX`` set to a new empty folder, inherited by the
  kernels), so finlib *and* every library is compiled from source, as on the first run after
  creating the venv at worst (pip precompiles site-packages, so a real first run is a bit
  faster than this; the OS page cache is not dropped, this machine is shared);
* the full run **warm**, serial (``--workers 1``) against ``--workers N``, interleaved
  (w1, wN, w1, wN, ...) so a change in the machine's load hits both modes; the median of
  ``--repeat`` (3) each, and the speed-up;
* a per-run breakdown from the manifests' phase timings (median over the warm serial
  runs): fingerprint, kernel start, execution, alerts, HTML conversion, total;
* report and notebook sizes (median, max) and the shared ``reports/_static/``.

Every run goes to a throw-away archive under ``bench/results/``, never the real
``reports/``; the warehouse is ``--db`` (built with ``finlib demo-data --scale medium
--seed 42 --end 2026-10`` when missing). The 1-minute load average is printed before and
after each full run: the machine is shared, so read the figures with it.

    .venv/bin/python bench/bench_jobs.py [--db /tmp/finlib-bench/warehouse.duckdb]
        [--period 2026-10] [--workers 2] [--repeat 3] [--jobs a,b] [--no-cold]

Targets: warm full run under 60 s on this 2-core machine, >= 1.6x faster with
2 workers than with 1, median report under 1 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results"
PHASES = ("fingerprint_s", "setup_s", "kernel_start_s", "execution_s", "scraps_s", "alerts_s", "html_s", "finish_s")


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def ensure_warehouse(db: Path, end: str) -> str:
    url = f"duckdb:///{db}" if not str(db).startswith("/") else f"duckdb://{db}"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"building the medium demo warehouse at {db} ...", flush=True)
        subprocess.run([sys.executable, "-m", "finlib", "demo-data", "--scale", "medium", "--seed", "42",
                        "--end", end], env={**os.environ, "FINLIB_DB_URL": url}, cwd=ROOT, check=True,
                       capture_output=True)
    return url


def full_run(workers: int, args, url: str, tag: str, extra_env: dict | None = None) -> dict:
    reports = OUT / f"reports-{tag}"
    shutil.rmtree(reports, ignore_errors=True)
    env = {**os.environ, "FINLIB_REPORTS": str(reports), "FINLIB_DB_URL": url, **(extra_env or {})}
    cmd = [sys.executable, "-m", "finlib", "run", *(args.jobs or ["--all"]), "--workers", str(workers),
           "--quiet", "--period", args.period]
    la0 = loadavg()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the whole process tree (runner, pool workers, kernels: all waited for)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    manifests = [json.loads(p.read_text()) for p in reports.glob("*/*/*/manifest.json")]
    failed = [m for m in manifests if m["status"] != "succeeded"]
    if proc.returncode not in (0, 1) or failed:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
    static = sum(p.stat().st_size for p in (reports / "_static").glob("*") if p.is_file())
    res = {"workers": workers, "tag": tag, "wall_s": round(wall, 2), "cpu_s": round(cpu, 1),
           "cores_busy": round(cpu / wall, 2), "rc": proc.returncode,
           "runs": len(manifests), "failed": len(failed), "load_before": la0, "load_after": loadavg(),
           "static_bytes": static, "manifests": manifests}
    print(f"  {tag:<10} workers={workers}: {wall:6.1f} s wall, {cpu:6.1f} s CPU ({cpu / wall:.2f} cores), "
          f"{len(manifests)} run(s), {len(failed)} failed (rc {proc.returncode}); "
          f"load avg {la0} -> {res['load_after']}", flush=True)
    return res


def _label(m: dict) -> str:
    return m["job"] + (f" [{m['variant_label']}]" if m.get("variant_label") else "")


def breakdown(results: list[dict]) -> dict[str, dict[str, float]]:
    """Median of each phase per run label over several full runs."""
    per: dict[str, dict[str, list[float]]] = {}
    for r in results:
        for m in r["manifests"]:
            d = per.setdefault(_label(m), {})
            for ph in PHASES:
                d.setdefault(ph, []).append(m["timings"].get(ph, 0.0))
            d.setdefault("total_s", []).append(m["duration_s"])
            d.setdefault("report_b", []).append(m["outputs"].get("report.html", {}).get("bytes", 0))
            d.setdefault("notebook_b", []).append(m["outputs"].get("notebook.ipynb", {}).get("bytes", 0))
    return {k: {ph: statistics.median(v) for ph, v in d.items()} for k, d in sorted(per.items())}


def print_breakdown(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    head = (f"  {'run':<34}{'fprint':>7}{'setup':>7}{'kernel':>8}{'exec':>8}{'scraps':>8}{'alerts':>8}{'html':>7}"
            f"{'finish':>8}{'total':>8}{'report KB':>11}{'nb KB':>8}")
    print(head)
    print("  " + "-" * (len(head) - 2))
    sums = dict.fromkeys((*PHASES, "total_s"), 0.0)
    for label, d in rows.items():
        for k in sums:
            sums[k] += d.get(k, 0.0)
        print(f"  {label:<34}{d['fingerprint_s']:7.2f}{d['setup_s']:7.2f}{d['kernel_start_s']:8.2f}"
              f"{d['execution_s']:8.2f}{d['scraps_s']:8.2f}{d['alerts_s']:8.2f}{d['html_s']:7.2f}{d['finish_s']:8.2f}"
              f"{d['total_s']:8.2f}{d['report_b'] / 1024:11.0f}{d['notebook_b'] / 1024:8.0f}")
    print(f"  {'sum':<34}{sums['fingerprint_s']:7.2f}{sums['setup_s']:7.2f}{sums['kernel_start_s']:8.2f}"
          f"{sums['execution_s']:8.2f}{sums['scraps_s']:8.2f}{sums['alerts_s']:8.2f}{sums['html_s']:7.2f}"
          f"{sums['finish_s']:8.2f}{sums['total_s']:8.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="/tmp/finlib-bench/warehouse.duckdb", help="medium demo warehouse (built if missing)")
    ap.add_argument("--period", default="2026-10")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="warm runs per mode (median reported)")
    ap.add_argument("--jobs", default="", help="comma-separated job names (default: all)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold run")
    args = ap.parse_args()
    args.jobs = [j for j in args.jobs.split(",") if j]

    sys.path.insert(0, str(ROOT))
    from finlib.jobs.spec import load_jobs

    specs = load_jobs(args.jobs or None, include_disabled=bool(args.jobs))
    if not specs:
        print("no jobs in parameters/jobs/: nothing to measure")
        return 0
    n_runs = sum(len(j.variants()) for j in specs)
    url = ensure_warehouse(Path(args.db), args.period)
    print(f"{len(specs)} job(s), {n_runs} run(s) per full run, period {args.period}, warehouse {url}; "
          f"{os.cpu_count()} CPU(s); load avg {loadavg()}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)

    cold = None
    if not args.no_cold:
        prefix = tempfile.mkdtemp(prefix="finlib-pycache-")
        print("cold (empty bytecode cache for every module, fresh process tree):", flush=True)
        cold = full_run(args.workers, args, url, "cold", {"PYTHONPYCACHEPREFIX": prefix})
        shutil.rmtree(prefix, ignore_errors=True)
    print("warm (interleaved):", flush=True)
    # one untimed warm-up so the first warm serial run does not pay for compiling bytecode
    full_run(1, args, url, "warmup")
    runs: dict[int, list[dict]] = {1: [], args.workers: []}
    for i in range(args.repeat):
        for w in (1, args.workers):
            runs[w].append(full_run(w, args, url, f"w{w}-{i + 1}"))

    serial = statistics.median(r["wall_s"] for r in runs[1])
    par = statistics.median(r["wall_s"] for r in runs[args.workers])
    last = runs[args.workers][-1]["manifests"]
    sizes = sorted(m["outputs"].get("report.html", {}).get("bytes", 0) for m in last)
    nb_sizes = sorted(m["outputs"].get("notebook.ipynb", {}).get("bytes", 0) for m in last)
    ser_bd = breakdown(runs[1])
    print_breakdown(f"per run, warm serial (median of {args.repeat}), seconds:", ser_bd)
    par_bd = breakdown(runs[args.workers])
    print_breakdown(f"per run, warm {args.workers} workers (median of {args.repeat}), seconds:", par_bd)
    if cold:
        print_breakdown(f"per run, cold ({args.workers} workers), seconds:", breakdown([cold]))

    ok = lambda b: "yes" if b else "NO"  # noqa: E731
    speed = serial / par if par else float("nan")
    med = statistics.median(sizes) if sizes else 0
    serial_sum = sum(d["total_s"] for d in ser_bd.values())
    print("\nsummary")
    print(f"  {'figure':<46}{'value':>14}  target")
    print(f"  {'full run, cold, ' + str(args.workers) + ' workers':<46}{(cold or {}).get('wall_s', float('nan')):>12.1f} s")
    print(f"  {'full run, warm, 1 worker (median)':<46}{serial:>12.1f} s")
    print(f"  {'full run, warm, ' + str(args.workers) + ' workers (median)':<46}{par:>12.1f} s  < 60 s: {ok(par < 60)}")
    print(f"  {'speed-up ' + str(args.workers) + ' workers vs 1':<46}{speed:>13.2f}x  >= 1.6x: {ok(speed >= 1.6)}")
    cores = lambda rs: statistics.median(r["cores_busy"] for r in rs)  # noqa: E731
    print(f"  {'cores busy (CPU s / wall s), 1 vs N workers':<46}{cores(runs[1]):>8.2f} / {cores(runs[args.workers]):.2f}"
          "  (max useful speed-up ~ 2 / the first)")
    print(f"  {'serial: sum of run durations / wall':<46}{serial_sum:>8.1f} / {serial:.1f} s  "
          "(the rest: CLI start, planning, index)")
    print(f"  {'report size, median / max':<46}{med / 1024:>7.0f} / {max(sizes, default=0) / 1024:.0f} KB"
          f"  median < 1 MB: {ok(med < 1_000_000)}")
    print(f"  {'notebook size, median / max':<46}{statistics.median(nb_sizes or [0]) / 1024:>7.0f} / "
          f"{max(nb_sizes, default=0) / 1024:.0f} KB")
    print(f"  {'reports/_static (shared, once)':<46}{runs[1][-1]['static_bytes'] / 1024:>10.0f} KB")
    print(f"  load average at the end: {loadavg()}")

    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = OUT / f"jobs-{stamp}.json"
    strip = lambda r: {k: v for k, v in r.items() if k != "manifests"}  # noqa: E731
    out.write_text(json.dumps({
        "period": args.period, "warehouse": url, "cpus": os.cpu_count(), "cold": strip(cold) if cold else None,
        "warm": {str(w): [strip(r) for r in rs] for w, rs in runs.items()},
        "serial_median_s": serial, "parallel_median_s": par, "speedup": speed,
        "breakdown_serial": ser_bd, "breakdown_parallel": par_bd,
        "report_bytes": sizes, "notebook_bytes": nb_sizes,
    }, indent=2))
    print(f"  figures: {out.relative_to(ROOT)}")
    for d in OUT.glob("reports-*"):
        if d.name != f"reports-w{args.workers}-{args.repeat}":
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
