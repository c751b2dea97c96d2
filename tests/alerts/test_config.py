"""parameters/alerts.yaml is validated: every problem named with its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from finlib.alerts.config import load_config
from finlib.alerts.rules import RULES
from finlib.errors import AlertError
from tests.alerts.conftest import write_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_file_holds_the_six_default_rules_with_the_issue_thresholds():
    cfg = load_config(ROOT / "parameters" / "alerts.yaml")
    assert set(cfg.rules) == set(RULES)
    t = {n: r.threshold for n, r in cfg.rules.items()}
    assert t == {"budget_variance": 0.10, "revenue_target": 0.05, "cost_control": 0.15,
                 "campaign_roi": 2.0, "cac": 0.20, "product_development": 0.25, "nrr_target": 0.05}
    assert cfg.rules["cost_control"].trailing_months == 3
    assert cfg.rules["campaign_roi"].lookback_months == 12
    assert cfg.rules["budget_variance"].min_amount == 1000.0  # unbudgeted spend floor
    assert all(r.link for r in cfg.rules.values())
    # the six default rules are on; the seventh (retention vs its NRR target) is opt-in
    assert {n for n, r in cfg.rules.items() if r.enabled} == set(RULES) - {"nrr_target"}
    assert cfg.rules["nrr_target"].months == 12
    assert {c.type for c in cfg.channels.values()} == {"jsonl", "smtp", "webhook"}
    assert cfg.channels["email"].password_env == "FINLIB_SMTP_PASSWORD"


def test_a_missing_rule_runs_with_the_issue_defaults(tmp_path):
    cfg = load_config(write_config(tmp_path))
    assert cfg.rules["budget_variance"].threshold == 0.10 and cfg.channels == {}
    assert cfg.rules["budget_variance"].min_amount == 1000.0


@pytest.mark.parametrize("rules, channels, expected", [
    ({"cac": {"treshold": 0.2}}, {}, "rules.cac.treshold: unknown key"),
    ({"cac": {"threshold": "lots"}}, {}, "rules.cac.threshold: Input should be a valid number"),
    ({"cac": {"severity": "panic"}}, {}, "rules.cac.severity"),
    ({"cac": {"threshold": -1}}, {}, "rules.cac.threshold"),
    ({"budget_variance": {"min_amount": -5}}, {}, "rules.budget_variance.min_amount"),
    ({"budget_variance": {"min_amount": "a lot"}}, {}, "rules.budget_variance.min_amount"),
    ({"cac": {"min_amount": 10}}, {}, "rules.cac.min_amount: unknown key"),
    ({"nps_drop": {}}, {}, "rules.nps_drop: unknown rule"),
    ({"cac": {"link": "{base}/{feature_id}"}}, {}, "rules.cac.link: unknown placeholder"),
    ({"cac": {"channels": ["pager"]}}, {}, "rules.cac.channels: no channel named 'pager'"),
    ({}, {"x": {"type": "pigeon"}}, "channels.x.type: must be one of"),
    ({}, {"m": {"type": "smtp", "from": "a@b", "to": ["c@d"], "password": "hunter2"}},
     "channels.m.password: secrets never go in this file"),
    ({}, {"m": {"type": "smtp", "from": "a@b", "to": [], "port": "x"}}, "channels.m.port"),
    ({}, {"w": {"type": "webhook", "url": "http://a", "url_env": "B"}},
     "exactly one of url or url_env"),
    ({}, {"w": {"type": "webhook", "url": "ftp://a"}}, "http:// or https://"),
])
def test_bad_configuration_names_the_file_and_the_key(tmp_path, rules, channels, expected):
    path = write_config(tmp_path, rules=rules, channels=channels)
    with pytest.raises(AlertError) as exc:
        load_config(path)
    assert str(path) in str(exc.value)
    assert expected in str(exc.value)


def test_every_problem_is_reported_at_once(tmp_path):
    path = write_config(tmp_path, rules={"cac": {"threshold": "x"}, "foo": {}},
                        channels={"w": {"type": "webhook"}})
    with pytest.raises(AlertError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "rules.cac.threshold" in msg and "rules.foo" in msg and "channels.w" in msg


def test_unknown_top_level_key_and_bad_yaml(tmp_path):
    p = tmp_path / "alerts.yaml"
    p.write_text("version: 1\nrulez: {}\n")
    with pytest.raises(AlertError, match="rulez: unknown key"):
        load_config(p)
    p.write_text("rules:\n  cac: [unclosed\n")
    with pytest.raises(AlertError, match=r"alerts.yaml: line \d+"):
        load_config(p)
    with pytest.raises(AlertError, match="not found"):
        load_config(tmp_path / "nope.yaml")
