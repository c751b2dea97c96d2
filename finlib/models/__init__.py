"""Statistical models (statsmodels and scipy, loaded on first use with ``lazy_loader``).

* :mod:`finlib.models.attribution` -- difference-in-differences, feature-adoption effect and
  ROI, retention-campaign uplift and ROI.
* :mod:`finlib.models.churn` -- churn propensity (Logit) with a time-based split, AUC,
  calibration and per-customer scores.
* :mod:`finlib.models.forecast` -- recognised revenue to month end and year end (ETS).

CLV (simple and shifted-beta-geometric) lives in :mod:`finlib.metrics.clv`.
"""
