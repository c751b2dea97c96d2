"""Names from the data are text wherever finlib makes HTML: parse what is produced and count
the elements a payload would have created (none), then read the text back (the name, intact).

The browser proof (reports and dashboards in Chromium) is ``test_script_in_data.py``.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser

import nbformat
import pandas as pd
import pytest

from finlib import viz, widgets
from finlib.jobs import report

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    "</script><script>window.__xss=3</script>",
    '"><svg onload=window.__xss=4>',
    "<!-- <script>window.__xss=5</script> -->",
]


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text (entities decoded)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.script_bodies: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        (self.script_bodies if self._in_script else self.text).append(data)

    def dangerous(self) -> list:
        """Elements a payload would create, and any ``on…`` event attribute."""
        bad = [t for t, _ in self.tags if t in ("img", "svg", "iframe", "object", "embed")]
        bad += [(t, a) for t, attrs in self.tags for a in attrs if a.lower().startswith("on")]
        return bad


@pytest.mark.parametrize("payload", PAYLOADS)
def test_tables_tiles_notes_and_errors_show_a_name_as_text(payload):
    df = pd.DataFrame({"name": [payload, "plain"], payload: [1.5, 2.0], "roi": [0.1, 0.2]})
    html = (widgets.table_html(df, pct=("roi",)) + widgets.Tile(payload, 1.0, key=payload).to_html()
            + widgets.note_html(payload) + widgets.error_html(payload)
            + widgets.Table(df, caption=payload)._repr_html_())
    parsed = Elements(html)
    assert parsed.dangerous() == []
    assert [t for t, a in parsed.tags if t == "script"] == []
    text = "".join(parsed.text)
    assert text.count(payload) >= 6  # cell, column name (twice), tile label, note, error, caption


def _notebook_with(payload: str):
    """A notebook as a job leaves it: a table, a chart whose labels are the payload, a note."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=[payload, "b"], y=[1, 2], hovertext=[payload, payload], name=payload))
    fig.update_layout(title=payload)
    nb = nbformat.v4.new_notebook()
    out_table = nbformat.v4.new_output("display_data", data={
        "text/html": widgets.table_html(pd.DataFrame({"name": [payload]})), "text/plain": "table"})
    out_chart = nbformat.v4.new_output("display_data", data=viz.bundle(fig))
    nb.cells = [nbformat.v4.new_markdown_cell("## Section"),
                nbformat.v4.new_code_cell("t", outputs=[out_table]),
                nbformat.v4.new_code_cell("fig", outputs=[out_chart])]
    return nb, fig


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_report_has_no_inline_script_and_its_chart_data_cannot_close_its_block(payload):
    nb, fig = _notebook_with(payload)
    html = report.notebook_to_html(nb, {
        "title": payload, "job": payload, "period": "2026-10", "variant": payload, "status": "succeeded",
        "run_id": "r1", "generated_at": "now", "data_as_of": payload, "parameters": {payload: payload},
        "alerts": [{"severity": "warning", "rule": payload, "message": payload,
                    "entity": {"campaign_id": "C1"}, "details": {"campaign": payload}}],
        "alerts_note": payload, "error": None, "static": "../../../_static"})
    parsed = Elements(html)
    assert parsed.dangerous() == []
    scripts = [a for t, a in parsed.tags if t == "script"]
    # only files beside the report, and the one chart's data block (never executed)
    assert [a.get("type") for a in scripts if "src" not in a] == ["application/json"]
    assert {a["src"].rsplit("/", 1)[-1] for a in scripts if "src" in a} == {"plotly.min.js", "finlib-charts.js"}
    data = json.loads(parsed.script_bodies[-1])
    assert data["data"][0]["x"][0] == payload and data["layout"]["title"]["text"] == payload
    assert "</" not in parsed.script_bodies[-1] and "<!--" not in parsed.script_bodies[-1]
    text = "".join(parsed.text)
    assert text.count(payload) >= 6  # title, job, variant, data as of, parameter, alert, table ...
    meta = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert meta and meta[0]["content"] == report.REPORT_CSP
    assert html.index("Content-Security-Policy") < html.index("<script")  # before any script
    assert "'unsafe-inline'" not in report.REPORT_CSP.split("script-src")[1].split(";")[0]
