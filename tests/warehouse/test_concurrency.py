"""DuckDB: one writer or many readers. Real processes take turns; a conflict waits, then
fails clearly; nothing is ever corrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.status import fingerprint

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys, time, pathlib
    from finlib.warehouse.db import get_warehouse
    from finlib.warehouse.load import write_batch
    hold, marker, n = float(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
    with write_batch(get_warehouse(), action="test-load", target="gl_entries") as b:
        b.execute("INSERT INTO departments VALUES ('d1', 'Sales')")
        b.execute("INSERT INTO accounts VALUES ('a1', 'Rev', 'revenue', 'x')")
        b.execute(f"INSERT INTO gl_entries (entry_id, posted_at, period, account_id, department_id, "
                  f"amount, currency, is_manual) SELECT 'e' || i, TIMESTAMP '2024-01-02 00:00:00', "
                  f"DATE '2024-01-01', 'a1', 'd1', 1.25, 'USD', FALSE FROM range({n}) t(i)")
        marker.write_text("holding")
        time.sleep(hold)
    print("committed", time.time(), flush=True)
""")

READER = textwrap.dedent("""
    import time
    from finlib.warehouse.db import get_warehouse
    t0 = time.time()
    with get_warehouse().connect(read_only=True) as c:
        n = c.scalar("SELECT count(*) FROM gl_entries")
        s = c.scalar("SELECT CAST(sum(amount) AS VARCHAR) FROM gl_entries")
    print(n, s, time.time(), time.time() - t0, flush=True)
""")


def _env(timeout):
    env = dict(os.environ, FINLIB_DB_TIMEOUT=str(timeout), PYTHONPATH=str(ROOT))
    return env


def _start_writer(tmp_path, hold, n=20_000, timeout=30):
    marker = tmp_path / "holding"
    w = subprocess.Popen([sys.executable, "-c", WRITER, str(hold), str(marker), str(n)],
                         env=_env(timeout), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not marker.exists():
        assert w.poll() is None, w.stderr.read()
        assert time.time() < deadline
        time.sleep(0.05)
    return w


def test_a_load_and_concurrent_readers_take_turns(duckdb_url, tmp_path):
    init_db(get_warehouse())
    writer = _start_writer(tmp_path, hold=2.0)
    readers = [subprocess.Popen([sys.executable, "-c", READER], env=_env(30), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    committed = float(out.split()[1])
    for r in readers:
        rout, rerr = r.communicate(timeout=120)
        assert r.returncode == 0, rerr
        n, total, done_at, waited = rout.split()
        # each reader waited for the writer and then saw the whole batch, never a part of it
        assert (int(n), total) == (20_000, "25000.00")
        assert float(done_at) >= committed - 0.05
        assert float(waited) > 0.5
    # and readers share the file with each other once the writer is gone
    readers = [subprocess.Popen([sys.executable, "-c", READER], env=_env(1), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    assert all(r.wait(timeout=120) == 0 for r in readers)


def test_a_conflict_waits_then_fails_clearly_and_corrupts_nothing(duckdb_url, tmp_path):
    wh = get_warehouse()
    init_db(wh)
    fp_empty = fingerprint(wh)
    writer = _start_writer(tmp_path, hold=6.0)
    t0 = time.time()
    cli = subprocess.run([sys.executable, "-m", "finlib", "db", "status"], env=_env(1.5),
                         capture_output=True, text=True, timeout=120)
    waited = time.time() - t0
    assert cli.returncode == 75, cli.stderr
    assert "busy" in cli.stderr and "FINLIB_DB_TIMEOUT" in cli.stderr and "Traceback" not in cli.stderr
    assert waited >= 1.5
    assert writer.wait(timeout=120) == 0
    with wh.connect(read_only=True) as c:
        assert c.scalar("SELECT count(*) FROM gl_entries") == 20_000
    assert fingerprint(wh) != fp_empty


def test_a_killed_writer_leaves_the_previous_state(duckdb_url, tmp_path):
    wh = get_warehouse()
    init_db(wh)
    before = fingerprint(wh)
    writer = _start_writer(tmp_path, hold=30.0, n=200_000)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=60)
    with wh.connect(read_only=True) as c:
        assert c.scalar("SELECT count(*) FROM gl_entries") == 0
        assert c.scalar("SELECT count(*) FROM departments") == 0
    assert fingerprint(wh) == before
