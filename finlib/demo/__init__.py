"""Deterministic demo data with planted ground truth (``finlib demo-data``).

Public API (loaded on first use, so ``import finlib.demo`` stays cheap)::

    finlib.demo.generate(wh, scale, seed, end=None, *, force=False, progress=False) -> dict
    finlib.demo.load_truth(wh) -> dict
    finlib.demo.truth_path(wh) -> Path | None

The generative model and the planted truths are documented in :mod:`finlib.demo.model`
(customers, health, churn, adoption, retention), :mod:`finlib.demo.blocks` (billing and
recognition) and :mod:`finlib.demo.costs` (ledger, budgets, targets, planted alerts).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={
    "generator": ["generate"],
    "truth": ["load_truth", "truth_path"],
})
