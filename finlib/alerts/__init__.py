"""Alerts: rules over the warehouse, alert history, delivery channels (docs/ALERTS.md).

Public API::

    from finlib.alerts import check, list_alerts, acknowledge
    alerts = check(wh, "2024-05")            # evaluate, store, deliver new alerts
    preview = evaluate(wh, "2024-05", overrides={"budget_variance": {"threshold": 0.05}})
                                             # read-only: same items, nothing stored or sent
    rule_settings()["budget_variance"]["threshold"]   # the configured tolerance
    list_alerts(wh, state="open")
    acknowledge(wh, alerts[0]["id"], user="ana")

Rules live in :mod:`finlib.alerts.rules`, channels in :mod:`finlib.alerts.channels`,
history in :mod:`finlib.alerts.store`; thresholds in ``parameters/alerts.yaml``. Periods are
parsed by :mod:`finlib.periods` (a bad period is a :class:`~finlib.errors.ConfigError`).

The names above come from :mod:`finlib.alerts.engine`, loaded on first use, so
``finlib alerts --help`` does not load the rules.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={"engine": [
    "acknowledge",
    "check",
    "deliver_pending",
    "evaluate",
    "list_alerts",
    "rule_settings",
]})
