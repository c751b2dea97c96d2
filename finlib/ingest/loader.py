"""Validated, all-or-nothing ingestion of CSV and Parquet exports.

How a load runs
---------------
1. The file is checked (exists, not empty, decodes) and its header is compared with the
   target table's columns through the mapping (missing columns get a "did you mean").
2. DuckDB reads the file *streaming* (``read_csv(..., all_varchar=true)``): ids and text
   are trimmed, every value is parsed with ``TRY_CAST``/``try_strptime`` and every rule
   derived from :mod:`finlib.warehouse.schema` and :mod:`finlib.ingest.rules` (not-null,
   types, allowed values, ranges, first-of-month periods, plausible dates, amounts to the
   cent, ISO currencies with an fx rate on or before the row's date, row rules, primary
   and natural keys unique in the file and new to the warehouse (NULL a value in natural
   keys), foreign keys present) is counted in **one aggregate pass**. Only when something fails is the file read again
   with row numbers to report the first ``max_errors`` problems with their real line.
3. With no problem, the rows are inserted in the same transaction (one
   :func:`~finlib.warehouse.load.write_batch`): ``INSERT INTO t SELECT ... FROM read_csv``
   on DuckDB, a streamed ``COPY`` on PostgreSQL. On any error nothing is written.
4. Every batch, accepted or rejected, is recorded in ``ingest_batches`` (a rejected batch in
   its own small transaction). Warnings about an accepted load (one-day gaps between a
   customer's subscriptions) are read in its transaction and recorded in its message.

Re-loading a file already accepted into the same table (same sha256) is refused unless a
``replace`` scope is given (see :func:`parse_replace`).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import lazy_loader as lazy

from finlib import config
from finlib.errors import ConfigError, IngestError, ValidationError
from finlib.ingest.mapping import ColumnSpec, Mapping
from finlib.ingest.rules import POSTING_LAG, IngestRules, iso_currencies, load_rules
from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import current_user, write_batch
from finlib.warehouse.schema import TABLES, Column, Table

duckdb = lazy.load("duckdb")  # the database drivers load on first use
pa = lazy.load("pyarrow")
pg_copy = lazy.load("finlib.warehouse.pg_copy", suppress_warning=True)

Progress = Callable[[str, float | None], None]

#: DuckDB reads these encodings natively; any other is transcoded to UTF-8 first.
_DUCKDB_ENCODINGS = {"utf-8": "utf-8", "iso8859-1": "latin-1", "utf-16": "utf-16"}
_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}


# ---------------------------------------------------------------------------- helpers
def ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value) -> str:
    """An SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def did_you_mean(word: str, candidates) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate, or ``""``."""
    cands = list(candidates)
    lower = {c.lower(): c for c in cands}
    if word.lower() in lower and lower[word.lower()] != word:
        return f" (did you mean {lower[word.lower()]!r}?)"
    close = difflib.get_close_matches(word, cands, n=1, cutoff=0.6)
    if not close:
        close = [lower[c] for c in difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)]
    return f" (did you mean {close[0]!r}?)" if close else ""


def file_sha256(path: Path) -> str:
    """The file's sha256 (hex), streamed by :func:`hashlib.file_digest` (which releases the
    GIL, so it runs beside validation)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ---------------------------------------------------------------------------- replace
@dataclass(frozen=True)
class Replace:
    """What a re-load replaces.

    ``all``                delete every row of the table, then load the file (full refresh)
    ``keys``               delete the rows whose key (primary or natural) is in the file, then
                           load (upsert)
    ``period=2024-01``     delete the table's rows of that month (or ``2024-01..2024-03``, a
                           range); every row of the file must fall in it
    """

    kind: str  # all | keys | period
    lo: date | None = None
    hi: date | None = None

    def __str__(self) -> str:
        if self.kind == "period":
            return f"period={self.lo:%Y-%m}..{self.hi:%Y-%m}"
        return self.kind


def _month(s: str) -> date:
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-01)?", s.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise IngestError(f"--replace period={s!r}: write the month as YYYY-MM, e.g. period=2024-01")
    return date(int(m.group(1)), int(m.group(2)), 1)


def parse_replace(text: str | None, table: Table) -> Replace | None:
    """Parse ``--replace`` (``all``, ``keys``, ``period=YYYY-MM[..YYYY-MM]``) for ``table``."""
    if not text:
        return None
    t = text.strip().lower()
    if t == "all":
        return Replace("all")
    if t == "keys":
        if not table.natural_key:
            raise IngestError(f"--replace keys needs a key; {table.name} has none. "
                              "Use --replace all or --replace period=YYYY-MM.")
        return Replace("keys")
    if t.startswith("period="):
        if "period" not in table.column_names:
            raise IngestError(f"--replace {text}: {table.name} has no period column. "
                              "Use --replace all" + (" or --replace keys." if table.natural_key else "."))
        lo, _, hi = t[len("period="):].partition("..")
        lo_d = _month(lo)
        hi_d = _month(hi) if hi else lo_d
        if hi_d < lo_d:
            raise IngestError(f"--replace {text}: the range ends before it starts")
        return Replace("period", lo_d, hi_d)
    raise IngestError(f"--replace {text!r} is not understood: use all, keys or period=YYYY-MM[..YYYY-MM]")


# ---------------------------------------------------------------------------- plan
@dataclass
class _Col:
    col: Column
    spec: ColumnSpec | None
    source: str | None
    raw: str  # SQL over the source relation -> cleaned VARCHAR (or NULL)
    typed: str = ""  # SQL over the raw level -> typed value
    lookup: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return self.col.name

    @property
    def label(self) -> str:
        return self.source if self.source and self.source != self.name else self.name


@dataclass
class _Check:
    rule: str
    column: str  # target column
    sql: str  # condition over the stage (alias s); TRUE means a problem
    message: str
    value_col: str | None = None  # stage column holding the value to report
    extra: tuple[str, ...] = ()  # SQL over the stage, evaluated for reported rows only
    fmt: Callable[..., str] | None = None  # fmt(value, *extra) -> message (else `message`)


@dataclass
class IngestResult:
    """What an accepted load did."""

    batch_id: str
    table: str
    file: str
    sha256: str
    rows: int
    deleted: int = 0
    replace: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


def _problem(file, line, column, value, rule, message) -> dict:
    return {"file": file, "line": line, "column": column, "value": value, "rule": rule,
            "message": message}


_TYPE_HINT = {
    "date": "a date (YYYY-MM-DD)",
    "period": "a month (YYYY-MM-01 or YYYY-MM)",
    "timestamp": "a timestamp (YYYY-MM-DD HH:MM:SS)",
    "money": "an amount like -1234.50",
    "rate": "a number",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
}


class _Source:
    """The file as DuckDB sees it: a relation of VARCHAR columns plus its header."""

    def __init__(self, path: Path, encoding: str | None, mapping: Mapping | None, tmpdir: Path):
        self.path = path
        self.kind = "parquet" if path.suffix.lower() in _PARQUET_SUFFIXES else "csv"
        self.delimiter = mapping.delimiter if mapping else ","
        self.quote = mapping.quote if mapping else '"'
        self.encoding = "utf-8"
        self.read_path = path
        self.headers: list[str] = []
        if self.kind == "csv":
            self._prepare_csv(encoding, tmpdir)

    # -- CSV -------------------------------------------------------------------------
    def _prepare_csv(self, encoding: str | None, tmpdir: Path) -> None:
        enc_name = encoding or "utf-8"
        try:
            norm = codecs.lookup(enc_name).name
        except LookupError:
            raise IngestError(f"unknown encoding {enc_name!r}: try utf-8, latin-1 or cp1252") from None
        self.user_encoding = enc_name
        if norm in _DUCKDB_ENCODINGS:
            self.encoding = _DUCKDB_ENCODINGS[norm]
            self.py_encoding = "utf-8-sig" if norm == "utf-8" else norm
        else:  # transcode to UTF-8 in chunks (bounded memory)
            out = tmpdir / (self.path.stem + ".utf8.csv")
            dec = codecs.getincrementaldecoder(norm)(errors="strict")
            try:
                with open(self.path, "rb") as fi, open(out, "w", encoding="utf-8", newline="") as fo:
                    while chunk := fi.read(8 << 20):
                        fo.write(dec.decode(chunk))
                    fo.write(dec.decode(b"", final=True))
            except UnicodeDecodeError as exc:
                raise IngestError(f"{self.path.name} does not decode as {enc_name}: {exc.reason} "
                                  f"at byte {exc.start}. Check --encoding.") from exc
            self.read_path, self.encoding, self.py_encoding = out, "utf-8", "utf-8"
        try:
            with open(self.read_path, encoding=self.py_encoding, newline="") as f:
                reader = csv.reader(f, delimiter=self.delimiter, quotechar=self.quote)
                self.headers = [h.strip() for h in next(reader, [])]
                self.has_rows = next(reader, None) is not None
        except UnicodeDecodeError as exc:
            raise self.decode_error(1) from exc

    def decode_error(self, line: int | None) -> IngestError:
        where = f" (line {line})" if line else ""
        return IngestError(
            f"{self.path.name} is not valid {self.user_encoding.upper()}{where}: it was probably "
            "saved by Excel or an older system in another encoding. Try again with "
            "--encoding latin-1 (or --encoding cp1252 for Windows exports)."
        )

    def relation(self) -> str:
        if self.kind == "parquet":
            return f"read_parquet({lit(self.read_path)})"
        cols = "{" + ", ".join(f"{lit(h)}: 'VARCHAR'" for h in self.headers) + "}"
        return (f"read_csv({lit(self.read_path)}, auto_detect=false, header=true, columns={cols}, "
                f"delim={lit(self.delimiter)}, quote={lit(self.quote)}, escape={lit(self.quote)}, "
                f"encoding={lit(self.encoding)}, strict_mode=true)")

    def raw_ref(self, header: str) -> str:
        if self.kind == "parquet":
            return f"CAST({ident(header)} AS VARCHAR)"
        return ident(header)

    def lines_of(self, rns: set[int]) -> dict[int, int]:
        """Map data-row numbers (1-based, DuckDB order) to the file's real line numbers.

        A quoted value may span lines, so the CSV is re-scanned up to the largest row asked
        for (only on the error path). Parquet rows are reported by row number.
        """
        if not rns:
            return {}
        if self.kind == "parquet":
            return {r: r for r in rns}
        out: dict[int, int] = {}
        want = max(rns)
        with open(self.read_path, encoding=self.py_encoding, newline="", errors="replace") as f:
            reader = csv.reader(f, delimiter=self.delimiter, quotechar=self.quote)
            prev, rec = 0, -1  # rec 0 is the header
            for row in reader:
                start = prev + 1
                prev = reader.line_num
                if not row:
                    continue
                rec += 1
                if rec in rns:
                    out[rec] = start
                if rec >= want:
                    break
        return {r: out.get(r, r + 1) for r in rns}


# ---------------------------------------------------------------------------- engine
class _Ingest:
    def __init__(self, wh: Warehouse, table: str, path: Path, mapping: Mapping | None,
                 encoding: str | None, replace: Replace | None, max_errors: int,
                 user: str, progress: Progress | None, rules: IngestRules | None = None):
        self.wh, self.table, self.path, self.mapping = wh, TABLES[table], path, mapping
        self.encoding, self.replace, self.max_errors = encoding, replace, max(1, max_errors)
        self.user, self.progress = user, progress
        self.rules = rules or load_rules()
        self.reporting = config.reporting_currency()
        self.fx_first: dict[str, date] = {}  # currency -> its first fx_rates.rate_date
        self.fname = path.name
        self.cols: list[_Col] = []
        self.checks: list[_Check] = []
        self.lookups: dict[tuple[str, str], str] = {}  # (table, column) -> relation name
        self.refs: dict[tuple[str, str], str] = {}  # referenced (table, column) -> relation

    # -- header ----------------------------------------------------------------------
    def plan(self, src: _Source) -> list[dict]:
        """Decide where each target column comes from; header problems (no data read)."""
        problems: list[dict] = []
        headers = src.headers
        seen: set[str] = set()
        for h in headers:
            if h in seen:
                problems.append(_problem(self.fname, 1, h, h, "duplicate_column",
                                         f"the header names {h!r} twice; rename one"))
            seen.add(h)
        specs = dict(self.mapping.columns) if self.mapping else {}
        for target in specs:
            if target not in self.table.column_names:
                raise ConfigError(f"mapping {self.mapping.name}: {target!r} is not a column of "
                                  f"{self.table.name}{did_you_mean(target, self.table.column_names)}")
        used: set[str] = set()
        for col in self.table.columns:
            spec = specs.get(col.name)
            if spec is not None and spec.is_constant:
                self.cols.append(_Col(col, spec, None, "NULL" if spec.constant is None else lit(spec.constant)))
                continue
            source = spec.source if spec is not None else (col.name if col.name in headers else None)
            if source is None or source not in headers:
                if spec is None and col.nullable:
                    self.cols.append(_Col(col, None, None, "CAST(NULL AS VARCHAR)"))
                    continue
                unused = [h for h in headers if h not in used and h not in self._mapped_sources()]
                hint = did_you_mean(source or col.name, unused or headers)
                what = (f"mapping {self.mapping.name} reads {col.name} from column {source!r}, "
                        "which the file does not have" if spec is not None else
                        f"required column {col.name!r} is not in the header")
                problems.append(_problem(self.fname, 1, source or col.name, None, "missing_column",
                                         what + hint))
                continue
            used.add(source)
            for other in (spec.null_when or {}) if spec else {}:
                if other not in headers:
                    problems.append(_problem(self.fname, 1, other, None, "missing_column",
                                             f"mapping uses column {other!r} (null_when of {col.name}), "
                                             f"which the file does not have{did_you_mean(other, headers)}"))
            self.cols.append(_Col(col, spec, source, self._raw_sql(src, source, spec, col),
                                  lookup=spec.lookup if spec else None))
        if (self.mapping is not None and self.mapping.end_date == "inclusive"
                and self.table.name != "subscriptions"):
            raise ConfigError(f"mapping {self.mapping.name}: end_date: inclusive applies to "
                              f"subscriptions only, not {self.table.name}")
        if self.mapping is None:
            known = set(self.table.column_names)
            for h in headers:
                if h not in known:
                    problems.append(_problem(
                        self.fname, 1, h, h, "unknown_column",
                        f"{h!r} is not a column of {self.table.name}"
                        f"{did_you_mean(h, [c for c in known if c not in used])}; "
                        "rename it, or use --mapping to rename or ignore source columns"))
        return problems

    def _mapped_sources(self) -> set[str]:
        if not self.mapping:
            return set()
        return {s.source for s in self.mapping.columns.values() if s.source}

    def _raw_sql(self, src: _Source, source: str, spec: ColumnSpec | None, col: Column) -> str:
        x = src.raw_ref(source) if src.kind == 'csv' else f"NULLIF({src.raw_ref(source)}, '')"
        if col.type in ("id", "text"):  # ' C000001' is C000001: trimmed, and blank is empty
            x = f"NULLIF(trim({x}), '')"
        if spec is None:
            return x
        if spec.extract:
            group = 1 if re.compile(spec.extract).groups else 0
            x = f"NULLIF(trim(regexp_extract({x}, {lit(spec.extract)}, {group})), '')"
        if spec.case:
            x = f"{spec.case}({x})"
        if spec.values:
            whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in spec.values.items())
            other = lit(spec.otherwise) if spec.otherwise is not None else x
            x = f"CASE {x} {whens} ELSE {other} END"
        if spec.null_when:
            conds = " OR ".join(
                f"trim({src.raw_ref(c)}) IN ({', '.join(lit(v) for v in vals)})"
                for c, vals in spec.null_when.items())
            x = f"CASE WHEN {conds} THEN NULL ELSE {x} END"
        return x

    # -- typed values and rules --------------------------------------------------------
    def _typed_sql(self, c: _Col, r: str) -> str:
        t, spec = c.col.type, c.spec
        fmts = spec.formats if spec else ()
        if c.lookup:
            return f"{self.lookups[c.lookup]}.v"
        if c.spec is not None and c.spec.is_constant:
            return f"CAST({r} AS {c.col.sql_type.replace('DOUBLE PRECISION', 'DOUBLE')})"
        if t in ("date", "period", "timestamp"):
            if fmts:
                flist = "[" + ", ".join(lit(f) for f in fmts) + "]"
                x = f"try_strptime({r}, {flist})"
            elif t == "period":
                x = f"COALESCE(TRY_CAST({r} AS DATE), CAST(try_strptime({r}, '%Y-%m') AS DATE))"
            else:
                x = f"TRY_CAST({r} AS {'TIMESTAMP' if t == 'timestamp' else 'DATE'})"
            if t == "timestamp":
                return f"CAST({x} AS TIMESTAMP)"
            if spec is not None and spec.truncate == "month":
                return f"CAST(date_trunc('month', {x}) AS DATE)"
            if self._end_inclusive(c):  # the last day of service -> the first day without
                return f"CAST(CAST({x} AS DATE) + INTERVAL 1 DAY AS DATE)"
            return f"CAST({x} AS DATE)"
        if t in ("money", "rate"):
            st = c.col.sql_type
            style = spec.amount if spec else "plain"
            if style == "cents":
                return f"CAST(CAST(TRY_CAST({r} AS BIGINT) AS DECIMAL(18,0)) * CAST(0.01 AS DECIMAL(3,2)) AS {st})"
            if style == "accounting":
                stripped = _accounting_digits(r)
                sign = f"CASE WHEN regexp_matches({r}, '^\\s*-?\\s*[A-Za-z$€£ ]*\\(.*\\)\\s*$') THEN -1 ELSE 1 END"
                return f"CAST({sign} * TRY_CAST({stripped} AS {st}) AS {st})"
            return f"TRY_CAST({r} AS {st})"
        if t == "int":
            return f"TRY_CAST({r} AS BIGINT)"
        if t == "float":
            return f"TRY_CAST({r} AS DOUBLE)"
        if t == "bool":
            tv = spec.true_values if spec else ColumnSpec("x").true_values
            fv = spec.false_values if spec else ColumnSpec("x").false_values
            # exact spellings first (cheap comparisons); lower(trim()) only for the rest
            return (f"CASE WHEN {r} IN ({', '.join(lit(v) for v in tv)}) THEN TRUE "
                    f"WHEN {r} IN ({', '.join(lit(v) for v in fv)}) THEN FALSE "
                    f"WHEN lower(trim({r})) IN ({', '.join(lit(v) for v in tv)}) THEN TRUE "
                    f"WHEN lower(trim({r})) IN ({', '.join(lit(v) for v in fv)}) THEN FALSE END")
        return r  # id, text, json

    def _end_inclusive(self, c: _Col) -> bool:
        return (self.table.name == "subscriptions" and c.name == "end_date"
                and self.mapping is not None and self.mapping.end_date == "inclusive")

    def read_reference(self, query: Callable[[str], list]) -> None:
        """Small facts the rules need from the warehouse (``query(sql) -> rows``): the first
        ``fx_rates`` date of each currency."""
        if self.table.fx_date:
            self.fx_first = {cur: (d if isinstance(d, date) else date.fromisoformat(str(d)[:10]))
                             for cur, d in query("SELECT currency, min(rate_date) FROM fx_rates "
                                                 "GROUP BY currency")}

    def build_checks(self, pg_keys_checked_elsewhere: bool) -> None:
        tbl = self.table
        for c in self.cols:
            n, rawc = c.name, f"s.{ident('__raw_' + c.name)}"
            typed = f"s.{ident(n)}"
            c.typed = self._typed_sql(c, f"q.{ident('__raw_' + n)}")
            const = c.spec is not None and c.spec.is_constant
            if not c.col.nullable:
                self.checks.append(_Check("not_null", n, f"{rawc} IS NULL",
                                          f"{c.label} is empty but {n} is required", "__raw_" + n))
            if c.lookup:
                lt, lc = c.lookup
                self.checks.append(_Check("lookup", n, f"{rawc} IS NOT NULL AND {typed} IS NULL",
                                          f"no {lt} row has {lc} = this value", "__raw_" + n))
            elif c.col.type not in ("id", "text", "json") and not const:
                hint = (c.spec.describe_format() if c.spec and c.spec.formats else "") or \
                    (f"{c.spec.amount} amount" if c.spec and c.col.type in ("money", "rate")
                     and c.spec.amount != "plain" else _TYPE_HINT[c.col.type])
                self.checks.append(_Check("type", n, f"{rawc} IS NOT NULL AND {typed} IS NULL",
                                          f"{c.label} is not {hint}", "__raw_" + n))
            if c.col.type == "id":
                self.checks.append(_Check("max_length", n, f"length({typed}) > 64",
                                          f"{n} is longer than 64 characters", "__raw_" + n))
            if c.col.allowed:
                vals = ", ".join(lit(v) for v in c.col.allowed)
                self.checks.append(_Check("allowed", n, f"{typed} NOT IN ({vals})",
                                          f"{n} must be one of {', '.join(c.col.allowed)}"
                                          + (" (add a 'values' map to the mapping)" if c.source else ""),
                                          "__raw_" + n))
            if c.col.min is not None:
                self.checks.append(_Check("min", n, f"{typed} < {c.col.min}",
                                          f"{n} must be at least {c.col.min:g}", "__raw_" + n))
            if c.col.max is not None:
                self.checks.append(_Check("max", n, f"{typed} > {c.col.max}",
                                          f"{n} must be at most {c.col.max:g}", "__raw_" + n))
            if c.col.type == "period" and not (c.spec and c.spec.truncate):
                self.checks.append(_Check("first_of_month", n, f"day({typed}) <> 1",
                                          f"{n} must be the first day of a month "
                                          "(or set 'truncate: month' in the mapping)", "__raw_" + n))
            if c.col.references:
                rt, rc = c.col.references.split(".")
                rel = self.refs[(rt, rc)]
                self.checks.append(_Check("foreign_key", n,
                                          f"{typed} IS NOT NULL AND {typed} NOT IN (SELECT v FROM {rel})",
                                          f"{n} not found in {rt}.{rc}: load {rt} first or fix the id",
                                          n))
        self._plausibility_checks()
        if self.replace and self.replace.kind == "period":
            lo, hi = self.replace.lo, self.replace.hi
            self.checks.append(_Check("replace_scope", "period",
                                      f"s.period NOT BETWEEN DATE '{lo}' AND DATE '{hi}'",
                                      f"period is outside --replace {self.replace}", "__raw_period"))
        key = self.key_columns()
        if key and not pg_keys_checked_elsewhere and not (self.replace and self.replace.kind in ("all", "keys")):
            on = self.key_match("w", "s")
            scope = self._replace_pred("w")
            self.checks.append(_Check(
                "primary_key_exists", ", ".join(key),
                f"EXISTS (SELECT 1 FROM {tbl.name} w WHERE {on}" + (f" AND NOT ({scope})" if scope else "") + ")",
                f"{', '.join(key)} already in the warehouse: use --replace keys to overwrite", None))

    def key_columns(self) -> tuple[str, ...]:
        return self.table.natural_key

    def key_match(self, a: str, b: str) -> str:
        """SQL: rows ``a`` and ``b`` have the same key; NULL in a nullable key column is a
        value (``IS NOT DISTINCT FROM``), so two company-wide targets of a month collide."""
        return " AND ".join(
            f"{a}.{ident(k)} {'IS NOT DISTINCT FROM' if self.table.column(k).nullable else '='} {b}.{ident(k)}"
            for k in self.key_columns())

    def key_not_null(self) -> str:
        """SQL: the row's required key columns are present (rows without are reported as
        not_null; a nullable key column may be NULL)."""
        req = [k for k in self.key_columns() if not self.table.column(k).nullable]
        return " AND ".join(f"{ident(k)} IS NOT NULL" for k in req) or "TRUE"

    def warnings(self, conn, keys_rel: str) -> list[str]:
        """Warnings about an accepted load, read inside its transaction on the warehouse
        connection ``conn`` (DuckDB or PostgreSQL); ``keys_rel`` holds the file's keys.

        Subscriptions: consecutive rows of a customer with exactly one day between the end
        of one and the start of the next, the signature of last-day-of-service dates
        loaded as exclusive ends.
        """
        if self.table.name != "subscriptions":
            return []
        mine = f"SELECT {ident(self.key_columns()[0])} FROM {keys_rel} AS kr"
        rows = conn.query(
            "SELECT a.customer_id, a.subscription_id, CAST(a.end_date AS VARCHAR), b.subscription_id, "
            "CAST(b.start_date AS VARCHAR), count(*) OVER () FROM subscriptions a JOIN subscriptions b "
            "ON b.customer_id = a.customer_id AND b.start_date = a.end_date + 1 "
            f"WHERE a.subscription_id IN ({mine}) OR b.subscription_id IN ({mine}) "
            "ORDER BY a.customer_id, a.end_date, a.subscription_id LIMIT 3")
        if not rows:
            return []
        n = rows[0][5]
        eg = "; ".join(f"customer {c}: {s1} ends {e}, {s2} starts {st}" for c, s1, e, s2, st, _ in rows)
        fix = ("" if self.mapping is not None and self.mapping.end_date == "inclusive" else
               " If the export gives the last day of service, declare 'end_date: inclusive' in the "
               "mapping and load the file again with --replace keys.")
        return [f"{n} subscription{'s' if n != 1 else ''} of {self.fname} leave{'s' if n == 1 else ''} "
                f"exactly one day between a customer's subscription and the next (e.g. {eg}). "
                "end_date is the first day without service, so that day has no subscription and "
                "a month-end price change shows as churn and reactivation." + fix]

    # -- plausibility: dates, amounts, currencies, row rules ---------------------------
    def _plausibility_checks(self) -> None:
        tbl, rules = self.table, self.rules
        lo, hi = rules.earliest, rules.latest()
        where = f" ({rules.source})" if rules.source != "defaults" else ""
        cols = {c.name: c for c in self.cols}
        for c in self.cols:
            n, typed, raw = c.name, f"s.{ident(c.name)}", f"s.{ident('__raw_' + c.name)}"
            t = c.col.type
            if t in ("date", "period"):
                sql = f"{typed} < DATE '{lo}' OR {typed} > DATE '{hi}'"
            elif t == "timestamp":
                sql = f"{typed} < TIMESTAMP '{lo}' OR {typed} >= TIMESTAMP '{hi}' + INTERVAL 1 DAY"
            else:
                sql = ""
            if sql:
                shown = "__raw_" + n if c.source else n
                self.checks.append(_Check("date_window", n, sql,
                                          f"{n} is outside the plausible dates {rules.window()}{where}",
                                          shown))
            style = c.spec.amount if c.spec else "plain"
            if t == "money" and c.source and style in ("plain", "accounting"):
                self.checks.append(_Check(
                    "decimals", n,
                    f"regexp_matches({raw}, '\\.\\d\\d\\d*[1-9]') AND {typed} IS NOT NULL",  # 100.005, not 100.000
                    f"{c.label} has more than two decimals; amounts are stored to the cent and are "
                    "never rounded on load: round them in the source", "__raw_" + n))
                if style == "accounting" and "currency" in cols:
                    prefix = (f"CASE WHEN contains({raw}, '€') THEN 'EUR' WHEN contains({raw}, '£') THEN 'GBP' "
                              f"ELSE upper(NULLIF(regexp_extract({raw}, '^\\s*-?\\s*([A-Za-z]{{3}})\\s', 1), '')) END")
                    self.checks.append(_Check(
                        "currency_prefix", n, f"{prefix} <> s.currency", "", "__raw_" + n,
                        extra=(prefix, "s.currency"),
                        fmt=lambda v, pre, cur, label=c.label: (
                            f"{label} is written in {pre} but the row's currency is {cur}: map the "
                            "currency column (or its constant) to the amount's currency")))
        if "currency" in cols:
            self._currency_checks()
        names = set(tbl.column_names)
        for rc in tbl.checks:
            self.checks.append(_Check(rc.name, rc.column, f"NOT ({_qualify(rc.condition, names)})",
                                      rc.message, "__raw_" + rc.column if cols[rc.column].source else rc.column))
        if tbl.name in POSTING_LAG:
            ts, per = POSTING_LAG[tbl.name]
            d = rules.posted_at_max_days
            self.checks.append(_Check(
                "posting_lag", ts,
                f"s.{ts} < s.{per} - INTERVAL {d} DAY OR s.{ts} >= s.{per} + INTERVAL 1 MONTH + INTERVAL {d} DAY",
                "", "__raw_" + ts if cols[ts].source else ts, extra=(f"CAST(s.{per} AS VARCHAR)",),
                fmt=lambda v, per_v: (f"{ts} is more than {d} days away from its {per} {per_v[:7]} "
                                      f"(posted_at_max_days{where or ' in parameters/ingest.yaml'})")))

    def _currency_checks(self) -> None:
        tbl, rep = self.table, self.reporting
        iso = iso_currencies()
        value = "__raw_currency" if next(c for c in self.cols if c.name == "currency").source else "currency"
        if not tbl.fx_date:  # fx_rates: the codes themselves
            self.checks.append(_Check("currency", "currency", f"s.currency NOT IN ({', '.join(lit(x) for x in sorted(iso))})",
                                      "", value, fmt=lambda v: _not_iso(v, iso)))
            return
        known = sorted({rep} | {c for c in self.fx_first if c in iso})

        def unknown(v):
            if v is None or str(v) not in iso:
                return _not_iso(v, iso)
            return (f"no fx_rates rate for {v}: load its rates into fx_rates first (or use the "
                    f"reporting currency {rep})")

        self.checks.append(_Check("currency", "currency", f"s.currency NOT IN ({', '.join(lit(x) for x in known)})",
                                  "", value, fmt=unknown))
        fxd = tbl.fx_date
        whens = " ".join(f"WHEN {lit(cur)} THEN s.{fxd} < DATE '{first}'"
                         for cur, first in sorted(self.fx_first.items()) if cur != rep and cur in known)
        if whens:
            first = dict(self.fx_first)
            self.checks.append(_Check(
                "fx_rate", "currency", f"CASE s.currency {whens} ELSE FALSE END", "", value,
                extra=(f"CAST(s.{fxd} AS VARCHAR)",),
                fmt=lambda v, d: (f"no fx_rates rate for {v} on or before {d} ({fxd}): its first rate is "
                                  f"dated {first.get(str(v))}; load earlier rates into fx_rates first")))

    def _replace_pred(self, alias: str) -> str:
        r = self.replace
        if r is None:
            return ""
        if r.kind == "period":
            return f"{alias}.period BETWEEN DATE '{r.lo}' AND DATE '{r.hi}'"
        return "TRUE"

    def stage_sql(self, src: _Source, numbered: bool) -> str:
        raws = ", ".join(f"{c.raw} AS {ident('__raw_' + c.name)}" for c in self.cols)
        rn = "row_number() OVER () AS __rn, " if numbered else ""
        typed = ", ".join(f"{c.typed} AS {ident(c.name)}" for c in self.cols)
        joins = ""
        for c in self.cols:
            if c.lookup:
                joins += f" LEFT JOIN {self.lookups[c.lookup]} ON {self.lookups[c.lookup]}.k = q.{ident('__raw_' + c.name)}"
        return f"SELECT q.*, {typed} FROM (SELECT {rn}{raws} FROM {src.relation()}) AS q{joins}"

    # -- running -----------------------------------------------------------------------
    def count_problems(self, duck, src: _Source) -> tuple[int, list[int], int]:
        """One streaming pass: (rows, failures per check, duplicate keys in the file)."""
        key = self.key_columns()
        aggs = ["count(*)"] + [f"count(*) FILTER (WHERE {ch.sql})" for ch in self.checks]
        if key:
            kexpr = ident(key[0]) if len(key) == 1 else "row(" + ", ".join(ident(k) for k in key) + ")"
            notnull = self.key_not_null()
            aggs += [f"count(*) FILTER (WHERE {notnull})", f"count(DISTINCT {kexpr}) FILTER (WHERE {notnull})"]
        sql = f"SELECT {', '.join(aggs)} FROM ({self.stage_sql(src, False)}) AS s"
        row = _run(duck, sql, self.progress, "validating").fetchall()[0]
        n = row[0]
        fails = list(row[1:1 + len(self.checks)])
        dups = (row[-2] - row[-1]) if key else 0
        return n, fails, dups

    def detail_problems(self, duck, src: _Source, fails: list[int], dups: int) -> list[dict]:
        """The first ``max_errors`` problems with line, column, value and rule."""
        active = [ch for ch, f in zip(self.checks, fails, strict=True) if f]
        found: list[tuple[int, dict]] = []
        stage = self.stage_sql(src, True)
        if active:
            flags = ", ".join(f"({ch.sql}) AS __f{i}" for i, ch in enumerate(active))
            flags += "".join(f", {x} AS __x{i}_{j}" for i, ch in enumerate(active) for j, x in enumerate(ch.extra))
            anyf = " OR ".join(f"({ch.sql})" for ch in active)
            rows = _run(duck, f"SELECT s.*, {flags} FROM ({stage}) AS s WHERE {anyf} "
                              f"ORDER BY __rn LIMIT {self.max_errors}", self.progress, "reporting")
            names = [d[0] for d in rows.description]
            for rec in rows.fetchall():
                r = dict(zip(names, rec, strict=True))
                for i, ch in enumerate(active):
                    if r[f"__f{i}"]:
                        if ch.value_col:
                            val = r[ch.value_col]
                        else:
                            val = ", ".join(_key_text(r[k]) for k in self.key_columns())
                        col = self._source_label(ch.column)
                        msg = (ch.fmt(val, *(r[f"__x{i}_{j}"] for j in range(len(ch.extra))))
                               if ch.fmt else self._message(ch, val))
                        found.append((r["__rn"], _problem(self.fname, None, col, val, ch.rule, msg)))
        if dups:
            key = self.key_columns()
            kcols = ", ".join(ident(k) for k in key)
            notnull = self.key_not_null()
            rows = _run(duck, f"SELECT {kcols}, list(__rn ORDER BY __rn) AS rns FROM ({stage}) AS s "
                              f"WHERE {notnull} GROUP BY {kcols} HAVING count(*) > 1 "
                              f"ORDER BY min(__rn) LIMIT {self.max_errors}", self.progress, "reporting")
            for rec in rows.fetchall():
                val = ", ".join(_key_text(v) for v in rec[:-1])
                first = rec[-1][0]
                for rn in rec[-1][1:]:
                    found.append((rn, _problem(self.fname, None, self._source_label(", ".join(key)), val,
                                               "unique", f"duplicate key; first seen on data row {first}")))
                    found[-1][1]["_first"] = first
        found.sort(key=lambda x: x[0])
        found = found[: self.max_errors]
        lines = src.lines_of({rn for rn, _ in found} | {p.get("_first") for _, p in found if p.get("_first")})
        out = []
        for rn, p in found:
            p["line"] = lines.get(rn, rn + 1)
            if "_first" in p:
                p["message"] = f"duplicate key; first seen on line {lines.get(p.pop('_first'))}"
            out.append(p)
        return out

    def _source_label(self, column: str) -> str:
        for c in self.cols:
            if c.name == column:
                return c.label if c.label == c.name else f"{c.label} -> {c.name}"
        return column

    def _message(self, ch: _Check, val) -> str:
        if ch.rule == "lookup" and val is not None:
            c = next(c for c in self.cols if c.name == ch.column)
            names = getattr(self, "_lookup_names", {}).get(c.lookup, [])
            return ch.message + did_you_mean(str(val), names)
        if ch.rule == "allowed" and val is not None:
            allowed = next(c for c in self.cols if c.name == ch.column).col.allowed or ()
            return ch.message + did_you_mean(str(val), allowed)
        return ch.message


def _accounting_digits(r: str) -> str:
    """SQL: an accounting amount's digits (currency code, symbols, separators and parentheses
    removed), as :meth:`_Ingest._typed_sql` parses it."""
    return (f"regexp_replace(regexp_replace({r}, '^[A-Za-z]{{3}}\\s+', ''), "
            f"'[\\s$€£,()]', '', 'g')")


def _qualify(condition: str, names: set[str]) -> str:
    """Prefix the column names of a schema row rule with the stage alias ``s.`` (outside
    string literals)."""
    parts = condition.split("'")
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"\b([a-z_][a-z0-9_]*)\b",
                          lambda m: f"s.{ident(m.group(1))}" if m.group(1) in names else m.group(1), parts[i])
    return "'".join(parts)


def _key_text(v) -> str:
    """A key value as a problem shows it (NULL is a value of a natural key)."""
    return "NULL" if v is None else str(v)


def _not_iso(v, iso) -> str:
    hint = f" (did you mean {str(v).upper()!r}?)" if v is not None and str(v).upper() in iso else ""
    return f"currency must be an upper-case ISO 4217 code such as USD or EUR{hint}"


def _run(duck, sql: str, progress: Progress | None, phase: str):
    """Execute on a DuckDB connection, reporting ``query_progress`` to ``progress``."""
    if progress is None:
        return duck.execute(sql)
    done = threading.Event()

    def poll():
        while not done.wait(0.5):
            try:
                p = duck.query_progress()
            except Exception:  # noqa: BLE001 - progress is best effort; the poller must never fail a load
                return
            progress(phase, p / 100 if p is not None and p >= 0 else None)

    progress(phase, 0.0)
    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        return duck.execute(sql)
    finally:
        done.set()
        t.join()
        progress(phase, 1.0)


# ---------------------------------------------------------------------------- public API
def ingest_file(wh: Warehouse, table: str, path: str | os.PathLike, *, mapping: Mapping | None = None,
                encoding: str | None = None, replace: str | None = None, max_errors: int = 50,
                user: str | None = None, progress: Progress | None = None,
                rules: IngestRules | None = None) -> IngestResult:
    """Validate ``path`` against ``table`` and load it all-or-nothing.

    Parameters
    ----------
    wh : Warehouse
        The target (DuckDB file or PostgreSQL); it must have been initialised.
    table : str
        A canonical table name.
    path : path-like
        A CSV (UTF-8 unless ``encoding``) or Parquet file.
    mapping : Mapping, optional
        How source columns become table columns (:mod:`finlib.ingest.mapping`).
    encoding : str, optional
        The CSV's text encoding, e.g. ``latin-1``.
    replace : str, optional
        ``all``, ``keys`` or ``period=YYYY-MM[..YYYY-MM]`` (see :class:`Replace`). Required
        to load a file already accepted into this table.
    max_errors : int
        Report at most this many problems.
    user : str, optional
        Recorded in ``ingest_batches`` (default: the login name).
    progress : callable, optional
        ``progress(phase, fraction_or_None)`` during long steps.
    rules : IngestRules, optional
        The plausible-date window and posting lag (default: ``parameters/ingest.yaml``).

    Returns
    -------
    IngestResult
        ``warnings`` lists what was loaded but looks wrong (also in the batch's message).

    Raises
    ------
    IngestError
        The file is missing, undecodable or already loaded.
    ValidationError
        The data broke rules; ``.problems`` lists them (file, line, column, value, rule).
    """
    t0 = time.monotonic()
    started = datetime.now()
    p = Path(path)
    if table not in TABLES or TABLES[table].system:
        names = [n for n, t in TABLES.items() if not t.system]
        raise IngestError(f"{table!r} is not a canonical table{did_you_mean(table, names)}; "
                          f"tables: {', '.join(names)}")
    if mapping is not None and mapping.table and mapping.table != table:
        raise IngestError(f"mapping {mapping.name} is for table {mapping.table}, not {table}")
    if not p.is_file():
        where = p if p.is_absolute() else f"{p} (looked in {Path.cwd()})"
        hint = did_you_mean(p.name, [x.name for x in p.parent.glob("*")]) if p.parent.is_dir() else ""
        raise IngestError(f"file not found: {where}{hint}")
    user = user or current_user()
    tbl = TABLES[table]
    rep = parse_replace(replace, tbl)
    _check_initialised(wh)
    pool = ThreadPoolExecutor(max_workers=1)
    sha_future = pool.submit(file_sha256, p)
    job = _Ingest(wh, table, p, mapping, encoding, rep, max_errors, user, progress, rules)
    record = {"batch_id": uuid.uuid4().hex, "table_name": table, "file_name": p.name, "rows": 0,
              "started_at": started, "user_name": user,
              "mode": f"replace {rep}" if rep else "append"}
    tmpdir = Path(tempfile.mkdtemp(prefix="finlib-ingest-"))
    try:
        try:
            result = _ingest(job, p, tmpdir, sha_future, record)
        except (ValidationError, IngestError) as exc:
            record.setdefault("sha256", _safe_sha(sha_future))
            record.update(outcome="rejected", errors=len(getattr(exc, "problems", []) or [1]),
                          message=str(exc)[:1000])
            _record_rejected(wh, record)
            raise
        result.seconds = time.monotonic() - t0
        return result
    finally:
        pool.shutdown(wait=True)
        shutil.rmtree(tmpdir, ignore_errors=True)


def _safe_sha(fut) -> str:
    """The file's sha256 for a rejected batch's record, or "" when hashing itself failed."""
    try:
        return fut.result()
    except (OSError, CancelledError):
        return ""


def _check_initialised(wh: Warehouse) -> None:
    if not wh.exists():
        raise IngestError(f"No warehouse at {wh.display_url}. Create it with `finlib db init` "
                          "(or `finlib demo-data`), then ingest.")
    with wh.connect(read_only=True) as conn:
        if not conn.table_exists("ingest_batches"):
            raise IngestError(f"The warehouse {wh.display_url} has no schema yet: run `finlib db init`.")


def _record_rejected(wh: Warehouse, record: dict) -> None:
    """Write a rejected batch's record in its own small transaction."""
    record["finished_at"] = datetime.now()
    with write_batch(wh, action="ingest-rejected", target=record["table_name"],
                     actor=record["user_name"], details=dict(record)) as b:
        _insert_record(b, record)


def _insert_record(b, record: dict) -> None:
    cols = ["batch_id", "table_name", "file_name", "sha256", "rows", "started_at", "finished_at",
            "user_name", "outcome", "mode", "errors", "message"]
    vals = {c: record.get(c) for c in cols}
    b.execute(f"INSERT INTO ingest_batches ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})",
              vals)


def _ingest(job: _Ingest, p: Path, tmpdir: Path, sha_future, record: dict) -> IngestResult:

    if p.stat().st_size == 0 or (p.suffix.lower() not in _PARQUET_SUFFIXES and not _head(p).strip()):
        raise ValidationError(f"{p.name} is empty: nothing was loaded",
                              [_problem(p.name, 1, None, None, "empty_file",
                                        f"the file is empty; expected a header line with the columns of "
                                        f"{job.table.name} and at least one data row")])
    src = _Source(p, job.encoding, job.mapping, tmpdir)
    if src.kind == "parquet":
        with duckdb.connect() as d:
            src.headers = [r[0] for r in d.execute(f"DESCRIBE SELECT * FROM {src.relation()}").fetchall()]
            src.has_rows = d.execute(f"SELECT count(*) FROM {src.relation()}").fetchone()[0] > 0
    problems = job.plan(src)
    if problems:
        raise ValidationError(_summary(p.name, len(problems), len(problems)), problems)
    if not src.has_rows:
        raise ValidationError(f"{p.name} has a header but no data rows: nothing was loaded",
                              [_problem(p.name, 2, None, None, "no_rows", "the file has no data rows")])
    wh = job.wh
    if wh.backend == "duckdb":
        return _ingest_duckdb(job, src, sha_future, record)
    return _ingest_postgres(job, src, sha_future, record)


def _head(p: Path, n: int = 4096) -> bytes:
    """The first ``n`` bytes of ``p`` (never the whole file: exports can be gigabytes)."""
    with open(p, "rb") as f:
        return f.read(n)


def _summary(fname: str, total: int, shown: int) -> str:
    more = f" (showing the first {shown})" if total > shown else ""
    return (f"{fname}: {total} problem{'s' if total != 1 else ''} found{more}; nothing was loaded. "
            "Fix the file or the mapping and try again.")


def _prepare_duck(duck) -> None:
    duck.execute("SET enable_progress_bar = true")
    duck.execute("SET enable_progress_bar_print = false")


def _validate(job: _Ingest, duck, src: _Source, sha_future, conn, extra=None) -> tuple[int, str]:
    """Run the rule pass; raise on problems or a duplicate file. Returns (rows, sha256)."""

    try:
        n, fails, dups = job.count_problems(duck, src)
        total = sum(fails) + dups
        problems = job.detail_problems(duck, src, fails, dups) if total else []
    except duckdb.Error as exc:
        raise _read_error(exc, src) from exc
    if extra is not None:  # checks done on the warehouse side (PostgreSQL)
        more_total, more = extra(n)
        total += more_total
        problems = sorted(problems + more, key=lambda x: x["line"] or 0)[: job.max_errors]
    sha = sha_future.result()
    _refuse_reload(job, src, conn, sha)
    if total:
        raise ValidationError(_summary(src.path.name, total, len(problems)), problems)
    return n, sha


def _read_error(exc, src: _Source) -> Exception:
    msg = str(exc)
    m = re.search(r"CSV Error on Line: (\d+)", msg)
    rec = int(m.group(1)) - 1 if m else None
    line = src.lines_of({rec}).get(rec) if rec is not None and rec > 0 else None
    if "unicode" in msg.lower() or "utf-8" in msg.lower():
        return src.decode_error(line)
    m2 = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", msg)
    if m2:
        exp, got = m2.groups()
        return ValidationError(
            f"{src.path.name}: line {line} has {got} fields, the header has {exp}; nothing was loaded.",
            [_problem(src.path.name, line, None, None, "malformed_row",
                      f"expected {exp} fields, found {got}: the line is truncated or has an "
                      "unquoted delimiter (was the file cut off while copying?)")])
    first = msg.splitlines()[0] if msg else type(exc).__name__
    return IngestError(f"{src.path.name} could not be read" + (f" (line {line})" if line else "")
                       + f": {first}")


def _duplicate_of(conn, table: str, sha: str):
    rows = conn.query("SELECT batch_id, CAST(started_at AS VARCHAR), user_name FROM ingest_batches "
                      "WHERE table_name = :t AND sha256 = :s AND outcome = 'accepted' "
                      "ORDER BY started_at DESC", {"t": table, "s": sha})
    return rows[0] if rows else None


def _accept(b, job: _Ingest, record: dict, sha: str, rows: int, deleted: int,
            warnings: list[str] | None = None) -> IngestResult:
    if job.replace is not None:
        b.execute("UPDATE ingest_batches SET outcome = 'replaced' WHERE table_name = :t AND "
                  "sha256 = :s AND outcome = 'accepted'", {"t": job.table.name, "s": sha})
    warnings = list(warnings or [])
    record.update(sha256=sha, rows=rows, outcome="accepted", errors=0,
                  finished_at=datetime.now(),
                  message=f"{rows} rows loaded" + (f", {deleted} replaced" if deleted else "")
                  + "".join(f"; warning: {w}" for w in warnings))
    b.details.update({k: (str(v) if isinstance(v, datetime) else v) for k, v in record.items()})
    _insert_record(b, record)
    return IngestResult(batch_id=record["batch_id"], table=job.table.name, file=str(job.path),
                        sha256=sha, rows=rows, deleted=deleted,
                        replace=str(job.replace) if job.replace else None, warnings=warnings)


def _delete_scope(b, job: _Ingest, keys_rel: str | None) -> int:
    r = job.replace
    if r is None:
        return 0
    name = job.table.name
    if r.kind == "all":
        return b.delete(name)
    if r.kind == "period":
        return b.delete(name, job._replace_pred(name))
    return b.delete(name, f"EXISTS (SELECT 1 FROM {keys_rel} k WHERE {job.key_match('k', name)})")


def _delete_scope_duck(b, job: _Ingest, duck, stage: str) -> int:
    """DuckDB target: :func:`_delete_scope`, a replace by keys matching the keys of the staged file
    (collected into the temporary table ``_finlib_keys``)."""
    keys_rel = None
    if job.replace is not None and job.replace.kind == "keys":
        kc = ", ".join(ident(k) for k in job.key_columns())
        duck.execute(f"CREATE TEMP TABLE _finlib_keys AS SELECT DISTINCT {kc} FROM ({stage})")
        keys_rel = "_finlib_keys"
    return _delete_scope(b, job, keys_rel)


def _insert_sql(name: str, cols: list[str], source: str) -> str:
    """``INSERT INTO name (cols) SELECT cols FROM source`` (the file's columns, quoted)."""
    return f"INSERT INTO {name} ({', '.join(cols)}) SELECT {', '.join(ident(c) for c in cols)} FROM {source}"


def _orphans(b, job: _Ingest) -> None:
    """After a replace deleted rows, refuse if other tables still point at missing ones."""
    problems = []
    for other in TABLES.values():
        for col in other.columns:
            if col.references and col.references.split(".")[0] == job.table.name:
                rc = col.references.split(".")[1]
                n = b.conn.scalar(f"SELECT count(*) FROM {other.name} o WHERE o.{col.name} IS NOT NULL "
                                  f"AND NOT EXISTS (SELECT 1 FROM {job.table.name} t WHERE t.{rc} = o.{col.name})")
                if n:
                    problems.append(_problem(job.fname, None, rc, None, "referenced",
                                             f"{n} rows of {other.name}.{col.name} refer to {job.table.name} "
                                             "rows this replace would remove"))
    if problems:
        raise ValidationError(f"{job.fname}: the replace would orphan rows in other tables; "
                              "nothing was loaded.", problems)


class _NeedsReport(Exception):
    """The single-pass insert stopped (a rule or a constraint failed): find out why."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


def _setup_duck(job: _Ingest, duck, pk_checked_by_insert: bool) -> None:
    """Lookup views, referenced relations and the rule list on a warehouse connection."""
    job._lookup_names = {}
    for c in job.cols:
        if c.lookup:
            lt, lc = c.lookup
            pk = TABLES[lt].primary_key[0]
            rel = f"(SELECT {ident(lc)} AS k, min({ident(pk)}) AS v FROM {lt} GROUP BY 1)"
            job.lookups[c.lookup] = "_lk_" + c.name
            duck.execute(f"CREATE OR REPLACE TEMP VIEW _lk_{c.name} AS {rel}")
            job._lookup_names[c.lookup] = [r[0] for r in duck.execute(
                f"SELECT {ident(lc)} FROM {lt} LIMIT 10000").fetchall()]
    for col in job.table.columns:
        if col.references:
            rt, rc = col.references.split(".")
            job.refs[(rt, rc)] = f"(SELECT {ident(rc)} AS v FROM {rt})"
    job.read_reference(lambda sql: duck.execute(sql).fetchall())
    job.checks = []
    job.build_checks(pg_keys_checked_elsewhere=pk_checked_by_insert)


def _refuse_reload(job: _Ingest, src: _Source, conn, sha: str) -> None:
    """Raise when this file was already accepted into the table and no replace was asked."""
    record_dup = _duplicate_of(conn, job.table.name, sha)
    if record_dup and job.replace is None:
        bid, when, who = record_dup
        raise IngestError(
            f"{src.path.name} was already loaded into {job.table.name} on {when} by {who} "
            f"(batch {bid}); nothing was loaded. To load it again say what to replace: "
            "--replace keys (rows with the same keys), --replace all (the whole table) or "
            "--replace period=YYYY-MM.")


def _ingest_duckdb(job: _Ingest, src: _Source, sha_future, record: dict) -> IngestResult:
    """DuckDB target: validate and insert inside one write transaction on the warehouse.

    A table with a primary key takes the single-pass route: the file is read once, every
    row-level rule is checked on each row just before it is inserted (a failing row stops
    the statement), and key uniqueness (in the file and against the warehouse) is enforced
    by the table's PRIMARY KEY in the same statement. Nothing is committed unless every
    row passed. When the statement stops, the transaction is rolled back and the file is
    validated again rule by rule to report every problem with its line (:func:`_report_duckdb`).
    Other tables are validated in a separate aggregate pass first (:func:`_ingest_duckdb_two_pass`).
    """
    if not job.table.primary_key:
        return _ingest_duckdb_two_pass(job, src, sha_future, record)
    try:
        return _ingest_duckdb_one_pass(job, src, sha_future, record)
    except _NeedsReport as exc:
        _report_duckdb(job, src, sha_future, exc.cause)
        raise AssertionError("unreachable")  # noqa: B904 - _report_duckdb always raises


def _ingest_batch(job: _Ingest):
    """The audited write batch of one ingest (``action="ingest"``, the table, the user, the file)."""
    return write_batch(job.wh, action="ingest", target=job.table.name, actor=job.user,
                       details={"file": str(job.path)})


def _warehouse_duck(job: _Ingest, conn, pk_checked_by_insert: bool):
    """The raw DuckDB connection of the warehouse ``conn``, prepared (:func:`_prepare_duck`) and
    set up for the job (:func:`_setup_duck`)."""
    duck = conn.raw
    _prepare_duck(duck)
    _setup_duck(job, duck, pk_checked_by_insert=pk_checked_by_insert)
    return duck


def _ingest_duckdb_one_pass(job: _Ingest, src: _Source, sha_future, record: dict) -> IngestResult:

    name = job.table.name
    with _ingest_batch(job) as b:
        duck = _warehouse_duck(job, b.conn, pk_checked_by_insert=True)
        cols = [c.name for c in job.cols]
        stage = job.stage_sql(src, False)
        guard = " OR ".join(f"({ch.sql})" for ch in job.checks)
        where = f" WHERE CASE WHEN {guard} THEN error('finlib: a row broke a rule') ELSE TRUE END" if guard else ""
        try:
            deleted = _delete_scope_duck(b, job, duck, stage)
            duck.execute("SET preserve_insertion_order = false")
            rows = _run(duck, _insert_sql(name, cols, f"({stage}) AS s{where}"), job.progress,
                        "loading").fetchone()[0]
        except duckdb.Error as exc:
            raise _NeedsReport(exc) from exc
        b._count(name, rows)
        sha = sha_future.result()
        _refuse_reload(job, src, b.conn, sha)
        if deleted:
            _orphans(b, job)
        warnings = job.warnings(b.conn, f"(SELECT {ident(job.key_columns()[0])} FROM ({stage}) AS s)")
        return _accept(b, job, record, sha, rows, deleted, warnings)


def _report_duckdb(job: _Ingest, src: _Source, sha_future, cause: Exception) -> None:
    """After the single-pass insert stopped and was rolled back: validate the file rule by
    rule (nothing is written) and raise the problems; raise the insert's own error if the
    rules find none."""
    with job.wh.transaction() as conn:
        duck = _warehouse_duck(job, conn, pk_checked_by_insert=False)
        _validate(job, duck, src, sha_future, conn)
    raise IngestError(f"{src.path.name}: the insert failed and nothing was loaded: "
                      f"{str(cause).splitlines()[0]}") from cause


def _ingest_duckdb_two_pass(job: _Ingest, src: _Source, sha_future, record: dict) -> IngestResult:
    """A table without a primary key: one aggregate validation pass, then the insert."""
    name = job.table.name
    with _ingest_batch(job) as b:
        duck = _warehouse_duck(job, b.conn, pk_checked_by_insert=False)
        rows, sha = _validate(job, duck, src, sha_future, b.conn)
        stage = job.stage_sql(src, False)
        deleted = _delete_scope_duck(b, job, duck, stage)
        cols = [c.name for c in job.cols]
        duck.execute("SET preserve_insertion_order = false")
        try:
            written = _run(duck, _insert_sql(name, cols, f"({stage})"), job.progress, "loading").fetchone()[0]
        except Exception as exc:
            raise IngestError(f"{src.path.name}: the insert failed and nothing was loaded: "
                              f"{str(exc).splitlines()[0]}") from exc
        b._count(name, written)
        if deleted:
            _orphans(b, job)
        return _accept(b, job, record, sha, rows, deleted)


def _ingest_postgres(job: _Ingest, src: _Source, sha_future, record: dict) -> IngestResult:
    """PostgreSQL target: validate in an in-memory DuckDB, stream the rows with COPY."""

    name = job.table.name
    with _ingest_batch(job) as b, duckdb.connect() as duck:
        _prepare_duck(duck)
        pg = b.conn
        job._lookup_names = {}
        for c in job.cols:
            if c.lookup:
                lt, lc = c.lookup
                pk = TABLES[lt].primary_key[0]
                rows = pg.query(f"SELECT {lc}, min({pk}) FROM {lt} GROUP BY 1")
                duck.register("_tmp", pa.table({"k": [r[0] for r in rows], "v": [r[1] for r in rows]},
                                               schema=pa.schema([("k", pa.string()), ("v", pa.string())])))
                duck.execute(f"CREATE TEMP TABLE _lk_{c.name} AS SELECT * FROM _tmp")
                duck.unregister("_tmp")
                job.lookups[c.lookup] = f"_lk_{c.name}"
                job._lookup_names[c.lookup] = [r[0] for r in rows][:10000]
        for col in job.table.columns:
            if col.references:
                rt, rc = col.references.split(".")
                if (rt, rc) in job.refs:
                    continue
                vals = [r[0] for r in pg.query(f"SELECT {rc} FROM {rt}")]
                duck.register("_tmp", pa.table({"v": pa.array(vals, pa.string())}))
                duck.execute(f"CREATE TEMP TABLE _ref_{rt}_{rc} AS SELECT * FROM _tmp")
                duck.unregister("_tmp")
                job.refs[(rt, rc)] = f"_ref_{rt}_{rc}"
        job.read_reference(pg.query)
        job.build_checks(pg_keys_checked_elsewhere=True)
        key = job.key_columns()
        stage = job.stage_sql(src, False)
        check_keys = bool(key) and not (job.replace and job.replace.kind in ("all", "keys"))
        if key:  # the file's keys in a PostgreSQL temp table: warehouse-side checks, upserts
            kdefs = ", ".join(f"{k} {job.table.column(k).sql_type}" for k in key)
            pg.execute(f"CREATE TEMP TABLE _finlib_keys ({kdefs}) ON COMMIT DROP")

        def pg_checks(n: int):
            if not key:
                return 0, []
            kc = ", ".join(ident(k) for k in key)
            reader = _arrow_reader(duck.sql(f"SELECT DISTINCT {kc} FROM ({stage}) WHERE "
                              + job.key_not_null()), 200_000)
            _copy_batches(pg.raw, "_finlib_keys", list(key), reader)
            if not check_keys:
                return 0, []
            on = job.key_match("w", "k")
            scope = job._replace_pred("w")
            where = f" AND NOT ({scope})" if scope else ""
            cnt = pg.scalar(f"SELECT count(*) FROM _finlib_keys k JOIN {name} w ON {on}{where}")
            if not cnt:
                return 0, []
            hits = pg.query(f"SELECT {', '.join('k.' + k for k in key)} FROM _finlib_keys k JOIN {name} w "
                            f"ON {on}{where} LIMIT {job.max_errors}")
            conds = " OR ".join("(" + " AND ".join(f"{ident(k)} IS NULL" if v is None else f"{ident(k)} = {lit(v)}"
                                                   for k, v in zip(key, h, strict=True)) + ")"
                                for h in hits)
            found = duck.execute(f"SELECT __rn, {kc} FROM ({job.stage_sql(src, True)}) WHERE {conds} "
                                 f"ORDER BY __rn LIMIT {job.max_errors}").fetchall()
            lines = src.lines_of({r[0] for r in found})
            msg = f"{', '.join(key)} already in the warehouse: use --replace keys to overwrite"
            return cnt, [_problem(job.fname, lines[r[0]], ", ".join(key), ", ".join(_key_text(v) for v in r[1:]),
                                  "primary_key_exists", msg) for r in found]

        rows, sha = _validate(job, duck, src, sha_future, pg, extra=pg_checks)
        deleted = _delete_scope(b, job, "_finlib_keys")
        cols = [c.name for c in job.cols]
        reader = _arrow_reader(duck.sql(f"SELECT {', '.join(ident(c) for c in cols)} FROM ({stage})"), 200_000)
        if job.progress:
            job.progress("loading", None)
        try:
            b.append_stream(name, cols, reader)
        except Exception as exc:
            raise IngestError(f"{src.path.name}: the load failed and nothing was loaded: "
                              f"{str(exc).splitlines()[0]}") from exc
        if deleted:
            _orphans(b, job)
        return _accept(b, job, record, sha, rows, deleted, job.warnings(pg, "_finlib_keys"))


def _copy_batches(raw, table: str, cols: list[str], reader) -> int:
    return pg_copy.copy_arrow_batches(raw, table, cols, reader)


def _arrow_reader(rel, batch_rows: int):
    """A relation's rows as an Arrow record batch reader (DuckDB 1.4: ``fetch_arrow_reader``,
    2.x: ``to_arrow_reader``)."""
    if hasattr(rel, "to_arrow_reader"):
        return rel.to_arrow_reader(batch_rows)
    return rel.fetch_arrow_reader(batch_rows)
