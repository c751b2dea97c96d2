"""One chart style for every notebook, dashboard and report, and ``show(fig)``.

``show(fig)`` displays a plotly figure as a MIME bundle with

* ``application/vnd.plotly.v1+json``: JupyterLab and Voila render it interactively with
  their plotly renderer, and
* ``text/html``: a ``<div>`` plus a small script calling ``Plotly.newPlot`` on the global
  ``Plotly``. Archived reports (nbconvert, ``finlib.jobs.report``) load plotly.js once from
  ``reports/_static/plotly.min.js``, so each report carries only its figures' data, never
  the 4.6 MB library (plotly's default renderer would embed it in every notebook).

Charts built by finlib (``finlib.views``) are plain plotly figures: an analyst can keep
one in a variable, change it (``fig.update_layout(...)``) and show it by leaving it as a
cell's last expression. :func:`style` registers a plotly renderer named ``finlib`` and makes
it the default, so a figure displayed that way gets the same bundle as :func:`show`.

Money axes carry the reporting currency (:func:`finlib.config.reporting_currency`).

Importing this module is free: plotly is loaded (``lazy_loader``) when a chart is styled
or shown.

Example
-------
>>> import plotly.express as px                                  # doctest: +SKIP
>>> from finlib import viz                                       # doctest: +SKIP
>>> fig = px.bar(df, x="department", y="variance")               # doctest: +SKIP
>>> viz.money_axis(fig, "y")                                     # doctest: +SKIP
>>> viz.show(fig)                                                # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import lazy_loader as lazy
from IPython.display import display

from finlib import config

go = lazy.load("plotly.graph_objects", suppress_warning=True)
pio = lazy.load("plotly.io", suppress_warning=True)

#: the house palette: first colour for "actual"/primary series, then plan, then others.
PALETTE = ["#1f4e79", "#e07b39", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d", "#d4a017", "#17a2b8"]
FAVOURABLE = "#1b7f3b"
UNFAVOURABLE = "#b42318"
FONT_FAMILY = "Inter, 'Segoe UI', Helvetica, Arial, sans-serif"

#: a lean plotly template (a plain dict, so building it needs no plotly import)
HOUSE_TEMPLATE: dict[str, Any] = {
    "layout": {
        "font": {"family": FONT_FAMILY, "size": 13, "color": "#1f2933"},
        "title": {"font": {"size": 16}, "x": 0.0, "xanchor": "left"},
        "colorway": PALETTE,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "separators": ".,",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "hoverlabel": {"font": {"family": FONT_FAMILY}},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.18, "x": 0.0},
        "xaxis": {"gridcolor": "#eef1f4", "linecolor": "#cbd2d9", "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": "#eef1f4", "linecolor": "#cbd2d9", "zerolinecolor": "#9aa5b1", "automargin": True},
    }
}

PLOTLY_CONFIG: dict[str, Any] = {"displaylogo": False, "responsive": True}

_CURRENCY_PREFIX = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def currency_prefix(currency: str | None = None) -> str:
    """The symbol written before amounts in ``currency`` (default: the reporting currency)."""
    currency = (currency or config.reporting_currency()).upper()
    return _CURRENCY_PREFIX.get(currency, currency + " ")


def format_money(value: float | None, currency: str | None = None, digits: int = 1) -> str:
    """``1234567.8 -> '$1.2M'`` (k, M, B); negatives as ``-$1.2M``; ``None -> '–'``.

    ``currency`` defaults to the reporting currency."""
    if value is None or math.isnan(value):
        return "–"
    sign = "-" if value < 0 else ""
    v = abs(float(value))
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= threshold:
            return f"{sign}{currency_prefix(currency)}{v / threshold:.{digits}f}{suffix}"
    return f"{sign}{currency_prefix(currency)}{v:,.0f}"


def style(fig: Any) -> Any:
    """Apply the house template to ``fig`` (replacing plotly's heavier default) and make
    the ``finlib`` renderer plotly's default, so that ``fig`` displayed as a cell's last
    expression looks as :func:`show` shows it."""
    use_renderer()
    fig.layout.template = HOUSE_TEMPLATE  # assignment replaces (update_layout would merge)
    return fig


def money_axis(fig: Any, axis: str = "y", currency: str | None = None) -> Any:
    """Format an axis as money: ``$1.2M`` ticks (SI suffixes), ``$1,234,567`` hovers, and the
    currency's code as the axis title when the axis has none (default: reporting currency)."""
    currency = (currency or config.reporting_currency()).upper()
    update = getattr(fig, f"update_{axis}axes")
    update(tickprefix=currency_prefix(currency), tickformat="~s", hoverformat=",.0f")
    for ax in getattr(fig, f"select_{axis}axes")():
        if not (ax.title and ax.title.text):
            ax.title.text = currency
    return fig


def percent_axis(fig: Any, axis: str = "y", digits: int = 0) -> Any:
    """Format an axis holding ratios (0.12) as percentages (12 %)."""
    getattr(fig, f"update_{axis}axes")(tickformat=f".{digits}%", hoverformat=".1%")
    return fig


def bars(x: Any, series: dict[str, Any], title: str, *, barmode: str = "group", height: int = 360,
         money: bool = True) -> Any:
    """A bar chart with one trace per ``series`` item (name -> y values) over ``x``, in the
    house style, with a money y axis unless ``money`` is False."""
    fig = go.Figure()
    for name, y in series.items():
        fig.add_bar(x=x, y=y, name=name)
    fig.update_layout(title=title, barmode=barmode, height=height)
    if money:
        money_axis(fig, "y")
    return fig


def _figure_json(fig: Any) -> dict[str, Any]:
    return json.loads(pio.to_json(fig, validate=False, remove_uids=True))


def html_snippet(spec: dict[str, Any], height: int | None = None) -> str:
    """The ``text/html`` part of :func:`show`: a div and a ``Plotly.newPlot`` call."""
    div_id = f"finlib-chart-{uuid.uuid4().hex[:12]}"
    h = height or (spec.get("layout") or {}).get("height") or 420
    payload = json.dumps(
        {"data": spec.get("data", []), "layout": spec.get("layout", {}), "config": spec.get("config", PLOTLY_CONFIG)},
        separators=(",", ":"),
    ).replace("</", "<\\/")
    return (
        f'<div id="{div_id}" class="finlib-chart" style="width:100%;height:{int(h)}px"></div>'
        '<script type="text/javascript">(function(){'
        f'var el=document.getElementById("{div_id}"),f={payload};'
        'if(window.Plotly){window.Plotly.newPlot(el,f.data,f.layout,f.config);}'
        'else{el.style.height="auto";el.textContent="[chart: needs plotly.js, which archived '
        'reports load from reports/_static/]";}'
        "})();</script>"
    )


def bundle(fig: Any, *, styled: bool = True, height: int | None = None) -> dict[str, Any]:
    """The MIME bundle :func:`show` displays (plotly JSON, HTML snippet, plain text)."""
    if styled and hasattr(fig, "update_layout"):
        style(fig)
    spec = _figure_json(fig)
    spec["config"] = PLOTLY_CONFIG
    title = ((spec.get("layout") or {}).get("title") or {}).get("text") or "chart"
    return {
        "application/vnd.plotly.v1+json": spec,
        "text/html": html_snippet(spec, height),
        "text/plain": f"<plotly figure: {title}>",
    }


def show(fig: Any, *, styled: bool = True, height: int | None = None) -> None:
    """Display ``fig`` (a plotly figure or its dict) for Lab, Voila and archived reports.

    Returns nothing, so a trailing ``viz.show(fig)`` adds no ``Out[]`` to the notebook.
    """
    display(bundle(fig, styled=styled, height=height), raw=True)


def warm() -> None:
    """Build and serialise a small chart once (plotly's first figure in a process costs
    most), e.g. in a dashboard kernel waiting for its viewer."""
    fig = go.Figure()
    fig.add_bar(x=["a"], y=[1.0])
    fig.add_scatter(x=["a"], y=[1.0])
    bundle(money_axis(fig))


class _Renderer:
    """plotly renderer ``finlib``: the bundle of :func:`bundle` for any displayed figure."""

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
        return bundle(go.Figure(fig_dict), styled=False)


_renderer_ready = False


def use_renderer() -> None:
    """Register the ``finlib`` plotly renderer and make it the default (once)."""
    global _renderer_ready
    if _renderer_ready:
        return
    renderer = type("FinlibRenderer", (pio.base_renderers.MimetypeRenderer,),
                    {"to_mimebundle": _Renderer.to_mimebundle})()
    pio.renderers["finlib"] = renderer
    pio.renderers.default = "finlib"
    _renderer_ready = True
