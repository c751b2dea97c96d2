"""Attacks on authentication, on a real DuckDB file and a real PostgreSQL database: each is
refused, recorded in the access log, and leaks no password, token or hash."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from finlib.access import auth, session
from finlib.access.auth import (
    AuthenticationError,
    authenticate_password,
    authenticate_token,
    enforce,
    record_refusal,
)
from finlib.access.log import read_access_log
from finlib.access.policy import User, can, can_open_dashboard, can_open_report
from finlib.access.settings import AccessSettings, Lockout, load_settings
from finlib.access.users import disable_user, end_sessions, get_user, new_token, revoke_token, set_password
from finlib.errors import AccessDenied, ConfigError
from tests.access.helpers import PASSWORD, SETTINGS, Clock, dump_tables, warehouse_with_users


@pytest.fixture
def wh(any_db_url):
    return warehouse_with_users(any_db_url)


def login(wh, name, password, clock, settings=SETTINGS):
    return authenticate_password(wh, name, password, "10.1.2.3", settings=settings, clock=clock)


def no_leak(wh, *secrets):
    text = "\n".join(dump_tables(wh, ("access_log", "login_attempts")).values())
    text += json.dumps(read_access_log(wh), default=str)
    with wh.connect(read_only=True) as conn:
        hashes = [r[0] for r in conn.query("SELECT password_hash FROM users")]
        hashes += [r[0] for r in conn.query("SELECT token_hash FROM api_tokens")]
    for s in (*secrets, *hashes):
        assert s not in text


def test_a_right_password_logs_in_and_is_logged(wh):
    clock = Clock()
    user = login(wh, "ana", PASSWORD, clock)
    assert user == User("ana", "department_head", ("Marketing",), False, 1)
    rec = read_access_log(wh, "ana")[-1]
    assert (rec["action"], rec["outcome"], rec["address"], rec["details"]) == \
        ("login", "ok", "10.1.2.3", {"method": "password"})
    assert rec["ts"] == clock.now


def test_a_wrong_password_and_an_unknown_user_look_the_same(wh):
    clock = Clock()
    with pytest.raises(AuthenticationError) as wrong:
        login(wh, "ana", "not the password!", clock)
    with pytest.raises(AuthenticationError) as unknown:
        login(wh, "nobody", "not the password!", clock)
    assert str(wrong.value) == str(unknown.value) == auth.WRONG
    assert (wrong.value.reason, unknown.value.reason) == ("failed", "unknown")
    log = read_access_log(wh)
    assert [(r["user"], r["outcome"], r["details"]["reason"]) for r in log[-2:]] == \
        [("ana", "failed", "wrong password"), ("nobody", "failed", "unknown")]
    no_leak(wh, PASSWORD, "not the password!")


def test_five_failures_in_the_window_lock_the_user_for_the_lock_time(wh):
    clock = Clock()
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            login(wh, "ana", "wrong password 1", clock)
        clock.advance(minutes=3)
    assert get_user(wh, "ana") is not None
    with pytest.raises(AuthenticationError):  # the fifth, 12 minutes after the first
        login(wh, "ana", "wrong password 1", clock)
    locks = [r for r in read_access_log(wh, "ana") if r["action"] == "lock"]
    assert len(locks) == 1 and locks[0]["details"]["failures"] == 5
    # the right password is refused while locked, without checking it
    clock.advance(minutes=14)
    with pytest.raises(AuthenticationError) as locked:
        login(wh, "ana", PASSWORD, clock)
    assert locked.value.reason == "locked" and "locked" in str(locked.value)
    assert read_access_log(wh, "ana")[-1]["outcome"] == "denied"
    # ... and the lock is not extended by trying
    clock.advance(minutes=1, seconds=1)
    assert login(wh, "ana", PASSWORD, clock).name == "ana"
    # another user was never affected
    assert login(wh, "paula", PASSWORD, clock).name == "paula"
    no_leak(wh, PASSWORD, "wrong password 1")


def test_a_lock_does_not_tell_whether_a_user_exists(wh):
    clock = Clock()
    answers = {}
    for name in ("ana", "nobody"):
        seen = []
        for _ in range(7):
            clock.advance(seconds=10)
            with pytest.raises(AuthenticationError) as e:
                login(wh, name, "wrong password 7", clock)
            seen.append(str(e.value))
        clock.advance(minutes=14)
        with pytest.raises(AuthenticationError) as e:  # still locked: 14.5 min after the 5th failure
            login(wh, name, "wrong password 7", clock)
        seen.append(str(e.value))
        clock.advance(minutes=1)
        with pytest.raises(AuthenticationError) as e:  # the lock is over: a plain failure again
            login(wh, name, "wrong password 7", clock)
        seen.append(str(e.value))
        answers[name] = seen
    assert answers["ana"] == answers["nobody"] == [auth.WRONG] * 5 + [auth.LOCKED] * 3 + [auth.WRONG]


def test_failures_spread_beyond_the_window_do_not_lock(wh):
    clock = Clock()
    for _ in range(8):
        with pytest.raises(AuthenticationError):
            login(wh, "ana", "wrong password 2", clock)
        clock.advance(minutes=4)  # never five within 15 minutes
    assert login(wh, "ana", PASSWORD, clock).name == "ana"
    assert not [r for r in read_access_log(wh, "ana") if r["action"] == "lock"]


def test_a_success_resets_the_count_and_the_lockout_is_configurable(wh):
    clock = Clock()
    settings = AccessSettings(lockout=Lockout(max_failures=2, window_minutes=60, lock_minutes=30))

    def attempt(password):
        clock.advance(seconds=1)
        return login(wh, "cate", password, clock, settings)

    with pytest.raises(AuthenticationError):
        attempt("wrong password 3")
    assert attempt(PASSWORD)
    with pytest.raises(AuthenticationError):
        attempt("wrong password 3")
    assert attempt(PASSWORD)  # one failure since the success: not locked
    with pytest.raises(AuthenticationError):
        attempt("wrong password 3")
    with pytest.raises(AuthenticationError):
        attempt("wrong password 3")
    clock.advance(minutes=29)
    with pytest.raises(AuthenticationError, match="locked"):
        login(wh, "cate", PASSWORD, clock, settings)
    clock.advance(minutes=1)
    assert login(wh, "cate", PASSWORD, clock, settings)


def test_a_new_password_lifts_a_lock(wh):
    clock = Clock()
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            login(wh, "ana", "wrong password 4", clock)
    set_password(wh, "ana", "a brand new passphrase", settings=SETTINGS, clock=clock)
    assert login(wh, "ana", "a brand new passphrase", clock).name == "ana"


def test_a_disabled_user_is_refused_with_password_token_and_session(wh):
    clock = Clock()
    _, token = new_token(wh, "cate", clock=clock)
    cookie = session.issue_session(login(wh, "cate", PASSWORD, clock), clock=clock)
    assert session.verify_session(cookie, wh, clock=clock).name == "cate"
    disable_user(wh, "cate", clock=clock)
    with pytest.raises(AuthenticationError) as e:
        login(wh, "cate", PASSWORD, clock)
    assert e.value.reason == "disabled"
    with pytest.raises(AuthenticationError, match="disabled"):
        authenticate_token(wh, token, clock=clock)
    assert session.verify_session(cookie, wh, clock=clock) is None
    # a wrong password for a disabled user says nothing about it being disabled
    with pytest.raises(AuthenticationError) as e:
        login(wh, "cate", "wrong password 5", clock)
    assert str(e.value) == auth.WRONG
    assert [r["details"].get("reason") for r in read_access_log(wh, "cate")[-3:]] == \
        ["disabled", "disabled", "wrong password"]
    no_leak(wh, PASSWORD, token)


def test_tokens_revoked_forged_or_of_another_user_are_refused(wh):
    clock = Clock()
    ana_id, ana_token = new_token(wh, "ana", clock=clock)
    paula_id, paula_token = new_token(wh, "paula", clock=clock)
    assert authenticate_token(wh, ana_token, "10.0.0.9", clock=clock).name == "ana"
    assert authenticate_token(wh, paula_token, clock=clock).name == "paula"
    ana_secret, paula_secret = ana_token.split("_", 2)[2], paula_token.split("_", 2)[2]
    forged = [
        f"finlib_{ana_id}_{paula_secret}",          # ana's id with paula's secret
        f"finlib_{paula_id}_{ana_secret}",          # and the other way round
        ana_token[:-1] + ("A" if ana_token[-1] != "A" else "B"),  # one character changed
        ana_token + "x", "finlib_000000000000_" + ana_secret, "", "token " + ana_token, None,
        "finlib_" + ana_id,
    ]
    for bad in forged:
        with pytest.raises(AuthenticationError) as e:
            authenticate_token(wh, bad, clock=clock)
        assert str(e.value) == auth.BAD_TOKEN
    revoke_token(wh, "ana", ana_id, clock=clock)
    with pytest.raises(AuthenticationError) as e:
        authenticate_token(wh, ana_token, clock=clock)
    assert e.value.reason == "revoked"
    assert authenticate_token(wh, paula_token, clock=clock).name == "paula"
    log = read_access_log(wh)
    assert sum(r["outcome"] != "ok" for r in log if r["details"].get("method") == "token") == len(forged) + 1
    # token failures never lock the password
    assert login(wh, "ana", PASSWORD, clock).name == "ana"
    no_leak(wh, ana_token, paula_token, ana_secret, paula_secret)


def test_sessions_tampered_expired_or_ended_are_refused(wh, monkeypatch):
    monkeypatch.setenv("FINLIB_SESSION_KEY", "k" * 40)
    clock = Clock()
    user = login(wh, "ana", PASSWORD, clock)
    cookie = session.issue_session(user, clock=clock)
    assert session.verify_session(cookie, wh, clock=clock) == user
    payload, sig = cookie.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert body["u"] == "ana" and body["exp"] - body["iat"] == 8 * 3600
    # another user's name in the payload, the signature kept
    forged = dict(body, u="root")
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    for bad in [f"{forged_payload}.{sig}", cookie[:-2] + "AA", payload + ".", "." + sig, cookie + ".x",
                "", "x" * 10000, f"{payload}.{sig}{sig}"]:
        assert session.verify_session(bad, wh, clock=clock) is None
    # signed with another key (a previous server's)
    other = session.issue_session(User("root", "admin", (), False, 1), clock=clock, key=b"z" * 40)
    assert session.verify_session(other, wh, clock=clock) is None
    # expiry
    clock.advance(hours=7, minutes=59)
    assert session.verify_session(cookie, wh, clock=clock) == user
    clock.advance(minutes=1)
    assert session.verify_session(cookie, wh, clock=clock) is None
    # logout ends every earlier session of the user
    fresh = session.issue_session(user, clock=clock)
    assert session.verify_session(fresh, wh, clock=clock) == user
    end_sessions(wh, "ana", clock=clock)
    assert session.verify_session(fresh, wh, clock=clock) is None
    # so does a new password
    user = login(wh, "ana", PASSWORD, clock)
    fresh = session.issue_session(user, clock=clock)
    set_password(wh, "ana", "yet another passphrase", settings=SETTINGS, clock=clock)
    assert session.verify_session(fresh, wh, clock=clock) is None


def test_the_session_key_must_be_long_enough(monkeypatch):
    monkeypatch.setenv("FINLIB_SESSION_KEY", "short")
    with pytest.raises(ConfigError, match="FINLIB_SESSION_KEY"):
        session.session_key()
    monkeypatch.delenv("FINLIB_SESSION_KEY")
    assert len(session.session_key()) == 32 and session.session_key() == session.session_key()


def test_refusals_are_logged(wh):
    auditor = User("aud", "auditor")
    d = can(auditor, "period_close")
    assert not d.allowed
    record_refusal(wh, auditor, "period_close", "2026-02", "10.0.0.5", d.reason)
    with pytest.raises(AccessDenied):
        d.check()
    rec = read_access_log(wh, "aud")[-1]
    assert (rec["action"], rec["target"], rec["outcome"]) == ("period_close", "2026-02", "denied")
    assert "read-only" in rec["details"]["reason"]


def test_the_access_log_is_a_hash_chain(wh):
    import hashlib

    clock = Clock()
    login(wh, "ana", PASSWORD, clock)
    with pytest.raises(AuthenticationError):
        login(wh, "ana", "wrong password 6", clock)
    with wh.connect(read_only=True) as conn:
        rows = conn.query("SELECT seq, ts, user_name, action, target, address, outcome, details, prev_hash, "
                          "entry_hash FROM access_log ORDER BY seq")
    prev = "0" * 64
    for i, (seq, ts, u, a, t, addr, o, det, p, h) in enumerate(rows, 1):
        assert seq == i and p == prev
        body = {"seq": seq, "ts": ts.isoformat(sep=" ", timespec="microseconds"), "kind": "access", "user": u,
                "action": a, "target": t, "address": addr, "outcome": o, "details": json.loads(det)}
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256((prev + "\n" + canon).encode()).hexdigest() == h
        prev = h


def test_access_settings_are_validated_with_the_file_named(tmp_path):
    path = tmp_path / "access.yaml"
    assert load_settings(tmp_path / "missing.yaml") == AccessSettings()
    path.write_text("lockout:\n  max_failures: 3\n  lock_minutes: 60\nsessions:\n  max_age_hours: 1\n")
    s = load_settings(path)
    assert (s.lockout.max_failures, s.lockout.window_minutes, s.lockout.lock_minutes,
            s.sessions.max_age_hours) == (3, 15, 60, 1)
    for bad, what in [("lockout:\n  max_failures: 0\n", "lockout.max_failures"),
                      ("lockout:\n  max_falures: 3\n", "lockout.max_falures"),
                      ("sessions: 8\n", "sessions"), ("- 1\n", "mapping"), ("a: [\n", "YAML")]:
        path.write_text(bad)
        with pytest.raises(ConfigError) as e:
            load_settings(path)
        assert str(path) in str(e.value) and what in str(e.value), str(e.value)


def test_the_shipped_settings_are_the_documented_defaults():
    from tests.access.helpers import ROOT_PARAMETERS

    assert load_settings(ROOT_PARAMETERS / "access.yaml") == AccessSettings()
    assert AccessSettings().lockout == Lockout(max_failures=5, window_minutes=15, lock_minutes=15)
    assert dt.timedelta(hours=AccessSettings().sessions.max_age_hours) == dt.timedelta(hours=8)


def test_enforce_logs_every_decision_and_refuses_without_figures(wh):
    clock = Clock()
    ana = login(wh, "ana", PASSWORD, clock)
    ok = enforce(wh, ana, can_open_dashboard(ana, "department.ipynb", {"department": "Marketing"}),
                 action="open-dashboard", target="department.ipynb", address="10.0.0.7", clock=clock,
                 parameters={"department": "Marketing"})
    assert ok.departments == ("Marketing",)
    for params in ({"department": "Sales"}, {"department": "all"}, {"department": ["Marketing", "Sales"]}):
        with pytest.raises(AccessDenied) as e:
            enforce(wh, ana, can_open_dashboard(ana, "department.ipynb", params), action="open-dashboard",
                    target="department.ipynb", address="10.0.0.7", clock=clock, parameters=params)
        assert "ana" in str(e.value) and not any(ch.isdigit() for ch in str(e.value))
    with pytest.raises(AccessDenied):
        enforce(wh, ana, can_open_report(ana, {"notebook": "notebooks/executive.ipynb", "parameters": {}}),
                action="open-report", target="executive/2026-02/r1", clock=clock)
    aud = login(wh, "aud", PASSWORD, clock)
    with pytest.raises(AccessDenied, match="read-only"):
        enforce(wh, aud, can(aud, "period_close"), action="period_close", target="2026-02", clock=clock)
    log = [(r["user"], r["action"], r["outcome"]) for r in read_access_log(wh) if r["action"] != "login"]
    assert log == [("ana", "open-dashboard", "ok")] + [("ana", "open-dashboard", "denied")] * 3 + \
        [("ana", "open-report", "denied"), ("aud", "period_close", "denied")]
    no_leak(wh, PASSWORD)
