"""On the demo data, every planted breach fires and no planted near miss does.

The demo generator (``finlib.demo.generate`` / ``load_truth``) is built in parallel with
the alerts; until it exists this test is skipped, and it runs as soon as it does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from finlib.alerts import check
from finlib.alerts.config import load_config
from finlib.alerts.store import canonical_entity
from finlib.periods import parse_period

ROOT = Path(__file__).resolve().parents[2]


def _key(item) -> tuple[str, str, str]:
    """(rule, period as YYYY-MM-DD, canonical entity): ids compare as strings."""
    period = parse_period(str(item["period"])[:10]).isoformat()
    return item["rule"], period, canonical_entity(item.get("entity") or {})


def test_planted_breaches_fire_and_near_misses_do_not(duckdb_url):
    demo = pytest.importorskip("finlib.demo")
    if not hasattr(demo, "generate") or not hasattr(demo, "load_truth"):
        pytest.skip("finlib.demo.generate is not written yet")
    from finlib.warehouse.create import init_db
    from finlib.warehouse.db import get_warehouse

    wh = get_warehouse()
    demo.generate(wh, "small", 42)
    init_db(wh)  # idempotent: makes sure the system tables exist
    truth = demo.load_truth(wh)["alerts"]
    breaches, near = truth["breaches"], truth["near_misses"]
    assert breaches, "the demo plants no breach"
    cfg = dataclasses.replace(load_config(ROOT / "parameters" / "alerts.yaml"), channels={})
    fired: set[tuple[str, str, str]] = set()
    for period in sorted({_key(x)[1] for x in breaches + near}):
        fired |= {_key(a) for a in check(wh, period, deliver=False, config=cfg)}
    missed = [b for b in breaches if _key(b) not in fired]
    false_alarms = [n for n in near if _key(n) in fired]
    assert not missed, f"planted breaches that did not fire: {missed}"
    assert not false_alarms, f"planted near misses that fired: {false_alarms}"
