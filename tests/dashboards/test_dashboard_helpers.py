"""The notebook helpers and the launcher's safety checks, without a server or a browser."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from finlib.dashboards import errors, query
from finlib.dashboards.server import ServeOptions
from finlib.errors import ConfigError, FinlibError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_voila_env(monkeypatch):
    for name in ("VOILA_PREHEAT", "VOILA_KERNEL_ID", "QUERY_STRING", "VOILA_APP_PORT",
                 "VOILA_APP_IP", "VOILA_SERVER_URL", "VOILA_WS_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    query._reset_for_tests()
    yield
    query._reset_for_tests()


def test_param_outside_voila_returns_the_default():
    assert query.param("department", "Sales") == "Sales"
    assert query.params() == {}


def test_param_reads_the_query_string_of_a_plain_voila_kernel(monkeypatch):
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    monkeypatch.setenv("QUERY_STRING", "department=Customer+Success&months=6&compare=yes")
    assert query.param("department", "Sales") == "Customer Success"
    assert query.param("months", 12) == 6
    assert query.param("compare", False) is True
    assert query.param("segment", "SMB") == "SMB"


def test_param_rejects_values_outside_choices_with_a_readable_message(monkeypatch):
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    monkeypatch.setenv("QUERY_STRING", "department=Legal&months=abc")
    with pytest.raises(ConfigError, match="Unknown department 'Legal': choose one of Sales, Marketing"):
        query.param("department", "Sales", choices=["Sales", "Marketing"])
    with pytest.raises(ConfigError, match="not a valid int"):
        query.param("months", 12)


def test_param_in_a_preheated_kernel_waits_for_the_request_over_the_websocket(monkeypatch):
    """Voilà's /voila/query/<kernel_id> protocol: one JSON message with the request."""
    import asyncio

    import websockets

    got_path = {}
    ready = threading.Event()
    holder = {}

    async def handler(ws):
        got_path["path"] = ws.request.path
        await ws.send(json.dumps({"QUERY_STRING": "department=Marketing", "PATH_INFO": "/x"}))

    def run():
        async def main():
            async with websockets.serve(handler, "127.0.0.1", 0) as server:
                holder["port"] = server.sockets[0].getsockname()[1]
                ready.set()
                await asyncio.sleep(5)
        asyncio.run(main())

    threading.Thread(target=run, daemon=True).start()
    assert ready.wait(5)
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setenv("VOILA_KERNEL_ID", "0000-aaaa-bbbb-cccc-dddd")
    monkeypatch.setenv("VOILA_APP_PORT", str(holder["port"]))
    monkeypatch.setenv("VOILA_SERVER_URL", "/")
    assert query.param("department", "Sales") == "Marketing"
    assert query.param("department", "Sales") == "Marketing"  # second call must not block
    assert got_path["path"] == "/voila/query/0000-aaaa-bbbb-cccc-dddd"


def test_friendly_message_is_the_first_line_of_a_finlib_error_and_generic_otherwise(tmp_path, monkeypatch):
    monkeypatch.setenv("FINLIB_DASHBOARD_LOG", str(tmp_path / "d.log"))
    monkeypatch.setattr(errors, "_log", None)
    assert errors.message(FinlibError("no data for 2031-01\n  in SQL: SELECT ...")) == "no data for 2031-01"
    assert errors.message(KeyError("secret_column")) == errors.GENERIC
    html = errors.friendly(ZeroDivisionError("division by zero")).data
    assert "finlib-error" in html and "ZeroDivisionError" not in html and "ref " in html
    assert "ZeroDivisionError" in (tmp_path / "d.log").read_text()  # the traceback is logged
    assert "&lt;script&gt;" in errors.alert_html("<script>")


def test_shown_in_reraises_outside_voila_and_swallows_under_voila(monkeypatch, tmp_path):
    monkeypatch.setenv("FINLIB_DASHBOARD_LOG", str(tmp_path / "d.log"))
    shown = []
    monkeypatch.setattr(errors, "show", lambda exc, output=None: shown.append(exc))
    with pytest.raises(FinlibError), errors.shown_in():
        raise FinlibError("no data")
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    with errors.shown_in():
        raise FinlibError("no data")
    assert len(shown) == 2


def test_install_does_nothing_outside_voila():
    errors.install()
    assert not errors.installed()


@pytest.mark.parametrize("ip", ["0.0.0.0", "", "192.168.1.10", "::", "example.com"])
def test_no_auth_beyond_loopback_is_refused(ip, tmp_path):
    with pytest.raises(ConfigError, match="Refusing --no-auth"):
        ServeOptions(ip=ip, notebooks=tmp_path, no_auth=True).check()


@pytest.mark.parametrize("ip", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_no_auth_on_loopback_is_allowed(ip, tmp_path):
    opts = ServeOptions(ip=ip, notebooks=tmp_path, no_auth=True)
    opts.check()
    assert "--FinlibVoila.no_auth=True" in opts.argv()


def test_every_address_serves_with_a_login(tmp_path):
    opts = ServeOptions(ip="0.0.0.0", notebooks=tmp_path, pool_size=0)
    opts.check()
    argv = " ".join(opts.argv())
    assert "no_auth" not in argv
    assert "--VoilaConfiguration.preheat_kernel=False" in argv


def test_theme_and_template_overrides_are_off():
    cfg = json.loads((ROOT / "finlib" / "dashboards" / "voila.json").read_text())
    assert cfg["VoilaConfiguration"]["allow_theme_override"] == "NO"
    assert cfg["VoilaConfiguration"]["allow_template_override"] == "NO"


def test_committed_config_preheats_culls_and_hides_tracebacks():
    cfg = json.loads((ROOT / "finlib" / "dashboards" / "voila.json").read_text())
    assert cfg["VoilaConfiguration"]["preheat_kernel"] is True
    assert cfg["VoilaConfiguration"]["show_tracebacks"] is False
    assert cfg["MappingKernelManager"]["cull_idle_timeout"] > 0


def test_cli_refuses_no_auth_on_all_interfaces(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "finlib.dashboards", "serve", "--ip", "0.0.0.0", "--no-auth",
         "--notebooks", str(tmp_path), "--port", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "Refusing --no-auth on 0.0.0.0" in proc.stderr
    assert "Traceback" not in proc.stderr
