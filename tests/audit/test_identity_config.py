"""Who acts, and configuration changes under audit."""

from __future__ import annotations

import json
import shutil

import pytest

from finlib.audit.identity import acting_as, current_actor, os_user
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import write_batch


def test_actor_is_the_os_user_unless_a_caller_or_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("FINLIB_ACTOR", raising=False)
    assert current_actor().name == os_user() and current_actor().kind == "os"
    with acting_as("ana", kind="token", via="api-token"):
        assert current_actor().name == "ana" and current_actor().kind == "token"
        with acting_as("bob"):
            assert current_actor().name == "bob"
        assert current_actor().name == "ana"
    monkeypatch.setenv("FINLIB_ACTOR", "svc-etl")
    assert (current_actor().name, current_actor().kind) == ("svc-etl", "env")
    with pytest.raises(ValueError):
        with acting_as(" "):
            pass


def _entries(wh, action=None):
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT seq, actor, action, CAST(details AS VARCHAR) FROM audit_log ORDER BY seq")
    return [(s, a, act, json.loads(d)) for s, a, act, d in rows if action is None or act == action]


def test_batches_are_attributed_to_the_acting_user(duckdb_url):
    wh = get_warehouse()
    init_db(wh)
    with acting_as("dana", kind="user", via="session"):
        with write_batch(wh, action="test", target="departments") as b:
            b.execute("INSERT INTO departments VALUES ('d1', 'Sales')")
    seq, actor, action, details = _entries(wh, "test")[-1]
    assert (actor, details["actor_kind"]) == ("dana", "user")


def test_a_change_of_parameters_becomes_an_entry(any_db_url, tmp_path, monkeypatch):
    from finlib import config

    params = tmp_path / "parameters"
    shutil.copytree(config.parameters_dir(), params)
    monkeypatch.setenv("FINLIB_PARAMETERS", str(params))
    wh = get_warehouse()
    init_db(wh)
    first = _entries(wh, "config")
    assert len(first) == 1 and first[0][3]["previous_sha256"] is None
    with write_batch(wh, action="run", target="runs"):
        pass
    assert len(_entries(wh, "config")) == 1  # unchanged: no new entry
    run = _entries(wh, "run")[-1][3]
    assert run["parameters_sha256"] == first[0][3]["sha256"]
    (params / "alerts.yaml").write_text((params / "alerts.yaml").read_text() + "\n# tightened\n")
    with write_batch(wh, action="run", target="runs"):
        pass
    cfg = _entries(wh, "config")
    assert len(cfg) == 2
    assert cfg[-1][3]["changed"] == ["alerts.yaml"] and cfg[-1][3]["previous_sha256"] == first[0][3]["sha256"]
    from finlib.audit.verify import verify

    assert verify(wh).ok


def test_report_manifest_carries_the_audit_head(duckdb_url, tmp_path):
    from finlib.audit.manifest import stamp_manifest
    from finlib.audit.verify import head_of

    wh = get_warehouse()
    init_db(wh)
    m = tmp_path / "manifest.json"
    m.write_text(json.dumps({"run_id": "r1"}))
    stamp_manifest(m)
    audit = json.loads(m.read_text())["audit"]
    assert audit["head"] == head_of(wh) and audit["head"]["seq"] >= 1
    assert len(audit["parameters_sha256"]) == 64
