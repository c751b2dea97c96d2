"""Fetching the rows behind findings: one query per chunk of entities, grouped by entity."""

from __future__ import annotations

from collections import defaultdict

from finlib.governance.registry import jsonable, query, query_df


def by_key(conn, sql: str, key: str, ids: list, params: dict | None = None, limit: int = 100,
           source: str | None = None) -> dict[str, list[dict]]:
    """Rows of ``sql`` (which must contain ``{ids}`` where an ``IN (...)`` list of ``ids`` goes
    and select a column ``key``) grouped by ``key`` as JSON-able dicts, at most ``limit`` per
    key; ``source`` adds a ``source`` column naming the table the rows come from."""
    out: dict[str, list[dict]] = defaultdict(list)
    ids = sorted({str(i) for i in ids})
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ", ".join(f":k{i}" for i in range(len(part)))
        df = query_df(conn, sql.format(ids=marks), {**(params or {}), **{f"k{i}": v for i, v in enumerate(part)}})
        cols = list(df.columns)
        for row in df.itertuples(index=False):
            rec = {c: jsonable(v) for c, v in zip(cols, row, strict=True)}
            k = str(rec[key])
            if len(out[k]) < limit:
                out[k].append({"source": source, **rec} if source else rec)
    return out


def money(x) -> str:
    """``1,234.50`` (for messages)."""
    return "n/a" if x is None else f"{float(x):,.2f}"


def off_by(value, expected, tolerance) -> str:
    """``(+12.50; tolerance 1.00)``: the signed difference value − expected and the tolerance
    (for a tie control's message)."""
    return f"({'+' if value >= expected else ''}{money(value - expected)}; tolerance {money(tolerance)})"


def count_and_failures(conn, sql: str, failing: str, columns: tuple[str, ...], params: dict,
                       order: str | None = None) -> tuple[int, list[tuple]]:
    """Run ``sql`` once: return (rows it yields, the rows where ``failing`` holds as tuples of
    ``columns``, ordered by the first column)."""
    cols = ", ".join(columns)
    nulls = ", ".join("NULL" for _ in columns)
    rows = query(conn, f"""
        WITH base AS ({sql})
        SELECT 0 AS kind, {nulls}, count(*) AS n FROM base
        UNION ALL
        SELECT 1 AS kind, {cols}, NULL FROM base WHERE {failing}""", params)
    checked = next(int(r[-1]) for r in rows if r[0] == 0)
    fails = sorted((tuple(r[1:-1]) for r in rows if r[0] == 1), key=lambda r: str(r[0]))
    return checked, fails
