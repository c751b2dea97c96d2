"""The audit trail on real DuckDB and PostgreSQL warehouses: verify, tampering, history, as-of."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from finlib.audit.identity import acting_as, because
from finlib.audit.verify import verify
from finlib.cli import main
from finlib.warehouse.db import get_warehouse

END = "2026-10"


@pytest.fixture
def demo(any_db_url, tmp_path, monkeypatch):
    from finlib.demo.generator import generate

    monkeypatch.setenv("FINLIB_AUDIT_KEY", "test-secret")
    monkeypatch.setenv("FINLIB_AUDIT_ANCHOR", str(tmp_path / "anchor.json"))
    wh = get_warehouse()
    generate(wh, "small", 42, end=END)
    return wh


def _sql(wh, sql, params=None):
    with wh.transaction() as conn:
        conn.execute(sql, params)


def _ledger_csv(wh, path, n=3, bump=0.0, prefix="T"):
    """n new (or, with the same prefix, replacement) ledger lines copied from existing ones."""
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT CAST(posted_at AS VARCHAR), CAST(period AS VARCHAR), account_id, department_id, "
                          "CAST(amount AS VARCHAR), currency FROM gl_entries ORDER BY entry_id LIMIT :n", {"n": n})
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["entry_id", "posted_at", "period", "account_id", "department_id", "amount", "currency",
                    "is_manual"])
        for i, (posted, period, acct, dept, amount, cur) in enumerate(rows):
            w.writerow([f"{prefix}{i}", posted[:19], period, acct, dept, f"{float(amount) + bump:.2f}", cur, "false"])
    return path


def _more_batches(wh, tmp_path):
    from finlib.ingest.loader import ingest_file

    ingest_file(wh, "gl_entries", _ledger_csv(wh, tmp_path / "a.csv", prefix="A"))
    ingest_file(wh, "gl_entries", _ledger_csv(wh, tmp_path / "b.csv", prefix="B"))


def _problem(wh):
    rep = verify(wh)
    assert not rep.ok
    return rep.first


def test_untouched_warehouse_verifies_with_gapless_chain(demo, tmp_path):
    _more_batches(demo, tmp_path)
    rep = verify(demo)
    assert rep.ok, rep.problems
    assert rep.entries >= 4 and rep.head_seq == rep.entries
    assert rep.tables_checked >= 20
    assert main(["audit", "verify"]) == 0
    with demo.connect(read_only=True) as conn:
        seqs = [r[0] for r in conn.query("SELECT seq FROM audit_log ORDER BY seq")]
        ingest = conn.query("SELECT CAST(details AS VARCHAR), CAST(digests AS VARCHAR) FROM audit_log "
                            "WHERE action = 'ingest' ORDER BY seq DESC LIMIT 1")[0]
    assert seqs == list(range(1, len(seqs) + 1))
    details, digests = json.loads(ingest[0]), json.loads(ingest[1])
    assert details["file_name"] == "b.csv" and len(details["sha256"]) == 64
    assert details["rows_written"] == {"gl_entries": 3}
    assert digests["gl_entries"]["written"][0] == 3 and digests["gl_entries"]["deleted"][0] == 0


def test_edited_entry_is_caught_and_named(demo, tmp_path):
    _more_batches(demo, tmp_path)
    _sql(demo, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    p = _problem(demo)
    assert (p.kind, p.seq) == ("edited", 3)
    assert main(["audit", "verify"]) == 4


def test_deleted_entry_is_caught_and_named(demo, tmp_path):
    _more_batches(demo, tmp_path)
    _sql(demo, "DELETE FROM audit_log WHERE seq = 2")
    p = _problem(demo)
    assert (p.kind, p.seq) == ("missing", 2)


def test_two_swapped_entries_are_caught(demo, tmp_path):
    _more_batches(demo, tmp_path)
    cols = "ts, actor, action, target, details, digests, prev_hash, entry_hash"
    with demo.transaction() as conn:
        a = conn.query(f"SELECT {cols} FROM audit_log WHERE seq = 3")[0]
        b = conn.query(f"SELECT {cols} FROM audit_log WHERE seq = 4")[0]
        sets = ", ".join(f"{c.strip()} = :{c.strip()}" for c in cols.split(","))
        for seq, row in ((3, b), (4, a)):
            conn.execute(f"UPDATE audit_log SET {sets} WHERE seq = :seq",
                         {"seq": seq, **dict(zip([c.strip() for c in cols.split(",")], row, strict=True))})
    p = _problem(demo)
    assert p.seq == 3 and p.kind in ("reordered", "edited")


def test_truncation_is_caught_against_the_checkpoint(demo, tmp_path):
    _more_batches(demo, tmp_path)
    assert main(["audit", "checkpoint"]) == 0
    with demo.connect(read_only=True) as conn:
        newest = conn.scalar("SELECT max(seq) FROM audit_log")
    _sql(demo, "DELETE FROM audit_log WHERE seq >= :s", {"s": newest - 1})
    # the chain that is left is internally consistent: only the checkpoint can tell
    from finlib.audit.verify import check_chain, read_entries

    with demo.connect(read_only=True) as conn:
        assert check_chain(read_entries(conn)) == []
    kinds = {p.kind: p for p in verify(demo).problems}
    assert "truncated" in kinds and kinds["truncated"].seq == newest - 1
    assert f"seq {newest}" in kinds["truncated"].message


def test_forged_checkpoint_is_refused(demo, tmp_path):
    assert main(["audit", "checkpoint"]) == 0
    path = tmp_path / "anchor.json"
    doc = json.loads(path.read_text())
    doc["seq"] = 1
    path.write_text(json.dumps(doc))
    assert _problem(demo).kind == "checkpoint"


def test_ledger_amount_changed_with_plain_sql_is_named(demo):
    _sql(demo, "UPDATE gl_entries SET amount = amount + 0.01 WHERE entry_id = "
               "(SELECT min(entry_id) FROM gl_entries)")
    p = _problem(demo)
    assert (p.kind, p.table) == ("table-changed", "gl_entries")
    assert "contents differ" in p.message


def test_row_deleted_with_plain_sql_is_named_even_after_later_batches(demo, tmp_path):
    _sql(demo, "DELETE FROM gl_entries WHERE entry_id = (SELECT min(entry_id) FROM gl_entries)")
    _more_batches(demo, tmp_path)  # a later finlib write to the same table must not absorb it
    p = _problem(demo)
    assert (p.kind, p.table) == ("table-changed", "gl_entries")
    assert "-1 rows" in p.message


def test_replace_keeps_old_rows_in_history(demo, tmp_path):
    from finlib.audit.history import row_history
    from finlib.ingest.loader import ingest_file

    first = ingest_file(demo, "gl_entries", _ledger_csv(demo, tmp_path / "v1.csv", prefix="R"))
    with acting_as("carol", kind="user", via="session"), because("vendor credit note corrected"):
        ingest_file(demo, "gl_entries", _ledger_csv(demo, tmp_path / "v2.csv", bump=5, prefix="R"),
                    replace="keys")
    versions = row_history(demo, "gl_entries", "R1")
    assert [v["state"] for v in versions] == ["removed", "current"]
    old, new = versions
    assert float(new["row"]["amount"]) == pytest.approx(float(old["row"]["amount"]) + 5)
    assert old["removed_seq"] == new["added_seq"]
    assert new["added_by"]["actor"] == "carol"
    assert new["added_by"]["reason"] == "vendor credit note corrected"
    assert old["added_by"]["file"] == "v1.csv" and first.rows == 3
    assert verify(demo).ok
    assert main(["audit", "history", "gl_entries", "R1", "--json"]) == 0


def test_an_update_inside_a_batch_keeps_the_row_as_it_was(demo):
    """Batch.update keeps the old version in history (both versions in ``audit history``, the
    chain and the fingerprints still verify); a free UPDATE or DELETE of a canonical table is
    refused before it runs."""
    from finlib.audit.history import row_history
    from finlib.warehouse.load import write_batch

    with demo.connect(read_only=True) as conn:
        entry, amount = conn.query("SELECT entry_id, CAST(amount AS DOUBLE PRECISION) FROM gl_entries "
                                   "ORDER BY entry_id LIMIT 1")[0]
    with acting_as("dora", kind="user", via="session"), because("reclassified after review"):
        with write_batch(demo, action="correction", target="gl_entries", actor="dora") as b:
            assert b.update("gl_entries", "amount = amount + :d", "entry_id = :e", {"d": 7.25, "e": entry}) == 1
    versions = row_history(demo, "gl_entries", entry)
    assert [v["state"] for v in versions] == ["removed", "current"]
    old, new = versions
    assert float(old["row"]["amount"]) == pytest.approx(amount)
    assert float(new["row"]["amount"]) == pytest.approx(amount + 7.25)
    assert new["added_by"]["reason"] == "reclassified after review" and old["removed_seq"] == new["added_seq"]
    assert verify(demo).ok
    for sql in (f"UPDATE gl_entries SET amount = 0 WHERE entry_id = '{entry}'",
                f"DELETE FROM gl_entries WHERE entry_id = '{entry}'", "TRUNCATE gl_entries",
                # the same hidden behind a WITH, a comment, a schema, quotes, another statement, an upsert
                f"WITH x AS (SELECT 1 AS one) DELETE FROM gl_entries WHERE entry_id = '{entry}'",
                f"/* note */ DELETE FROM gl_entries WHERE entry_id = '{entry}'",
                f'UPDATE "gl_entries" SET amount = 0 WHERE entry_id = \'{entry}\'',
                f"SELECT 1; DELETE FROM gl_entries WHERE entry_id = '{entry}'",
                "INSERT OR REPLACE INTO gl_entries SELECT * FROM gl_entries",
                "INSERT INTO gl_entries SELECT * FROM gl_entries ON CONFLICT (entry_id) DO UPDATE SET amount = 0"):
        with pytest.raises(ValueError, match="keep the old rows in history"):
            with write_batch(demo, action="correction", target="gl_entries") as b:
                b.execute(sql)
    with demo.connect(read_only=True) as conn:
        assert float(conn.scalar("SELECT amount FROM gl_entries WHERE entry_id = :e", {"e": entry})) == \
            pytest.approx(amount + 7.25)
    assert verify(demo).ok


def test_as_of_reproduces_kpis_after_the_data_changed(demo, tmp_path, capsys):
    from finlib.ingest.loader import ingest_file
    from finlib.metrics.kpis import headline_kpis

    period = date(2026, 10, 1)
    before = headline_kpis(demo, period)
    with demo.connect(read_only=True) as conn:
        seq = conn.scalar("SELECT max(seq) FROM audit_log")
        subs = conn.query("SELECT subscription_id, customer_id, product_id, CAST(start_date AS VARCHAR), "
                          "CAST(mrr AS VARCHAR), currency, billing_period FROM subscriptions "
                          "WHERE end_date IS NULL ORDER BY subscription_id LIMIT 20")
    path = tmp_path / "subs.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subscription_id", "customer_id", "product_id", "start_date", "mrr", "currency",
                    "billing_period"])
        for sid, cust, prod, start, mrr, cur, bp in subs:  # every price up by 100 (a replace) ...
            w.writerow([sid, cust, prod, start, f"{float(mrr) + 100:.2f}", cur, bp])
        sid, cust, prod, start, mrr, cur, bp = subs[0]  # ... and one new subscription (an insert)
        w.writerow(["S-NEW-1", cust, prod, "2026-01-01", "999.00", cur, bp])
    ingest_file(demo, "subscriptions", path, replace="keys")
    after = headline_kpis(demo, period)
    assert after["mrr"] == pytest.approx(before["mrr"] + 20 * 100 + 999)
    assert main(["kpis", "--period", "2026-10", "--as-of", str(seq), "--json"]) == 0
    past = json.loads(capsys.readouterr().out)
    for k, v in before.items():
        if isinstance(v, float):
            assert past[k] == pytest.approx(v, rel=1e-9, abs=1e-6), k
        else:
            assert past[k] == v, k
    assert verify(demo).ok


def test_concurrent_writers_on_postgresql_get_gapless_seqs(postgres_url):
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    from finlib.warehouse.create import init_db
    from finlib.warehouse.load import write_batch

    wh = get_warehouse()
    init_db(wh)

    def write(i):
        with write_batch(wh, action="test", target="departments") as b:
            b.append("departments", pd.DataFrame({"department_id": [f"d{i}"], "name": ["Sales"]}))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write, range(24)))
    with wh.connect(read_only=True) as conn:
        seqs = [r[0] for r in conn.query("SELECT seq FROM audit_log ORDER BY seq")]
        n = conn.scalar("SELECT count(*) FROM audit_log WHERE action = 'test'")
    assert seqs == list(range(1, len(seqs) + 1)) and n == 24
    rep = verify(wh)
    assert rep.ok, rep.problems


def test_the_trail_hashes_rows_exactly_like_the_data_fingerprint(demo):
    from finlib.audit.trail import digest
    from finlib.warehouse.schema import CANONICAL_TABLES
    from finlib.warehouse.status import _table_digest

    with demo.connect(read_only=True) as conn:
        for table in CANONICAL_TABLES:
            assert tuple(digest(conn, table)) == _table_digest(conn, table), table
