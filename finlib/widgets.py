"""Dashboard building blocks shared by every notebook: KPI tiles and a :class:`Dashboard`
that renders the same sections statically (papermill, nbconvert reports) or
interactively (JupyterLab, Voilà: controls that re-draw sections in place).

A notebook does::

    dash = Dashboard("Executive", params={"period": period, "segment": segment},
                     choices={"period": periods, "segment": ["all", "SMB", ...]},
                     interactive=interactive)
    dash.section(views.headline_tiles)          # one cell each
    dash.section(views.revenue_vs_target)

Each *view* is a function ``view(params) -> None`` living in finlib (testable) that
displays tables and charts for the given parameters. In interactive mode a change of any
control re-runs every section's view into its own ``ipywidgets.Output``; no page reload,
no notebook re-run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

View = Callable[[dict], Any]

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


def format_value(value: float | None, fmt: str = "money") -> str:
    """Human formatting: money ``$1.23M``, ``pct`` ``12.3 %``, ``ratio`` ``2.40x``, ``int``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    v = float(value)
    if fmt == "money":
        a = abs(v)
        sign = "-" if v < 0 else ""
        if a >= 1e9:
            return f"{sign}${a / 1e9:.2f}B"
        if a >= 1e6:
            return f"{sign}${a / 1e6:.2f}M"
        if a >= 1e4:
            return f"{sign}${a / 1e3:.1f}k"
        return f"{sign}${a:,.0f}" if a >= 100 else f"{sign}${a:,.2f}"
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
        return (
            f'<div class="finlib-tile finlib-kpi"{key}{raw}><div class="label">{html.escape(self.label)}</div>'
            f'<div class="value">{html.escape(format_value(self.value, self.fmt))}</div>'
            f"{self._delta(self.previous, 'vs previous month')}{self._delta(self.target, 'vs ' + self.target_name)}</div>"
        )


def _change(value, other) -> float | None:
    if value is None or other is None or _isnan(value) or _isnan(other) or float(other) == 0:
        return None
    return (float(value) - float(other)) / abs(float(other))


def tiles_html(tiles: list[Tile]) -> str:
    return _TILE_CSS + '<div class="finlib-tiles tex2jax_ignore mathjax_ignore">' + "".join(t.to_html() for t in tiles) + "</div>"


def show_tiles(tiles: list[Tile]) -> None:
    from IPython.display import HTML, display

    display(HTML(tiles_html(tiles)))


def show_note(text: str) -> None:
    """A one-sentence explanation under a figure, in plain words."""
    from IPython.display import HTML, display

    display(HTML(f'<p class="finlib-note {NO_MATH}">{html.escape(text)}</p>'))


def table_html(df, money: tuple[str, ...] = (), pct: tuple[str, ...] = (), ratio: tuple[str, ...] = (),
               max_rows: int = 30) -> str:
    """A DataFrame as a compact HTML table: money/percent/ratio columns formatted and
    right-aligned (as are other numbers), text left-aligned, booleans as yes/no, columns that
    are empty throughout dropped, the index hidden."""
    import pandas as pd

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
            view[col] = s.map(lambda v: "" if v is None or v != v else ("yes" if v else "no"))
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


def show_table(df, money: tuple[str, ...] = (), pct: tuple[str, ...] = (), ratio: tuple[str, ...] = (),
               max_rows: int = 30) -> None:
    """Display a DataFrame (see :func:`table_html`); a note when it has no rows or is cut."""
    from IPython.display import HTML, display

    if df is None or len(df) == 0:
        display(HTML('<p class="finlib-note">No rows for this selection.</p>'))
        return
    display(HTML(table_html(df, money, pct, ratio, max_rows)))
    if len(df) > max_rows:
        display(HTML(f'<p class="finlib-note">Showing {max_rows} of {len(df)} rows.</p>'))


def show_error(message: str) -> None:
    """A short message for viewers instead of a traceback."""
    from IPython.display import HTML, display

    display(HTML(f'<div class="finlib-error {NO_MATH}">{html.escape(message)}</div>'))


class Dashboard:
    """Controls plus sections; static when ``interactive`` is False.

    Parameters
    ----------
    title : str
    params : dict
        Initial parameter values (from the notebook's parameters cell).
    choices : dict
        For each parameter that gets a control, its options (a list). Parameters without
        choices are fixed.
    interactive : bool
        True: render ipywidgets controls and re-draw sections on change.
    refresh : callable, optional
        Called by the Refresh button before re-drawing (e.g. to clear caches and pick up
        newly ingested data).
    as_of : callable, optional
        Returns the data-as-of text (e.g. the last ingest time), shown under the controls
        (and in static reports) and updated after each refresh.
    """

    def __init__(self, title: str, params: dict, choices: dict | None = None,
                 interactive: bool = False, refresh: Callable[[], None] | None = None,
                 as_of: Callable[[], str] | None = None):
        self.title = title
        self.params = dict(params)
        self.choices = dict(choices or {})
        self.interactive = interactive
        self.refresh_hook = refresh
        self.as_of_hook = as_of
        self.sections: list[tuple[View, Any]] = []
        self.controls: dict[str, Any] = {}
        self._controls_box = None
        self._status = None
        if interactive:
            self._build_controls()
        else:
            self._show_as_of_static()

    def as_of_text(self) -> str:
        if self.as_of_hook is None:
            return ""
        try:
            return f"Data as of {self.as_of_hook()}"
        except Exception as exc:  # noqa: BLE001 - the stamp must never break the page
            from finlib.errors import FinlibError

            return str(exc).splitlines()[0] if isinstance(exc, FinlibError) else "Data as of: unknown"

    def _show_as_of_static(self) -> None:
        text = self.as_of_text()
        if text:
            from IPython.display import HTML, display

            display(HTML(f'<p class="finlib-note finlib-as-of">{html.escape(text)}</p>'))

    # -- interactive plumbing ---------------------------------------------------
    def _build_controls(self) -> None:
        import ipywidgets as w
        from IPython.display import display

        items = []
        for name, options in self.choices.items():
            options = list(options)
            value = self.params.get(name)
            if value not in options and options:
                value = options[0]
                self.params[name] = value
            dd = w.Dropdown(options=options, value=value, description=name.replace("_", " ").capitalize(),
                            layout=w.Layout(width="260px"))
            dd.add_class(f"finlib-control-{name}")
            dd.observe(self._on_change(name), names="value")
            self.controls[name] = dd
            items.append(dd)
        button = w.Button(description="Refresh data", icon="refresh", layout=w.Layout(width="140px"))
        button.add_class("finlib-refresh")
        button.on_click(lambda _b: self.refresh())
        items.append(button)
        self._status = w.HTML(value=self._status_html())
        self._status.add_class("finlib-status")
        items.append(self._status)
        self._controls_box = w.HBox(items, layout=w.Layout(flex_flow="row wrap"))
        display(self._controls_box)

    def _on_change(self, name: str):
        def handler(change):
            self.params[name] = change["new"]
            self.redraw()
        return handler

    def _status_html(self) -> str:
        text = self.as_of_text()
        return f'<span class="finlib-note finlib-as-of">{html.escape(text)}</span>' if text else ""

    def refresh(self) -> None:
        """Re-read the data (the refresh hook clears caches), update the as-of stamp, re-draw."""
        if self.refresh_hook:
            self.refresh_hook()
        if self._status is not None:
            self._status.value = self._status_html()
        self.redraw()

    def redraw(self) -> None:
        for view, out in self.sections:
            self._render_into(view, out)

    def _render_into(self, view: View, out) -> None:
        """Render ``view`` off-screen, then replace ``out``'s outputs in one model update.

        Capturing with IPython and assigning ``Output.outputs`` (instead of ``with out:`` and
        ``clear_output(wait=True)``) keeps the kernel's output routing out of it: no flicker
        on a re-draw, and no Output-widget capture while Voilà is still executing the
        notebook (that path intermittently left pages stuck at "Executing n of m").
        """
        from IPython.utils.capture import capture_output

        with capture_output(stdout=True, stderr=False, display=True) as cap:
            self._safe(view)
        outputs = []
        if cap.stdout:
            outputs.append({"output_type": "stream", "name": "stdout", "text": cap.stdout})
        for item in cap.outputs:
            outputs.append({"output_type": "display_data", "data": dict(item.data),
                            "metadata": dict(item.metadata or {})})
        out.outputs = tuple(outputs)

    def _safe(self, view: View) -> None:
        """Run a view; a viewer sees a short message, never a traceback.

        A :class:`FinlibError` shows its first line ("No data for 2031-01 …"). Any other
        error shows a generic line with a reference under Voilà (the traceback goes to the
        dashboard log); in JupyterLab it propagates so analysts keep their traceback.
        """
        from finlib.errors import FinlibError

        try:
            view(dict(self.params))
        except FinlibError as exc:
            show_error(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        except Exception as exc:
            from finlib.dashboards import errors
            from finlib.dashboards.query import under_voila

            if not under_voila():
                raise
            errors.show(exc)

    # -- public --------------------------------------------------------------------
    def section(self, view: View) -> None:
        """Render ``view(params)`` here; in interactive mode keep it live."""
        if not self.interactive:
            view(dict(self.params))  # a job run must fail loudly, not hide the error
            return
        import ipywidgets as w
        from IPython.display import display

        out = w.Output()
        self.sections.append((view, out))
        display(out)
        self._render_into(view, out)
