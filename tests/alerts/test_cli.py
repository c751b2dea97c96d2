"""`finlib alerts check|list|ack` through the real CLI entry point."""

from __future__ import annotations

import json
from datetime import date

import pytest

from finlib.alerts import list_alerts
from finlib.cli import main
from finlib.errors import ConfigError
from tests.alerts.conftest import write_config
from tests.alerts.test_store import feature_overruns


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_json_list_and_ack(duck, params_dir, tmp_path, capsys):
    feature_overruns(duck)
    write_config(params_dir, channels={"log": {"type": "jsonl", "path": str(tmp_path / "a.jsonl")}})
    code, out, _ = run(capsys, "alerts", "check", "--period", "2024-05", "--json")
    assert code == 0
    items = json.loads(out)
    assert len(items) == 2
    for a in items:
        assert {"id", "rule", "period", "entity", "value", "threshold", "severity",
                "state"} <= set(a)
        assert a["period"] == "2024-05-01" and isinstance(a["entity"], dict)
        assert a["rule"] == "product_development" and a["state"] == "open"
    assert (tmp_path / "a.jsonl").exists()

    code, out, _ = run(capsys, "alerts", "check", "--period", "2024-05")
    assert code == 0 and "product_development" in out and items[0]["id"] in out

    code, out, _ = run(capsys, "alerts", "ack", items[0]["id"], "--user", "ana")
    assert code == 0 and "acknowledged by ana" in out
    code, out, _ = run(capsys, "alerts", "list", "--state", "open", "--json")
    assert [a["id"] for a in json.loads(out)] == [items[1]["id"]]
    code, out, _ = run(capsys, "alerts", "list")
    assert code == 0 and "acknowledged" in out

    code, _, err = run(capsys, "alerts", "ack", "nonexistent")
    assert code != 0 and "no alert with id" in err


def test_no_deliver_stores_but_sends_nothing(duck, params_dir, tmp_path, capsys):
    feature_overruns(duck)
    write_config(params_dir, channels={"log": {"type": "jsonl", "path": str(tmp_path / "a.jsonl")}})
    code, out, _ = run(capsys, "alerts", "check", "--period", "2024-05", "--json", "--no-deliver")
    assert code == 0 and len(json.loads(out)) == 2
    assert not (tmp_path / "a.jsonl").exists()


def test_bad_period_and_bad_config_are_messages_not_tracebacks(duck, params_dir, capsys):
    (params_dir / "alerts.yaml").write_text("rules:\n  cac: {threshold: x}\n")
    code, _, err = run(capsys, "alerts", "check", "--period", "2024-05")
    assert code != 0 and "rules.cac.threshold" in err and "Traceback" not in err
    code, _, err = run(capsys, "alerts", "check", "--period", "May 2024")
    assert code != 0 and "YYYY-MM" in err


@pytest.mark.parametrize("bad", ["2024-13", "2024-05-02", "24-05", date(2024, 5, 2)])
def test_alerts_refuse_a_period_that_is_not_a_month_as_a_config_error(duck, bad):
    with pytest.raises(ConfigError, match="period"):
        list_alerts(duck, period=bad)


def test_a_day_inside_a_month_on_the_command_line_exits_2_with_the_month_to_use(duck, params_dir, capsys):
    code, _, err = run(capsys, "alerts", "check", "--period", "2024-05-17")
    assert code == ConfigError.exit_code == 2
    assert "use 2024-05" in err and "Traceback" not in err
