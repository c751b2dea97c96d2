"""Benchmark the warehouse backends side by side: the same demo, the same batch of jobs.

What a new user does, once per backend, on a **fresh** warehouse: build the demo
(``finlib demo-data --scale medium``), then immediately ``finlib run --all --workers 2``
into a separate report archive. Printed (and written to
``bench/results/backends-<stamp>.json``): the load and batch wall times of DuckDB and
PostgreSQL, the ratio PostgreSQL / DuckDB of the batch, the slowest runs of each, and the
1-minute load average before and after every step (the machine is shared: read the
figures with it).

The PostgreSQL measurement runs with **autovacuum off** (``ALTER SYSTEM SET autovacuum =
off``), so its background ANALYZE cannot rescue the planner by luck in the middle of the
batch: whatever statistics the tables have when the jobs start are the ones the loader
left. The bench reports, per canonical table, whether it had been analyzed when the batch
started (``pg_stat_user_tables.last_analyze``) and checks that autovacuum analyzed
nothing.

The server is ``--pg-url`` (an existing server whose user may create databases and run
``ALTER SYSTEM``; default ``FINLIB_TEST_PG_URL``), else a throw-away one started with
``tests/pg_server.PostgresServer`` (Debian's PostgreSQL binaries), stopped at the end.

    .venv/bin/python bench/bench_backends.py [--scale medium] [--seed 42] [--end 2026-10]
        [--period 2026-10] [--workers 2] [--backends duckdb,postgresql] [--jobs a,b]
        [--pg-url postgresql+psycopg://USER@HOST:PORT/DB] [--keep]

Target: PostgreSQL's batch within 1.5x of DuckDB's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results"
TARGET_RATIO = 1.5


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _finlib(args: list[str], url: str, reports: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "FINLIB_DB_URL": url}
    if reports is not None:
        env["FINLIB_REPORTS"] = str(reports)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "finlib", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return time.perf_counter() - t, proc


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class _Postgres:
    """A fresh database on the given server, or on a throw-away server started here."""

    def __init__(self, base_url: str | None):
        self.server = None
        if base_url is None:
            sys.path.insert(0, str(ROOT))
            from tests.pg_server import PostgresServer

            self.server = PostgresServer()
            base_url = self.server.start()
        self.base = base_url
        self.name = f"finlib_bench_{uuid.uuid4().hex[:8]}"
        self.url = base_url.rsplit("/", 1)[0] + "/" + self.name

    def create(self) -> None:
        import psycopg

        with psycopg.connect(_libpq(self.base), autocommit=True) as c:
            c.execute("ALTER SYSTEM SET autovacuum = off")
            c.execute("SELECT pg_reload_conf()")
            c.execute(f'CREATE DATABASE "{self.name}"')
        deadline = time.time() + 10
        while self.setting("autovacuum") != "off" and time.time() < deadline:
            time.sleep(0.1)

    def setting(self, name: str) -> str:
        import psycopg

        with psycopg.connect(_libpq(self.base), autocommit=True) as c:
            return c.execute(f"SHOW {name}").fetchone()[0]

    def analyzed(self) -> dict[str, dict]:
        """Per user table: analyzed by a command / by autovacuum, and the planner's row estimate."""
        import psycopg

        with psycopg.connect(_libpq(self.url), autocommit=True) as c:
            rows = c.execute(
                "SELECT s.relname, s.last_analyze IS NOT NULL, s.last_autoanalyze IS NOT NULL, "
                "c.reltuples::bigint, s.n_live_tup FROM pg_stat_user_tables s "
                "JOIN pg_class c ON c.oid = s.relid ORDER BY s.relname").fetchall()
        return {r[0]: {"analyzed": r[1], "autoanalyzed": r[2], "reltuples": r[3], "live": r[4]} for r in rows}

    def close(self, keep: bool) -> None:
        import psycopg

        try:
            with psycopg.connect(_libpq(self.base), autocommit=True) as c:
                c.execute("ALTER SYSTEM RESET autovacuum")
                c.execute("SELECT pg_reload_conf()")
                if not keep:
                    c.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        finally:
            if self.server is not None and not keep:
                self.server.stop()


def measure(backend: str, url: str, args, work: Path, pg: _Postgres | None) -> dict:
    """Build the demo on a fresh warehouse at ``url``, then run the batch at once."""
    print(f"{backend}: {url.split('@')[-1]}", flush=True)
    la0 = loadavg()
    load_s, proc = _finlib(["demo-data", "--scale", args.scale, "--seed", str(args.seed), "--end", args.end,
                            "--quiet"], url)
    if proc.returncode != 0:
        raise SystemExit(f"{backend}: demo-data failed\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    la1 = loadavg()
    print(f"  demo-data --scale {args.scale}: {load_s:7.1f} s   load avg {la0} -> {la1}", flush=True)
    stats_before = pg.analyzed() if pg else None
    if stats_before is not None:
        from finlib.warehouse.schema import CANONICAL_TABLES

        never = sorted(t for t in CANONICAL_TABLES if not stats_before.get(t, {}).get("analyzed"))
        print(f"  canonical tables without statistics when the batch starts: "
              f"{len(never)} of {len(CANONICAL_TABLES)}" + (f" ({', '.join(never)})" if never else ""), flush=True)
    reports = work / f"reports-{backend}"
    shutil.rmtree(reports, ignore_errors=True)
    jobs = args.jobs or ["--all"]
    run_s, proc = _finlib(["run", *jobs, "--workers", str(args.workers), "--period", args.period, "--quiet"],
                          url, reports)
    la2 = loadavg()
    manifests = [json.loads(p.read_text()) for p in reports.glob("*/*/*/manifest.json")]
    failed = [m for m in manifests if m["status"] != "succeeded"]
    if proc.returncode not in (0, 1) or failed:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
    print(f"  run --all --workers {args.workers}:   {run_s:7.1f} s   load avg {la1} -> {la2}; "
          f"{len(manifests)} run(s), {len(failed)} failed (rc {proc.returncode})", flush=True)
    per_run = sorted(((m["job"] + (f" [{m['variant_label']}]" if m.get("variant_label") else ""),
                       m["duration_s"]) for m in manifests), key=lambda x: -x[1])
    for label, secs in per_run[:4]:
        print(f"    {label:<36}{secs:7.1f} s", flush=True)
    res = {"backend": backend, "load_s": round(load_s, 2), "run_s": round(run_s, 2), "rc": proc.returncode,
           "runs": len(manifests), "failed": len(failed), "per_run_s": dict(per_run),
           "load_avg": {"before_load": la0, "before_run": la1, "after_run": la2}}
    if pg is not None:
        after = pg.analyzed()
        auto = sorted(t for t, s in after.items() if s["autoanalyzed"])
        res["stats_before_run"] = stats_before
        res["autoanalyzed_during_measurement"] = auto
        print(f"  autovacuum: {pg.setting('autovacuum')}; tables autoanalyzed during the measurement: "
              f"{', '.join(auto) if auto else 'none'}", flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="medium", help="demo scale (small, medium, large)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--end", default="2026-10", help="last month of the demo")
    ap.add_argument("--period", default="2026-10", help="period the jobs run for")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backends", default="duckdb,postgresql", help="comma-separated, measured in this order")
    ap.add_argument("--jobs", default="", help="comma-separated job names (default: all)")
    ap.add_argument("--pg-url", default=os.environ.get("FINLIB_TEST_PG_URL"),
                    help="an existing PostgreSQL server (default FINLIB_TEST_PG_URL; else one is started)")
    ap.add_argument("--keep", action="store_true", help="keep the warehouses and reports (printed)")
    args = ap.parse_args()
    args.jobs = [j for j in args.jobs.split(",") if j]
    backends = [b for b in args.backends.split(",") if b]

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="backends-", dir=OUT))
    print(f"scale {args.scale}, seed {args.seed}, end {args.end}, period {args.period}, "
          f"{args.workers} worker(s); {os.cpu_count()} CPU(s); load avg {loadavg()}", flush=True)
    results: dict[str, dict] = {}
    pg = None
    try:
        for backend in backends:
            if backend == "duckdb":
                results[backend] = measure(backend, f"duckdb://{work / 'warehouse.duckdb'}", args, work, None)
            elif backend == "postgresql":
                try:
                    pg = _Postgres(args.pg_url)
                except RuntimeError as exc:  # no PostgreSQL binaries on this machine
                    print(f"postgresql: not measured: {exc}", flush=True)
                    continue
                pg.create()
                results[backend] = measure(backend, pg.url, args, work, pg)
            else:
                raise SystemExit(f"unknown backend {backend!r}: use duckdb and/or postgresql")
    finally:
        if pg is not None:
            pg.close(args.keep)

    print("\nsummary")
    print(f"  {'backend':<12}{'demo-data s':>12}{'run --all s':>13}   load avg (1, 5, 15 min) before the run")
    for b, r in results.items():
        print(f"  {b:<12}{r['load_s']:>12.1f}{r['run_s']:>13.1f}   {r['load_avg']['before_run']}")
    ratio = None
    if "duckdb" in results and "postgresql" in results:
        ratio = results["postgresql"]["run_s"] / results["duckdb"]["run_s"]
        ok = "yes" if ratio <= TARGET_RATIO else "NO"
        print(f"  batch ratio PostgreSQL / DuckDB: {ratio:.2f}x   <= {TARGET_RATIO}x: {ok}")
    print(f"  load average at the end: {loadavg()}")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = OUT / f"backends-{stamp}.json"
    out.write_text(json.dumps({"scale": args.scale, "seed": args.seed, "end": args.end, "period": args.period,
                               "workers": args.workers, "cpus": os.cpu_count(), "results": results,
                               "ratio": ratio}, indent=2, default=str))
    print(f"  figures: {out.relative_to(ROOT)}")
    if args.keep:
        print(f"  kept: {work}" + (f", database {pg.url}" if pg else ""))
    else:
        shutil.rmtree(work, ignore_errors=True)
    failed = any(r["failed"] or r["rc"] not in (0, 1) for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
