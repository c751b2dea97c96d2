"""The dashboard server's access control, attacked over HTTP and websockets.

One real server (the committed configuration, preheated kernels) over a folder holding the
fixture notebook as ``department.ipynb`` and ``executive.ipynb`` (the policy's names), a
symlink to it, and a file that is no notebook. Each role logs in through the form; every
forbidden page, parameter, API route, static path and kernel is asked for, and must be
refused (403/404), logged in ``access_log``, and carry no figure of a forbidden department.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from finlib.access.log import read_access_log
from finlib.warehouse.db import get_warehouse
from tests.dashboards.conftest import FIXTURE_NOTEBOOKS
from tests.dashboards.fixtures.warehouse import PERIODS, printed_figures
from tests.dashboards.logins import password

pytestmark = [pytest.mark.browser]

LATEST = PERIODS[-1]
RUNS = [("r_sales", "department", {"department": "Sales"}),
        ("r_mkt", "department", {"department": "Marketing"}),
        ("r_exec", "executive", {})]
SESSION_KEY = "access-test-session-key-" + "k" * 24  # the server's key: it must never reach a page
MARKS = {"r_sales": "SALES-FIGURE-111", "r_mkt": "MARKETING-FIGURE-222", "r_exec": "EXEC-FIGURE-333"}




@pytest.fixture(scope="module")
def access_server(fixture_db_url, tmp_path_factory):
    from finlib.dashboards.harness import DashboardServer

    nb = tmp_path_factory.mktemp("access-nb")
    for name in ("department", "executive"):
        shutil.copy(FIXTURE_NOTEBOOKS / "kpi_fixture.ipynb", nb / f"{name}.ipynb")
    (nb / "evil.ipynb").symlink_to(nb / "department.ipynb")
    (nb / "secret.txt").write_text("secret")
    logdir = tmp_path_factory.mktemp("access-logs")
    reports = tmp_path_factory.mktemp("access-reports")
    for run_id, notebook, params in RUNS:
        run = reports / notebook / "2024-06" / run_id
        run.mkdir(parents=True)
        (run / "manifest.json").write_text(json.dumps({
            "run_id": run_id, "job": notebook, "period": "2024-06", "notebook": f"{notebook}.ipynb",
            "parameters": params, "status": "ok", "title": run_id}))
        (run / "report.html").write_text(f"<html><body>{MARKS[run_id]}</body></html>")
    (reports / "department" / "2024-06" / "r_link").symlink_to(reports / "department" / "2024-06" / "r_mkt")
    srv = DashboardServer(nb, fixture_db_url, log_path=logdir / "voila.log",
                          env={"FINLIB_DASHBOARD_LOG": str(logdir / "dashboards.log"),
                               "FINLIB_REPORTS": str(reports),
                               "FINLIB_SESSION_KEY": SESSION_KEY,
                               "FINLIB_LOGIN_RATE": "1000"})  # this module logs in often
    srv.start()
    try:
        srv.wait_for_pools(3, timeout=240)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def sessions(access_server):
    return {name: access_server.login(name, password(name))
            for name in ("admin", "exec", "sales_head", "product_head", "auditor")}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(server, path, session=None, *, method="GET", headers=None, data=None, follow=False):
    """(status, headers, body) of one request, errors included."""
    h = dict(headers or {})
    if session:
        h["Cookie"] = f"finlib_session={session}"
    req = urllib.request.Request(server.url + path.lstrip("/"), headers=h, method=method, data=data)
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=120) as r:
            return r.status, r.headers, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


def refusals(wh, user: str) -> list[dict]:
    return [r for r in read_access_log(wh, user) if r.get("outcome") == "denied"]


def assert_clean(body: str, *departments: str) -> None:
    for d in departments:
        for f in printed_figures(d):
            assert f not in body, f"{d}'s figure {f} in the response"
    assert "Traceback" not in body and "/work/" not in body and "site-packages" not in body


UNAUTHENTICATED = ["", "voila/render/department.ipynb?department=Sales", "voila/render/executive.ipynb",
                   "voila/tree", "voila/api/contents/", "api/kernels", "api/contents",
                   "voila/files/secret.txt", "voila/query/00000000-0000-0000-0000-000000000000",
                   "api/kernels/00000000-0000-0000-0000-000000000000", "reports/"]


@pytest.mark.parametrize("path", UNAUTHENTICATED)
def test_nothing_but_the_login_page_without_a_login(access_server, path):
    status, headers, body = fetch(access_server, path)
    assert status in (302, 401, 403, 404), (path, status)
    if status == 302:
        assert headers["Location"].startswith("/login?next=")
    assert_clean(body, "Sales", "Marketing", "Product")


def test_the_login_page_and_static_assets_are_public(access_server):
    status, headers, body = fetch(access_server, "login")
    assert status == 200 and "name='_xsrf'" in body and "type='password'" in body
    assert fetch(access_server, "voila/static/voila.js")[0] in (200, 404)


def test_a_login_post_without_its_xsrf_field_is_refused(access_server):
    data = urllib.parse.urlencode({"username": "exec", "password": password("exec")}).encode()
    status, headers, _ = fetch(access_server, "login", method="POST", data=data)
    assert status == 403
    assert "finlib_session" not in (headers.get("Set-Cookie") or "")


def test_a_wrong_password_sets_no_cookie_and_is_logged(access_server, fixture_db_url):
    with pytest.raises(urllib.error.HTTPError) as err:
        access_server.login("exec", "wrong-password-123")
    assert err.value.code == 403
    assert any(r["outcome"] == "failed" for r in read_access_log(get_warehouse(fixture_db_url), "exec"))


def test_a_locked_user_cannot_log_in(access_server, fixture_db_url):
    for _ in range(5):
        with pytest.raises(urllib.error.HTTPError):
            access_server.login("locked", "wrong-password-123")
    with pytest.raises(urllib.error.HTTPError) as err:
        access_server.login("locked", password("locked"))
    assert err.value.code == 403
    assert "locked" in err.value.read().decode()


def test_the_session_cookie_is_httponly_samesite_and_expiring(access_server):
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(access_server.url + "login").read().decode()
    xsrf = re.search(r"name='_xsrf' value='([^']+)'", form).group(1)
    data = urllib.parse.urlencode({"_xsrf": xsrf, "username": "exec", "password": password("exec")}).encode()
    opener.addheaders = []
    req = urllib.request.Request(access_server.url + "login", data=data)
    no_redirect = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    try:
        no_redirect.open(req)
    except urllib.error.HTTPError as e:
        cookie = [v for k, v in e.headers.items() if k == "Set-Cookie" and v.startswith("finlib_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "expires=" in cookie.lower()
    assert "Secure" not in cookie  # plain HTTP in this test; Secure under TLS


def test_security_headers(access_server, sessions):
    for path, session in (("login", None), ("", sessions["exec"])):
        status, headers, _ = fetch(access_server, path, session)
        assert status == 200
        assert "script-src" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert "Server" not in headers and "Tornado" not in str(headers)
        assert "Strict-Transport-Security" not in headers  # only under TLS


def test_the_landing_page_lists_only_what_the_role_may_open(access_server, sessions):
    _, _, body = fetch(access_server, "", sessions["sales_head"])
    assert "/voila/render/department.ipynb" in body and "executive.ipynb" not in body
    assert "evil" not in body
    _, _, body = fetch(access_server, "", sessions["exec"])
    assert "/voila/render/department.ipynb" in body and "/voila/render/executive.ipynb" in body
    _, _, body = fetch(access_server, "", sessions["auditor"])
    assert "/voila/render/" not in body


FORBIDDEN_FOR_SALES = [
    "voila/render/department.ipynb?department=Marketing",
    "voila/render/department.ipynb?department=Sales&department=Marketing",
    "voila/render/department.ipynb?department=all",
    "voila/render/department.ipynb?department=Legal",
    "voila/render/executive.ipynb",
    "voila/render/evil.ipynb",
    "voila/render/../executive.ipynb",
    "voila/render/%2e%2e/executive.ipynb",
    "voila/render/secret.txt",
    "voila/tree",
    "voila/tree/",
    "voila/api/contents/",
    "voila/api/contents/department.ipynb",
    "api/contents",
    "api/kernels",
    "files/department.ipynb",
    "voila/files/department.ipynb",
    "voila/files/secret.txt",
    "voila/files/../department.ipynb",
    "api/kernels/00000000-0000-0000-0000-000000000000",
    "voila/api/shutdown/00000000-0000-0000-0000-000000000000",
]


@pytest.mark.parametrize("path", FORBIDDEN_FOR_SALES)
def test_a_department_head_is_refused_everything_else(access_server, sessions, fixture_db_url, path):
    wh = get_warehouse(fixture_db_url)
    before = len(refusals(wh, "sales_head"))
    status, _, body = fetch(access_server, path, sessions["sales_head"])
    assert status in (403, 404), (path, status)
    assert_clean(body, "Marketing", "Product", "Customer Success", "G&A")
    if "%2e" not in path and "/../" not in path:  # tornado normalises those before any handler
        assert len(refusals(wh, "sales_head")) > before, f"{path} refused but not logged"


def test_the_auditor_opens_no_dashboard(access_server, sessions):
    status, _, body = fetch(access_server, "voila/render/executive.ipynb", sessions["auditor"])
    assert status == 403
    assert_clean(body, "Sales", "Marketing")


def test_a_department_head_opens_their_own_department(access_server, sessions):
    status, _, body = fetch(access_server, "voila/render/department.ipynb?department=Sales", sessions["sales_head"])
    assert status == 200
    assert_clean(body, "Marketing", "Product")


def test_an_api_token_works_for_scripts_and_a_bad_one_does_not(access_server, fixture_db_url):
    from finlib.access.users import new_token

    _, token = new_token(get_warehouse(fixture_db_url), "exec")
    status, _, body = fetch(access_server, "", headers={"Authorization": f"token {token}"})
    assert status == 200 and "executive.ipynb" in body
    status, _, _ = fetch(access_server, "", headers={"Authorization": "token finlib_x_y"})
    assert status in (302, 401, 403)


def _kernel_id(body: str) -> str:
    return re.search(r'"kernelId": "([0-9a-f-]{36})"|kernel_id["\']?\s*[:=]\s*["\']([0-9a-f-]{36})', body).group(0)[-37:-1]


def test_only_the_owner_reaches_a_kernel(access_server, sessions, fixture_db_url):
    status, _, body = fetch(access_server, "voila/render/executive.ipynb", sessions["exec"])
    assert status == 200
    kid = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body).group(0)
    assert fetch(access_server, f"api/kernels/{kid}", sessions["exec"])[0] == 200
    for who in ("sales_head", "admin"):
        status, _, body = fetch(access_server, f"api/kernels/{kid}", sessions[who])
        assert status == 403
    ws = access_server.url.replace("http", "ws") + f"api/kernels/{kid}/channels"
    with pytest.raises(InvalidStatus) as err, connect(
            ws, additional_headers={"Cookie": f"finlib_session={sessions['sales_head']}"}, open_timeout=30):
        pass
    assert err.value.response.status_code == 403
    with pytest.raises(InvalidStatus), connect(ws, open_timeout=30):
        pass
    # shutting it down: only its owner (token requests skip the XSRF check, so this is the owner check)
    from finlib.access.users import new_token

    _, token = new_token(get_warehouse(fixture_db_url), "sales_head")
    status, _, _ = fetch(access_server, f"api/kernels/{kid}", method="DELETE",
                         headers={"Authorization": f"token {token}"})
    assert status == 403
    assert fetch(access_server, f"api/kernels/{kid}", sessions["exec"])[0] == 200
    assert any(r.get("target", "").endswith(kid) for r in refusals(get_warehouse(fixture_db_url), "sales_head"))


def test_theme_and_template_parameters_never_reach_the_page(access_server, sessions):
    xss = "<script>alert(1)</script>"
    q = urllib.parse.urlencode({"theme": xss, "template": "../../nope"})
    status, _, body = fetch(access_server, f"voila/render/executive.ipynb?{q}", sessions["exec"])
    assert status == 200
    assert xss not in body and "alert(1)" not in body and "nope" not in body


def test_a_token_in_the_address_is_not_logged_nor_given_to_the_kernel(access_server, sessions):
    secret = "finlib_leak_" + "q" * 30
    status, _, body = fetch(access_server, f"voila/render/executive.ipynb?token={secret}", sessions["exec"])
    assert status == 200
    assert secret not in body
    assert secret not in access_server.log()


def test_a_client_cannot_send_its_own_grant(access_server, sessions):
    # the header is dropped and replaced by the server's signed grant for the real viewer
    status, _, body = fetch(access_server, "voila/render/department.ipynb?department=Sales",
                            sessions["sales_head"], headers={"X-Finlib-Grant": "forged"})
    assert status == 200
    assert "forged" not in body


def test_logout_ends_the_session(access_server):
    import http.cookiejar

    session = access_server.login("product_head", password("product_head"))
    assert fetch(access_server, "", session)[0] == 200
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    req = urllib.request.Request(access_server.url + "logout", headers={"Cookie": f"finlib_session={session}"})
    form = opener.open(req).read().decode()
    xsrf = re.search(r"name='_xsrf' value='([^']+)'", form).group(1)
    xsrf_cookie = [c.value for c in jar if c.name == "_xsrf"][0]
    data = urllib.parse.urlencode({"_xsrf": xsrf}).encode()
    status, _, _ = fetch(access_server, "logout", method="POST", data=data,
                         headers={"Cookie": f"finlib_session={session}; _xsrf={xsrf_cookie}"})
    assert status == 302
    assert fetch(access_server, "", session)[0] == 302  # the old cookie no longer works


def test_the_kernel_refuses_a_department_outside_its_grant(monkeypatch):
    from finlib.access.policy import User
    from finlib.access.session import issue_grant
    from finlib.dashboards import query
    from finlib.errors import AccessDenied

    monkeypatch.setenv("FINLIB_SESSION_KEY", "k" * 40)
    monkeypatch.setenv("VOILA_KERNEL_ID", "x")
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.setenv(query.AUTH_ENV, "1")
    monkeypatch.setenv("SCRIPT_NAME", "/voila/render/department.ipynb")
    monkeypatch.setenv("QUERY_STRING", "department=Sales")
    head = User("sales_head", "department_head", ("Sales",))
    monkeypatch.setenv(query.GRANT_KEY, issue_grant(head, "department", ("Sales",)))
    query._reset_for_tests()
    try:
        assert query.param("department", "Product") == "Sales"
        with pytest.raises(AccessDenied):
            query.in_scope("Marketing")
        # a grant for another notebook, or none, is no grant
        monkeypatch.setenv(query.GRANT_KEY, issue_grant(head, "executive", ("Sales",)))
        with pytest.raises(AccessDenied):
            query.viewer()
        monkeypatch.setenv(query.GRANT_KEY, "forged")
        with pytest.raises(AccessDenied):
            query.viewer()
    finally:
        query._reset_for_tests()


def test_refusals_are_logged_with_the_address(fixture_db_url, access_server, sessions):
    fetch(access_server, "voila/render/executive.ipynb", sessions["sales_head"])
    rows = refusals(get_warehouse(fixture_db_url), "sales_head")
    assert rows and all(r.get("address") for r in rows)
    assert any(r.get("target", "").endswith("executive.ipynb") for r in rows), rows


def test_the_report_index_lists_only_what_the_user_may_open(access_server, sessions):
    status, _, body = fetch(access_server, "reports/", sessions["sales_head"])
    assert status == 200
    assert "r_sales" in body and "r_mkt" not in body and "r_exec" not in body
    status, _, body = fetch(access_server, "reports/runs.json", sessions["sales_head"])
    assert [r["run_id"] for r in json.loads(body)] == ["r_sales"]
    for who in ("exec", "auditor", "admin"):
        _, _, body = fetch(access_server, "reports/", sessions[who])
        assert all(r in body for r in MARKS), who


def test_another_departments_report_is_refused_and_logged(access_server, sessions, fixture_db_url):
    wh = get_warehouse(fixture_db_url)
    status, _, body = fetch(access_server, "reports/department/2024-06/r_sales/report.html", sessions["sales_head"])
    assert status == 200 and MARKS["r_sales"] in body
    for path in ("reports/department/2024-06/r_mkt/report.html", "reports/department/2024-06/r_mkt/manifest.json",
                 "reports/executive/2024-06/r_exec/report.html"):
        before = len(refusals(wh, "sales_head"))
        status, _, body = fetch(access_server, path, sessions["sales_head"])
        assert status == 403, path
        assert MARKS["r_mkt"] not in body and MARKS["r_exec"] not in body
        assert len(refusals(wh, "sales_head")) == before + 1, path
    for path in ("reports/department/2024-06/r_link/report.html", "reports/department/2024-06/r_sales/../r_mkt/report.html",
                 "reports/department/2024-06/r_sales/%2e%2e/r_mkt/report.html", "reports/../secret.txt",
                 "reports/department/2024-06/r_sales/report.html/x"):
        status, _, body = fetch(access_server, path, sessions["sales_head"])
        assert status in (403, 404), path
        assert MARKS["r_mkt"] not in body
    status, _, body = fetch(access_server, "reports/department/2024-06/r_mkt/report.html", sessions["exec"])
    assert status == 200 and MARKS["r_mkt"] in body


def _kernel_message(msg_type: str, content: dict, session: str) -> str:
    import uuid

    return json.dumps({"header": {"msg_id": uuid.uuid4().hex, "username": "probe", "session": session,
                                  "msg_type": msg_type, "version": "5.3", "date": "2026-01-01T00:00:00Z"},
                       "parent_header": {}, "metadata": {}, "content": content, "channel": "shell",
                       "buffers": []})


@pytest.mark.parametrize("content", [
    {"comm_id": "c-unknown-model", "target_name": "jupyter.widget",
     "data": {"state": {"_model_name": "NoSuchModel", "_model_module": "../../../etc"}, "buffer_paths": []}},
    {"comm_id": "c-garbage", "target_name": "jupyter.widget", "data": {"state": "not a dict"}},
    {"comm_id": "c-no-target", "target_name": "no.such.target", "data": {}},
    {"comm_id": 12, "target_name": None},
])
def test_a_malformed_comm_open_sends_no_traceback_to_the_browser(access_server, sessions, content):
    status, _, body = fetch(access_server, "voila/render/executive.ipynb", sessions["exec"])
    assert status == 200
    kid = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body).group(0)
    text = _exchange(access_server, kid, sessions["exec"], [("comm_open", content, "shell")], v1=False)
    assert text, "the kernel answered nothing"
    for marker in ("Traceback", "site-packages", "/work/", "File \""):
        assert marker not in text, marker
    assert_clean(text, "Marketing", "Product")


# -- in a real browser ------------------------------------------------------------------------

EXPECTED = {  # role -> (dashboards on the landing page, reports in the index)
    "admin": ({"department", "executive"}, {"r_sales", "r_mkt", "r_exec"}),
    "exec": ({"department", "executive"}, {"r_sales", "r_mkt", "r_exec"}),
    "sales_head": ({"department"}, {"r_sales"}),
    "product_head": ({"department"}, set()),
    "auditor": (set(), {"r_sales", "r_mkt", "r_exec"}),
}


def browser_login(page, server, name: str, pw: str) -> None:
    page.goto(server.url, wait_until="load")
    assert "/login" in page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", pw)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_role_logs_in_and_sees_exactly_its_dashboards_and_reports(access_server, browser, name):
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        browser_login(page, access_server, name, password(name))
        assert page.url.rstrip("/") == access_server.url.rstrip("/"), page.url
        links = page.locator("a[href^='/voila/render/']").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert {h.split("/")[-1].removesuffix(".ipynb") for h in links} == EXPECTED[name][0]
        page.goto(access_server.url + "reports/", wait_until="load")
        page.wait_for_timeout(300)  # the index fills its table with JavaScript
        text = page.content()
        assert {r for r in MARKS if r in text} == EXPECTED[name][1]
        # the cookie is not readable by scripts
        assert "finlib_session" not in page.evaluate("document.cookie")
        # logout ends the session
        page.goto(access_server.url + "logout", wait_until="load")
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        page.goto(access_server.url, wait_until="load")
        assert "/login" in page.url
    finally:
        ctx.close()


def test_a_locked_user_cannot_log_in_in_the_browser(access_server, browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        for _ in range(5):
            browser_login(page, access_server, "locked", "wrong-password-123")
        browser_login(page, access_server, "locked", password("locked"))
        assert "/login" in page.url
        assert "locked" in page.inner_text("[role=alert]").lower()
        assert page.context.cookies() == [] or all(c["name"] != "finlib_session" for c in page.context.cookies())
    finally:
        ctx.close()


# -- what a page may send its kernel ----------------------------------------------------------

def _v1_message(msg_type: str, content: dict, session: str, channel: str) -> bytes:
    import uuid

    from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

    header = {"msg_id": uuid.uuid4().hex, "username": "probe", "session": session, "msg_type": msg_type,
              "version": "5.3", "date": "2026-01-01T00:00:00Z"}
    return serialize_msg_to_ws_v1([json.dumps(p).encode() for p in (header, {}, {}, content)], channel)


def _exchange(server, kid: str, session_cookie: str, messages, *, v1: bool) -> str:
    """Send ``messages`` (msg_type, content, channel) then a kernel_info_request; everything
    the kernel's websocket answered until the reply (and 3 s of iopub after it)."""
    import uuid

    session = uuid.uuid4().hex
    ws = server.url.replace("http", "ws") + f"api/kernels/{kid}/channels?session_id={session}"
    kwargs = {"subprotocols": ["v1.kernel.websocket.jupyter.org"]} if v1 else {}
    received = []
    with connect(ws, additional_headers={"Cookie": f"finlib_session={session_cookie}"}, open_timeout=30,
                 **kwargs) as conn:
        for msg_type, content, channel in [*messages, ("kernel_info_request", {}, "shell")]:
            if v1:
                conn.send(_v1_message(msg_type, content, session, channel))
            else:
                msg = json.loads(_kernel_message(msg_type, content, session))
                msg["channel"] = channel
                conn.send(json.dumps(msg))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                raw = conn.recv(timeout=5)
            except TimeoutError:
                break
            received.append(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
            if "kernel_info_reply" in received[-1]:
                deadline = min(deadline, time.monotonic() + 3)
    return "\n".join(received)


CODE_MESSAGES = [
    ("execute_request", {"code": "print('EXECUTED-' + 'BY-THE-BROWSER')", "silent": False, "store_history": False,
                         "user_expressions": {"k": "__import__('os').environ.get('FINLIB_SESSION_KEY')"},
                         "allow_stdin": False, "stop_on_error": True}, "shell"),
    ("execute_request", {"code": "print('EXECUTED-' + 'ON-CONTROL')", "silent": False}, "control"),
    ("complete_request", {"code": "import o", "cursor_pos": 8}, "shell"),
    ("inspect_request", {"code": "os", "cursor_pos": 2, "detail_level": 1}, "shell"),
    ("history_request", {"output": True, "raw": True, "hist_access_type": "tail", "n": 10}, "shell"),
    ("input_reply", {"value": "x"}, "stdin"),
    ("comm_msg", {"comm_id": "x", "data": {}}, "control"),
]
SHUTDOWN = [("shutdown_request", {"restart": False}, "control"), ("shutdown_request", {"restart": True}, "shell")]


@pytest.mark.parametrize("v1", [False, True], ids=["json", "v1"])
def test_the_page_cannot_send_code_to_its_kernel(access_server, fixture_db_url, v1):
    wh = get_warehouse(fixture_db_url)
    cookie = access_server.login("sales_head", password("sales_head"))  # the browser tests log out
    status, _, body = fetch(access_server, "voila/render/department.ipynb?department=Sales", cookie)
    assert status == 200
    kid = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body).group(0)
    before = len([r for r in refusals(wh, "sales_head") if r["action"] == "kernel-message"])
    text = _exchange(access_server, kid, cookie, CODE_MESSAGES, v1=v1)
    assert "kernel_info_reply" in text  # the socket works: what a page needs still goes through
    for marker in ("EXECUTED-BY-THE-BROWSER", "EXECUTED-ON-CONTROL", "execute_reply", "complete_reply",
                   "inspect_reply", "history_reply", SESSION_KEY):
        assert marker not in text, marker
    assert_clean(text, "Marketing", "Product")
    text = _exchange(access_server, kid, cookie, SHUTDOWN, v1=v1)
    assert "kernel_info_reply" in text and "shutdown_reply" not in text and "restarting" not in text
    sent = CODE_MESSAGES + SHUTDOWN
    deadline = time.monotonic() + 20  # refusals are written off the event loop
    while time.monotonic() < deadline:
        rows = [r for r in refusals(wh, "sales_head") if r["action"] == "kernel-message"][before:]
        if len(rows) >= len(sent):
            break
        time.sleep(0.5)
    assert sorted(r["details"]["msg_type"] for r in rows) == sorted(m[0] for m in sent)
    assert all(r["target"] == f"/api/kernels/{kid}/channels" and r["address"] for r in rows)
    # the kernel is alive and still the page's (the shutdown request never reached it)
    assert fetch(access_server, f"api/kernels/{kid}", cookie)[0] == 200
