"""Voilà dashboards: the server launcher, and helpers that dashboard notebooks call.

Layout
------
``server.py``   options, safety checks and the committed Voilà configuration (``voila.json``)
``app.py``      a thin :class:`voila.app.Voila` subclass that adds TLS (standalone Voilà has none)
``cli.py``      ``finlib dashboards serve`` / ``python -m finlib.dashboards serve``
``query.py``    ``param(name, default)``: the page's URL query string, preheated kernels included
``errors.py``   ``install()``, ``shown_in(out)``, ``friendly(exc)``: short messages, never tracebacks
``live.py``     ``page(view, globals(), interactive)``: the one line that makes a notebook a dashboard
``harness.py``  start a real server and a headless Chromium (tests and ``bench/``)

Conventions the tests and the benchmark rely on (notebooks follow them):

* a KPI tile carries the CSS class :data:`KPI_CLASS` (``widget.add_class(KPI_CLASS)``);
* a viewer-facing error is an element with the class :data:`ERROR_CLASS`.

This package imports nothing heavy at import time: notebooks pay only for what they use.
"""

from __future__ import annotations

KPI_CLASS = "finlib-kpi"
ERROR_CLASS = "finlib-error"
KPI_SELECTOR = f".{KPI_CLASS}"
ERROR_SELECTOR = f".{ERROR_CLASS}"

__all__ = ["ERROR_CLASS", "ERROR_SELECTOR", "KPI_CLASS", "KPI_SELECTOR"]
