"""HTML reports: nbconvert with finlib's template (``templates/finlib_report``).

Code is hidden (the failing cell of a failed run excepted), prompts are dropped, and a
header shows the title, status, generated-at and data-as-of stamps, the parameters used,
the alerts and a table of contents built from the notebook's headings. Charts drawn by
:func:`finlib.viz.show` call the global ``Plotly`` that the page loads once from
``reports/_static/plotly.min.js`` (a relative URL), so reports work offline and stay small.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "finlib_report"
REMOVE_CELL_TAGS = {"remove_cell", "remove-cell", "hide"}

_HEADING_RE = re.compile(r'<h([1-3]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")


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
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = REMOVE_CELL_TAGS
    exporter = HTMLExporter(
        config=c,
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {"finlib": context, "metadata": {"name": context.get("title", "report")}}
    nb.metadata["title"] = context.get("title", "report")
    import warnings

    with warnings.catch_warnings():  # scraps (application/scrapbook.*) have no HTML form: fine
        warnings.filterwarnings("ignore", message=".*is not able to be represented.*")
        body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body.replace("<!--FINLIB_TOC-->", table_of_contents(body), 1)
