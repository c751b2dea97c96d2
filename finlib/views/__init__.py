"""Presentation functions ("views") behind the notebooks in ``notebooks/``.

One module per notebook (``product_roi``, ``retention_roi``, ``budget_variance``,
``executive``, ``department``) plus :mod:`finlib.views.common`. A view module holds no
business logic: it calls :mod:`finlib.metrics`, :mod:`finlib.models` and
:mod:`finlib.alerts`, turns their results into tables, KPI tiles and plotly figures, and
builds the scraps the notebook glues (the contract is ``docs/SCRAPS.md``).

Every module follows the same shape, so a notebook is a short list of calls::

    dash = view.dashboard(params, interactive=interactive)   # controls (interactive) + as-of
    dash.section(view.headline)                              # one section per cell
    ...
    scraps = view.scraps(dash.params)                        # dict: name -> JSON-able value

``section`` functions take the parameters dict (``period``, ``segment``, ``department`` ...)
and display; the builders they use (``*_table``, ``*_figure``, ``kpis``) are pure and
tested. Data is read once per parameter set (:func:`finlib.views.common.cached`) and a
Refresh clears that cache. Importing this package is cheap (pandas, plotly and statsmodels
are imported where they are used).
"""
