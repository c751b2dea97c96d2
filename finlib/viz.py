"""One chart style for every notebook, dashboard and report, and ``show(fig)``.

``show(fig)`` displays a plotly figure as a MIME bundle with

* ``application/vnd.plotly.v1+json``: JupyterLab and Voila render it interactively with
  their plotly renderer, and
* ``text/html``: a ``<div>`` plus a small script calling ``Plotly.newPlot`` on the global
  ``Plotly``. Archived reports (nbconvert, ``finlib.jobs.report``) load plotly.js once from
  ``reports/_static/plotly.min.js``, so each report carries only its figures' data, never
  the 4.6 MB library (plotly's default renderer would embed it in every notebook).

Importing this module is free: plotly is imported only when a chart is styled or shown.

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


def currency_prefix(currency: str = "USD") -> str:
    return _CURRENCY_PREFIX.get(currency.upper(), currency.upper() + " ")


def format_money(value: float | None, currency: str = "USD", digits: int = 1) -> str:
    """``1234567.8 -> '$1.2M'`` (k, M, B); negatives as ``-$1.2M``; ``None -> '–'``."""
    if value is None or math.isnan(value):
        return "–"
    sign = "-" if value < 0 else ""
    v = abs(float(value))
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= threshold:
            return f"{sign}{currency_prefix(currency)}{v / threshold:.{digits}f}{suffix}"
    return f"{sign}{currency_prefix(currency)}{v:,.0f}"


def style(fig: Any) -> Any:
    """Apply the house template to ``fig`` (replacing plotly's heavier default)."""
    fig.layout.template = HOUSE_TEMPLATE  # assignment replaces (update_layout would merge)
    return fig


def money_axis(fig: Any, axis: str = "y", currency: str = "USD") -> Any:
    """Format an axis as money: ``$1.2M`` ticks (SI suffixes) and ``$1,234,567`` hovers."""
    getattr(fig, f"update_{axis}axes")(tickprefix=currency_prefix(currency), tickformat="~s",
                                       hoverformat=",.0f")
    return fig


def percent_axis(fig: Any, axis: str = "y", digits: int = 0) -> Any:
    """Format an axis holding ratios (0.12) as percentages (12 %)."""
    getattr(fig, f"update_{axis}axes")(tickformat=f".{digits}%", hoverformat=".1%")
    return fig


def bars(x: Any, series: dict[str, Any], title: str, *, barmode: str = "group", height: int = 360,
         money: bool = True) -> Any:
    """A bar chart with one trace per ``series`` item (name -> y values) over ``x``, in the
    house style, with a money y axis unless ``money`` is False."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, y in series.items():
        fig.add_bar(x=x, y=y, name=name)
    fig.update_layout(title=title, barmode=barmode, height=height)
    if money:
        money_axis(fig, "y")
    return fig


def _figure_json(fig: Any) -> dict[str, Any]:
    import plotly.io as pio

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
    from IPython.display import display

    display(bundle(fig, styled=styled, height=height), raw=True)
