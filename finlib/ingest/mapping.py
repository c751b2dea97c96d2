"""Column mappings: how a source export's columns become a canonical table's columns.

A mapping is a small YAML file in ``parameters/mappings/`` (declarative, read by this one
module). Every entry under ``columns`` names a *target* column of the canonical table and
says where its value comes from::

    table: invoices                    # the canonical table this export feeds
    description: Stripe invoice export (Sigma / API field names)
    csv: {delimiter: ","}              # optional: delimiter, quote
    columns:
      invoice_id: id                   # shorthand: the source header
      issued_on: {from: created, format: "%Y-%m-%d %H:%M:%S"}
      amount: {from: amount_due, amount: cents}
      status: {from: status, values: {uncollectible: open, draft: open}}
      account_id: {from: Account, extract: '^(\\d+)'}      # regex, first group
      department_id: {from: Class, lookup: departments.name}  # name -> id via the warehouse
      closed_on: {from: Close Date, format: "%m/%d/%Y", null_when: {Closed: ["0", "false"]}}
      period: {from: Date, format: "%m/%d/%Y", truncate: month}
    constants:
      currency: USD

Options of a column entry
-------------------------
``from``       the source header (exact, case-sensitive)
``format``     strptime format(s) for date, period and timestamp columns (a string or a list,
               tried in order), e.g. ``"%m/%d/%Y"``. Default: ISO 8601.
``amount``     how money is written: ``plain`` (default, ``-1234.50``), ``accounting``
               (``$1,234.50``, ``(12.00)`` is negative, ``USD 1,234.50``), ``cents``
               (integer minor units: ``123450`` is 1,234.50). A currency written in an
               accounting amount (``EUR``, ``€``, ``£``) must agree with the row's
               ``currency``; more than two decimals are refused, never rounded
``values``     a dict replacing source values (``Closed Won: won``); ``otherwise`` gives the
               value for anything not listed (default: keep it, validation then checks it)
``case``       ``lower`` or ``upper`` applied before ``values``
``extract``    a regular expression; the first group (or whole match) is kept
``lookup``     ``table.column``: the source value is a name found in that warehouse column;
               the row's id (the table's primary key) is used instead
``null_when``  ``{source column: [values]}``: the target is NULL when that column has one
``truncate``   ``month``: a period derived from any date in the month
``true``/``false``  source spellings of booleans (defaults: true/t/yes/y/1, false/f/no/n/0)

Target columns not in the mapping are read from a source column of the same name if there
is one; nullable columns missing from both become NULL; constants fill a column for every
row. Ids and text are trimmed of leading and trailing spaces before any option applies.

Conventions
-----------
``end_date: inclusive|exclusive`` (top level, ``subscriptions`` only; default ``exclusive``):
the canonical ``subscriptions.end_date`` is the first day without service. Many billing
exports give the last day of service instead; ``inclusive`` says so, and the loader adds
one day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from finlib import config
from finlib.errors import ConfigError

AMOUNT_STYLES = ("plain", "accounting", "cents")
END_DATE_CONVENTIONS = ("exclusive", "inclusive")
_KNOWN_KEYS = {"from", "format", "amount", "values", "otherwise", "case", "extract", "lookup",
               "null_when", "truncate", "true", "false"}


@dataclass(frozen=True)
class ColumnSpec:
    """How one target column is derived from the source (see the module docstring)."""

    target: str
    source: str | None = None
    constant: Any = None
    is_constant: bool = False
    formats: tuple[str, ...] = ()
    amount: str = "plain"
    values: dict[str, str] | None = None
    otherwise: str | None = None
    case: str | None = None
    extract: str | None = None
    lookup: tuple[str, str] | None = None
    null_when: dict[str, tuple[str, ...]] | None = None
    truncate: str | None = None
    true_values: tuple[str, ...] = ("true", "t", "yes", "y", "1")
    false_values: tuple[str, ...] = ("false", "f", "no", "n", "0")

    def describe_format(self) -> str:
        """A short human description of the expected format (for error messages)."""
        if self.formats:
            return " or ".join(self.formats)
        return ""


@dataclass
class Mapping:
    """A parsed mapping file.

    Attributes
    ----------
    name : str
        The file's stem (``stripe_invoices``).
    table : str or None
        The canonical table the mapping feeds (checked against the command line).
    columns : dict
        target column -> :class:`ColumnSpec`.
    delimiter, quote : str
        CSV dialect.
    """

    name: str
    table: str | None = None
    description: str = ""
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    delimiter: str = ","
    quote: str = '"'
    path: Path | None = None
    end_date: str = "exclusive"


def _tuple(v) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, (list, tuple)):
        return tuple(str(x) for x in v)
    return (str(v),)


def parse_mapping(data: dict, name: str = "mapping", path: Path | None = None) -> Mapping:
    """Build a :class:`Mapping` from the YAML's dict; raises :class:`ConfigError` if malformed."""
    where = f"mapping {path or name}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a YAML mapping with 'columns'")
    csv_opts = data.get("csv") or {}
    end_date = str(data.get("end_date", "exclusive")).strip().lower()
    if end_date not in END_DATE_CONVENTIONS:
        raise ConfigError(f"{where}: end_date must be 'inclusive' (the export gives the last day of "
                          "service) or 'exclusive' (the first day without service)")
    if "end_date" in data and data.get("table") not in (None, "subscriptions"):
        raise ConfigError(f"{where}: end_date: {end_date} applies to subscriptions only, "
                          f"not {data.get('table')}")
    m = Mapping(name=name, table=data.get("table"), description=str(data.get("description") or ""),
                delimiter=str(csv_opts.get("delimiter", ",")), quote=str(csv_opts.get("quote", '"')),
                path=path, end_date=end_date)
    for target, spec in (data.get("columns") or {}).items():
        if isinstance(spec, str):
            m.columns[target] = ColumnSpec(target=target, source=spec)
            continue
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: column {target!r} must be a source header or a dict")
        unknown = set(spec) - _KNOWN_KEYS
        if unknown:
            raise ConfigError(f"{where}: column {target!r} has unknown option(s) {sorted(unknown)}; "
                              f"known: {sorted(_KNOWN_KEYS)}")
        amount = spec.get("amount", "plain")
        if amount not in AMOUNT_STYLES:
            raise ConfigError(f"{where}: column {target!r}: amount must be one of {AMOUNT_STYLES}")
        lookup = None
        if spec.get("lookup"):
            parts = str(spec["lookup"]).split(".")
            if len(parts) != 2:
                raise ConfigError(f"{where}: column {target!r}: lookup must be 'table.column'")
            lookup = (parts[0], parts[1])
        null_when = None
        if spec.get("null_when"):
            null_when = {str(k): _tuple(v) for k, v in dict(spec["null_when"]).items()}
        if spec.get("truncate") not in (None, "month"):
            raise ConfigError(f"{where}: column {target!r}: truncate can only be 'month'")
        if spec.get("case") not in (None, "lower", "upper"):
            raise ConfigError(f"{where}: column {target!r}: case must be 'lower' or 'upper'")
        kw: dict[str, Any] = {}
        if "true" in spec:
            kw["true_values"] = tuple(s.lower() for s in _tuple(spec["true"]))
        if "false" in spec:
            kw["false_values"] = tuple(s.lower() for s in _tuple(spec["false"]))
        values = spec.get("values")
        m.columns[target] = ColumnSpec(
            target=target, source=spec.get("from", target), formats=_tuple(spec.get("format")),
            amount=amount, values={str(k): str(v) for k, v in values.items()} if values else None,
            otherwise=None if spec.get("otherwise") is None else str(spec["otherwise"]),
            case=spec.get("case"), extract=spec.get("extract"), lookup=lookup, null_when=null_when,
            truncate=spec.get("truncate"), **kw)
    for target, value in (data.get("constants") or {}).items():
        m.columns[target] = ColumnSpec(target=target, constant=value, is_constant=True)
    return m


def load_mapping(ref: str | Path) -> Mapping:
    """Read a mapping by path or by name (``stripe_invoices`` -> ``parameters/mappings/stripe_invoices.yaml``)."""
    p = Path(ref)
    candidates = [p]
    if not p.suffix:
        candidates.append(config.parameters_dir() / "mappings" / f"{p.name}.yaml")
    for c in candidates:
        if c.is_file():
            try:
                data = yaml.safe_load(c.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ConfigError(f"mapping {c} is not valid YAML: {exc}") from exc
            return parse_mapping(data, name=c.stem, path=c)
    known = sorted(x.stem for x in (config.parameters_dir() / "mappings").glob("*.yaml"))
    raise ConfigError(f"mapping {ref} not found; shipped mappings: {', '.join(known) or 'none'} "
                      f"(in {config.parameters_dir() / 'mappings'})")
