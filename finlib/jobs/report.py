"""HTML reports: nbconvert with finlib's template (``templates/finlib_report``).

Code is hidden (the failing cell of a failed run excepted), prompts are dropped, and a
header shows the title, status, generated-at and data-as-of stamps, the parameters used,
the alerts and a table of contents built from the notebook's headings. Charts drawn by
:func:`finlib.viz.show` call the global ``Plotly`` that the page loads once from
``reports/_static/plotly.min.js`` (a relative URL), so reports work offline and stay small.

Styles: the JupyterLab stylesheet that nbconvert's ``lab`` template would inline in every
report (~270 KB) is written once to ``reports/_static/report-<hash>.css`` (see
:func:`stylesheet`) and linked relatively. The file name carries a hash of its content, so
an nbconvert upgrade writes a new file and archived reports keep the exact styles they were
published with. A report opened without its ``_static/`` folder is still readable (the
header's own styles are inline), only plainer.

Script in data never runs (names of customers, campaigns, features ... are data, and a name
like ``<img src=x onerror=...>`` must stay text):

* tables, tiles and notes escape every value (:mod:`finlib.widgets`), the header's fields
  are escaped by the template, and plotly.js draws labels and hover text as SVG text;
* the report carries its own Content-Security-Policy (:data:`REPORT_CSP`, a ``<meta>`` at
  the top of ``<head>``, so it holds wherever the file is opened: from disk, attached to an
  e-mail or through the dashboard server's ``/reports/``): scripts only from files beside
  the report (``script-src 'self'``), no inline script and no event-handler attribute. Were
  some markup ever to slip through unescaped, the browser would refuse to run it;
* so the charts need no inline script: :func:`chart_outputs` replaces the ``text/html``
  part of every plotly output (:func:`finlib.viz.html_snippet`, a div and an inline
  script) by a div and the figure as a non-executable JSON data block (every ``<``, ``>``
  and ``&`` written as a JSON unicode escape, so no data can close the block), and
  ``_static/finlib-charts.js`` (:data:`CHARTS_JS`) draws them with ``Plotly.newPlot``.
"""

from __future__ import annotations

import hashlib
import html
import importlib
import json
import re
import uuid
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import lazy_loader as lazy
from jupyter_core.paths import jupyter_path
from pygments.formatters import HtmlFormatter
from traitlets.config import Config

nbconvert = lazy.load("nbconvert")  # seconds to import: loaded by the first report

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "finlib_report"
REMOVE_CELL_TAGS = {"remove_cell", "remove-cell", "hide"}
PLOTLY_MIME = "application/vnd.plotly.v1+json"
CHARTS_JS_NAME = "finlib-charts.js"

#: the report's own policy (a ``<meta>``; see the module docstring). ``'self'`` is the
#: report's folder tree: ``_static/`` beside it on disk, the server's origin under /reports/.
#: plotly.js sets inline styles, hence ``style-src 'unsafe-inline'``; styles run no script.
REPORT_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'")

#: ``_static/finlib-charts.js``: draws every chart of :func:`chart_outputs` (no inline script)
CHARTS_JS = """/* finlib reports: draw each chart from its JSON data block (see finlib/jobs/report.py) */
(function () {
  function draw() {
    var blocks = document.querySelectorAll('script.finlib-chart-data[type="application/json"]');
    for (var i = 0; i < blocks.length; i++) {
      var el = document.getElementById(blocks[i].getAttribute('data-for'));
      if (!el || el.getAttribute('data-drawn')) { continue; }
      el.setAttribute('data-drawn', '1');
      if (!window.Plotly) {
        el.style.height = 'auto';
        el.textContent = '[chart: needs plotly.js, which archived reports load from reports/_static/]';
        continue;
      }
      var f = JSON.parse(blocks[i].textContent);
      window.Plotly.newPlot(el, f.data, f.layout, f.config);
    }
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', draw); } else { draw(); }
})();
"""

_HEADING_RE = re.compile(r'<h([1-3]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")

#: what the lab template adds inline after its stylesheets (kept verbatim in the shared file)
_LAB_EXTRA_CSS = """
* { -webkit-print-color-adjust: exact; }
a.anchor-link { display: none; }
.jp-InputArea { overflow: hidden; }
.jp-InputArea-editor { overflow: hidden; }
.cm-editor.cm-s-jupyter .highlight pre { padding: var(--jp-code-padding) 4px; margin: 0;
  font-family: inherit; font-size: inherit; line-height: inherit; color: inherit; }
.jp-OutputArea-output pre { line-height: inherit; font-family: inherit; }
.jp-RenderedText pre { color: var(--jp-content-font-color1); font-size: var(--jp-code-font-size); }
.jp-Collapser { display: none; }
@page { margin: 0.5in; }
@media print { .jp-Cell-inputWrapper, .jp-Cell-outputWrapper { display: block; } }
"""


def _lab_static() -> Path:
    for p in jupyter_path("nbconvert", "templates", "lab", "static"):
        if (Path(p) / "index.css").is_file():
            return Path(p)
    raise FileNotFoundError("nbconvert's lab template (lab/static/index.css) is not installed")


@lru_cache(maxsize=1)
def stylesheet() -> tuple[str, str]:
    """``(file name, css)`` of the shared report stylesheet: JupyterLab's ``index.css``
    and light theme, the lab template's extras and the Pygments styles nbconvert would
    have inlined (for the source of a failed cell). Self-contained (images are data URIs)."""
    static = _lab_static()
    parts = [
        "/* finlib report stylesheet: nbconvert lab template (index.css, theme-light.css), pygments */",
        (static / "index.css").read_text(encoding="utf-8"),
        (static / "theme-light.css").read_text(encoding="utf-8"),
        _LAB_EXTRA_CSS,
        # imported by name: the submodule is an attribute of its package only once imported
        HtmlFormatter(style=importlib.import_module("nbconvert.preprocessors.csshtmlheader").JupyterStyle)
        .get_style_defs(".highlight"),
    ]
    css = "\n".join(parts)
    digest = hashlib.sha256(css.encode("utf-8")).hexdigest()[:10]
    return f"report-{digest}.css", css


_ENTITY_ORDER = ("department", "account", "product", "feature", "team", "campaign", "channel", "segment", "customer")


def entity_label(alert: dict[str, Any]) -> str:
    """A readable entity: ``department Sales (D10) · account Software subscriptions (6100)``.

    ``entity`` is the rule's id dict (``{"department_id": "D10", "account_id": "6100"}``);
    names come from the alert's ``details`` when it has them. An empty entity is the
    company as a whole.
    """
    entity = alert.get("entity")
    if entity in (None, "", {}):
        return "company"
    if not isinstance(entity, dict):
        return str(entity)
    details = alert.get("details") if isinstance(alert.get("details"), dict) else {}

    def rank(key: str) -> tuple[int, str]:
        base = key[:-3] if key.endswith("_id") else key
        return (_ENTITY_ORDER.index(base) if base in _ENTITY_ORDER else len(_ENTITY_ORDER), key)

    parts = []
    for key in sorted(entity, key=rank):
        value = entity[key]
        base = key[:-3] if key.endswith("_id") else key
        name = details.get(base) if key.endswith("_id") else None
        kind = base.replace("_", " ")
        if name not in (None, "") and str(name) != str(value):
            parts.append(f"{kind} {name} ({value})")
        else:
            parts.append(f"{kind} {value}")
    return " · ".join(parts)


def table_of_contents(body: str) -> str:
    """An ordered list linking every h1-h3 that nbconvert gave an id (the notebook's
    markdown headings), indented by level."""
    items = []
    for level, anchor, inner in _HEADING_RE.findall(body):
        text = html.unescape(_TAG_RE.sub("", inner)).replace("¶", "").strip()
        if text:
            items.append(
                f'<li class="lvl{level}"><a href="#{anchor}">{html.escape(text)}</a></li>'
            )
    return "<ol>" + "".join(items) + "</ol>" if items else "<div>(no headings)</div>"


def _json_block(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` escaped
    as ``\\u003c`` ..., so no string in the data can end the block or open a comment."""
    return (json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def chart_html(spec: dict[str, Any]) -> str:
    """A plotly figure as report HTML: an empty div and its data in a JSON block that
    ``_static/finlib-charts.js`` draws (no inline script, see :data:`REPORT_CSP`)."""
    div_id = f"finlib-chart-{uuid.uuid4().hex[:12]}"
    layout = spec.get("layout") or {}
    h = layout.get("height") or 420
    payload = {"data": spec.get("data", []), "layout": layout, "config": spec.get("config") or {}}
    return (f'<div id="{div_id}" class="finlib-chart" style="width:100%;height:{int(h)}px"></div>'
            f'<script type="application/json" class="finlib-chart-data" data-for="{div_id}">'
            f"{_json_block(payload)}</script>")


def chart_outputs(nb: Any) -> int:
    """Give every plotly output of ``nb`` the ``text/html`` of :func:`chart_html` (in place;
    the report shows ``text/html``). Returns how many were replaced."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data") or {}
            if PLOTLY_MIME in data:
                spec = data[PLOTLY_MIME]
                data["text/html"] = chart_html(spec if isinstance(spec, dict) else json.loads(spec))
                n += 1
    return n


def notebook_to_html(nb: Any, context: dict[str, Any]) -> str:
    """Render an executed notebook node to the report HTML. ``context`` becomes
    ``resources.finlib`` in the template (see its header comment for the keys)."""
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = REMOVE_CELL_TAGS
    c.CSSHTMLHeaderPreprocessor.enabled = False  # its Pygments CSS is in the shared stylesheet
    exporter = nbconvert.HTMLExporter(
        config=c,
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    context = dict(context)
    context.setdefault("stylesheet", stylesheet()[0])
    context.setdefault("csp", REPORT_CSP)
    context.setdefault("charts_js", CHARTS_JS_NAME)
    chart_outputs(nb)
    context["alerts"] = [{**a, "entity_label": entity_label(a)} for a in context.get("alerts") or []]
    resources = {"finlib": context, "metadata": {"name": context.get("title", "report")}}
    nb.metadata["title"] = context.get("title", "report")

    with warnings.catch_warnings():  # scraps (application/scrapbook.*) have no HTML form: fine
        warnings.filterwarnings("ignore", message=".*is not able to be represented.*")
        body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body.replace("<!--FINLIB_TOC-->", table_of_contents(body), 1)
