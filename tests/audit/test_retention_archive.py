"""Retention of the report archive and encrypted archives and exports, with an injected clock.

Real components throughout: a DuckDB file or a PostgreSQL database, run folders published by
the jobs' own archive functions, the real ``finlib`` command (in-process and as a
subprocess), DuckDB reading the Parquet back, tarfile reading the run archives.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tarfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from finlib import crypto
from finlib.audit.identity import because
from finlib.audit.retention import open_archive, plan, read_archive
from finlib.audit.verify import verify
from finlib.cli import main
from finlib.errors import FinlibError
from finlib.jobs import archive
from finlib.jobs.index import rebuild_index
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch
from tests.security.helpers import finlib

TODAY = dt.date(2026, 11, 15)  # seven years: the cutoff is 2019-11-01
CUSTOMER = "ACME Corp"
AMOUNT = "123456.78"
CUSTOMER_ID = "CUST-ACME-CORP-0042"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A retention policy (gl_entries, invoices, audit_log, reports: seven years), the report
    archive under tmp_path, no archive key."""
    params = tmp_path / "parameters"
    params.mkdir()
    (params / "retention.yaml").write_text(
        f"version: 1\narchive_dir: {tmp_path / 'archive'}\n"
        "tables:\n  gl_entries: {years: 7, date_column: period}\n"
        "  invoices: {years: 7, date_column: issued_on}\n  audit_log: {years: 7}\nreports: {years: 7}\n")
    monkeypatch.setenv("FINLIB_PARAMETERS", str(params))
    monkeypatch.setenv("FINLIB_REPORTS", str(tmp_path / "reports"))
    monkeypatch.delenv(crypto.ENV, raising=False)
    return tmp_path


def _publish(reports: Path, job: str, period: str, body: str = "") -> Path:
    """A run folder written the way the jobs write one (temporary folder, then publish)."""
    run_id = archive.new_run_id()
    tmp = archive.temp_run_dir(reports, job, period, run_id)
    (tmp / archive.REPORT).write_text(f"<html><body>{job} {period} {body}</body></html>")
    (tmp / archive.NOTEBOOK).write_text(json.dumps({"cells": [], "metadata": {}, "text": body}))
    (tmp / archive.MANIFEST).write_text(json.dumps({"schema": archive.MANIFEST_SCHEMA, "run_id": run_id, "job": job,
                                                    "period": period, "status": "succeeded", "title": job}))
    return archive.publish(tmp, archive.run_dir(reports, job, period, run_id))


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _seed(wh):
    """gl_entries 2018-01 .. 2020-12 (22 months past the 2019-11 cutoff); two invoices of
    ACME Corp, one past (2018-06, corrected once: its first version is in invoices_history)
    and one kept (2024-06)."""
    months = pd.date_range("2018-01-01", "2020-12-01", freq="MS")
    gl = pd.DataFrame({
        "entry_id": [f"e{i}" for i in range(len(months))], "posted_at": months + pd.Timedelta(hours=9),
        "period": months.date, "account_id": "a1", "department_id": "d1",
        "amount": [f"{i}.25" for i in range(len(months))], "currency": "USD", "is_manual": False})
    customers = pd.DataFrame({
        "customer_id": [CUSTOMER_ID], "name": [CUSTOMER], "segment": ["SMB"], "region": ["EU"],
        "industry": ["Retail"], "signup_date": [dt.date(2017, 1, 1)], "acquisition_channel": ["direct"],
        "acquisition_campaign_id": [None], "cs_tier": ["pooled"], "csm_owner": [None]})
    invoices = pd.DataFrame({
        "invoice_id": ["INV-ACME-2018-06", "INV-ACME-2024-06"], "customer_id": [CUSTOMER_ID] * 2,
        "subscription_id": [None, None], "issued_on": [dt.date(2018, 6, 1), dt.date(2024, 6, 1)],
        "service_start": [dt.date(2018, 6, 1), dt.date(2024, 6, 1)],
        "service_end": [dt.date(2018, 6, 30), dt.date(2024, 6, 30)],
        "amount": ["120000.00", "99.00"], "currency": "USD", "status": "paid", "kind": "invoice"})
    with because(f"credit note for {CUSTOMER} {AMOUNT}"), write_batch(wh, action="seed", target="gl_entries") as b:
        b.append("departments", pd.DataFrame({"department_id": ["d1"], "name": ["Sales"]}))
        b.append("accounts", pd.DataFrame({"account_id": ["a1"], "name": ["Fees"], "account_type": ["revenue"],
                                           "category": ["subscription"]}))
        b.append("gl_entries", gl)
        b.append("customers", customers)
        b.append("invoices", invoices)
    with write_batch(wh, action="correct", target="invoices") as b:  # the old version goes to invoices_history
        b.delete("invoices", "invoice_id = :i", {"i": "INV-ACME-2018-06"})
        b.append("invoices", invoices.iloc[[0]].assign(amount=AMOUNT))


def _entries(wh, target):
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT CAST(details AS VARCHAR) FROM audit_log WHERE action = 'retention' "
                          "AND target = :t ORDER BY seq", {"t": target})
    return [json.loads(r[0]) for r in rows]


def test_apply_archives_then_deletes_report_runs_and_never_held_ones(any_db_url, setup, capsys, caplog):
    wh = get_warehouse()
    init_db(wh)
    reports = setup / "reports"
    old_a = _publish(reports, "executive", "2019-01")
    held_period = _publish(reports, "executive", "2019-03")
    held_key = _publish(reports, "department", "2019-05")
    old_d = _publish(reports, "executive", "2019-10")
    kept = [_publish(reports, "executive", "2019-11"), _publish(reports, "department", "2025-01")]
    before = {p: _snapshot(p) for p in (old_a, old_d)}
    rebuild_index(reports)
    assert main(["retention", "hold", "add", "--table", "reports", "--period", "2019-03", "--reason", "litigation"]) == 0
    assert main(["retention", "hold", "add", "--table", "reports", "--key", held_key.name, "--reason", "tax"]) == 0
    capsys.readouterr()
    # a hold on a run that does not exist is refused, naming it (a typo would otherwise hold nothing)
    assert main(["retention", "hold", "add", "--table", "reports", "--key", "2019-no-such-run", "--reason", "x"]) == 1
    err = capsys.readouterr().err
    assert "no report run '2019-no-such-run'" in err and "Traceback" not in err

    item = {i.table: i for i in plan(wh, TODAY)}["reports"]
    assert (item.past, item.held, item.cutoff) == (2, 2, "2019-11-01")
    assert main(["retention", "apply", "--today", str(TODAY), "--json"]) == 0
    out = {i["table"]: i for i in json.loads(capsys.readouterr().out)}["reports"]
    assert out["past"] == 2 and sorted(out["archive"]["runs"]) == sorted(
        f"executive/{p.parent.name}/{p.name}" for p in (old_a, old_d))

    # deleted: the old runs (and their emptied period folders); kept: the held and recent ones
    assert not old_a.exists() and not old_d.exists() and not old_a.parent.exists()
    assert all(p.exists() for p in (held_period, held_key, *kept))
    assert not list(reports.glob("*/*/.retention-*"))
    listed = {r["run_id"] for r in archive.load_catalogue(reports)}
    runs_json = json.loads((reports / "runs.json").read_text())
    assert {r[0] for r in runs_json["rows"]} == listed == {p.name for p in (held_period, held_key, *kept)}

    # one audited batch names each folder and its archive's sha256, and the chain still verifies
    [entry] = _entries(wh, "reports")
    arch = Path(entry["archive"])
    manifest = json.loads((arch / "manifest.json").read_text())
    assert set(entry["runs"]) == {f"executive/{p.parent.name}/{p.name}" for p in (old_a, old_d)}
    for meta in manifest["files"].values():
        assert entry["runs"][meta["run"]]["sha256"] == meta["sha256"]
    assert verify(wh).ok, verify(wh).problems

    # the archive reads back and holds exactly the bytes that were deleted
    assert read_archive(arch) == {f"executive/{p.parent.name}/{p.name}.tar": 3 for p in (old_a, old_d)}
    for p in (old_a, old_d):
        with tarfile.open(arch / "executive" / p.parent.name / f"{p.name}.tar") as tar:
            got = {m.name.removeprefix(p.name + "/"): tar.extractfile(m).read() for m in tar if m.isfile()}
        assert got == before[p]

    # a released hold makes its runs deletable on the next plan
    assert main(["retention", "hold", "release", "--table", "reports", "--period", "2019-03", "--reason", "over"]) == 0
    assert {i.table: i for i in plan(wh, TODAY)}["reports"].past == 1

    # a tampered archive is refused, by the function and by the auditor's command
    tar = arch / "executive" / old_a.parent.name / f"{old_a.name}.tar"
    raw = bytearray(tar.read_bytes())
    raw[600] ^= 1  # one byte of the run archive
    tar.write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="finlib.security"), pytest.raises(FinlibError, match="sha256 differs"):
        read_archive(arch)
    assert any(str(tar) in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)
    capsys.readouterr()
    assert main(["retention", "verify", str(arch)]) == 1
    err = capsys.readouterr().err
    assert str(tar) in err and "sha256" in err and "Traceback" not in err


def test_archives_and_exports_are_encrypted_with_the_archive_key(any_db_url, setup, monkeypatch, capsys, caplog):
    key = crypto.new_key()
    monkeypatch.setenv(crypto.ENV, key)
    kid = crypto.key_id(key)
    wh = get_warehouse()
    init_db(wh)
    _seed(wh)
    old = _publish(setup / "reports", "executive", "2018-05", body=f"{CUSTOMER} paid {AMOUNT}")
    assert main(["retention", "apply", "--today", str(TODAY)]) == 0
    assert not old.exists()

    files = [p for p in (setup / "archive").rglob("*") if p.is_file()]
    # invoices (rows + history), gl_entries (rows) and reports (one tar), each with a manifest
    assert sorted(p.relative_to(setup / "archive").parts[0] + "/" + p.name for p in files) == sorted(
        ["invoices/rows.parquet", "invoices/history.parquet", "invoices/manifest.json", "gl_entries/rows.parquet",
         "gl_entries/manifest.json", f"reports/{old.name}.tar", "reports/manifest.json"])
    for p in files:
        raw = p.read_bytes()
        assert raw.startswith(crypto.MAGIC + b" fernet " + kid.encode() + b"\n"), p
        assert CUSTOMER.encode() not in raw and AMOUNT.encode() not in raw and CUSTOMER_ID.encode() not in raw, p
        assert (p.stat().st_mode & 0o777) == 0o600
    # the plaintext does hold what the grep looks for (so the grep above could fail)
    [inv] = _entries(wh, "invoices")
    assert CUSTOMER_ID.encode() in crypto.read_bytes(Path(inv["archive"]) / "rows.parquet")
    [rep] = _entries(wh, "reports")
    plain_tar = crypto.read_bytes(Path(rep["archive"]) / "executive" / "2018-05" / f"{old.name}.tar")
    assert f"{CUSTOMER} paid {AMOUNT}".encode() in plain_tar

    # the key itself is nowhere: not in the manifests (decrypted), nor in the audit entries
    for m in (p for p in files if p.name == "manifest.json"):
        assert key.encode() not in crypto.read_bytes(m) and kid.encode() in crypto.read_bytes(m)
    assert key not in json.dumps(inv) + json.dumps(rep)

    # read back with the key: digests, DuckDB row counts, the rows themselves
    assert read_archive(Path(inv["archive"])) == {"rows.parquet": 1, "history.parquet": 1}
    with open_archive(Path(inv["archive"])) as (manifest, folder, _):
        assert manifest["files"]["rows.parquet"]["key_id"] == kid
        got = duckdb.sql(f"SELECT invoice_id, customer_id, CAST(amount AS VARCHAR) "
                         f"FROM read_parquet('{folder / 'rows.parquet'}')").fetchall()
        assert (folder.stat().st_mode & 0o777) == 0o700
    assert got == [("INV-ACME-2018-06", CUSTOMER_ID, AMOUNT)]
    assert not folder.exists()  # the decrypted copy is gone
    with wh.connect(read_only=True) as conn:
        assert conn.query("SELECT invoice_id FROM invoices") == [("INV-ACME-2024-06",)]
    assert read_archive(Path(rep["archive"])) == {f"executive/2018-05/{old.name}.tar": 3}

    # without the key (or with another one) it fails clearly, naming the key id, never the key
    other = crypto.new_key()
    for env in ({crypto.ENV: None}, {crypto.ENV: other}):
        res = finlib("retention", "verify", inv["archive"], env=env)
        assert res.returncode == 3 and "no key" in res.stderr and kid in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and key not in res.stderr + res.stdout
    ok = finlib("retention", "verify", inv["archive"], "--json", env={crypto.ENV: f"{other},{key}"})
    assert ok.returncode == 0 and json.loads(ok.stdout)["files"] == {"rows.parquet": 1, "history.parquet": 1}

    # a tampered encrypted archive is refused
    tampered = Path(inv["archive"]) / "rows.parquet"
    raw = bytearray(tampered.read_bytes())
    raw[len(raw) // 2] ^= 1
    tampered.write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="finlib.security"), \
            pytest.raises(crypto.DecryptionError, match=f"{tampered}: the file does not decrypt: it was altered"):
        read_archive(Path(inv["archive"]))
    [refusal] = [r.getMessage() for r in caplog.records if r.name == "finlib.security"]
    assert str(tampered) in refusal and kid in refusal and key not in refusal

    # the auditor's export: all three files encrypted, readable with `finlib archive decrypt`
    exp = setup / "export"
    capsys.readouterr()
    assert main(["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31", "--out", str(exp)]) == 0
    assert f"key id {kid}" in capsys.readouterr().out
    assert sorted(p.name for p in exp.iterdir()) == ["audit_log.csv", "audit_log.jsonl", "verification.json"]
    assert (exp.stat().st_mode & 0o777) == 0o700
    for p in exp.iterdir():
        raw = p.read_bytes()
        assert raw.startswith(crypto.MAGIC) and kid.encode() in raw.splitlines()[0]
        assert CUSTOMER.encode() not in raw and AMOUNT.encode() not in raw
        assert (p.stat().st_mode & 0o777) == 0o600
    dec = finlib("archive", "decrypt", str(exp / "audit_log.jsonl"), env={crypto.ENV: key})
    assert dec.returncode == 0 and f"credit note for {CUSTOMER} {AMOUNT}" in dec.stdout
    summary = json.loads(crypto.read_bytes(exp / "verification.json"))
    assert summary["key_id"] == kid and summary["verification"]["ok"] is True
    import hashlib

    assert summary["files"]["audit_log.jsonl"] == hashlib.sha256(dec.stdout.encode()).hexdigest()
    no = finlib("archive", "decrypt", str(exp / "audit_log.csv"), env={crypto.ENV: None})
    assert no.returncode != 0 and "no key" in no.stderr and "Traceback" not in no.stderr


def test_a_failed_archive_write_deletes_nothing(any_db_url, setup, capsys):
    wh = get_warehouse()
    init_db(wh)
    _seed(wh)
    old = _publish(setup / "reports", "executive", "2018-05")
    (setup / "archive").write_text("a file where the archive folder should be\n")
    with wh.connect(read_only=True) as conn:
        rows_before = conn.scalar("SELECT count(*) FROM gl_entries")
    capsys.readouterr()
    assert main(["retention", "apply", "--today", str(TODAY)]) == 1
    err = capsys.readouterr().err
    assert "cannot create the retention archive" in err and "nothing was deleted" in err and "Traceback" not in err
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM gl_entries") == rows_before == 36
    assert old.exists() and _entries(wh, "gl_entries") == [] and _entries(wh, "reports") == []
    assert verify(wh).ok


def test_a_run_that_cannot_be_archived_as_it_is_stops_the_reports_and_deletes_none(any_db_url, setup, capsys):
    wh = get_warehouse()
    init_db(wh)
    reports = setup / "reports"
    fine = _publish(reports, "executive", "2018-04")
    odd = _publish(reports, "executive", "2018-05")
    (odd / "latest.html").symlink_to(odd / archive.REPORT)  # a link: the archive would not hold its target
    capsys.readouterr()
    assert main(["retention", "apply", "--today", str(TODAY)]) == 1
    err = capsys.readouterr().err
    assert str(odd / "latest.html") in err and "nothing was deleted" in err and "Traceback" not in err
    assert fine.exists() and odd.exists() and not list(reports.glob("*/*/.retention-*"))
    assert _entries(wh, "reports") == []
    assert not [p for p in (setup / "archive").rglob("*") if p.is_file()]  # the half-written archive is removed
    (odd / "latest.html").unlink()
    assert main(["retention", "apply", "--today", str(TODAY)]) == 0
    assert not fine.exists() and not odd.exists()


def test_unencrypted_archives_and_exports_are_private(duckdb_url, setup):
    """Without FINLIB_ARCHIVE_KEY: plaintext, folders 0700 and files 0600 even under a lax umask."""
    wh = get_warehouse()
    init_db(wh)
    _seed(wh)
    _publish(setup / "reports", "executive", "2018-05")
    from finlib.audit.query import export
    from finlib.audit.retention import apply

    old = os.umask(0o022)
    try:
        apply(wh, TODAY)
        export(wh, "2000-01-01", "2999-12-31", setup / "exports" / "2026")
    finally:
        os.umask(old)
    for root in (setup / "archive", setup / "exports"):
        for p in [root, *root.rglob("*")]:
            assert (p.stat().st_mode & 0o777) == (0o700 if p.is_dir() else 0o600), p
            if p.is_file():
                assert not crypto.is_encrypted(p)
    [inv] = _entries(wh, "invoices")
    ids = duckdb.sql(f"SELECT customer_id FROM read_parquet('{inv['archive']}/rows.parquet')").fetchall()
    assert ids == [(CUSTOMER_ID,)]
    assert CUSTOMER_ID.encode() in (Path(inv["archive"]) / "rows.parquet").read_bytes()


def test_verify_out_copies_the_verified_plaintext(duckdb_url, setup, monkeypatch, capsys):
    key = crypto.new_key()
    monkeypatch.setenv(crypto.ENV, key)
    wh = get_warehouse()
    init_db(wh)
    _seed(wh)
    assert main(["retention", "apply", "--today", str(TODAY)]) == 0
    [inv] = _entries(wh, "invoices")
    dest = setup / "plain"
    assert main(["retention", "verify", inv["archive"], "--out", str(dest)]) == 0
    assert "intact" in capsys.readouterr().out
    assert json.loads((dest / "manifest.json").read_text())["table"] == "invoices"
    assert duckdb.sql(f"SELECT customer_id FROM read_parquet('{dest / 'rows.parquet'}')").fetchall() == [(CUSTOMER_ID,)]
    assert (dest.stat().st_mode & 0o777) == 0o700
    assert main(["retention", "verify", inv["archive"], "--out", str(dest)]) == 1  # never overwrites


def test_a_crashed_apply_is_settled_by_the_next(duckdb_url, setup):
    """A run hidden by an apply that died before committing comes back; one whose deletion
    was committed is removed."""
    wh = get_warehouse()
    init_db(wh)
    reports = setup / "reports"
    recent = _publish(reports, "executive", "2025-01")
    hidden = recent.parent / f".retention-{recent.name}"
    os.rename(recent, hidden)
    assert archive.load_catalogue(reports) == []
    from finlib.audit.retention import apply

    apply(wh, TODAY)
    assert recent.exists() and not hidden.exists()
    old = _publish(reports, "executive", "2018-01")
    apply(wh, TODAY)
    [entry] = _entries(wh, "reports")
    assert f"executive/2018-01/{old.name}" in entry["runs"] and not old.exists()
    # simulate the crash after the commit: the folder is still there, hidden
    again = old.parent / f".retention-{old.name}"
    again.mkdir(parents=True)
    (again / "report.html").write_text("left behind")
    apply(wh, TODAY)
    assert not again.exists() and not old.exists()


def test_a_run_changed_while_it_is_archived_does_not_verify_and_nothing_is_deleted(any_db_url, setup, monkeypatch,
                                                                                      capsys):
    """A writer changes a run folder between its files being hashed and the tar being
    written (a real race, provoked here at that instant): the archive does not match the
    folder, so the run folders stay, the batch leaves no entry and the archive is removed."""
    from finlib.audit import retention

    wh = get_warehouse()
    init_db(wh)
    reports = setup / "reports"
    runs = [_publish(reports, "executive", "2018-04"), _publish(reports, "executive", "2018-05")]
    real_tar = retention._tar_run

    def concurrent_writer(run, dst):
        if run.run_id == runs[1].name:
            (run.path / archive.REPORT).write_text("<html>rewritten meanwhile</html>")
        real_tar(run, dst)

    monkeypatch.setattr(retention, "_tar_run", concurrent_writer)
    capsys.readouterr()
    assert main(["retention", "apply", "--today", str(TODAY)]) == 1
    err = capsys.readouterr().err
    assert "did not verify" in err and "report.html" in err and "nothing was deleted" in err
    assert all(p.exists() for p in runs) and not list(reports.glob("*/*/.retention-*"))
    assert _entries(wh, "reports") == [] and not [p for p in (setup / "archive").rglob("*") if p.is_file()]
    assert verify(wh).ok


@pytest.mark.parametrize("name", ["../../outside.txt", "/etc/passwd", "sub/../../x", "a\\..\\b"])
def test_a_manifest_naming_a_file_outside_its_archive_is_refused(duckdb_url, setup, capsys, name):
    """The manifest is checked because the archive may have been changed: a name that leaves
    the archive is refused before any file is read or written."""
    wh = get_warehouse()
    init_db(wh)
    _seed(wh)
    assert main(["retention", "apply", "--today", str(TODAY)]) == 0
    [inv] = _entries(wh, "invoices")
    arch = Path(inv["archive"])
    manifest = json.loads((arch / "manifest.json").read_text())
    first = next(iter(manifest["files"].values()))
    manifest["files"][name] = dict(first)
    (arch / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FinlibError, match="outside the archive"):
        read_archive(arch)
    capsys.readouterr()
    assert main(["retention", "verify", str(arch), "--out", str(setup / "plain")]) == 1
    assert "outside the archive" in capsys.readouterr().err
    assert not (setup / "plain").exists()


def test_a_file_added_after_the_archive_verified_stops_the_deletion(duckdb_url, setup, monkeypatch, capsys):
    """A writer adds a file to a run after its archive was checked and before it is hidden:
    the folder is walked again once hidden, it no longer matches, nothing is deleted."""
    from finlib.audit import retention

    wh = get_warehouse()
    init_db(wh)
    reports = setup / "reports"
    runs = [_publish(reports, "executive", "2018-04"), _publish(reports, "executive", "2018-05")]
    real_verified = retention._verified

    def then_a_writer(out):
        got = real_verified(out)
        (runs[0] / "late.txt").write_text("written after the archive was checked")
        return got

    monkeypatch.setattr(retention, "_verified", then_a_writer)
    capsys.readouterr()
    assert main(["retention", "apply", "--today", str(TODAY)]) == 1
    err = capsys.readouterr().err
    assert "changed while it was archived" in err and "nothing was deleted" in err
    assert all(p.exists() for p in runs) and (runs[0] / "late.txt").exists()
    assert not list(reports.glob("*/*/.retention-*")) and _entries(wh, "reports") == []
    assert verify(wh).ok


def test_linked_report_folders_are_not_followed(duckdb_url, setup, capsys):
    """A job or period folder that is a symbolic link is not the archive's: its runs are
    neither archived nor deleted (they live outside the report archive)."""
    wh = get_warehouse()
    init_db(wh)
    reports = setup / "reports"
    outside = setup / "elsewhere"
    kept = _publish(outside, "executive", "2018-04")
    (reports).mkdir(parents=True, exist_ok=True)
    (reports / "linked_job").symlink_to(outside / "executive", target_is_directory=True)
    own = _publish(reports, "executive", "2018-05")
    (reports / "executive" / "2018-06").symlink_to(kept.parent, target_is_directory=True)
    assert main(["retention", "apply", "--today", str(TODAY)]) == 0
    assert kept.exists() and not own.exists()
    [entry] = _entries(wh, "reports")
    assert list(entry["runs"]) == [f"executive/2018-05/{own.name}"]
