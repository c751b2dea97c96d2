"""Deterministic demo data with planted ground truth (``finlib demo-data``).

Public API (imported lazily, so ``import finlib.demo`` stays cheap)::

    finlib.demo.generate(wh, scale, seed, end=None, *, force=False, progress=False) -> dict
    finlib.demo.load_truth(wh) -> dict

The generative model and the planted truths are documented in :mod:`finlib.demo.model`
(customers, health, churn, adoption, retention), :mod:`finlib.demo.blocks` (billing and
recognition) and :mod:`finlib.demo.costs` (ledger, budgets, targets, planted alerts).
"""

from __future__ import annotations

__all__ = ["generate", "load_truth", "truth_path"]


def generate(wh, scale="small", seed: int = 42, end=None, **kw):
    """See :func:`finlib.demo.generator.generate`."""
    from finlib.demo.generator import generate as _generate

    return _generate(wh, scale, seed, end, **kw)


def load_truth(wh=None) -> dict:
    """See :func:`finlib.demo.truth.load_truth`."""
    from finlib.demo.truth import load_truth as _load

    return _load(wh)


def truth_path(wh):
    """See :func:`finlib.demo.truth.truth_path`."""
    from finlib.demo.truth import truth_path as _path

    return _path(wh)
