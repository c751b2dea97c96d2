"""What the notebooks in ``notebooks/`` show, as functions an analyst can call and change.

One module per notebook (``product_roi``, ``retention_roi``, ``budget_variance``,
``executive``, ``department``) plus :mod:`finlib.views.common` and the cached reads of
:mod:`finlib.views.data`. A view module holds no business logic: it calls
:mod:`finlib.metrics`, :mod:`finlib.models` and :mod:`finlib.alerts` and lays their results
out. Each follows the same shape, which is the shape of its notebook::

    frames = rr.load(period)                                  # the month's figures (cached)
    kpis = rr.kpis(frames)                                    # a dict: the kpis scrap
    rr.headline_tiles(kpis, frames)                           # KPI tiles
    at_risk = rr.revenue_at_risk(frames, segment=segment)     # a DataFrame per section ...
    rr.revenue_at_risk_chart(at_risk)                         # ... and its plotly figure
    rr.at_risk_customers_table(customers)                     # or formatted table

Section builders return DataFrames whose columns are the scraps of ``docs/SCRAPS.md``;
``*_chart`` return plotly figures (styled by :mod:`finlib.viz`), ``*_table`` and
``*_tiles`` displayable :class:`finlib.widgets.Table` / :class:`finlib.widgets.Tiles`.
``scraps(params)`` builds every scrap at once with the same calls (tests, preheated
dashboards); ``params``, ``choices``, ``TITLE`` and ``PRELOAD`` describe the notebook to the
dashboard page (:mod:`finlib.dashboards.live`). Views know nothing of how they are shown:
they import neither :mod:`finlib.dashboards` nor the job runner's archive.
"""
