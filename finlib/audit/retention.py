"""Retention: keep each table's records for their period, archive then delete what is past
it, and never cross a legal hold.

Policy in ``parameters/retention.yaml`` (seven years by default; a policy choice). For a
table with ``years: Y`` and ``date_column: D`` a row is *past retention* on day ``today`` when
``D`` is before the first day of ``today``'s month ``Y`` years earlier. :func:`plan` lists, per
table, the rows past retention and those kept by a hold; :func:`apply` first writes them to
Parquet (``<archive_dir>/<table>/<stamp>/rows.parquet``, plus ``history.parquet`` for their
superseded versions) with a ``manifest.json`` giving each file's sha256 and row count, then
deletes them in one audited batch (action ``retention``; the rows' digest is in the entry,
the rows themselves are in the archive, not in ``<table>_history``).

Holds (``retention_holds``) name a table and a month (``--period``) or a primary key
(``--key``); :func:`apply` never deletes a held row. The audit trail itself is never purged:
every entry is needed to verify the chain and covers rows (or archives) still held, so
``audit_log`` is only ever reported by :func:`plan`. ``today`` is injectable everywhere
(tests and ``--today``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import lazy_loader as lazy
import yaml

from finlib import config
from finlib.audit.trail import history_table
from finlib.errors import ConfigError, FinlibError
from finlib.periods import parse_period
from finlib.warehouse.db import Connection, Warehouse, translate_params
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import TABLES

duckdb = lazy.load("duckdb")
pa = lazy.load("pyarrow")
pq = lazy.load("pyarrow.parquet", suppress_warning=True)

HOLDS_DDL = ("CREATE TABLE IF NOT EXISTS retention_holds (hold_id VARCHAR PRIMARY KEY, table_name VARCHAR NOT NULL, "
             "period DATE, key_value VARCHAR, reason VARCHAR NOT NULL, created_by VARCHAR NOT NULL, "
             "created_at TIMESTAMP NOT NULL, released_by VARCHAR, released_at TIMESTAMP, release_reason VARCHAR)")
NEVER_PURGED = {"audit_log"}


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
        years = spec.get("years")
        if not isinstance(years, int) or years < 1:
            raise ConfigError(f"{where}.years must be a whole number of years >= 1, not {years!r}")
        col = spec.get("date_column")
        if name in TABLES and col is not None and col not in TABLES[name].column_names:
            raise ConfigError(f"{where}.date_column: {name} has no column {col!r}")
        if name not in NEVER_PURGED and col is None:
            raise ConfigError(f"{where}: date_column is required (which date ages a row)")
        rules[name] = Rule(name, years, col)
    archive = Path(doc.get("archive_dir") or "data/retention-archive")
    if not archive.is_absolute():
        archive = config.project_root() / archive
    rep = (doc.get("reports") or {}).get("years")
    return Policy(rules, archive, rep, str(path))


def cutoff(today: dt.date, years: int) -> dt.date:
    """The first day kept: the first of ``today``'s month, ``years`` years earlier."""
    return dt.date(today.year - years, today.month, 1)


# ------------------------------------------------------------------------------- holds
def _ensure_holds(conn: Connection) -> None:
    if not conn.table_exists("retention_holds"):
        conn.execute(HOLDS_DDL)


def add_hold(wh: Warehouse, table: str, reason: str, period: str | None = None, key: str | None = None) -> str:
    """Put a legal hold on ``table``'s rows of month ``period`` or with primary key ``key``."""
    if (period is None) == (key is None):
        raise FinlibError("a hold names exactly one of --period YYYY-MM or --key KEY")
    if not reason or not reason.strip():
        raise FinlibError("a hold needs a --reason")
    if table not in TABLES and table != "access_log":
        raise FinlibError(f"{table!r} is not a table of the warehouse")
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


# ------------------------------------------------------------------------------- plan / apply
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
        reports = config.reports_dir()
        c = cutoff(today, policy.report_years)
        old = [p for p in reports.glob("*/*/*") if p.is_dir() and _period_of(p.parent.name) and
               _period_of(p.parent.name) < c]
        items.append(Item("reports", policy.report_years, str(c), len(old),
                          note="listed only: archived reports are deleted by hand after review"))
    return items


def _period_of(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name + "-01") if len(name) == 7 else None
    except ValueError:
        return None


def _sha(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _export(conn: Connection, sql: str, params: dict, path: Path) -> int:
    if conn.backend == "duckdb":
        table = conn.raw.sql(translate_params(sql, "duckdb"), params=params).to_arrow_table()
    else:
        table = pa.Table.from_pandas(conn.query_df(sql, params), preserve_index=False)
    pq.write_table(table, path)
    return table.num_rows


def apply(wh: Warehouse, today: dt.date | None = None, policy: Policy | None = None) -> list[Item]:
    """Archive, then delete, every row past retention that no hold keeps (see module doc)."""
    policy = policy or load_policy()
    today = today or dt.datetime.now(dt.UTC).date()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    done = []
    for item in plan(wh, today, policy):
        rule = policy.rules.get(item.table)
        if rule is None or rule.table in NEVER_PURGED or not item.past:
            done.append(item)
            continue
        c = dt.date.fromisoformat(item.cutoff)
        out = policy.archive_dir / rule.table / stamp
        out.mkdir(parents=True, exist_ok=False)
        with write_batch(wh, action="retention", target=rule.table) as b:
            conn = b.conn
            held = _held_sql(conn, rule.table, rule.date_column, rule.table)
            where = f"{rule.table}.{rule.date_column} < :c AND NOT {held}"
            cols = TABLES[rule.table].column_names if rule.table in TABLES else None
            sel = ", ".join(cols) if cols else "*"
            files = {}
            n = _export(conn, f"SELECT {sel} FROM {rule.table} WHERE {where}", {"c": c}, out / "rows.parquet")
            files["rows.parquet"] = {"sha256": _sha(out / "rows.parquet"), "rows": n}
            hist = history_table(rule.table)
            if conn.table_exists(hist):
                hwhere = where.replace(f"{rule.table}.", f"{hist}.")
                hn = _export(conn, f"SELECT * FROM {hist} WHERE {hwhere}", {"c": c}, out / "history.parquet")
                files["history.parquet"] = {"sha256": _sha(out / "history.parquet"), "rows": hn}
            manifest = {"table": rule.table, "cutoff": str(c), "years": rule.years, "today": str(today),
                        "policy": policy.source, "files": files, "audit_seq": getattr(b, "_audit_seq", None),
                        "actor": b.actor}
            (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            b.details.update({"archive": str(out), "cutoff": str(c), "files": files,
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
        item.archive = {"path": str(out), **files}
        done.append(item)
    return done


def read_archive(path: Path) -> dict:
    """Check an archive folder against its manifest and read it back with DuckDB."""
    m = json.loads((path / "manifest.json").read_text())
    out = {}
    for name, meta in m["files"].items():
        f = path / name
        if _sha(f) != meta["sha256"]:
            raise FinlibError(f"{f}: sha256 differs from the manifest: the archive was changed")
        n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{f}')").fetchall()[0][0]
        if n != meta["rows"]:
            raise FinlibError(f"{f}: {n} rows, the manifest says {meta['rows']}")
        out[name] = n
    return out
