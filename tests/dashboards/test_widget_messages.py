"""A crafted widget message, end to end: a department head's own page, their own kernel, and a
message the page would never send.

A real server on the real ``department.ipynb`` (its live page: the department, period and
segment dropdowns) over the session's demo warehouse. Sales's head opens the page, then speaks
the kernel's websocket protocol directly with their session cookie: asks for the widgets'
state as the page does, finds the department dropdown, and picks Marketing in it (by index, by
label, and in a widget the page was never shown). Marketing's figures (computed here with
finlib's own functions, formatted as the page's tiles carry them) must never come back, and
every refusal must be in the access log. A legitimate change (another month) on the same
socket must still redraw Sales's tiles, so the absence of Marketing's figures means something.
Then a real Chromium does what a department head does, and nothing is refused.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
import uuid

import pytest
from websockets.sync.client import connect

from finlib.access.log import read_access_log
from tests.dashboards.conftest import NOTEBOOKS
from tests.dashboards.logins import log_in, password

pytestmark = [pytest.mark.browser]

KERNEL_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def dept_server(demo_warehouse, tmp_path_factory):
    from finlib.dashboards.harness import DashboardServer

    nb = tmp_path_factory.mktemp("widget-nb")
    shutil.copy(NOTEBOOKS / "department.ipynb", nb / "department.ipynb")
    logs = tmp_path_factory.mktemp("widget-logs")
    srv = DashboardServer(nb, demo_warehouse.url, log_path=logs / "voila.log",
                          env={**demo_warehouse.env, "FINLIB_DASHBOARD_LOG": str(logs / "dash.log"),
                               "FINLIB_LOGIN_RATE": "1000"})
    srv.start()
    try:
        srv.wait_for_pools(1, timeout=240)
        yield srv
    finally:
        srv.stop()


def _message(msg_type: str, content: dict, session: str, metadata: dict | None = None) -> str:
    return json.dumps({"header": {"msg_id": uuid.uuid4().hex, "username": "probe", "session": session,
                                  "msg_type": msg_type, "version": "5.3", "date": "2026-01-01T00:00:00Z"},
                       "parent_header": {}, "metadata": metadata or {}, "content": content, "channel": "shell"})


def _escaped(text: str) -> str:
    """``text`` as it appears inside a JSON string."""
    return json.dumps(text)[1:-1]


def _decode(raw: str | bytes) -> tuple[dict, str]:
    """A message from the kernel's websocket (JSON text, or binary when it carries buffers)
    and its text (the JSON, with the buffers' bytes as text too)."""
    from jupyter_server.services.kernels.connection.base import deserialize_binary_message

    if isinstance(raw, str):
        return json.loads(raw), raw
    msg = deserialize_binary_message(raw)
    buffers = msg.pop("buffers", [])
    text = json.dumps(msg, default=str) + "".join(bytes(b).decode("utf-8", "replace") for b in buffers)
    return msg, text


class Socket:
    """The kernel websocket of one page, spoken to directly (legacy JSON protocol)."""

    def __init__(self, conn, session: str):
        self.conn, self.session, self.received = conn, session, []

    def send(self, msg_type: str, content: dict, metadata: dict | None = None) -> None:
        self.conn.send(_message(msg_type, content, self.session, metadata))

    def update(self, comm_id: str, state: dict) -> None:
        self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}})

    def read_until(self, predicate, timeout: float = 60) -> dict | None:
        """Read messages until one satisfies ``predicate(message, raw text)`` (returned) or ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                raw = self.conn.recv(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                return None
            msg, text = _decode(raw)
            self.received.append(text)
            if predicate(msg, text):
                return msg
        return None

    def settle(self, quiet: float = 8) -> None:
        """A kernel_info round trip, then read until the kernel has been quiet for ``quiet`` s."""
        self.send("kernel_info_request", {})
        assert self.read_until(lambda m, _t: m["header"]["msg_type"] == "kernel_info_reply")
        while True:
            try:
                raw = self.conn.recv(timeout=quiet)
            except TimeoutError:
                return
            self.received.append(_decode(raw)[1])

    @property
    def text(self) -> str:
        return "\n".join(self.received)


def _widget_states(sock: Socket) -> dict[str, dict]:
    """Ask the kernel for every widget's state, as the page's widget manager does."""
    control = uuid.uuid4().hex
    from ipywidgets._version import __control_protocol_version__

    sock.send("comm_open", {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
              {"version": __control_protocol_version__})
    sock.send("comm_msg", {"comm_id": control, "data": {"method": "request_states"}})
    msg = sock.read_until(lambda m, _t: m["header"]["msg_type"] == "comm_msg"
                          and m["content"].get("data", {}).get("method") == "update_states")
    assert msg is not None, f"the kernel sent no widget state: {[t[:300] for t in sock.received][:10]}"
    return {cid: s["state"] for cid, s in msg["content"]["data"]["states"].items()}


def _control(states: dict, name: str) -> tuple[str, list[str], int]:
    """(comm id, option labels, selected index) of the page's ``name`` dropdown."""
    for cid, st in states.items():
        if f"finlib-control-{name}" in (st.get("_dom_classes") or ()):
            return cid, list(st["_options_labels"]), st["index"]
    raise AssertionError(f"no {name} control among the page's widgets")


def marketing_markers(period: str) -> list[str]:
    """How Marketing's headline tiles carry its figures (``data-value`` with 6 decimals)."""
    from finlib.views import data
    from finlib.views import department as view
    from finlib.warehouse.schema import DEPARTMENTS

    k = view.marketing_kpis(data.metrics(period), DEPARTMENTS)  # as a viewer of every department sees them
    out = ['data-kpi="cac"', 'data-kpi="campaign_roi"']
    for key in ("cac", "campaign_spend", "campaign_new_arr"):
        if k.get(key) is not None:
            out.append(f'data-value="{float(k[key]):.6f}"')
    return out


def kernel_refusals(wh, user: str) -> list[dict]:
    return [r for r in read_access_log(wh, user) if r["outcome"] == "denied" and r["action"] == "kernel-message"]


def test_a_crafted_widget_message_naming_another_department_is_refused_and_logged(dept_server, demo_env):
    from finlib.views import data
    from finlib.views import department as view

    wh = demo_env.wh
    cookie = dept_server.login("sales_head", password("sales_head"))
    req = urllib.request.Request(dept_server.url + "voila/render/department.ipynb?department=Sales",
                                 headers={"Cookie": f"finlib_session={cookie}"})
    with urllib.request.urlopen(req, timeout=240) as r:
        body = r.read().decode()
    kid = re.search(KERNEL_ID, body).group(0)
    before = len(kernel_refusals(wh, "sales_head"))
    session = uuid.uuid4().hex
    ws = dept_server.url.replace("http", "ws") + f"api/kernels/{kid}/channels?session_id={session}"
    with connect(ws, additional_headers={"Cookie": f"finlib_session={cookie}"}, open_timeout=30,
                 max_size=2**26) as conn:
        sock = Socket(conn, session)
        states = _widget_states(sock)
        dept, labels, index = _control(states, "department")
        assert labels[index] == "Sales" and "Marketing" in labels
        period_comm, periods, p_index = _control(states, "period")
        period = periods[p_index]
        markers = marketing_markers(period)
        o_index = p_index - 1 if p_index > 0 else p_index + 1
        other = periods[o_index]  # another month: a legitimate change
        markers += marketing_markers(other)

        sock.update(dept, {"index": labels.index("Marketing")})  # what the dropdown would send
        sock.update(dept, {"label": "Marketing", "value": "Marketing"})  # keys it would not send
        sock.update(uuid.uuid4().hex, {"index": labels.index("Marketing")})  # a widget never shown
        sock.settle()
        crafted = sock.text
        # the same socket still carries what the page may do: another month redraws Sales
        sales = view.sales_kpis(data.metrics(other), ["Sales"])  # as the head of Sales sees them
        want = _escaped(f'data-value="{float(sales["new_arr_won"]):.6f}"')
        sock.update(period_comm, {"index": o_index})
        assert sock.read_until(lambda _m, t: want in t, timeout=120), "the legitimate change drew nothing"
        sock.settle(quiet=4)
    for marker in markers:
        assert marker not in sock.text and _escaped(marker) not in sock.text, f"Marketing's {marker} reached the page"
    assert "Traceback" not in crafted and "site-packages" not in crafted
    rows = kernel_refusals(wh, "sales_head")[before:]
    reasons = sorted(r["details"]["reason"] for r in rows)
    assert reasons == sorted(["sales_head may not see Marketing"] * 2
                             + ["a selection update of a widget this page was never shown"]), reasons
    assert all(r["target"] == f"/api/kernels/{kid}/channels" and r["details"]["msg_type"] == "comm_msg"
               for r in rows)


def test_a_department_head_in_the_browser_changes_the_month_and_nothing_is_refused(dept_server, page, demo_env):
    """The page's own messages (binary websocket protocol, widget state learnt on the way out)
    all pass the filter."""
    from finlib.dashboards import KPI_SELECTOR
    from finlib.views import data
    from finlib.views import department as view

    before = len(kernel_refusals(demo_env.wh, "sales_head"))
    log_in(page, dept_server, "sales_head")
    page.goto(dept_server.render_url("department.ipynb", "department=Sales"), wait_until="commit", timeout=240_000)
    page.wait_for_selector(f'{KPI_SELECTOR}[data-kpi="new_arr_won"]', state="visible", timeout=240_000)
    select = page.locator(".finlib-control-period select")
    options = select.locator("option").all_inner_texts()
    current = select.input_value()
    target = options[options.index(current) - 1]
    want = view.sales_kpis(data.metrics(target), ["Sales"])["new_arr_won"]
    select.select_option(target)
    page.wait_for_function(
        "([sel, want]) => Math.abs(parseFloat(document.querySelector(sel)?.dataset.value) - want) < 1e-3",
        arg=[f'{KPI_SELECTOR}[data-kpi="new_arr_won"]', want], timeout=120_000)
    assert page.locator(f'{KPI_SELECTOR}[data-kpi="cac"]').count() == 0
    page.wait_for_timeout(1000)
    assert kernel_refusals(demo_env.wh, "sales_head")[before:] == []
    assert page.console_errors == []
