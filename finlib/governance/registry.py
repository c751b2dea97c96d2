"""The control registry: a control is a function registered with its settings model, the
framework references it maps to and the format of the entities it reports.

A control module declares::

    class Settings(ControlSettings):
        tolerance: float = 1.00

    @control("dev_cost_tie", Settings, frameworks=("ASC 350-40 / IAS 38.66", ...),
             entity="feature <id>", title="Dev costs tie to the ledger")
    def dev_cost_tie(ctx: Context, cfg: Settings) -> Outcome: ...

and returns an :class:`Outcome`: the failing :class:`Finding` list and how many entities it
checked. The runner turns an outcome with no finding into one ``pass`` result.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from finlib.periods import add_months, format_period, month_end


class ControlSettings(BaseModel):
    """Settings every control has (``parameters/controls.yaml``, ``controls.<name>``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    frameworks: list[str] | None = None  # replaces the built-in references when given


@dataclass
class Finding:
    """One failing entity: ``value`` is what the data say, ``expected`` what they should say
    (same unit), ``evidence`` the rows behind it (list of JSON-able dicts)."""

    entity: str
    value: float | None
    expected: float | None
    message: str
    evidence: list[dict] = field(default_factory=list)


@dataclass
class Outcome:
    findings: list[Finding]
    checked: int  # entities examined
    note: str = ""  # e.g. "no archived report for the period"


@dataclass
class Context:
    """What a control sees: the period, an open read-only connection (None for controls that
    open their own), the warehouse, the report archive and the run-wide settings."""

    period: dt.date
    conn: Any
    wh: Any
    reports: Path
    evidence_rows: int = 100

    @property
    def end(self) -> dt.date:
        """The period's last day."""
        return month_end(self.period)

    @property
    def next(self) -> dt.date:
        """The first day of the next month."""
        return add_months(self.period, 1)

    @property
    def month(self) -> str:
        return format_period(self.period)

    @property
    def params(self) -> dict:
        return {"p": self.period, "e": self.end, "n": self.next}


@dataclass(frozen=True)
class Control:
    name: str
    func: Callable[[Context, Any], Outcome]
    settings: type[ControlSettings]
    frameworks: tuple[str, ...]
    entity: str
    title: str
    fails_when: str
    needs_connection: bool = True


CONTROLS: dict[str, Control] = {}


def control(name: str, settings: type[ControlSettings], *, frameworks: tuple[str, ...], entity: str,
            title: str, fails_when: str, needs_connection: bool = True):
    """Decorator: register ``func`` as control ``name`` (the order of registration is the
    order of evaluation and of the docs)."""

    def decorate(func):
        CONTROLS[name] = Control(name, func, settings, tuple(frameworks), entity, title, fails_when,
                                 needs_connection)
        return func

    return decorate


def jsonable(value: Any) -> Any:
    """Plain JSON values: Decimal and numpy numbers → float, dates → ISO, NaN → None."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dt.datetime):  # pandas Timestamp too; a date read back as midnight stays a date
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def used(sql: str, params: dict | None) -> dict | None:
    """Only the parameters ``sql`` names (DuckDB refuses extra ones)."""
    if not params:
        return None
    names = set(_PARAM.findall(sql))
    return {k: v for k, v in params.items() if k in names} or None


def query(conn, sql: str, params: dict | None = None) -> list[tuple]:
    return conn.query(sql, used(sql, params))


def scalar(conn, sql: str, params: dict | None = None):
    return conn.scalar(sql, used(sql, params))


def query_df(conn, sql: str, params: dict | None = None):
    return conn.query_df(sql, used(sql, params))


def records(conn, sql: str, params: dict | None = None, limit: int | None = None) -> list[dict]:
    """Rows of ``sql`` as JSON-able dicts (the evidence format)."""
    if limit is not None:
        sql = f"SELECT * FROM ({sql}) ev LIMIT {int(limit)}"
    df = query_df(conn, sql, params)
    cols = list(df.columns)
    return [{c: jsonable(v) for c, v in zip(cols, row, strict=True)} for row in df.itertuples(index=False)]


def rows_as_dicts(conn, sql: str, params: dict | None = None) -> list[dict]:
    """Rows of ``sql`` as dicts of driver values (Decimal stays Decimal)."""
    df = query_df(conn, sql, params)
    cols = list(df.columns)
    return [dict(zip(cols, row, strict=True)) for row in df.itertuples(index=False)]
