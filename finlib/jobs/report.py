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
"""

from __future__ import annotations

import hashlib
import html
import re
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
        HtmlFormatter(style=nbconvert.preprocessors.csshtmlheader.JupyterStyle).get_style_defs(".highlight"),
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
    context["alerts"] = [{**a, "entity_label": entity_label(a)} for a in context.get("alerts") or []]
    resources = {"finlib": context, "metadata": {"name": context.get("title", "report")}}
    nb.metadata["title"] = context.get("title", "report")

    with warnings.catch_warnings():  # scraps (application/scrapbook.*) have no HTML form: fine
        warnings.filterwarnings("ignore", message=".*is not able to be represented.*")
        body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body.replace("<!--FINLIB_TOC-->", table_of_contents(body), 1)
