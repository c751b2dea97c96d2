"""Retention with an injected clock: archive then delete past-period rows, never held ones."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from finlib.audit.retention import load_policy, plan, read_archive
from finlib.audit.verify import verify
from finlib.cli import main
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch


def _ledger(wh):
    months = pd.date_range("2016-01-01", "2024-12-01", freq="MS")
    df = pd.DataFrame({
        "entry_id": [f"e{i}" for i in range(len(months))],
        "posted_at": months + pd.Timedelta(hours=9), "period": months.date,
        "account_id": "a1", "department_id": "d1", "amount": [f"{i}.25" for i in range(len(months))],
        "currency": "USD", "is_manual": False})
    with write_batch(wh, action="seed", target="gl_entries") as b:
        b.append("departments", pd.DataFrame({"department_id": ["d1"], "name": ["Sales"]}))
        b.append("accounts", pd.DataFrame({"account_id": ["a1"], "name": ["Fees"], "account_type": ["revenue"],
                                           "category": ["subscription"]}))
        b.append("gl_entries", df)
    return df


def test_apply_archives_then_deletes_past_rows_and_respects_holds(any_db_url, tmp_path, monkeypatch):
    params = tmp_path / "parameters"
    params.mkdir()
    (params / "retention.yaml").write_text(
        f"version: 1\narchive_dir: {tmp_path / 'archive'}\n"
        "tables:\n  gl_entries: {years: 7, date_column: period}\n  audit_log: {years: 7}\n")
    monkeypatch.setenv("FINLIB_PARAMETERS", str(params))
    wh = get_warehouse()
    init_db(wh)
    df = _ledger(wh)
    today = dt.date(2026, 11, 15)  # cutoff 2019-11-01: 2016-01 .. 2019-10 is past (46 months)
    assert main(["retention", "hold", "add", "--table", "gl_entries", "--period", "2018-03",
                 "--reason", "litigation 2026-17"]) == 0
    assert main(["retention", "hold", "add", "--table", "gl_entries", "--key", "e0", "--reason", "tax audit"]) == 0
    items = {i.table: i for i in plan(wh, today)}
    assert (items["gl_entries"].past, items["gl_entries"].held) == (44, 2)
    assert "never purged" in items["audit_log"].note
    assert main(["retention", "apply", "--today", str(today), "--json"]) == 0
    with wh.connect(read_only=True) as conn:
        left = {r[0] for r in conn.query("SELECT entry_id FROM gl_entries")}
        entry = conn.query("SELECT CAST(details AS VARCHAR) FROM audit_log WHERE action = 'retention'")
    past_ids = {f"e{i}" for i in range(46)}
    assert left == (set(df.entry_id) - past_ids) | {"e0", "e26"}  # e26 = 2018-03, held
    archive = json.loads(entry[0][0])["archive"]
    from pathlib import Path

    assert read_archive(Path(archive)) == {"rows.parquet": 44}
    import duckdb

    ids = {r[0] for r in duckdb.sql(f"SELECT entry_id FROM read_parquet('{archive}/rows.parquet')").fetchall()}
    assert ids == past_ids - {"e0", "e26"}
    assert verify(wh).ok, verify(wh).problems  # the deletion is audited: the chain and the table agree
    # nothing more to do; released holds become deletable
    assert plan(wh, today)[0].past == 0
    assert main(["retention", "hold", "release", "--table", "gl_entries", "--key", "e0", "--reason", "closed"]) == 0
    assert plan(wh, today)[0].past == 1
    # a tampered archive is refused
    (Path(archive) / "rows.parquet").write_bytes(b"x" + (Path(archive) / "rows.parquet").read_bytes()[1:])
    from finlib.errors import FinlibError

    with pytest.raises(FinlibError, match="sha256"):
        read_archive(Path(archive))


def test_policy_errors_name_the_file_and_key(tmp_path):
    from finlib.errors import ConfigError

    p = tmp_path / "retention.yaml"
    p.write_text("tables:\n  gl_entries: {years: seven, date_column: period}\n")
    with pytest.raises(ConfigError, match=r"retention.yaml: tables.gl_entries.years"):
        load_policy(p)
    p.write_text("tabels: {}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_policy(p)
    p.write_text("reports: {years: 0}\n")
    with pytest.raises(ConfigError, match=r"retention.yaml: reports.years must be a whole number"):
        load_policy(p)
    p.write_text("reports: {keep: 7}\n")
    with pytest.raises(ConfigError, match=r"retention.yaml: reports: give"):
        load_policy(p)
    assert load_policy().rules["gl_entries"].years == 7  # the project's default policy
    assert load_policy().report_years == 7


def test_importing_retention_leaves_pandas_parquet_working(tmp_path):
    """A lazy placeholder for ``pyarrow.parquet`` in this module used to make pandas'
    ``to_parquet``/``read_parquet`` fail later in the same process (notebooks import both)."""
    import subprocess
    import sys

    code = ("import finlib.audit.retention, pandas as pd, sys; p = sys.argv[1]; "
            "pd.DataFrame({'a': [1, 2]}).to_parquet(p); print(pd.read_parquet(p)['a'].sum())")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.parquet")], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "3", out.stderr[-400:]
