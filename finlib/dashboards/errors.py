"""Errors as viewers should see them: one short sentence, never a Python traceback.

Three tools, used together in every dashboard notebook::

    from finlib.dashboards import errors
    errors.install()                      # first code cell: cell errors -> short alert

    out = widgets.Output()
    def on_change(change):
        with errors.shown_in(out):        # widget callbacks: errors -> alert inside `out`
            out.clear_output(wait=True)
            with out:
                finlib.viz.show(chart_for(change.new))

* A :class:`~finlib.errors.FinlibError` is shown with its message (first line), e.g.
  "no data for 2031-01" - finlib's messages are written for people.
* Any other exception is shown as "This view could not be built" with a short reference;
  the traceback goes to the dashboard log (``FINLIB_DASHBOARD_LOG``, default
  ``data/logs/dashboards.log``), never to the page.
* Outside Voilà (JupyterLab, papermill) :func:`install` does nothing: analysts keep their
  tracebacks and papermill still sees the failing cell. :func:`shown_in` shows the alert
  everywhere but swallows the exception only under Voilà; elsewhere it re-raises, so a
  papermill job still fails.

The server's ``show_tracebacks: false`` (``voila.json``) is the backstop: a traceback that
escapes these helpers becomes Voilà's generic "There was an error" line.
"""

from __future__ import annotations

import html
import logging
import os
import sys
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from IPython import get_ipython
from IPython.display import HTML, display

from finlib import config
from finlib.dashboards import ERROR_CLASS
from finlib.dashboards.query import under_voila
from finlib.errors import FinlibError

GENERIC = "This view could not be built. Please try again later or tell the analytics team"
LOG_ENV = "FINLIB_DASHBOARD_LOG"
#: loggers that write tracebacks of browser-sent comm messages
COMM_LOGGERS = ("Comm", "ipykernel.comm")

_log: logging.Logger | None = None
_installed = False

_STYLE = (
    "border-left:4px solid #c0392b;background:#fdecea;color:#611a15;"
    "padding:10px 14px;margin:8px 0;border-radius:4px;"
    "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:14px;"
)


def log_path() -> Path:
    env = os.environ.get(LOG_ENV)
    if env:
        return Path(env)
    return config.data_dir() / "logs" / "dashboards.log"


def _logger() -> logging.Logger:
    """A file logger (kernel stderr would be forwarded to the page by ipykernel)."""
    global _log
    if _log is None:
        log = logging.getLogger("finlib.dashboards.errors")
        log.propagate = False
        log.setLevel(logging.INFO)
        try:
            path = log_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
        except OSError:
            handler = logging.NullHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s pid=%(process)d %(levelname)s %(message)s")
        )
        log.addHandler(handler)
        _log = log
    return _log


def message(exc: BaseException) -> str:
    """The sentence a viewer sees for ``exc``."""
    if isinstance(exc, FinlibError):
        text = str(exc).strip().splitlines()
        return text[0] if text else type(exc).__name__
    return GENERIC


def report(exc: BaseException) -> str:
    """Log ``exc`` with its traceback; return a short reference a viewer can quote."""
    ref = uuid.uuid4().hex[:8]
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path = os.environ.get("SCRIPT_NAME", "")
    query = os.environ.get("QUERY_STRING", "")
    _logger().error("ref=%s page=%s?%s\n%s", ref, path, query, tb)
    return ref


def alert_html(text: str, ref: str | None = None) -> str:
    """The HTML of an alert box (text is escaped)."""
    suffix = f' <span style="opacity:.7">(ref {html.escape(ref)})</span>' if ref else ""
    return (
        f'<div class="{ERROR_CLASS}" role="alert" style="{_STYLE}">'
        f"{html.escape(text)}{suffix}</div>"
    )


def friendly(exc: BaseException):
    """An ``IPython.display.HTML`` alert for ``exc`` (the traceback is logged, not shown)."""
    ref = report(exc)
    generic = not isinstance(exc, FinlibError)
    return HTML(alert_html(message(exc), ref if generic else None))


def show(exc: BaseException, output: Any = None) -> None:
    """Display the alert for ``exc``, inside ``output`` (an ``ipywidgets.Output``) if given."""
    alert = friendly(exc)
    if output is None:
        display(alert)
        return
    output.clear_output(wait=True)
    with output:
        display(alert)


@contextmanager
def shown_in(output: Any = None, *, reraise: bool | None = None) -> Iterator[None]:
    """Turn an exception in the block into an alert (in ``output`` if given).

    ``reraise`` defaults to "not under Voilà": in JupyterLab and papermill the exception
    still propagates after the alert, so analysts and jobs see failures.
    """
    try:
        yield
    except Exception as exc:
        show(exc, output)
        if reraise if reraise is not None else not under_voila():
            raise


def _custom_exc(shell, etype, value, tb, tb_offset=None):
    show(value)
    return []  # no traceback lines


def installed() -> bool:
    """True once :func:`install` has taken effect in this kernel."""
    return _installed


def install(force: bool = False) -> None:
    """Show cell errors as short alerts in this kernel when it runs under Voilà.

    Registers an IPython custom exception handler (the cell still fails, so Voilà stops
    rendering the cells below it, but no traceback is sent) and routes IPython's
    ``showtraceback`` (used by ipywidgets for errors in callbacks) to the same alert.
    Outside Voilà it does nothing unless ``force`` (see :func:`installed`). Returns None so
    that a cell ending with ``errors.install()`` displays nothing.
    """
    global _installed
    if _installed or not (force or under_voila()):
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.set_custom_exc((Exception,), _custom_exc)

    def showtraceback(*args, **kwargs):
        exc = sys.exc_info()[1]
        if exc is None:
            return
        show(exc)

    shell.showtraceback = showtraceback
    # a malformed comm message from the browser (comm_open of an unknown widget, a bad
    # comm_msg) is logged by ipykernel/comm with its traceback on stderr, which ipykernel
    # forwards to the page: send those records to the dashboard log instead
    for name in COMM_LOGGERS:
        comm_log = logging.getLogger(name)
        comm_log.handlers = list(_logger().handlers)
        comm_log.propagate = False
    _installed = True
