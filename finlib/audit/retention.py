"""Retention: keep each table's records and the report archive for their period, archive
then delete what is past it, and never cross a legal hold.

Policy in ``parameters/retention.yaml`` (seven years by default; a policy choice). For a
table with ``years: Y`` and ``date_column: D`` a row is *past retention* on day ``today`` when
``D`` is before the first day of ``today``'s month ``Y`` years earlier (:func:`cutoff`); a
report run folder ``reports/<job>/<period>/<run_id>/`` is past retention when its period
(the ``YYYY-MM`` folder name) is before the cutoff of ``reports: {years: Y}``.

:func:`plan` lists, per table and for the reports, what is past retention and what a hold
keeps. :func:`apply` archives first, verifies the archive, and only then deletes:

* a table: its rows to ``<archive_dir>/<table>/<stamp>/rows.parquet`` (plus
  ``history.parquet`` for their superseded versions), deleted in one audited batch (action
  ``retention``; the rows' digest is in the entry, the rows themselves are in the archive,
  not in ``<table>_history``);
* the reports: each run folder to ``<archive_dir>/reports/<stamp>/<job>/<period>/<run_id>.tar``,
  the folders then removed in one audited batch (action ``retention``, target ``reports``)
  naming every folder and its archive's sha256.

Each archive has a ``manifest.json`` giving every file's sha256 (of its plaintext), its row
count (Parquet) or the sha256 of every file of the run (tar). Inside the batch, before
anything is deleted, the archive is read back (:func:`open_archive`: decrypted, digests
compared, Parquet counted by DuckDB, each tar member compared with the live file it came
from); a failure raises, the batch rolls back, the new archive folder is removed and nothing
is deleted. When ``FINLIB_ARCHIVE_KEY`` is set every file of the archive, the manifest
included, is encrypted with :mod:`finlib.crypto` (see :mod:`finlib.audit.sealed`).

Report folders are not deleted inside the transaction (a file system has none): they are
renamed to a hidden ``<period>/.retention-<run_id>`` before the batch commits (so the
catalogue no longer lists them), put back if the batch fails, and removed after it
committed. A hidden folder left by a crash is settled by the next :func:`apply`: removed
when a committed ``retention`` entry names its run, put back otherwise.

Holds (``retention_holds``) name a table and a month (``--period``) or a primary key
(``--key``); for the reports (``--table reports``) a month holds every run of that period
and a key holds one run (its run id). :func:`apply` reads the holds inside its batch and
never deletes held data. The audit trail itself is never purged: every entry is needed to
verify the chain and covers rows (or archives) still held, so ``audit_log`` is only ever
reported by :func:`plan`. ``today`` is injectable everywhere (tests and ``--today``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import lazy_loader as lazy
import pyarrow as pa
import pyarrow.parquet as pq  # not lazy: a placeholder for the submodule breaks pandas' read_parquet
import yaml

from finlib import config, crypto
from finlib.audit import sealed
from finlib.audit.trail import history_table
from finlib.errors import ConfigError, FinlibError
from finlib.jobs.archive import iter_run_dirs
from finlib.jobs.index import rebuild_index
from finlib.periods import parse_period
from finlib.warehouse.db import Connection, Warehouse, translate_params
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import TABLES

log = logging.getLogger("finlib.security")  # refused archives: tampered, or no key for them

duckdb = lazy.load("duckdb")

HOLDS_DDL = ("CREATE TABLE IF NOT EXISTS retention_holds (hold_id VARCHAR PRIMARY KEY, table_name VARCHAR NOT NULL, "
             "period DATE, key_value VARCHAR, reason VARCHAR NOT NULL, created_by VARCHAR NOT NULL, "
             "created_at TIMESTAMP NOT NULL, released_by VARCHAR, released_at TIMESTAMP, release_reason VARCHAR)")
NEVER_PURGED = {"audit_log"}
REPORTS = "reports"
MANIFEST = "manifest.json"
PENDING = ".retention-"  # a run folder being deleted (hidden from the catalogue)


@dataclass(frozen=True)
class Rule:
    table: str
    years: int
    date_column: str | None = None


@dataclass
class Policy:
    rules: dict[str, Rule]
    archive_dir: Path
    report_years: int | None = None
    source: str = ""


def _years(where: str, years) -> int:
    if not isinstance(years, int) or isinstance(years, bool) or years < 1:
        raise ConfigError(f"{where}.years must be a whole number of years >= 1, not {years!r}")
    return years


def load_policy(path: Path | None = None) -> Policy:
    path = path or config.parameters_dir() / "retention.yaml"
    if not path.exists():
        raise ConfigError(f"{path}: no retention policy; copy parameters/retention.yaml from the project")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    unknown = set(doc) - {"version", "archive_dir", "tables", "reports"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: version, archive_dir, tables, reports")
    rules = {}
    for name, spec in (doc.get("tables") or {}).items():
        where = f"{path}: tables.{name}"
        if not isinstance(spec, dict) or set(spec) - {"years", "date_column"}:
            raise ConfigError(f"{where}: give {{years: N, date_column: COLUMN}}")
        years = _years(where, spec.get("years"))
        col = spec.get("date_column")
        if name in TABLES and col is not None and col not in TABLES[name].column_names:
            raise ConfigError(f"{where}.date_column: {name} has no column {col!r}")
        if name not in NEVER_PURGED and col is None:
            raise ConfigError(f"{where}: date_column is required (which date ages a row)")
        rules[name] = Rule(name, years, col)
    archive = Path(doc.get("archive_dir") or "data/retention-archive")
    if not archive.is_absolute():
        archive = config.project_root() / archive
    rep = doc.get("reports")
    if rep is not None and (not isinstance(rep, dict) or set(rep) - {"years"}):
        raise ConfigError(f"{path}: reports: give {{years: N}}")
    rep_years = _years(f"{path}: reports", rep.get("years")) if rep else None
    return Policy(rules, archive, rep_years, str(path))


def cutoff(today: dt.date, years: int) -> dt.date:
    """The first day kept: the first of ``today``'s month, ``years`` years earlier."""
    return dt.date(today.year - years, today.month, 1)


# ------------------------------------------------------------------------------- report runs
@dataclass(frozen=True)
class Run:
    job: str
    period: str
    run_id: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.job}/{self.period}/{self.run_id}"

    @property
    def month(self) -> dt.date | None:
        return _period_of(self.period)


def _period_of(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name + "-01") if len(name) == 7 else None
    except ValueError:
        return None


def _runs(reports: Path) -> list[Run]:
    """Every published run whose period folder is a month (``YYYY-MM``)."""
    return sorted((Run(j, p, r, path) for j, p, r, path in iter_run_dirs(reports) if _period_of(p)),
                  key=lambda r: r.name)


def _runs_past(reports: Path, c: dt.date) -> list[Run]:
    return [r for r in _runs(reports) if r.month < c]


# ------------------------------------------------------------------------------- holds
def _ensure_holds(conn: Connection) -> None:
    if not conn.table_exists("retention_holds"):
        conn.execute(HOLDS_DDL)


def add_hold(wh: Warehouse, table: str, reason: str, period: str | None = None, key: str | None = None) -> str:
    """Put a legal hold on ``table``'s rows of month ``period`` or with primary key ``key``.

    ``table`` ``reports`` holds report runs: every run of month ``period``, or the run whose
    run id is ``key`` (it must exist in the report archive)."""
    if (period is None) == (key is None):
        raise FinlibError("a hold names exactly one of --period YYYY-MM or --key KEY")
    if not reason or not reason.strip():
        raise FinlibError("a hold needs a --reason")
    if table not in TABLES and table not in ("access_log", REPORTS):
        raise FinlibError(f"{table!r} is not a table of the warehouse (nor {REPORTS!r}, the report archive)")
    if table == REPORTS and key is not None:
        reports = config.reports_dir()
        if not any(r.run_id == key for r in _runs(reports)):
            raise FinlibError(f"no report run {key!r} in {reports}: give a run id as `finlib reports list` "
                              "shows it, or --period YYYY-MM for every run of a month")
    p = parse_period(period) if period else None
    hold_id = hashlib.sha256(f"{table}|{p}|{key}|{dt.datetime.now(dt.UTC).isoformat()}".encode()).hexdigest()[:12]
    with write_batch(wh, action="retention-hold", target=table,
                     details={"hold_id": hold_id, "period": str(p) if p else None, "key": key, "reason": reason}) as b:
        _ensure_holds(b.conn)
        b.execute("INSERT INTO retention_holds (hold_id, table_name, period, key_value, reason, created_by, created_at) "
                  "VALUES (:i, :t, :p, :k, :r, :u, :at)",
                  {"i": hold_id, "t": table, "p": p, "k": key, "r": reason, "u": b.actor,
                   "at": dt.datetime.now(dt.UTC).replace(tzinfo=None)})
    return hold_id


def release_hold(wh: Warehouse, table: str, reason: str, period: str | None = None, key: str | None = None) -> int:
    """Release the active holds on ``table`` for ``period`` or ``key``; returns how many."""
    if (period is None) == (key is None):
        raise FinlibError("a release names exactly one of --period YYYY-MM or --key KEY")
    p = parse_period(period) if period else None
    cond, scope = ("period = :p", {"p": p}) if p else ("key_value = :k", {"k": key})
    with write_batch(wh, action="retention-release", target=table,
                     details={"period": str(p) if p else None, "key": key, "reason": reason}) as b:
        _ensure_holds(b.conn)
        n = b.conn.scalar(f"SELECT count(*) FROM retention_holds WHERE table_name = :t AND {cond} "
                          "AND released_at IS NULL", {"t": table, **scope})
        if not n:
            raise FinlibError(f"no active hold on {table} for {period or key}")
        b.execute(f"UPDATE retention_holds SET released_by = :u, released_at = :at, release_reason = :r "
                  f"WHERE table_name = :t AND {cond} AND released_at IS NULL",
                  {"u": b.actor, "at": dt.datetime.now(dt.UTC).replace(tzinfo=None), "r": reason, "t": table,
                   **scope})
        b.details["released"] = int(n)
    return int(n)


def _held_sql(conn: Connection, table: str, date_column: str, alias: str) -> str:
    """SQL true for rows of ``alias`` under an active hold."""
    if not conn.table_exists("retention_holds"):
        return "FALSE"
    pk = TABLES[table].primary_key if table in TABLES else ("seq",)
    key = (" || ',' || ".join(f"CAST({alias}.{c} AS VARCHAR)" for c in pk)) if pk else "NULL"
    month = f"CAST(date_trunc('month', {alias}.{date_column}) AS DATE)"
    return (f"EXISTS (SELECT 1 FROM retention_holds h WHERE h.table_name = '{table}' AND h.released_at IS NULL "
            f"AND (h.period = {month} OR h.key_value = {key}))")


def _report_holds(conn: Connection) -> tuple[set[dt.date], set[str]]:
    """The months and run ids under an active hold on the reports."""
    if not conn.table_exists("retention_holds"):
        return set(), set()
    rows = conn.query("SELECT period, key_value FROM retention_holds WHERE table_name = :t AND released_at IS NULL",
                      {"t": REPORTS})
    months = {r[0] if isinstance(r[0], dt.date) else dt.date.fromisoformat(str(r[0])[:10]) for r in rows if r[0]}
    return months, {r[1] for r in rows if r[1]}


def _is_held(run: Run, holds: tuple[set[dt.date], set[str]]) -> bool:
    return run.month in holds[0] or run.run_id in holds[1]


# ------------------------------------------------------------------------------- plan
@dataclass
class Item:
    table: str
    years: int
    cutoff: str | None
    past: int = 0
    held: int = 0
    note: str = ""
    archive: dict = field(default_factory=dict)


def plan(wh: Warehouse, today: dt.date | None = None, policy: Policy | None = None) -> list[Item]:
    """What is past its retention period on ``today`` (default: today, UTC), and what a hold keeps."""
    policy = policy or load_policy()
    today = today or dt.datetime.now(dt.UTC).date()
    items = []
    with wh.connect(read_only=True) as conn:
        for rule in policy.rules.values():
            if rule.table in NEVER_PURGED:
                items.append(Item(rule.table, rule.years, None, note="never purged: the chain is needed to "
                                  "verify every later entry and covers records and archives still held"))
                continue
            if not conn.table_exists(rule.table):
                continue
            c = cutoff(today, rule.years)
            old = f"t.{rule.date_column} < :c"
            held = _held_sql(conn, rule.table, rule.date_column, "t")
            past, kept = conn.query(f"SELECT count(*) FILTER (WHERE NOT {held}), count(*) FILTER (WHERE {held}) "
                                    f"FROM {rule.table} AS t WHERE {old}", {"c": c})[0]
            items.append(Item(rule.table, rule.years, str(c), int(past), int(kept)))
        if policy.report_years:
            c = cutoff(today, policy.report_years)
            holds = _report_holds(conn)
            old = _runs_past(config.reports_dir(), c)
            held = sum(_is_held(r, holds) for r in old)
            items.append(Item(REPORTS, policy.report_years, str(c), len(old) - held, held,
                              note="run folders; apply archives them (tar + sha256 manifest), then deletes them"))
    return items


# ------------------------------------------------------------------------------- writing archives
def _export(conn: Connection, sql: str, params: dict, path: Path) -> int:
    if conn.backend == "duckdb":
        table = conn.raw.sql(translate_params(sql, "duckdb"), params=params).to_arrow_table()
    else:
        table = pa.Table.from_pandas(conn.query_df(sql, params), preserve_index=False)
    pq.write_table(table, path)
    return table.num_rows


def _new_archive(policy: Policy, name: str, stamp: str) -> Path:
    out = policy.archive_dir / name / stamp
    try:
        sealed.private_dir(out.parent)
        out.mkdir(mode=0o700)
    except OSError as exc:
        raise FinlibError(f"cannot create the retention archive {out} ({exc.strerror or exc}); "
                          "nothing was deleted") from None
    return out


def _write_manifest(out: Path, manifest: dict, key: str | None) -> str:
    data = (json.dumps(manifest, indent=2, default=str) + "\n").encode()
    return sealed.write_sealed(out / MANIFEST, data, key)["sha256"]


def _run_files(run: Run) -> dict[str, str]:
    """``{relative path: sha256}`` of every file of a run folder; anything but plain files and
    folders (a link, a device) is refused, so the archive holds exactly what is deleted."""
    files = {}
    for root, dirs, names in os.walk(run.path):
        for n in sorted(dirs + names):
            p = Path(root) / n
            if p.is_symlink() or not (p.is_file() or p.is_dir()):
                raise FinlibError(f"{p}: not a plain file or folder; the report run {run.name} cannot be "
                                  "archived as it is (remove or replace it); nothing was deleted")
        for n in sorted(names):
            p = Path(root) / n
            files[p.relative_to(run.path).as_posix()] = sealed.sha256_file(p)
    return files


def _tar_run(run: Run, dst: Path) -> None:
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(run.path, arcname=run.run_id, recursive=True)


@contextlib.contextmanager
def _guarded(out: Path) -> Iterator[dict]:
    """Remove the archive folder ``out`` when the work fails before it is marked ``done``
    (after that, e.g. when the commit itself fails, the archive is kept: better an archive of
    rows that still exist than no archive of rows that do not)."""
    state = {"done": False}
    try:
        yield state
    except BaseException:
        if not state["done"]:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _verified(out: Path) -> dict:
    try:
        return read_archive(out)
    except FinlibError as exc:
        raise FinlibError(f"the retention archive {out} did not verify ({exc}); nothing was deleted") from None


def _apply_table(wh: Warehouse, rule: Rule, item: Item, policy: Policy, today: dt.date, stamp: str,
                 key: str | None) -> None:
    c = dt.date.fromisoformat(item.cutoff)
    out = _new_archive(policy, rule.table, stamp)
    with _guarded(out) as state, write_batch(wh, action="retention", target=rule.table) as b:
        conn = b.conn
        held = _held_sql(conn, rule.table, rule.date_column, rule.table)
        where = f"{rule.table}.{rule.date_column} < :c AND NOT {held}"
        cols = TABLES[rule.table].column_names if rule.table in TABLES else None
        sel = ", ".join(cols) if cols else "*"
        hist = history_table(rule.table)
        hwhere = where.replace(f"{rule.table}.", f"{hist}.")
        files = {}
        try:
            with sealed.staging(out) as st:
                n = _export(conn, f"SELECT {sel} FROM {rule.table} WHERE {where}", {"c": c}, st / "rows.parquet")
                files["rows.parquet"] = {**sealed.seal(st / "rows.parquet", out / "rows.parquet", key), "rows": n}
                if conn.table_exists(hist):
                    hn = _export(conn, f"SELECT * FROM {hist} WHERE {hwhere}", {"c": c}, st / "history.parquet")
                    files["history.parquet"] = {**sealed.seal(st / "history.parquet", out / "history.parquet", key),
                                                "rows": hn}
            manifest = {"kind": "table", "table": rule.table, "cutoff": str(c), "years": rule.years,
                        "today": str(today), "policy": policy.source, "files": files,
                        "audit_seq": getattr(b, "_audit_seq", None), "actor": b.actor}
            msha = _write_manifest(out, manifest, key)
        except OSError as exc:
            raise FinlibError(f"writing the retention archive {out} failed ({exc.strerror or exc}); "
                              "nothing was deleted") from None
        _verified(out)  # read back (decrypted, digests and DuckDB row counts) before deleting anything
        b.details.update({"archive": str(out), "cutoff": str(c), "files": files, "manifest_sha256": msha,
                          "reason": f"retention: older than {rule.years} years"})
        b._audit_purge = {rule.table}  # type: ignore[attr-defined] - rows go to the archive, not history
        if rule.table == "access_log":  # the access chain restarts after a signed prune point
            last = conn.query(f"SELECT seq, entry_hash FROM access_log WHERE {where} ORDER BY seq DESC LIMIT 1",
                              {"c": c})
            if last:
                b.details["pruned_through"] = {"seq": int(last[0][0]), "entry_hash": last[0][1]}
        if rule.table in TABLES:
            b.delete(rule.table, where, {"c": c})
        else:
            b.execute(f"DELETE FROM {rule.table} WHERE {where}", {"c": c})
        if conn.table_exists(hist):
            b.execute(f"DELETE FROM {hist} WHERE {hwhere}", {"c": c})
        state["done"] = True
    item.archive = {"path": str(out), **files}


def _settle_pending(wh: Warehouse, reports: Path) -> None:
    """Finish what a crashed :func:`apply` left: a hidden ``.retention-<run_id>`` folder is
    removed when a committed ``retention`` entry names its run, else renamed back."""
    pending = [p for p in reports.glob(f"*/*/{PENDING}*") if p.is_dir()]
    if not pending:
        return
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT CAST(details AS VARCHAR) FROM audit_log WHERE action = 'retention' "
                          "AND target = :t", {"t": REPORTS}) if conn.table_exists("audit_log") else []
    done = set()
    for (details,) in rows:
        done |= set((json.loads(details) or {}).get("runs") or {})
    for p in pending:
        name = f"{p.parent.parent.name}/{p.parent.name}/{p.name[len(PENDING):]}"
        if name in done:
            shutil.rmtree(p)
        else:
            os.rename(p, p.parent / p.name[len(PENDING):])


def _apply_reports(wh: Warehouse, item: Item, policy: Policy, today: dt.date, stamp: str,
                   key: str | None) -> None:
    reports = config.reports_dir()
    c = dt.date.fromisoformat(item.cutoff)
    out = _new_archive(policy, REPORTS, stamp)
    hidden: list[tuple[Path, Path]] = []
    try:
        with _guarded(out) as state, write_batch(wh, action="retention", target=REPORTS) as b:
            holds = _report_holds(b.conn)  # read inside the batch: a hold placed meanwhile is honoured
            runs = [r for r in _runs_past(reports, c) if not _is_held(r, holds)]
            files = {}
            try:
                with sealed.staging(out) as st:
                    for run in runs:
                        members = _run_files(run)
                        name = f"{run.name}.tar"
                        sealed.private_dir(out / run.job / run.period)
                        _tar_run(run, st / "run.tar")
                        files[name] = {**sealed.seal(st / "run.tar", out / name, key), "run": run.name,
                                       "members": members}
                manifest = {"kind": REPORTS, "reports": str(reports), "cutoff": str(c), "years": item.years,
                            "today": str(today), "policy": policy.source, "files": files,
                            "audit_seq": getattr(b, "_audit_seq", None), "actor": b.actor}
                msha = _write_manifest(out, manifest, key)
            except OSError as exc:
                raise FinlibError(f"writing the retention archive {out} failed ({exc.strerror or exc}); "
                                  "nothing was deleted") from None
            _verified(out)  # every tar member equals the live file it came from, before deleting
            for run in runs:
                gone = run.path.parent / f"{PENDING}{run.run_id}"
                os.rename(run.path, gone)
                hidden.append((gone, run.path))
                # what is deleted is what was archived: a file added or changed since it was
                # hashed (before the rename hid the folder) stops the batch, nothing is deleted
                now = _run_files(dataclasses.replace(run, path=gone))
                if now != files[f"{run.name}.tar"]["members"]:
                    raise FinlibError(f"{run.path}: changed while it was archived; nothing was deleted "
                                      "(run `finlib retention apply` again)")
            b.details.update({"archive": str(out), "cutoff": str(c), "manifest_sha256": msha,
                              "runs": {f["run"]: {"sha256": f["sha256"], "files": len(f["members"])}
                                       for f in files.values()},
                              "reason": f"retention: report runs older than {item.years} years"})
            state["done"] = True
    except BaseException:
        for gone, back in hidden:  # the batch did not commit: the runs come back
            with contextlib.suppress(OSError):
                os.rename(gone, back)
        raise
    for gone, _ in hidden:
        shutil.rmtree(gone)
        for d in (gone.parent, gone.parent.parent):  # empty period and job folders go too
            with contextlib.suppress(OSError):
                d.rmdir()
    if hidden and (reports / "runs.json").exists():
        rebuild_index(reports)
    item.past = len(hidden)
    item.archive = {"path": str(out), "runs": sorted(f["run"] for f in files.values())}


def apply(wh: Warehouse, today: dt.date | None = None, policy: Policy | None = None) -> list[Item]:
    """Archive, verify, then delete every row and report run past retention that no hold
    keeps (see module doc)."""
    policy = policy or load_policy()
    today = today or dt.datetime.now(dt.UTC).date()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    key = sealed.current_key()  # a malformed FINLIB_ARCHIVE_KEY stops here, before any work
    if policy.report_years and config.reports_dir().is_dir():
        _settle_pending(wh, config.reports_dir())
    done = []
    for item in plan(wh, today, policy):
        if item.past and item.table == REPORTS:
            _apply_reports(wh, item, policy, today, stamp, key)
        elif item.past and item.table in policy.rules and item.table not in NEVER_PURGED:
            _apply_table(wh, policy.rules[item.table], item, policy, today, stamp, key)
        done.append(item)
    return done


# ------------------------------------------------------------------------------- reading archives
def _load_manifest(path: Path, keys: list[str] | None) -> dict:
    f = path / MANIFEST
    if not f.is_file():
        raise FinlibError(f"{path}: no {MANIFEST}; not a retention archive")
    try:
        try:
            raw = sealed.read_bytes(f, keys)
        except crypto.DecryptionError as exc:
            raise crypto.DecryptionError(f"{f}: {exc}") from None
        m = json.loads(raw)
        if not isinstance(m.get("files"), dict):
            raise ValueError
    except (ValueError, AttributeError):
        raise FinlibError(f"{f}: not a readable manifest: the archive was changed") from None
    return m


def _decrypt(src: Path, dst: Path, keys: list[str] | None) -> None:
    try:
        crypto.decrypt_file(src, dst, keys)
    except crypto.DecryptionError as exc:
        raise crypto.DecryptionError(f"{src}: {exc}") from None


def _check_parquet(f: Path, meta: dict, label: Path) -> int:
    con = duckdb.connect()
    try:
        n = con.execute("SELECT count(*) FROM read_parquet(?)", [str(f)]).fetchall()[0][0]
    except duckdb.Error as exc:
        raise FinlibError(f"{label}: DuckDB cannot read it ({type(exc).__name__})") from None
    finally:
        con.close()
    if n != meta.get("rows"):
        raise FinlibError(f"{label}: {n} rows, the manifest says {meta.get('rows')}")
    return n


def _check_tar(f: Path, meta: dict, label: Path) -> int:
    expected = meta.get("members") or {}
    run_id = (meta.get("run") or "").rsplit("/", 1)[-1]
    seen = {}
    try:
        with tarfile.open(f, "r:") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                rel = m.name.removeprefix(f"{run_id}/")
                fh = tar.extractfile(m)
                seen[rel] = hashlib.file_digest(fh, "sha256").hexdigest()
    except (tarfile.TarError, OSError) as exc:
        raise FinlibError(f"{label}: not a readable tar ({exc})") from None
    if seen != expected:
        bad = sorted(set(seen) ^ set(expected) | {k for k in seen if k in expected and seen[k] != expected[k]})
        raise FinlibError(f"{label}: its files differ from the manifest ({', '.join(bad[:5])})")
    return len(seen)


@contextlib.contextmanager
def open_archive(path: Path, keys: list[str] | None = None) -> Iterator[tuple[dict, Path, dict]]:
    """Check a retention archive against its manifest and yield ``(manifest, folder, counts)``.

    ``folder`` holds the plaintext files under their manifest names: the archive itself when
    it is not encrypted, else a private temporary folder (0700) deleted on exit. ``counts``
    is, per file, its rows (Parquet, counted by DuckDB) or its number of files (a report
    run's tar). Every file's sha256 must equal the manifest's; an encrypted file needs its key
    (``keys``, default ``FINLIB_ARCHIVE_KEY``); a file the manifest says was encrypted must
    still be. Raises :class:`FinlibError` naming the file otherwise, and logs the refusal
    (WARNING on ``finlib.security``)."""
    with contextlib.ExitStack() as stack:
        try:
            opened = _check_archive(Path(path), keys, stack)
        except FinlibError as exc:
            log.warning("retention archive %s refused: %s", path, exc)
            raise
        yield opened


def _check_member_name(path: Path, name: str) -> None:
    """A manifest names files *inside* its archive: a relative path without ``..``, no
    absolute path, no backslash, nothing that resolves outside ``path``. An archive is
    checked because it may have been changed: its manifest is not trusted to name a path."""
    pure = PurePosixPath(name)
    if (not name or pure.is_absolute() or "\\" in name or any(part in ("..", "") for part in pure.parts)
            or not (path / name).resolve().is_relative_to(path.resolve())):
        raise FinlibError(f"{path / 'manifest.json'}: names a file outside the archive ({name!r}): "
                          "the archive was changed")


def _check_archive(path: Path, keys: list[str] | None, stack: contextlib.ExitStack) -> tuple[dict, Path, dict]:
    m = _load_manifest(path, keys)
    kind = m.get("kind") or "table"
    for name in m["files"]:
        _check_member_name(path, name)
    encrypted = [n for n in m["files"] if (path / n).is_file() and crypto.is_encrypted(path / n)]
    plain = path
    if encrypted:
        plain = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="finlib-archive-")))
    counts = {}
    for name, meta in m["files"].items():
        f = path / name
        if not f.is_file():
            raise FinlibError(f"{f}: missing from the archive (the manifest lists it)")
        if meta.get("key_id") and name not in encrypted:
            raise FinlibError(f"{f}: not encrypted, but the manifest says it was (key id {meta['key_id']}): "
                              "the archive was changed")
        p = f
        if encrypted:
            p = plain / name
            sealed.private_dir(p.parent)
            if name in encrypted:
                _decrypt(f, p, keys)
            else:
                shutil.copyfile(f, p)
        if sealed.sha256_file(p) != meta.get("sha256"):
            raise FinlibError(f"{f}: sha256 differs from the manifest: the archive was changed")
        counts[name] = _check_tar(p, meta, f) if kind == REPORTS else _check_parquet(p, meta, f)
    return m, plain, counts


def read_archive(path: Path, keys: list[str] | None = None) -> dict:
    """Check an archive folder against its manifest and read it back (see :func:`open_archive`);
    returns ``{file: rows or files}``."""
    with open_archive(path, keys) as (_, _, counts):
        return counts
