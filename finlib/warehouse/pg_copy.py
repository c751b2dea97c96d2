"""Streaming rows into PostgreSQL with ``COPY ... FROM STDIN`` (CSV text).

Used by :class:`finlib.warehouse.load.Batch` on PostgreSQL only; DuckDB inserts from the
DataFrame or Arrow data directly. Its own module so that pyarrow's CSV writer is imported
only when something is written to PostgreSQL.
"""

from __future__ import annotations

import io

import pyarrow.csv as pacsv


def copy_frame(raw, table: str, cols: list[str], data) -> None:
    """Stream a DataFrame (or an Arrow table) into PostgreSQL with COPY (text CSV), chunked to
    bound memory."""
    df = data.to_pandas() if hasattr(data, "to_pandas") else data
    chunk = 100_000
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp:
            for start in range(0, len(df), chunk):
                part = df.iloc[start:start + chunk]
                buf = io.StringIO()
                part.to_csv(buf, header=False, index=False, na_rep="\\N",
                            date_format="%Y-%m-%d %H:%M:%S")
                cp.write(buf.getvalue())


def copy_arrow_batches(raw, table: str, cols: list[str], batches) -> int:
    """Stream pyarrow RecordBatches into a PostgreSQL table with one ``COPY`` (CSV text).

    Empty strings are written quoted and NULLs unquoted, so PostgreSQL tells them apart.
    """
    opts = pacsv.WriteOptions(include_header=False)
    n = 0
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)") as cp:
            for rb in batches:
                if rb.num_rows == 0:
                    continue
                buf = io.BytesIO()
                pacsv.write_csv(rb, buf, opts)
                cp.write(buf.getvalue())
                n += rb.num_rows
    return n
