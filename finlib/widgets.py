"""Building blocks every notebook shows: KPI tiles, formatted tables, notes, and the
dashboard controls.

Each block is a value an analyst can keep in a variable and display by leaving it as a
cell's last expression (``_repr_html_``)::

    widgets.Tiles([widgets.Tile("ARR", 8.6e6, previous=8.4e6, key="arr")])
    widgets.Table(df, money=("arr",), pct=("churn_probability",))

:class:`Controls` is a row of dropdowns (period, segment, department ...) with a Refresh
button and the data-as-of stamp; it only reports changes to the callbacks it is given.
What a change re-draws is decided by whoever owns the page (``finlib.dashboards.live``).

Money is written in the reporting currency (:func:`finlib.config.reporting_currency`):
its symbol before each amount and its code in the tile label or column header.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import IPython.display as ipd
import ipywidgets as w
import pandas as pd

from finlib import config, viz
from finlib.errors import FinlibError

# Money is written with "$": two of them in one block would be typeset as LaTeX by MathJax
# (JupyterLab, Voila). These classes tell MathJax 2 and 3 to leave the block alone.
NO_MATH = "tex2jax_ignore mathjax_ignore"

_TILE_CSS = """
<style>
.finlib-tiles{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px 0;font-family:Inter,Segoe UI,Helvetica,Arial,sans-serif}
.finlib-tile{border:1px solid #d9dee7;border-radius:8px;padding:10px 14px;min-width:170px;background:#fff}
.finlib-tile .label{font-size:12px;color:#5b6577;text-transform:uppercase;letter-spacing:.04em}
.finlib-tile .value{font-size:24px;font-weight:600;color:#1f2a44;margin:2px 0}
.finlib-tile .delta{font-size:12px}
.finlib-tile .good{color:#1a7f37}.finlib-tile .bad{color:#c62828}.finlib-tile .flat{color:#5b6577}
.finlib-note{color:#5b6577;font-size:12px}
.finlib-error{border-left:4px solid #c62828;background:#fdecea;padding:8px 12px;color:#611a15;font-family:sans-serif}
</style>
"""


def money_label(label: str) -> str:
    """``label`` followed by the reporting currency's code: ``"ARR (USD)"``."""
    return f"{label} ({config.reporting_currency()})"


def format_value(value: float | None, fmt: str = "money") -> str:
    """Human formatting: money ``$1.23M``, ``pct`` ``12.3 %``, ``ratio`` ``2.40x``, ``int``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    v = float(value)
    if fmt == "money":
        a = abs(v)
        sign = "-" if v < 0 else ""
        cur = viz.currency_prefix()
        if a >= 1e9:
            return f"{sign}{cur}{a / 1e9:.2f}B"
        if a >= 1e6:
            return f"{sign}{cur}{a / 1e6:.2f}M"
        if a >= 1e4:
            return f"{sign}{cur}{a / 1e3:.1f}k"
        return f"{sign}{cur}{a:,.0f}" if a >= 100 else f"{sign}{cur}{a:,.2f}"
    if fmt == "pct":
        return f"{v * 100:.1f} %"
    if fmt == "ratio":
        return f"{v:.2f}x"
    if fmt == "months":
        return f"{v:.1f} mo"
    if fmt == "int":
        return f"{v:,.0f}"
    return f"{v:,.2f}"


def _isnan(v) -> bool:
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return False


@dataclass
class Tile:
    """One KPI: its value, the change against the previous period and against target.

    ``higher_is_better`` decides the colour of a change (revenue: True; cost, churn: False).
    """

    label: str
    value: float | None
    fmt: str = "money"
    previous: float | None = None
    target: float | None = None
    higher_is_better: bool = True
    key: str = ""
    target_name: str = "target"

    def _delta(self, other: float | None, name: str) -> str:
        if other is None or self.value is None or other == 0 or _isnan(other) or _isnan(self.value):
            return ""
        change = (float(self.value) - float(other)) / abs(float(other))
        good = (change > 0) == self.higher_is_better
        cls = "flat" if abs(change) < 0.0005 else ("good" if good else "bad")
        arrow = "▲" if change > 0 else ("▼" if change < 0 else "■")
        return f'<div class="delta {cls}">{arrow} {change * 100:+.1f} % {html.escape(name)}</div>'

    def change_vs_previous(self) -> float | None:
        """(value − previous) / |previous| (ratio), ``None`` when undefined."""
        return _change(self.value, self.previous)

    def change_vs_target(self) -> float | None:
        """(value − target) / |target| (ratio), ``None`` when undefined."""
        return _change(self.value, self.target)

    def to_html(self) -> str:
        key = f' data-kpi="{html.escape(self.key)}"' if self.key else ""
        raw = "" if self.value is None or _isnan(self.value) else f' data-value="{float(self.value):.6f}"'
        label = money_label(self.label) if self.fmt == "money" else self.label
        return (
            f'<div class="finlib-tile finlib-kpi"{key}{raw}><div class="label">{html.escape(label)}</div>'
            f'<div class="value">{html.escape(format_value(self.value, self.fmt))}</div>'
            f"{self._delta(self.previous, 'vs previous month')}{self._delta(self.target, 'vs ' + self.target_name)}</div>"
        )


def _change(value, other) -> float | None:
    if value is None or other is None or _isnan(value) or _isnan(other) or float(other) == 0:
        return None
    return (float(value) - float(other)) / abs(float(other))


def tiles_html(tiles: Iterable[Tile]) -> str:
    return _TILE_CSS + f'<div class="finlib-tiles {NO_MATH}">' + "".join(t.to_html() for t in tiles) + "</div>"


@dataclass
class Tiles:
    """A row of KPI tiles; displays itself (``_repr_html_``)."""

    tiles: list[Tile] = field(default_factory=list)

    def _repr_html_(self) -> str:
        return tiles_html(self.tiles)

    def __getitem__(self, key: str) -> Tile:
        """The tile whose ``key`` is ``key``."""
        for t in self.tiles:
            if t.key == key:
                return t
        raise KeyError(key)


def show_tiles(tiles: list[Tile]) -> None:
    ipd.display(ipd.HTML(tiles_html(tiles)))


def note_html(text: str) -> str:
    return f'<p class="finlib-note {NO_MATH}">{html.escape(text)}</p>'


def show_note(text: str) -> None:
    """A one-sentence explanation under a figure, in plain words."""
    ipd.display(ipd.HTML(note_html(text)))


def table_html(df, money: tuple[str, ...] = (), pct: tuple[str, ...] = (), ratio: tuple[str, ...] = (),
               max_rows: int = 30) -> str:
    """A DataFrame as a compact HTML table: money/percent/ratio columns formatted and
    right-aligned (as are other numbers), text left-aligned, booleans as yes/no, columns that
    are empty throughout dropped, the index hidden."""
    view = df.head(max_rows).copy()
    if len(view):  # drop columns empty throughout (all missing or all blank text)
        view = view[[c for c in view.columns
                     if not (view[c].isna().all() or view[c].map(lambda v: isinstance(v, str) and not v.strip()
                                                                  or v is None).all())]]
    numeric = set()
    for col in view.columns:
        s = view[col]
        if col in money:
            view[col] = s.map(lambda v: format_value(v, "money"))
            numeric.add(col)
        elif col in pct:
            view[col] = s.map(lambda v: format_value(v, "pct"))
            numeric.add(col)
        elif col in ratio:
            view[col] = s.map(lambda v: format_value(v, "ratio"))
            numeric.add(col)
        elif pd.api.types.is_bool_dtype(s) or (s.dtype == object and s.dropna().map(type).eq(bool).all()
                                                 and s.notna().any()):
            view[col] = s.map(lambda v: "" if pd.isna(v) else ("yes" if v else "no"))  # pd.NA: a nullable flag
        elif pd.api.types.is_datetime64_any_dtype(s):
            view[col] = s.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_integer_dtype(s):
            view[col] = s.map(lambda v: format_value(v, "int"))
            numeric.add(col)
        elif pd.api.types.is_float_dtype(s):
            view[col] = s.map(lambda v: format_value(v, "number"))
            numeric.add(col)
    head = "".join(f'<th class="{"num" if c in numeric else "txt"}">{html.escape(str(c))}</th>'
                   for c in view.columns)
    body = []
    for row in view.itertuples(index=False):
        cells = []
        for c, v in zip(view.columns, row, strict=True):
            text = "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            cls = "num" if c in numeric else ("txt long" if len(text) > 40 else "txt")
            cells.append(f'<td class="{cls}">{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'{_TABLE_CSS}<table class="finlib-table {NO_MATH}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


_TABLE_CSS = """<style>
table.finlib-table{border-collapse:collapse;margin:6px 0 12px 0;font-size:13px;font-family:Inter,Segoe UI,Helvetica,Arial,sans-serif}
table.finlib-table th{border-bottom:1px solid #9aa5b1;padding:4px 10px;font-weight:600;color:#1f2a44}
table.finlib-table td{padding:3px 10px;border-bottom:1px solid #eef1f4}
table.finlib-table .num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
table.finlib-table .txt{text-align:left;white-space:nowrap}
table.finlib-table .txt.long{white-space:normal;min-width:240px}
</style>"""


def readable(columns: Iterable[str], rename: dict[str, str] | None = None) -> dict[str, str]:
    """Column headers for readers: underscores as spaces, then ``rename``."""
    return {c: str(c).replace("_", " ") for c in columns} | (rename or {})


@dataclass
class Table:
    """A DataFrame shown as a formatted table (see :func:`table_html`); displays itself.

    ``money`` columns get the reporting currency in their header; ``rename`` maps column
    names to headers (default: underscores as spaces); ``caption`` is a sentence shown under
    the table. ``frame`` stays the DataFrame it was given.
    """

    frame: Any
    money: tuple[str, ...] = ()
    pct: tuple[str, ...] = ()
    ratio: tuple[str, ...] = ()
    rename: dict[str, str] | None = None
    caption: str = ""
    max_rows: int = 30

    def _repr_html_(self) -> str:
        df = self.frame
        out = ""
        if df is None or len(df) == 0:
            out = '<p class="finlib-note">No rows for this selection.</p>'
        else:
            names = readable(df.columns, self.rename)
            for c in self.money:
                if c in names:
                    names[c] = money_label(names[c])
            view = df.rename(columns=names)
            out = table_html(view, money=tuple(names.get(c, c) for c in self.money),
                             pct=tuple(names.get(c, c) for c in self.pct),
                             ratio=tuple(names.get(c, c) for c in self.ratio), max_rows=self.max_rows)
            if len(df) > self.max_rows:
                out += f'<p class="finlib-note">Showing {self.max_rows} of {len(df)} rows.</p>'
        if self.caption:
            out += note_html(self.caption)
        return out


def show_table(df, money: tuple[str, ...] = (), pct: tuple[str, ...] = (), ratio: tuple[str, ...] = (),
               max_rows: int = 30) -> None:
    """Display a DataFrame (see :func:`table_html`); a note when it has no rows or is cut."""
    ipd.display(ipd.HTML(Table(df, money, pct, ratio, rename={c: c for c in getattr(df, "columns", [])},
                               max_rows=max_rows)._repr_html_()))


@dataclass
class Note:
    """A sentence under a figure; displays itself."""

    text: str

    def _repr_html_(self) -> str:
        return note_html(self.text)


class Column:
    """Several displayable items (figures, tables, notes) shown one under the other.

    Iterating gives the items; ``column[i]`` one of them (e.g. a figure to change).
    """

    def __init__(self, *items: Any):
        self.items = [i for i in items if i is not None]

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def _ipython_display_(self) -> None:
        for item in self.items:
            ipd.display(item)


def error_html(message: str) -> str:
    return f'<div class="finlib-error {NO_MATH}">{html.escape(message)}</div>'


def show_error(message: str) -> None:
    """A short message for viewers instead of a traceback."""
    ipd.display(ipd.HTML(error_html(message)))


class Controls:
    """Dropdowns for the page's parameters, a Refresh button and the data-as-of stamp.

    Parameters
    ----------
    values : dict
        The current value of each parameter that gets a control.
    choices : dict
        The options of each control (a list); a value not among them is put first.
    on_change : callable(name, value), optional
        Called when a viewer picks another value.
    on_refresh : callable(), optional
        Called by the Refresh button (e.g. forget cached reads and re-draw).
    as_of : callable() -> str, optional
        The data-as-of text, shown beside the button and updated by :meth:`stamp`.

    Each dropdown has the CSS class ``finlib-control-<name>``, the button ``finlib-refresh``.
    Displays itself; :attr:`widget` is the ``ipywidgets.HBox``.
    """

    def __init__(self, values: dict, choices: dict, *, on_change: Callable[[str, Any], None] | None = None,
                 on_refresh: Callable[[], None] | None = None, as_of: Callable[[], str] | None = None):
        self.on_change = on_change
        self.on_refresh = on_refresh
        self.as_of = as_of
        self.dropdowns: dict[str, w.Dropdown] = {}
        items: list[w.Widget] = []
        for name, options in choices.items():
            options = list(options)
            value = values.get(name)
            if value not in options:
                options = [value, *options]
            dd = w.Dropdown(options=options, value=value, description=name.replace("_", " ").capitalize(),
                            layout=w.Layout(width="260px"))
            dd.add_class(f"finlib-control-{name}")
            dd.observe(self._changed(name), names="value")
            self.dropdowns[name] = dd
            items.append(dd)
        button = w.Button(description="Refresh data", icon="refresh", layout=w.Layout(width="140px"))
        button.add_class("finlib-refresh")
        button.on_click(lambda _b: self.refresh())
        items.append(button)
        self.status = w.HTML(value=self._status_html())
        self.status.add_class("finlib-status")
        items.append(self.status)
        self.widget = w.HBox(items, layout=w.Layout(flex_flow="row wrap"))

    def _changed(self, name: str):
        def handler(change):
            if self.on_change is not None:
                self.on_change(name, change["new"])
        return handler

    def _status_html(self) -> str:
        text = as_of_text(self.as_of)
        return f'<span class="finlib-note finlib-as-of">{html.escape(text)}</span>' if text else ""

    def stamp(self) -> None:
        """Re-read the data-as-of text."""
        self.status.value = self._status_html()

    def refresh(self) -> None:
        if self.on_refresh is not None:
            self.on_refresh()
        self.stamp()

    def set_options(self, name: str, options: list) -> None:
        dd = self.dropdowns.get(name)
        if dd is not None and list(dd.options) != list(options):
            dd.options = options if dd.value in options else [dd.value, *options]

    def _ipython_display_(self) -> None:
        ipd.display(self.widget)


def as_of_text(as_of: Callable[[], str] | None) -> str:
    """``"Data as of <as_of()>"``; a short line (never an exception) when it cannot be read."""
    if as_of is None:
        return ""
    try:
        return f"Data as of {as_of()}"
    except FinlibError as exc:
        return str(exc).splitlines()[0]
    except Exception:  # noqa: BLE001 - the stamp must never break the page
        return "Data as of: unknown"


def as_of_html(as_of: Callable[[], str]) -> str:
    """The data-as-of stamp of a static report."""
    return f'<p class="finlib-note finlib-as-of">{html.escape(as_of_text(as_of))}</p>'
