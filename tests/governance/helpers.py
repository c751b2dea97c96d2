"""Evaluate one control on the hand-built books."""

from __future__ import annotations

from finlib.governance.config import parse_config
from finlib.governance.runner import evaluate_controls
from tests.governance.conftest import P


def failures(wh, control: str, period=P, reports=None, **settings) -> dict[str, dict]:
    """``{entity: result}`` of the failing entities of ``control`` (read-only evaluation)."""
    cfg = parse_config({"controls": {control: settings}} if settings else {})
    out = evaluate_controls(wh, period, [control], cfg, reports=reports)
    assert {r["control"] for r in out} == {control}
    passes = [r for r in out if r["status"] == "pass"]
    fails = [r for r in out if r["status"] == "fail"]
    assert (len(passes) == 1) != bool(fails), "one pass result exactly when nothing failed"
    return {r["entity"]: r for r in fails}
