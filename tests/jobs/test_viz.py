"""finlib.viz: one style, a light bundle, no plotly.js per chart."""

from __future__ import annotations

import json
import subprocess
import sys

from finlib import viz


def test_show_bundle_has_plotly_json_and_a_plotly_newplot_div():
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=["a", "b"], y=[1.5e6, 2.5e6]))
    viz.money_axis(fig)
    b = viz.bundle(fig)
    spec = b["application/vnd.plotly.v1+json"]
    assert spec["data"][0]["type"] == "bar"
    assert spec["layout"]["yaxis"]["tickprefix"] == "$"
    assert spec["layout"]["template"] == viz.HOUSE_TEMPLATE  # replaced, not merged with plotly's
    html = b["text/html"]
    assert "Plotly.newPlot" in html and 'class="finlib-chart"' in html
    assert len(json.dumps(b)) < 10_000  # the 4.6 MB library is never inside


def test_money_is_formatted_with_suffixes():
    assert viz.format_money(1_234_567.8) == "$1.2M"
    assert viz.format_money(-2500) == "-$2.5k"
    assert viz.format_money(999) == "$999"
    assert viz.format_money(None) == "–"
    assert viz.format_money(3e9, "EUR") == "€3.0B"


def test_importing_viz_does_not_import_plotly():
    # plotly is loaded lazily (lazy_loader): its package may be found, its figure machinery
    # (graph_objs, basedatatypes and their validators) is not run until a chart is built
    code = ("import sys, finlib.viz; "
            "print(any(m in sys.modules for m in ('plotly.graph_objs', 'plotly.basedatatypes', 'plotly.io._json')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
