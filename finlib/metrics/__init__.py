"""Metrics of the catalogue (docs/METRICS.md) as pure functions, and the SQL behind them.

Modules (import the one you need; importing this package loads nothing heavy):

``facts``       SQL (DuckDB and PostgreSQL) turning canonical tables into monthly facts
``mrr``         MRR, ARR, MRR movements, gross and net MRR churn (ChartMogul)
``retention``   logo churn, NRR, GRR, revenue at risk, expansion split and attribution, CS ROI
``product``     feature ROI (per feature and team), launch ROI, customer development cost,
                milestone efficiency
``monitoring``  revenue vs target (run-rate or forecast), cost variance, budget utilisation
``departments`` Sales, Marketing (ROI, ROAS, CAC, payback), cross-domain ROI table
``core``        the shared ROI, ROAS and variance conventions
``kpis``        ``headline_kpis(wh, period)`` and ``period_metrics(wh, period)``
``clv``         customer lifetime value (the models area)
"""
