"""The DuckDB warehouse encrypted with FINLIB_DB_KEY: no plaintext on disk, every command
opens it with the key and fails with one clear line without it; encrypt and rotate-key keep
the data fingerprint."""

from __future__ import annotations

import shutil

import pytest

from finlib.demo.generator import generate
from finlib.errors import WarehouseError
from finlib.warehouse import encryption
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.status import fingerprint

from .helpers import finlib


def test_the_httpfs_extension_for_this_duckdb_is_installed():
    assert encryption.httpfs_path() is not None, "pip install duckdb-ext-httpfs (pyproject.toml)"


@pytest.fixture(scope="module")
def _demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("FINLIB_DB_KEY", raising=False)
        wh = get_warehouse(f"duckdb://{path}")
        generate(wh, "small", seed=7, end="2024-06")
        with wh.connect(read_only=True) as c:
            name, amount = c.query("SELECT c.name, CAST(i.amount AS VARCHAR) FROM invoices i "
                                   "JOIN customers c USING (customer_id) ORDER BY i.amount DESC LIMIT 1")[0]
        return path, fingerprint(wh), name, amount


@pytest.fixture
def demo_plain(_demo_file, duckdb_url, monkeypatch):
    """A private copy of a plaintext demo warehouse, selected through FINLIB_DB_URL."""
    monkeypatch.delenv("FINLIB_DB_KEY", raising=False)
    src, fp, name, amount = _demo_file
    wh = get_warehouse()
    shutil.copyfile(src, wh.path)
    return wh, fp, name, amount


def test_encrypted_file_holds_no_plaintext_and_keeps_the_fingerprint(demo_plain, monkeypatch):
    wh, fp, name, amount = demo_plain
    raw = wh.path.read_bytes()
    assert name.encode() in raw  # the check below can fail: the plaintext file shows it
    r = finlib("db", "encrypt", "--delete-original", env={"FINLIB_DB_KEY": "k-one"})
    assert r.returncode == 0, r.stderr
    assert fp in r.stdout
    data = wh.path.read_bytes()
    assert name.encode() not in data and amount.encode() not in data
    assert b"k-one" not in data
    assert not list(wh.path.parent.glob("*.bak-*"))
    assert encryption.is_encrypted(wh.path)
    assert (wh.path.stat().st_mode & 0o777) == 0o600
    monkeypatch.setenv("FINLIB_DB_KEY", "k-one")
    assert fingerprint(wh) == fp
    with wh.transaction() as c:  # writes go through the same path
        c.execute("UPDATE customers SET name = 'Renamed Co' WHERE name = :n", {"n": name})
    assert b"Renamed Co" not in wh.path.read_bytes()
    assert fingerprint(wh) != fp


def test_commands_work_with_the_key_and_fail_clearly_without(demo_plain):
    wh, fp, _, _ = demo_plain
    assert finlib("db", "encrypt", env={"FINLIB_DB_KEY": "k-one"}).returncode == 0
    backups = list(wh.path.parent.glob("*.bak-*"))
    assert len(backups) == 1 and (backups[0].stat().st_mode & 0o777) == 0o600
    ok = finlib("kpis", "--period", "2024-06", env={"FINLIB_DB_KEY": "k-one"})
    assert ok.returncode == 0, ok.stderr
    assert "MRR" in ok.stdout
    for args in (("kpis", "--period", "2024-06"), ("db", "status"), ("alerts", "check")):
        no = finlib(*args, env={"FINLIB_DB_KEY": None})
        assert no.returncode != 0
        assert "Traceback" not in no.stderr
        assert "is encrypted: set FINLIB_DB_KEY" in no.stderr, no.stderr
        bad = finlib(*args, env={"FINLIB_DB_KEY": "not-the-key"})
        assert bad.returncode != 0 and "Traceback" not in bad.stderr
        assert "wrong key" in bad.stderr and "not-the-key" not in bad.stderr + bad.stdout
    # a key set for a plaintext file is refused clearly too
    plain = finlib("db", "status", env={"FINLIB_DB_URL": f"duckdb://{backups[0]}", "FINLIB_DB_KEY": "k-one"})
    assert plain.returncode != 0 and "not encrypted" in plain.stderr and "Traceback" not in plain.stderr


def test_rotate_key_keeps_the_fingerprint_and_retires_the_old_key(demo_plain, monkeypatch):
    wh, fp, _, _ = demo_plain
    assert finlib("db", "encrypt", "--delete-original", env={"FINLIB_DB_KEY": "k-one"}).returncode == 0
    r = finlib("db", "rotate-key", env={"FINLIB_DB_KEY": "k-one", "FINLIB_DB_NEW_KEY": "k-two"})
    assert r.returncode == 0, r.stderr
    assert fp in r.stdout and "k-two" not in r.stdout + r.stderr
    monkeypatch.setenv("FINLIB_DB_KEY", "k-two")
    assert fingerprint(wh) == fp
    monkeypatch.setenv("FINLIB_DB_KEY", "k-one")
    with pytest.raises(WarehouseError, match="wrong key"):
        fingerprint(wh)
    # the kept copy is still under the old key: a verified fallback until deleted
    backup = next(wh.path.parent.glob("*.bak-*"))
    assert fingerprint(get_warehouse(f"duckdb://{backup}")) == fp


def test_rotate_key_without_the_current_key_changes_nothing(demo_plain):
    wh, _, _, _ = demo_plain
    assert finlib("db", "encrypt", "--delete-original", env={"FINLIB_DB_KEY": "k-one"}).returncode == 0
    before = wh.path.read_bytes()
    r = finlib("db", "rotate-key", env={"FINLIB_DB_KEY": "wrong", "FINLIB_DB_NEW_KEY": "k-two"})
    assert r.returncode != 0 and "Traceback" not in r.stderr and "wrong key" in r.stderr
    assert wh.path.read_bytes() == before
    assert sorted(p.name for p in wh.path.parent.iterdir() if p.name.startswith(wh.path.name)) == [wh.path.name]


def test_connections_in_one_process_share_the_encrypted_file(demo_plain, monkeypatch):
    """Threads of one process (a dashboard server, a job runner) open the file at once."""
    wh, fp, _, _ = demo_plain
    assert finlib("db", "encrypt", "--delete-original", env={"FINLIB_DB_KEY": "k-one"}).returncode == 0
    monkeypatch.setenv("FINLIB_DB_KEY", "k-one")
    with wh.connect(read_only=True) as a, wh.connect(read_only=True) as b:
        assert a.scalar("SELECT count(*) FROM customers") == b.scalar("SELECT count(*) FROM customers") > 0
        with pytest.raises(WarehouseError, match="already has it open read-only"):
            with wh.transaction(timeout=0):
                pass
    with wh.transaction() as c:  # all closed: writable again
        c.execute("DELETE FROM kpi_targets")
    assert fingerprint(wh) != fp
