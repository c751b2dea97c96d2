"""One notebook, two faces: a report that reads top to bottom, and a live dashboard.

A notebook in ``notebooks/`` is an analysis: a ``parameters`` cell, the month's figures
loaded into named DataFrames, then one cell per table or chart. Its setup cell makes it a
dashboard with one line::

    live.page(rr, globals(), interactive)

What that line does depends on where the notebook runs, so no analysis cell has to care:

* **papermill and nbconvert** (``interactive=False``): it checks the parameters (``period``
  becomes ``YYYY-MM``), shows the data-as-of stamp, and nothing else: the cells below run
  as plain cells and the report is static.
* **JupyterLab and Voilà** (``interactive=True``): it shows the controls (one dropdown per
  parameter the view offers choices for, Refresh, the data-as-of stamp) and turns every
  code cell that runs after it into a *live section*. A live section is the cell's own
  code, run in the notebook's namespace with its output kept in an ``ipywidgets.Output``;
  when a viewer picks another period, segment or department, the page sets that variable
  in the namespace and runs the live sections again, in order, replacing each output in
  place (no page reload, no notebook re-run). The variables the cells define
  (``at_risk``, ``frames`` ...) stay inspectable as in any notebook. This uses IPython's
  documented hook for rewriting a cell before it runs (``input_transformers_post``): the
  cell ``x = f()`` runs as ``live.section("x = f()")``.
* **Voilà only** (the kernel has ``VOILA_*`` variables):

  - cell errors become short messages (:mod:`finlib.dashboards.errors`); a section that
    fails shows its message and the sections after it stay empty until the next change;
  - in a *preheated* kernel (started before anyone asks for the page) the line imports
    the heavy modules and, on a server without login only, computes the view's default
    figures (``view.scraps``) ahead of time; then it waits for the viewer
    (:mod:`finlib.dashboards.query`). With a login nothing is read before the viewer's grant
    is verified, and on PostgreSQL the reads are made as the login role of the viewer's
    scope (``query.bind``); the address's
    ``?period=``, ``?segment=``, ``?department=`` ... then override the parameters, and
    whatever was computed ahead of time is dropped if the warehouse (or the report archive)
    changed in between, so a viewer always sees the data as of the page view;
  - scraps (:func:`finlib.views.common.glue`) are left out of the page.

A view module offers what the page needs: ``TITLE``, ``PRELOAD`` (modules to import ahead
of time), ``params(**parameters)`` (checks and normalises them, raising
:class:`~finlib.errors.ConfigError` with a sentence for viewers), ``choices(params)`` (the
options of each control) and ``scraps(params)`` (every figure, used to compute ahead).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
from IPython import get_ipython
from IPython.display import HTML, display
from IPython.utils.capture import capture_output

from finlib import config, viz, widgets
from finlib.dashboards import errors, query
from finlib.errors import AccessDenied, FinlibError
from finlib.views.common import SCRAP_MIME, clear_cache, data_as_of, period_choices, warehouse
from finlib.warehouse.status import fingerprint

#: modules every dashboard page needs; a preheated kernel imports them ahead of time
PRELOAD_MODULES = ("pandas", "duckdb", "plotly.graph_objects", "plotly.io", "plotly.express", "plotly.subplots",
                   "finlib.metrics.kpis", "finlib.metrics.facts", "finlib.alerts.rules", "finlib.alerts.store")
#: the name the live page has in the notebook's namespace (used by the rewritten cells)
NAME = "__finlib_live_page__"

#: what the cache was filled from in a preheated kernel (None: nothing computed ahead)
_version: tuple | None = None


def page(view: Any, namespace: dict, interactive: bool = True) -> LivePage | None:
    """Make the notebook whose namespace is ``namespace`` a report or a live dashboard of
    ``view`` (see the module docstring). Returns None, so the cell shows only the controls
    (or the data-as-of stamp). Also defines ``scope`` in the namespace: the departments the
    page may read (:func:`finlib.dashboards.query.scope`), which data functions that read
    department figures require."""
    errors.install()  # under Voilà: cell errors as short messages
    names = list(inspect.signature(view.params).parameters)
    values = {n: namespace[n] for n in names if n in namespace}
    if query.preheated():
        preheat(view, values)
    values = {n: query.param(n, v) for n, v in values.items()}  # a preheated kernel waits here for its viewer
    query.viewer()  # every page needs a genuine grant when the server requires a login
    if "department" not in values:
        query.bind(None)  # PostgreSQL: read as the login role of the viewer's scope
    revalidate()
    p = view.params(**values)
    namespace.update({n: p[n] for n in values})
    namespace["scope"] = query.scope()  # the departments the page may read (every one outside a dashboard)
    if not interactive:
        display(HTML(widgets.as_of_html(data_as_of)))
        return None
    live = LivePage(view, namespace, p)
    live.start()
    return None


@dataclass
class Section:
    """One live cell: its code and the output widget its display goes into."""

    source: str
    filename: str
    output: w.Output


class LivePage:
    """The controls and the live sections of one notebook (see the module docstring)."""

    def __init__(self, view: Any, namespace: dict, params: dict):
        self.view = view
        self.namespace = namespace
        self.params = dict(params)
        self.sections: dict[str, Section] = {}
        self.shell = get_ipython()
        self.cell_id: str | None = None
        self.failed = False  # a section failed in this pass: leave the rest empty (Voilà)
        self.controls = widgets.Controls(self.params, view.choices(self.params), on_change=self.change,
                                         on_refresh=self.refresh, as_of=data_as_of)

    # -- setting up ----------------------------------------------------------------------------
    def start(self) -> None:
        """Show the controls and make every following cell of this kernel a live section."""
        display(self.controls)
        if self.shell is None:  # plain Python: nothing to hook
            return
        self.namespace[NAME] = self
        previous = self.namespace.get(f"{NAME}_hooks")
        if previous is not None:  # the setup cell ran again (JupyterLab): one page per kernel
            previous()
        self.shell.input_transformers_post.append(self.transform)
        self.shell.events.register("pre_run_cell", self._pre_run_cell)
        self.namespace[f"{NAME}_hooks"] = self.stop

    def stop(self) -> None:
        """Stop turning cells into live sections (cells run plainly again)."""
        if self.transform in self.shell.input_transformers_post:
            self.shell.input_transformers_post.remove(self.transform)
        try:
            self.shell.events.unregister("pre_run_cell", self._pre_run_cell)
        except ValueError:
            pass

    def _pre_run_cell(self, info) -> None:
        self.cell_id = getattr(info, "cell_id", None)

    def transform(self, lines: list[str]) -> list[str]:
        """IPython input transformer: a cell's code becomes a call of :meth:`section`."""
        source = "".join(lines)
        if not source.strip():
            return lines
        return [f"{NAME}.section({source!r})\n"]

    # -- running sections ----------------------------------------------------------------------
    def section(self, source: str) -> None:
        """Run a cell's code as a live section: display its output widget and fill it."""
        key = self.cell_id or source
        filename = self.shell.compile.cache(source) if self.shell is not None else "<cell>"
        sec = Section(source, filename, w.Output())
        self.sections.pop(key, None)  # a cell run again (JupyterLab) replaces its section
        display(sec.output)
        try:
            self.render(sec)
        finally:  # registered once it has run: a cell that changes a control is not re-entered
            self.sections[key] = sec

    def render(self, sec: Section) -> None:
        """Run ``sec`` off-screen, then replace its output widget's outputs in one update.

        Capturing with IPython and assigning ``Output.outputs`` (instead of ``with out:``)
        keeps the kernel's output routing out of it: no flicker on a re-draw, and no
        Output-widget capture while Voilà is still executing the notebook.
        """
        if self.failed and query.under_voila():
            sec.output.outputs = ()
            return
        error: BaseException | None = None
        with capture_output(stdout=True, stderr=False, display=True) as cap:
            try:
                run_source(sec.source, self.namespace, sec.filename)
            except FinlibError as exc:  # written for people: its first line
                widgets.show_error(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
                self.failed = True
            except Exception as exc:  # noqa: BLE001 - re-raised below outside Voilà
                if not query.under_voila():
                    error = exc  # JupyterLab, papermill: the analyst's traceback
                else:
                    errors.show(exc)  # a short message, the traceback goes to the log
                self.failed = True
        sec.output.outputs = tuple(_outputs(cap))
        if error is not None:
            raise error

    def redraw(self) -> None:
        """Run every live section again, in order."""
        self.failed = False
        for sec in list(self.sections.values()):
            self.render(sec)

    # -- controls ------------------------------------------------------------------------------
    def change(self, name: str, value: Any) -> None:
        """A viewer picked ``value`` for ``name``: set it and re-draw the sections.

        The department is checked against the viewer's grant: a crafted widget message
        naming another department changes nothing."""
        if name == "department":
            try:
                query.in_scope(value)
                query.bind(value)  # PostgreSQL: the department's login role from now on
            except AccessDenied:
                return
        values = {**self.params, name: value}
        names = inspect.signature(self.view.params).parameters
        self.params = self.view.params(**{k: v for k, v in values.items() if k in names})
        self.namespace.update(self.params)
        self.redraw()

    def refresh(self) -> None:
        """Forget cached reads (new data), offer new months, re-draw."""
        clear_cache()
        self.controls.set_options("period", period_choices(self.params["period"]))
        self.controls.stamp()  # the new data-as-of time first, then the figures
        self.redraw()


def run_source(source: str, namespace: dict, filename: str = "<cell>") -> None:
    """Run a cell's code in ``namespace`` as IPython would: the value of a last expression
    is displayed (unless the cell ends with ``;``)."""
    tree = ast.parse(source, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not source.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)  # noqa: S102 - the notebook's own cell
    if last is not None:
        value = eval(compile(last, filename, "eval"), namespace)  # noqa: S307 - idem
        if value is not None:
            display(value)


def _outputs(cap) -> list[dict]:
    """Captured output as ``Output.outputs`` items; scraps are left out of the page."""
    outputs = []
    if cap.stdout:
        outputs.append({"output_type": "stream", "name": "stdout", "text": cap.stdout})
    for item in cap.outputs:
        if SCRAP_MIME in item.data:
            continue
        outputs.append({"output_type": "display_data", "data": dict(item.data), "metadata": dict(item.metadata or {})})
    return outputs


# -- preheated kernels: compute ahead, check the data at page view ---------------------------


def data_version() -> tuple:
    """A marker of what the cached reads depend on: the warehouse content
    (:func:`finlib.warehouse.status.fingerprint`, one aggregate per table on a read-only
    connection) and the report archive's run folders (the executive trends read it)."""
    fp = fingerprint(warehouse())
    reports = config.reports_dir()
    marks = []
    if reports.is_dir():
        with os.scandir(reports) as jobs:
            for j in jobs:
                if j.is_dir() and not j.name.startswith((".", "_")):
                    with os.scandir(j.path) as periods:
                        marks += [(j.name, e.name, e.stat().st_mtime_ns) for e in periods if e.is_dir()]
    return fp, tuple(sorted(marks))


def preheat(view: Any, values: dict, compute: Callable[[dict], Any] | None = None) -> None:
    """In a preheated kernel, before the viewer arrives: import what the page needs and
    compute the view's figures for the default parameters (filling the read cache). Never
    raises: a failure here only means the page computes when opened."""
    global _version
    for name in (*PRELOAD_MODULES, *getattr(view, "PRELOAD", ())):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if os.environ.get(query.AUTH_ENV) == "1" or os.environ.get(query.DB_TEMPLATE_ENV):
        # the viewer is not known yet: read nothing before the grant (on PostgreSQL the
        # kernel could not: it has no login role yet); the figures are read at page view
        try:
            viz.warm()
        except Exception:  # noqa: BLE001 - a cold chart library only costs time
            pass
        return
    if compute is None:
        takes_scope = "scope" in inspect.signature(view.scraps).parameters
        compute = (lambda p: view.scraps(p, scope=query.scope())) if takes_scope else view.scraps
    try:
        version = data_version()
        with capture_output():
            compute(view.params(**values))
            viz.warm()
        _version = version
    except Exception:  # noqa: BLE001 - no warehouse yet, bad defaults ...: compute at page view
        clear_cache()


def revalidate() -> None:
    """Drop reads made ahead of time if the data changed since (no-op when nothing was)."""
    global _version
    if _version is None:
        return
    try:
        current = data_version()
    except Exception:  # noqa: BLE001 - let the page's own reads report the problem
        current = None
    if current != _version:
        clear_cache()
    _version = None
