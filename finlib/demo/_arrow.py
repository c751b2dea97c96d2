"""Small, fast helpers that turn numpy arrays into Arrow columns for the loader.

Money is carried as integer cents (``int64``) everywhere in the generator and converted to
exact ``decimal128(18, 2)`` only at the edge, so sums and tie-outs are exact.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MONEY = pa.decimal128(18, 2)


def money(cents) -> pa.Array:
    """Exact ``decimal128(18, 2)`` array from integer cents (no float round trip)."""
    c = np.ascontiguousarray(np.asarray(cents, dtype=np.int64))
    buf = np.empty((len(c), 2), dtype=np.int64)
    buf[:, 0] = c
    buf[:, 1] = np.where(c < 0, -1, 0)
    return pa.Array.from_buffers(MONEY, len(c), [None, pa.py_buffer(buf)])


def ids(prefix: str, numbers, width: int) -> pa.Array:
    """``prefix`` + zero-padded decimal ``numbers`` (e.g. ``C000042``)."""
    s = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    s = pc.utf8_lpad(s, width, "0")
    return pc.binary_join_element_wise(prefix, s, "")


def const(value, n: int) -> pa.Array:
    """A column holding one value ``n`` times (dictionary-encoded strings are cheap)."""
    if value is None:
        return pa.nulls(n, pa.string())
    if isinstance(value, str):
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))
    if isinstance(value, bool):
        return pa.array(np.full(n, value, dtype=bool))
    return pa.array(np.full(n, value))


def pick(choices, index) -> pa.Array:
    """Strings ``choices[index]`` as a dictionary array (``index`` < 0 gives NULL)."""
    index = np.asarray(index, dtype=np.int32)
    mask = index < 0
    idx = pa.array(np.where(mask, 0, index), mask=mask if mask.any() else None)
    return pa.DictionaryArray.from_arrays(idx, pa.array(list(choices), pa.string()))


def dates(days) -> pa.Array:
    """``date32`` from ``datetime64[D]`` (NaT becomes NULL)."""
    return pa.array(np.asarray(days, dtype="datetime64[D]"))


def table(**cols) -> pa.Table:
    return pa.table(cols)
