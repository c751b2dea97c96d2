"""Statistical models (statsmodels and scipy, loaded on first use with ``lazy_loader``).

* :mod:`finlib.models.attribution` -- difference-in-differences, feature-adoption effect and
  ROI, retention-campaign uplift and ROI.
* :mod:`finlib.models.churn` -- churn propensity (Logit) with a time-based split, AUC,
  calibration and per-customer scores.
* :mod:`finlib.models.launch` -- a product launch's uplift per adopter against non-adopters
  of the same segment and size band (difference in differences), and the ROI it implies.
* :mod:`finlib.models.satisfaction` -- CSAT/NPS against churn (Logit) and net revenue
  retention by NPS band, priced as ARR retained per point of score.
* :mod:`finlib.models.forecast` -- recognised revenue to month end and year end (ETS).

CLV (simple and shifted-beta-geometric) lives in :mod:`finlib.metrics.clv`.
"""
