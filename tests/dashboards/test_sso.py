"""Single sign-on through a trusted proxy, attacked against a real dashboard server.

Two real servers over the fixture notebook (as ``department.ipynb``) and a probe notebook (as
``executive.ipynb``: it prints what of the request its kernel was given), each on its own
DuckDB warehouse with the test users: one trusts 127.0.0.1 as its proxy (the tests are that
proxy), the other trusts only an address the tests cannot have, so the same header from
127.0.0.1 is an attacker's. Every refusal must be in ``access_log``; no forbidden figure in any
response.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request

import pytest
import yaml
from websockets.sync.client import connect

from finlib.access.log import read_access_log
from finlib.access.settings import load_settings
from finlib.dashboards import ERROR_CLASS
from finlib.errors import ConfigError
from finlib.warehouse.db import get_warehouse
from tests.dashboards.conftest import FIXTURE_NOTEBOOKS, ROOT
from tests.dashboards.fixtures import warehouse
from tests.dashboards.fixtures.warehouse import printed_figures
from tests.dashboards.logins import add_users, password

PROBE_USER = "sso.probe@example.com"
DISABLED_USER = "sso.gone@example.com"
HEADER = "X-Forwarded-User"
KERNEL_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

PROBE_CELLS = [
    "import os\nfrom finlib.dashboards import query\nquery.wait_for_viewer()",
    "needle = 'sso.probe' + '@example.com'\n"
    "seen = sorted(k for k, v in os.environ.items() if needle in k or needle in v or 'FORWARDED' in k.upper())\n"
    "print('PROBE-GRANT-' + ('PRESENT' if os.environ.get('HTTP_X_FINLIB_GRANT') else 'ABSENT'))\n"
    "print('PROBE-SEEN-' + (','.join(seen) or 'NOTHING'))",
]


def _probe_notebook() -> str:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": src} for i, src in enumerate(PROBE_CELLS)]
    return json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                   "language": "python"}},
                       "nbformat": 4, "nbformat_minor": 5})




def assert_clean(body: str, *departments: str) -> None:
    for d in departments:
        for f in printed_figures(d):
            assert f not in body, f"{d}'s figure {f} in the response"
    assert "Traceback" not in body and "site-packages" not in body


def _server(tmp_path_factory, name: str, trusted: list[str]):
    from finlib.access.users import add_user, disable_user
    from finlib.dashboards.harness import DashboardServer

    base = tmp_path_factory.mktemp(name)
    url = warehouse.build(base / "warehouse.duckdb")
    wh = get_warehouse(url)
    add_users(wh)
    add_user(wh, PROBE_USER, "executive", (), "probe-password-0001")
    add_user(wh, DISABLED_USER, "executive", (), "gone-password-0001")
    disable_user(wh, DISABLED_USER)
    nb = base / "notebooks"
    nb.mkdir()
    shutil.copy(FIXTURE_NOTEBOOKS / "kpi_fixture.ipynb", nb / "department.ipynb")
    (nb / "executive.ipynb").write_text(_probe_notebook())
    params = base / "parameters"
    shutil.copytree(ROOT / "parameters", params)
    (params / "access.yaml").write_text(yaml.safe_dump({"proxy": {"trusted": trusted, "user_header": HEADER}}))
    srv = DashboardServer(nb, url, pool_size=0, log_path=base / "voila.log",
                          env={"FINLIB_PARAMETERS": str(params), "FINLIB_DASHBOARD_LOG": str(base / "dash.log"),
                               "FINLIB_LOGIN_RATE": "1000"})
    srv.wh = wh
    return srv


@pytest.fixture(scope="module")
def sso_server(tmp_path_factory):
    srv = _server(tmp_path_factory, "sso-trusted", ["127.0.0.1", "::1"])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def untrusting_server(tmp_path_factory):
    srv = _server(tmp_path_factory, "sso-untrusted", ["192.0.2.10/32"])  # TEST-NET-1: never us
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(server, path, *, user=None, cookie=None, headers=None, method="GET"):
    h = dict(headers or {})
    if user is not None:
        h[HEADER] = user
    if cookie:
        h["Cookie"] = f"finlib_session={cookie}"
    req = urllib.request.Request(server.url + path.lstrip("/"), headers=h, method=method)
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=120) as r:
            return r.status, r.headers, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


def records(wh, user=None, **match) -> list[dict]:
    return [r for r in read_access_log(wh, user) if all(r.get(k) == v for k, v in match.items())]


# -- the settings ------------------------------------------------------------------------------

def test_the_proxy_settings_are_validated_and_off_by_default(tmp_path):
    assert not load_settings(tmp_path / "missing.yaml").proxy.enabled
    assert not load_settings(ROOT / "parameters" / "access.yaml").proxy.enabled
    path = tmp_path / "access.yaml"
    path.write_text("proxy:\n  trusted: [10.0.4.0/24, 127.0.0.1]\n")
    proxy = load_settings(path).proxy
    assert proxy.enabled and proxy.user_header == "X-Forwarded-User"
    assert proxy.trusts("10.0.4.77") and proxy.trusts("127.0.0.1") and proxy.trusts("::ffff:10.0.4.1")
    assert not proxy.trusts("10.0.5.1") and not proxy.trusts("127.0.0.2") and not proxy.trusts("")
    assert not proxy.trusts("not-an-address") and not proxy.trusts("::1")
    for bad, words in (("proxy:\n  trusted: [10.0.4.300]\n", ("proxy.trusted", "10.0.4.300")),
                       ("proxy:\n  user_header: Authorization\n", ("proxy.user_header", "Authorization")),
                       ("proxy:\n  user_header: 'X User'\n", ("proxy.user_header",)),
                       ("proxy:\n  trusted: [127.0.0.1]\n  header: X-User\n", ("proxy.header",))):
        path.write_text(bad)
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        assert str(path) in str(err.value)
        for w in words:
            assert w in str(err.value), (bad, str(err.value))


# -- from a trusted proxy -----------------------------------------------------------------------

def test_a_trusted_proxy_names_a_department_head_who_sees_only_their_dashboards(sso_server):
    status, headers, body = fetch(sso_server, "", user="sales_head")
    assert status == 200, body
    assert "sales_head" in body and "/voila/render/department.ipynb" in body and "executive.ipynb" not in body
    assert "finlib_session" not in (headers.get("Set-Cookie") or "")  # identity per request, no cookie
    status, _, body = fetch(sso_server, "voila/render/department.ipynb?department=Sales", user="sales_head")
    assert status == 200
    assert re.search(KERNEL_ID, body) and ERROR_CLASS not in body  # the page rendered, with its kernel
    assert_clean(body, "Marketing", "Product")
    for path in ("voila/render/department.ipynb?department=Marketing", "voila/render/executive.ipynb",
                 "api/kernels", "api/contents", "voila/files/department.ipynb", "voila/tree"):
        before = len(records(sso_server.wh, "sales_head", outcome="denied"))
        status, _, body = fetch(sso_server, path, user="sales_head")
        assert status in (403, 404), (path, status)
        assert_clean(body, "Marketing", "Product")
        assert len(records(sso_server.wh, "sales_head", outcome="denied")) > before, path
    logins = records(sso_server.wh, "sales_head", action="login", outcome="ok")
    assert logins and logins[-1]["details"]["method"] == "proxy" and logins[-1]["address"] == "127.0.0.1"


def test_a_proxy_user_is_logged_in_once_not_on_every_request(sso_server):
    for _ in range(3):
        assert fetch(sso_server, "", user="product_head")[0] == 200
    assert len(records(sso_server.wh, "product_head", action="login", outcome="ok")) == 1


@pytest.mark.parametrize(("name", "reason"), [("nobody@example.com", "unknown"), (DISABLED_USER, "disabled"),
                                              ("", "unknown")])
def test_an_unknown_or_disabled_proxy_user_is_refused_and_logged(sso_server, name, reason):
    logged = name or "anonymous"
    before = len(records(sso_server.wh, logged, action="login", outcome="denied"))
    for path in ("", "voila/render/department.ipynb?department=Sales", "api/kernels"):
        status, headers, body = fetch(sso_server, path, user=name)
        assert status == 403, (path, status)
        assert "not a user of this workbench" in body
        assert "finlib_session" not in (headers.get("Set-Cookie") or "")
        assert_clean(body, "Sales", "Marketing")
    rows = records(sso_server.wh, logged, action="login", outcome="denied")
    assert len(rows) == before + 3
    assert rows[-1]["details"] == {"method": "proxy", "reason": reason}


def test_a_flood_of_refused_proxy_names_is_refused_but_logged_at_most_twenty_a_minute(sso_server):
    """A person signed in at the identity provider but no finlib user cannot fill the logs (each
    refusal is a write): every request is refused, the first 20 a minute are logged."""
    name = "flood@example.com"
    for _ in range(30):
        assert fetch(sso_server, "api/kernels", user=name)[0] == 403
    assert len(records(sso_server.wh, name, action="login", outcome="denied")) == 20


def test_a_refused_proxy_user_cannot_fall_back_on_a_cookie(sso_server):
    cookie = sso_server.login("exec", password("exec"))
    assert fetch(sso_server, "", cookie=cookie)[0] == 200
    status, _, body = fetch(sso_server, "", user="nobody@example.com", cookie=cookie)
    assert status == 403 and "executive.ipynb" not in body


def test_the_proxy_header_never_reaches_the_kernel(sso_server):
    status, _, body = fetch(sso_server, "voila/render/executive.ipynb", user=PROBE_USER)
    assert status == 200, body
    assert "PROBE-GRANT-PRESENT" in body  # the probe ran and saw the request the server handed on
    assert "PROBE-SEEN-NOTHING" in body, body[body.find("PROBE-SEEN"):][:200]


def test_a_proxy_user_reaches_their_own_kernel_and_no_other(sso_server):
    status, _, body = fetch(sso_server, "voila/render/department.ipynb?department=Sales", user="sales_head")
    assert status == 200
    kid = re.search(KERNEL_ID, body).group(0)
    ws = sso_server.url.replace("http", "ws") + f"api/kernels/{kid}/channels"
    with connect(ws, additional_headers={HEADER: "sales_head"}, open_timeout=30):
        pass
    from websockets.exceptions import InvalidStatus

    for other in ("product_head", "exec"):
        with pytest.raises(InvalidStatus) as err, connect(ws, additional_headers={HEADER: other}, open_timeout=30):
            pass
        assert err.value.response.status_code == 403
    # the kernel's own way back to the server (its viewer's request, with the signed grant) is
    # for the kernel only: a request the proxy forwarded from loopback does not get it
    query = sso_server.url.replace("http", "ws") + f"voila/query/{kid}"
    before = len(records(sso_server.wh, "anonymous", target=f"/voila/query/{kid}", outcome="denied"))
    for headers in ({HEADER: "sales_head"}, {HEADER: "exec"}, {"X-Forwarded-For": "203.0.113.9"}):
        with pytest.raises(InvalidStatus) as err, connect(query, additional_headers=headers, open_timeout=30):
            pass
        assert err.value.response.status_code == 403
    refused = records(sso_server.wh, "anonymous", target=f"/voila/query/{kid}", outcome="denied")
    assert len(refused) == before + 3 and refused[-1]["details"]["reason"] == "forwarded by a proxy"


# -- from any other address ---------------------------------------------------------------------

def test_the_header_from_an_untrusted_address_never_authenticates(untrusting_server):
    wh = untrusting_server.wh
    before = len(records(wh, "anonymous", outcome="denied"))
    status, headers, _ = fetch(untrusting_server, "", user="admin")
    assert status == 302 and headers["Location"].startswith("/login")
    status, _, body = fetch(untrusting_server, "voila/render/department.ipynb?department=Marketing", user="admin")
    assert status == 302
    assert_clean(body, "Marketing", "Sales")
    assert fetch(untrusting_server, "api/kernels", user="admin")[0] == 401
    rows = records(wh, "anonymous", outcome="denied")
    assert len(rows) == before + 3
    assert rows[-1]["details"]["reason"] == "proxy user header from an address that is not a trusted proxy"
    assert rows[-1]["details"]["claimed"] == "admin" and rows[-1]["address"] == "127.0.0.1"
    assert not records(wh, "admin", action="login", outcome="ok")


def test_an_untrusted_header_does_not_change_who_a_cookie_is(untrusting_server):
    cookie = untrusting_server.login("sales_head", password("sales_head"))
    status, _, body = fetch(untrusting_server, "", user="admin", cookie=cookie)
    assert status == 200
    assert "Logged in as sales_head" in body and "executive.ipynb" not in body
    status, _, body = fetch(untrusting_server, "voila/render/executive.ipynb", user="admin", cookie=cookie)
    assert status == 403
