"""Each mistake a new user makes gets a clear message and an unchanged warehouse."""

from __future__ import annotations

import pytest

from finlib.errors import FinlibError, IngestError, ValidationError
from finlib.ingest.loader import ingest_file
from tests.ingest.conftest import GL_HEADER, gl_csv, gl_line
from tests.ingest.test_ingest import batches, state, write

INV_HEADER = "invoice_id,customer_id,subscription_id,issued_on,service_start,service_end,amount,currency,status"


def _case(name, tmp_path):
    """(table, file, encoding, expected exception, text the message must contain, rule or None)."""
    if name == "missing_column":
        text = gl_csv(2).replace(",currency,", ",").replace(",USD,", ",")
        return "gl_entries", write(tmp_path, "f.csv", text), None, ValidationError, "'currency' is not in the header", "missing_column"
    if name == "misspelt_header":
        text = gl_csv(2).replace("department_id", "departmnet_id", 1)
        return "gl_entries", write(tmp_path, "f.csv", text), None, ValidationError, "did you mean 'departmnet_id'", "missing_column"
    if name == "bad_date":
        text = GL_HEADER + "\n" + gl_line(1).replace("2024-01-05 10:00:00", "31/01/2024") + "\n"
        return "gl_entries", write(tmp_path, "f.csv", text), None, ValidationError, "posted_at is not a timestamp", "type"
    if name == "text_in_amount":
        text = gl_csv(2, amount="twelve")
        return "gl_entries", write(tmp_path, "f.csv", text), None, ValidationError, "amount is not an amount", "type"
    if name == "duplicate_key":
        text = GL_HEADER + "\n" + gl_line(1) + "\n" + gl_line(1) + "\n"
        return "gl_entries", write(tmp_path, "f.csv", text), None, ValidationError, "first seen on line 2", "unique"
    if name == "unknown_customer":
        text = INV_HEADER + "\ni1,cus_nobody,,2024-01-01,2024-01-01,2024-01-31,10.00,USD,paid\n"
        return "invoices", write(tmp_path, "f.csv", text), None, ValidationError, "not found in customers", "foreign_key"
    if name == "empty_file":
        return "gl_entries", write(tmp_path, "f.csv", ""), None, ValidationError, "is empty", "empty_file"
    if name == "truncated_last_line":
        text = gl_csv(3) + gl_line(4)[:25]  # cut off while copying
        return "gl_entries", write(tmp_path, "f.csv", text), None, ValidationError, "line 5 has", "malformed_row"
    if name == "latin1_file":
        text = gl_csv(2).replace("Vendor 1", "Café")
        return "gl_entries", write(tmp_path, "f.csv", text, "latin-1"), None, IngestError, "--encoding latin-1", None
    if name == "file_does_not_exist":
        return "gl_entries", tmp_path / "ledgr.csv", None, IngestError, "file not found", None
    raise AssertionError(name)


CASES = ["missing_column", "misspelt_header", "bad_date", "text_in_amount", "duplicate_key",
         "unknown_customer", "empty_file", "truncated_last_line", "latin1_file", "file_does_not_exist"]


@pytest.mark.parametrize("case", CASES)
def test_mistake_gets_a_clear_message_and_an_unchanged_warehouse(case, wh, tmp_path):
    ingest_file(wh, "gl_entries", write(tmp_path, "good.csv", gl_csv(3, start=100)))
    before = state(wh)
    n_batches = len(batches(wh))
    table, path, enc, exc_type, text, rule = _case(case, tmp_path)
    with pytest.raises(exc_type) as ei:
        ingest_file(wh, table, path, encoding=enc)
    assert text in str(ei.value) + " ".join(p["message"] for p in getattr(ei.value, "problems", []))
    if rule:
        assert rule in {p["rule"] for p in ei.value.problems}
        for p in ei.value.problems:
            assert set(p) == {"file", "line", "column", "value", "rule", "message"}
    assert state(wh) == before
    recorded = batches(wh)
    if case == "file_does_not_exist":
        assert len(recorded) == n_batches  # nothing to hash: no batch
    else:
        assert len(recorded) == n_batches + 1 and recorded[-1][1] == "rejected"


def test_latin1_file_loads_with_the_suggested_option(wh, tmp_path):
    p = write(tmp_path, "l.csv", gl_csv(2).replace("Vendor 1", "Café"), "latin-1")
    with pytest.raises(IngestError):
        ingest_file(wh, "gl_entries", p)
    ingest_file(wh, "gl_entries", p, encoding="latin-1")
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT vendor FROM gl_entries WHERE entry_id = 'e1'") == "Café"


def test_unknown_table_suggests_the_right_name(wh, tmp_path):
    with pytest.raises(FinlibError, match="did you mean 'gl_entries'"):
        ingest_file(wh, "gl_entry", write(tmp_path, "f.csv", gl_csv(1)))


def test_cli_prints_a_problem_table_and_exits_non_zero(duck_wh, tmp_path, capsys):
    from finlib.cli import main

    p = write(tmp_path, "cli.csv", gl_csv(2, amount="abc"))
    assert main(["ingest", "gl_entries", str(p)]) == 3
    err = capsys.readouterr().err
    assert "rule" in err and "cli.csv" in err and "'abc'" in err and "nothing was loaded" in err
    assert main(["ingest", "gl_entries", str(write(tmp_path, "ok.csv", gl_csv(2)))]) == 0
    assert "2 rows loaded" in capsys.readouterr().out
