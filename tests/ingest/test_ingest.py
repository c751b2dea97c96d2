"""Validated, all-or-nothing ingestion on a real DuckDB file and a real PostgreSQL server."""

from __future__ import annotations

import pytest

from finlib.errors import IngestError, ValidationError
from finlib.ingest.loader import ingest_file
from finlib.warehouse.status import fingerprint
from tests.ingest.conftest import GL_HEADER, gl_csv, gl_line


def state(wh):
    """Everything a failed load must leave unchanged (the batch log may grow)."""
    with wh.connect(read_only=True) as conn:
        return fingerprint(wh, conn), conn.scalar("SELECT count(*) FROM gl_entries")


def batches(wh, outcome=None):
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT file_name, outcome, rows, sha256, user_name, errors FROM ingest_batches "
                          "ORDER BY started_at, finished_at")
    return [r for r in rows if outcome is None or r[1] == outcome]


def write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_valid_file_loads_and_is_recorded(wh, tmp_path):
    p = write(tmp_path, "gl.csv", gl_csv(5, amount="-12.34"))
    res = ingest_file(wh, "gl_entries", p, user="ana")
    assert res.rows == 5
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM gl_entries") == 5
        assert conn.scalar("SELECT CAST(sum(amount) AS VARCHAR) FROM gl_entries") == "-61.70"
        assert conn.scalar("SELECT count(*) FROM gl_entries WHERE feature_id IS NULL AND is_manual = FALSE") == 5
    [(fname, outcome, rows, sha, user, errors)] = batches(wh)
    assert (fname, outcome, rows, user, errors) == ("gl.csv", "accepted", 5, "ana", 0)
    assert len(sha) == 64


def test_failed_load_leaves_warehouse_unchanged_and_is_recorded(wh, tmp_path):
    ingest_file(wh, "gl_entries", write(tmp_path, "ok.csv", gl_csv(3)))
    before = state(wh)
    bad = gl_csv(3, start=10) + gl_line(13, account="9999")
    with pytest.raises(ValidationError):
        ingest_file(wh, "gl_entries", write(tmp_path, "bad.csv", bad))
    assert state(wh) == before
    assert [b[1] for b in batches(wh)] == ["accepted", "rejected"]


def test_every_problem_is_reported_with_line_column_value_and_rule(wh, tmp_path):
    lines = [GL_HEADER,
             gl_line(1),
             gl_line(2, period="2024-01-15"),           # line 3: not first of month
             gl_line(3, amount="12.00x"),               # line 4: text in amount
             gl_line(4, dept="d-nope"),                 # line 5: unknown department
             gl_line(1).replace("memo 1", "again"),     # line 6: duplicate key e1
             gl_line(6).replace(",false", ",maybe")]    # line 7: not a boolean
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", write(tmp_path, "many.csv", "\n".join(lines) + "\n"))
    got = {(p["line"], p["column"], p["rule"]) for p in ei.value.problems}
    assert got == {(3, "period", "first_of_month"), (4, "amount", "type"),
                   (5, "department_id", "foreign_key"), (6, "entry_id", "unique"),
                   (7, "is_manual", "type")}
    amount = next(p for p in ei.value.problems if p["rule"] == "type" and p["column"] == "amount")
    assert amount["value"] == "12.00x" and amount["file"] == "many.csv"
    dup = next(p for p in ei.value.problems if p["rule"] == "unique")
    assert "line 2" in dup["message"]
    assert "5 problems" in str(ei.value)


def test_max_errors_limits_the_report_but_counts_everything(wh, tmp_path):
    text = gl_csv(30, account="9999")
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", write(tmp_path, "x.csv", text), max_errors=7)
    assert len(ei.value.problems) == 7
    assert [p["line"] for p in ei.value.problems] == [2, 3, 4, 5, 6, 7, 8]
    assert "30 problems" in str(ei.value) and "first 7" in str(ei.value)


def test_line_numbers_count_physical_lines_of_multiline_values(wh, tmp_path):
    quoted = gl_line(1).replace("memo 1", '"first line\nsecond line"')
    text = "\n".join([GL_HEADER, quoted, gl_line(2), gl_line(3, account="9999")]) + "\n"
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", write(tmp_path, "ml.csv", text))
    [p] = ei.value.problems
    assert p["line"] == 5 and p["rule"] == "foreign_key"


def test_primary_key_already_in_warehouse_is_refused(wh, tmp_path):
    ingest_file(wh, "gl_entries", write(tmp_path, "a.csv", gl_csv(3)))
    before = state(wh)
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", write(tmp_path, "b.csv", gl_csv(2, start=3)))
    assert [(p["line"], p["rule"], p["value"]) for p in ei.value.problems] == [(2, "primary_key_exists", "e3")]
    assert state(wh) == before


def test_same_file_twice_is_refused_unless_replace_says_what(wh, tmp_path):
    p = write(tmp_path, "gl.csv", gl_csv(4))
    ingest_file(wh, "gl_entries", p)
    before = state(wh)
    with pytest.raises(IngestError, match="already loaded.*--replace"):
        ingest_file(wh, "gl_entries", p)
    assert state(wh) == before
    res = ingest_file(wh, "gl_entries", p, replace="keys")
    assert (res.rows, res.deleted) == (4, 4)
    assert state(wh) == before  # same content again
    outcomes = [b[1] for b in batches(wh)]
    assert outcomes == ["replaced", "rejected", "accepted"]


def test_replace_keys_upserts_changed_rows(wh, tmp_path):
    ingest_file(wh, "gl_entries", write(tmp_path, "a.csv", gl_csv(3, amount="10.00")))
    ingest_file(wh, "gl_entries", write(tmp_path, "b.csv", gl_csv(2, start=3, amount="7.00")), replace="keys")
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT entry_id, CAST(amount AS VARCHAR) FROM gl_entries ORDER BY entry_id")
    assert rows == [("e1", "10.00"), ("e2", "10.00"), ("e3", "7.00"), ("e4", "7.00")]


def test_replace_period_swaps_one_month_and_rejects_rows_outside_it(wh, tmp_path):
    ingest_file(wh, "gl_entries", write(tmp_path, "jan.csv", gl_csv(3, period="2024-01-01")))
    ingest_file(wh, "gl_entries", write(tmp_path, "feb.csv", gl_csv(2, start=10, period="2024-02-01")))
    res = ingest_file(wh, "gl_entries", write(tmp_path, "jan2.csv", gl_csv(1, start=20, period="2024-01-01")),
                      replace="period=2024-01")
    assert res.deleted == 3
    with wh.connect(read_only=True) as conn:
        assert conn.query("SELECT entry_id FROM gl_entries ORDER BY 1") == [("e10",), ("e11",), ("e20",)]
    before = state(wh)
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", write(tmp_path, "mixed.csv", gl_csv(1, start=30, period="2024-02-01")),
                    replace="period=2024-01")
    assert ei.value.problems[0]["rule"] == "replace_scope"
    assert state(wh) == before


def test_replace_all_of_a_referenced_table_refuses_to_orphan_rows(wh, tmp_path):
    ingest_file(wh, "gl_entries", write(tmp_path, "gl.csv", gl_csv(2, dept="d-mkt")))
    depts = "department_id,name\nd-sales,Sales\n"
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "departments", write(tmp_path, "d.csv", depts), replace="all")
    assert ei.value.problems[0]["rule"] == "referenced"
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM departments") == 5


def test_header_only_file_is_refused(wh, tmp_path):
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", write(tmp_path, "h.csv", GL_HEADER + "\n"))
    assert ei.value.problems[0]["rule"] == "no_rows"


def test_parquet_files_load_with_the_same_rules(wh, tmp_path):
    import duckdb

    src = write(tmp_path, "gl.csv", gl_csv(4))
    pq = tmp_path / "gl.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{src}', all_varchar=true)) TO '{pq}' (FORMAT parquet)")
    assert ingest_file(wh, "gl_entries", pq).rows == 4
    with pytest.raises(ValidationError) as ei:
        ingest_file(wh, "gl_entries", pq, replace=None) if False else ingest_file(
            wh, "gl_entries", _parquet_with_bad_row(tmp_path), replace=None)
    assert {p["rule"] for p in ei.value.problems} == {"foreign_key"}


def _parquet_with_bad_row(tmp_path):
    import duckdb

    src = write(tmp_path, "gl2.csv", gl_csv(2, start=50) + gl_line(52, account="nope") + "\n")
    pq = tmp_path / "gl2.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{src}', all_varchar=true)) TO '{pq}' (FORMAT parquet)")
    return pq


def test_other_encodings_load_when_named(wh, tmp_path):
    text = gl_csv(2).replace("Vendor 1", "Café Crème")
    p = write(tmp_path, "cp.csv", text, encoding="cp1252")
    ingest_file(wh, "gl_entries", p, encoding="cp1252")
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT vendor FROM gl_entries WHERE entry_id = 'e1'") == "Café Crème"
