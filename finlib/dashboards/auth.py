"""The server layer of access control: one login, and a gate in front of every handler.

* :class:`FinlibIdentityProvider` (a jupyter_server ``IdentityProvider``) turns the finlib
  session cookie, an ``Authorization: token <TOKEN>`` header or, behind a single sign-on
  proxy, the proxy's user header (only from a trusted proxy address: :func:`identify`) into a
  Jupyter ``User``; every Jupyter/Voilà handler (pages, ``/api/*``, websockets) asks it in
  ``prepare``.
* :func:`guard` wraps **every** handler class the server mounts (Voilà's static and websocket
  handlers are plain tornado handlers that never ask an identity provider, and Voilà's page
  handler never asks the Authorizer), so :func:`gate` runs before any of them: public paths
  (login, static assets, the Stripe webhook), else a user is required (login page, or 401
  for APIs), and then :func:`authorise` decides the path (dashboards by
  ``policy.can_open_dashboard``, kernels by owner, everything else refused).

Every refusal of an authenticated user is logged (``enforce`` / ``record_refusal``) and
answered 403/404 with a short page that names no figure.

* :class:`ChannelsMixin` filters what a browser sends over a kernel's websocket: a Voilà page
  only asks for kernel info and talks to its widgets (Voilà executes the notebook on the
  server), so any other message (``execute_request`` above all) is dropped and logged, and so
  is a widget update that picks a department outside the viewer's scope.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import html
import inspect
import ipaddress
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.parse
from pathlib import Path

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider
from jupyter_server.auth.identity import User as JupyterUser
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
)
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
from tornado import web
from tornado.ioloop import IOLoop

from finlib.access.auth import (
    AuthenticationError,
    authenticate_password,
    authenticate_proxy,
    authenticate_token,
    enforce,
    record_refusal,
)
from finlib.access.policy import (
    DEPARTMENTS,
    User,
    can_open_dashboard,
    dashboards_for,
    departments_in_scope,
    notebook_name,
)
from finlib.access.session import KEY_ENV, issue_grant, issue_session, read_session, verify_session
from finlib.access.settings import Proxy, load_settings
from finlib.access.users import end_sessions
from finlib.dashboards import ERROR_CLASS
from finlib.dashboards.query import AUTH_ENV
from finlib.errors import AccessDenied
from finlib.warehouse.db import get_warehouse

log = logging.getLogger("finlib.dashboards.auth")

COOKIE = "finlib_session"
GRANT_HEADER = "X-Finlib-Grant"
#: request parameters that never reach Voilà or a kernel
DROPPED_PARAMS = ("token", "theme", "template")
#: paths served without a login: the login page and the static assets of pages
PUBLIC = re.compile(r"^/(login|logout|favicon\.ico|voila/static/.*|voila/templates/[^/]+/static/.*"
                    r"|voila/labextensions/.*|voila/api/themes/.*|webhooks/stripe)$")
RENDER = re.compile(r"^/voila/render/(?P<nb>[A-Za-z0-9_]+)\.ipynb$")
#: headers a reverse proxy adds to what it forwards (a kernel's own request carries none)
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip")
KERNEL = re.compile(r"^/(api/kernels|voila/api/shutdown|voila/query)/(?P<kid>[0-9a-f-]{36})(/channels)?$")
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
       "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://cdnjs.cloudflare.com https://unpkg.com; "
       "font-src 'self' data: https://cdn.jsdelivr.net https://cdnjs.cloudflare.com https://unpkg.com; "
       "img-src 'self' data: blob:; connect-src 'self' ws: wss:; worker-src 'self' blob:; "
       "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
LOGIN_CONCURRENCY = 2
LOGIN_PER_ADDRESS_PER_MINUTE = 20
LOGIN_RATE_ENV = "FINLIB_LOGIN_RATE"  # password attempts per address per minute


#: live kernels one user may hold (each page view holds one until culled)
KERNELS_PER_USER_ENV = "FINLIB_KERNELS_PER_USER"
#: seconds a kernel handed to a page may wait for the page's websocket before it is shut down
UNCONNECTED_ENV = "FINLIB_UNCONNECTED_KERNEL_SECONDS"


class State:
    """What the gate needs, per server process: the notebook folder, TLS, kernel owners."""

    root: Path = Path(".")
    tls: bool = False
    no_auth: bool = False
    owners: dict[str, str] = {}
    connected: set[str] = set()
    handed: dict[str, float] = {}  # kernel -> when it was handed to a page (monotonic)
    open_sockets: collections.Counter = collections.Counter()  # kernel -> open page websockets
    kernel_manager = None
    proxy: Proxy = Proxy()  # single sign-on (off by default): parameters/access.yaml, proxy
    proxy_log_hours: float = 8.0  # a proxy user's login is recorded again after this (sessions.max_age_hours)
    proxy_logged: dict[str, float] = {}  # proxy user -> when their last ok was logged (monotonic)
    #: kernel -> widget comm id -> the option labels of a selection widget (seen going to the page)
    widget_labels: dict[str, dict[str, tuple[str, ...]]] = {}
    _lock = threading.Lock()

    @classmethod
    def own(cls, kernel_id: str, grant: str | None) -> None:
        body = read_session(grant or "", purpose=b"finlib-kernel-grant") if grant else None
        if body is None:
            return
        with cls._lock:
            cls.owners[kernel_id] = body["u"]
            cls.handed[kernel_id] = time.monotonic()
        delay = float(os.environ.get(UNCONNECTED_ENV) or 60)
        IOLoop.current().call_later(delay, cls._cull_if_unconnected, kernel_id)

    @classmethod
    def _cull_if_unconnected(cls, kernel_id: str) -> None:
        km = cls.kernel_manager
        if kernel_id in cls.connected or km is None or kernel_id not in km:
            return
        log.warning("finlib dashboards: kernel %s: its page never connected; shutting it down", kernel_id)
        IOLoop.current().spawn_callback(km.shutdown_kernel, kernel_id)

    @classmethod
    def live_kernels(cls, user: str) -> int:
        """Kernels ``user`` holds: with a page connected, or handed out and still awaited
        (a closed page's kernel no longer counts; idle culling ends it)."""
        km = cls.kernel_manager
        wait = float(os.environ.get(UNCONNECTED_ENV) or 60)
        now = time.monotonic()
        return sum(1 for k, u in list(cls.owners.items())
                   if u == user and km is not None and k in km
                   and (cls.open_sockets[k] > 0 or (k not in cls.connected and now - cls.handed.get(k, 0) < wait)))


def warehouse():
    return get_warehouse()


#: every warehouse call of the server runs here, one at a time: DuckDB refuses a read-only and
#: a read-write connection to the same file at once in one process
WAREHOUSE_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="finlib-wh")


async def run_blocking(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on the warehouse thread, without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(WAREHOUSE_EXECUTOR, lambda: fn(*args, **kwargs))


def client_address(handler) -> str:
    return handler.request.remote_ip or ""


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


# -- identity ---------------------------------------------------------------------------------

def _jupyter_user(user: User) -> JupyterUser:
    return JupyterUser(username=user.name, name=user.name, display_name=f"{user.name} ({user.role})")


#: refusals logged per user, address and minute (a header from an untrusted address, a
#: refused kernel message): beyond it they go to the server log only, so nobody can flood the
#: access log
REFUSALS_LOGGED_PER_MINUTE = 20
_refusal_times: dict[str, collections.deque] = collections.defaultdict(collections.deque)


def _may_log_refusal(address: str) -> bool:
    now = time.monotonic()
    q = _refusal_times[address]
    while q and q[0] < now - 60:
        q.popleft()
    if len(q) >= REFUSALS_LOGGED_PER_MINUTE:
        return False
    q.append(now)
    return True


async def _log_refusal(user: User | None, action: str, target: str, address: str, reason: str, **details) -> None:
    """``record_refusal``, at most ``REFUSALS_LOGGED_PER_MINUTE`` per user and address (users
    behind one proxy share its address: one of them cannot use up another's records)."""
    if _may_log_refusal(f"{user.name if user else ''}@{address}"):
        await run_blocking(record_refusal, warehouse(), user, action, target, address, reason, **details)
    else:
        log.warning("finlib dashboards: refused %s %s from %s (%s); not logged again this minute",
                    action, target, address, reason)


async def _proxy_user(handler, name: str) -> User | None:
    """The user a trusted proxy named (per request: the proxy authenticates every request)."""
    address = client_address(handler)
    last = State.proxy_logged.get(name)
    record_ok = last is None or time.monotonic() - last > State.proxy_log_hours * 3600
    try:
        # a refusal (unknown or disabled name) is one write: at most REFUSALS_LOGGED_PER_MINUTE
        # per name and address, so a signed-in non-user cannot flood the logs or the writers
        user = await run_blocking(authenticate_proxy, warehouse(), name, address, record_ok=record_ok,
                                  record_denied=_may_log_refusal(f"proxy:{name[:64]}@{address}"))
    except AccessDenied as exc:
        handler.finlib_refusal = str(exc)
        return None
    if record_ok:
        State.proxy_logged[name] = time.monotonic()
    return user


async def identify(handler) -> User | None:
    """The finlib user of this request (cached on the handler), else ``None``.

    In order: ``--no-auth`` (development); the single sign-on proxy's user header, when the
    request's TCP peer is a trusted proxy (the header is taken off the request first, by
    :func:`_strip_request`, so it never reaches Voilà or a kernel; from any other address it is
    ignored and the attempt logged); an ``Authorization: token`` header; the session cookie.
    A proxy user is identified on every request and gets no finlib cookie: the proxy
    authenticates each request, so its logout or an account closed at the identity provider
    ends access at once, and a cookie could not outlive it."""
    if hasattr(handler, "_finlib_user"):
        return handler._finlib_user
    user = None
    handler._finlib_token = False
    proxied = getattr(handler, "_finlib_proxy_user", None)
    if State.no_auth:
        user = User("developer", "admin")
    elif proxied is not None and State.proxy.trusts(client_address(handler)):
        if len(proxied) != 1:  # a refused proxy user gets no other identity on this request
            handler.finlib_refusal = f"the proxy sent {len(proxied)} {State.proxy.user_header} headers"
            await _log_refusal(None, "login", handler.request.path, client_address(handler),
                               "more than one proxy user header", method="proxy")
        else:
            user = await _proxy_user(handler, proxied[0])
        handler._finlib_user = user
        return user
    else:
        if proxied is not None and State.proxy.enabled:
            await _log_refusal(None, "login", handler.request.path, client_address(handler),
                               "proxy user header from an address that is not a trusted proxy",
                               method="proxy", header=State.proxy.user_header,
                               claimed=" ".join(proxied)[:64])
        auth = handler.request.headers.get("Authorization", "")
        if auth[:6].lower() == "token ":
            try:
                user = await run_blocking(authenticate_token, warehouse(), auth[6:].strip(), client_address(handler))
                handler._finlib_token = True
            except AccessDenied:
                user = None
        else:
            value = handler.get_cookie(COOKIE)
            if value:
                user = await run_blocking(verify_session, value, warehouse())
    handler._finlib_user = user
    return user


class FinlibIdentityProvider(IdentityProvider):
    """The Jupyter identity of a request is its finlib user (session cookie or API token)."""

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return True

    async def get_user(self, handler):
        user = await identify(handler)
        return None if user is None else _jupyter_user(user)

    def is_token_authenticated(self, handler) -> bool:
        return bool(getattr(handler, "_finlib_token", False))

    def get_handlers(self):
        return [("/login", LoginHandler), ("/logout", LogoutHandler)]


# -- the gate ---------------------------------------------------------------------------------

def _strip_request(handler) -> None:
    """Drop client-sent grants, the proxy's user header (kept on the handler for
    :func:`identify`) and the parameters that must never reach Voilà or a kernel."""
    req = handler.request
    if GRANT_HEADER in req.headers:
        del req.headers[GRANT_HEADER]
    header = State.proxy.user_header
    if not hasattr(handler, "_finlib_proxy_user"):
        values = req.headers.get_list(header)
        handler._finlib_proxy_user = [v.strip() for v in values] if values else None
    if header in req.headers:
        del req.headers[header]
    if any(p in req.query_arguments for p in DROPPED_PARAMS):
        pairs = [(k, v) for k, v in urllib.parse.parse_qsl(req.query, keep_blank_values=True)
                 if k not in DROPPED_PARAMS]
        req.query = urllib.parse.urlencode(pairs)
        req.uri = req.path + (f"?{req.query}" if req.query else "")
        for p in DROPPED_PARAMS:
            req.query_arguments.pop(p, None)
            req.arguments.pop(p, None)


def _params(handler) -> dict[str, list[str]]:
    return {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in handler.request.query_arguments.items()}


async def refuse(handler, user: User | None, status: int, reason: str, target: str) -> None:
    await run_blocking(record_refusal, warehouse(), user, "request", target, client_address(handler), reason)
    raise web.HTTPError(status, reason="Forbidden" if status == 403 else "Not Found")


async def authorise(handler, user: User) -> None:
    """Raise ``HTTPError`` unless ``user`` may have this request; log refusals."""
    path = handler.request.path
    if path in ("/", "/logout", "/reports") or path.startswith("/reports/"):
        return  # the landing page lists per user; /reports/ checks each report itself
    m = RENDER.match(path)
    if m:
        nb = m.group("nb")
        file = State.root / f"{nb}.ipynb"
        if notebook_name(nb) != nb or file.is_symlink() or not file.is_file() \
                or file.resolve().parent != State.root.resolve():
            await refuse(handler, user, 404, "no such dashboard", path)
        params = _params(handler)
        decision = can_open_dashboard(user, nb, params)
        try:
            await run_blocking(enforce, warehouse(), user, decision, action="open-dashboard", target=nb,
                       address=client_address(handler), parameters=params)
        except AccessDenied as exc:
            handler.finlib_refusal = str(exc)  # the policy's reason: names no figure
            raise web.HTTPError(403, reason="Forbidden") from None
        limit = int(os.environ.get(KERNELS_PER_USER_ENV) or 8)
        if State.live_kernels(user.name) >= limit:
            await run_blocking(record_refusal, warehouse(), user, "open-dashboard", nb, client_address(handler),
                               f"{user.name} already holds {limit} dashboard kernels")
            raise web.HTTPError(429, reason="Too many open dashboards: close one, or wait a minute")
        handler.request.headers[GRANT_HEADER] = issue_grant(user, nb, decision.departments)
        return
    m = KERNEL.match(path)
    if m:
        owner = State.owners.get(m.group("kid"))
        if owner is not None and owner == user.name:
            if path.endswith("/channels"):
                State.connected.add(m.group("kid"))
                State.open_sockets[m.group("kid")] += 1
                handler._finlib_socket = m.group("kid")
            return
        await refuse(handler, user, 403, "not the owner of the kernel", path)
    await refuse(handler, user, 403, "not served", path)


async def gate(handler) -> bool:
    """Run before every handler; ``False`` when the request was answered here (redirect)."""
    _strip_request(handler)
    path = handler.request.path
    if PUBLIC.match(path):
        return True
    m = KERNEL.match(path)
    if m and path.startswith("/voila/query/"):
        # the kernel's own connection back to the server (it fetches its viewer's request):
        # only from this machine, only for a kernel this server started, and never a request
        # a proxy forwarded (a sign-on proxy on this host connects from loopback too)
        proxied = handler._finlib_proxy_user is not None or any(
            h in handler.request.headers for h in FORWARDING_HEADERS)
        if (not proxied and is_loopback(client_address(handler))
                and m.group("kid") in handler.settings["kernel_manager"]):
            return True
        reason = "forwarded by a proxy" if proxied else "not a kernel of this server on this machine"
        await _log_refusal(None, "request", path, client_address(handler), reason)
        raise web.HTTPError(403)
    user = await identify(handler)
    if user is None and getattr(handler, "finlib_refusal", None):
        raise web.HTTPError(403, reason="Forbidden")  # a proxy user finlib does not know (logged)
    if user is None:
        if handler.request.method in ("GET", "HEAD") and not path.startswith("/api/") \
                and "Upgrade" not in handler.request.headers:
            nxt = urllib.parse.quote(handler.request.uri, safe="/")
            handler.redirect(f"/login?next={nxt}")
            return False
        raise web.HTTPError(401 if path.startswith("/api/") else 403)
    await authorise(handler, user)
    return True


def set_security_headers(handler) -> None:
    handler.clear_header("Server")
    handler.set_header("Content-Security-Policy", CSP)
    handler.set_header("X-Frame-Options", "DENY")
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("Referrer-Policy", "same-origin")
    if State.tls:
        handler.set_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


class GateMixin:
    """Put :func:`gate` in front of a handler's own ``prepare``."""

    def set_default_headers(self):
        super().set_default_headers()
        set_security_headers(self)

    def on_close(self):
        kid = getattr(self, "_finlib_socket", None)
        if kid is not None:
            State.open_sockets[kid] -= 1
            self._finlib_socket = None
        parent = getattr(super(), "on_close", None)
        if parent is not None:
            return parent()
        return None

    async def prepare(self):
        if not await gate(self):
            return None
        result = super().prepare()
        if inspect.isawaitable(result):
            result = await result
        return result

    def write_error(self, status_code, **kwargs):
        # a short page: no traceback, no path, no figure
        self.set_header("Content-Type", "text/html; charset=utf-8")
        why = getattr(self, "finlib_refusal", None)
        detail = f"<p class='{ERROR_CLASS}'>Not allowed: {html.escape(why)}</p>" if why else ""
        self.finish(_page("Refused" if status_code in (401, 403) else "Error",
                          f"<p>{status_code}: {html.escape(self._reason)}</p>{detail}"
                          "<p><a href='/'>Dashboards</a></p>"))


# -- what a page may send to its kernel -----------------------------------------------------

V1 = "v1.kernel.websocket.jupyter.org"
#: what a Voilà page sends over its kernel's websocket: the kernel's info, and the messages of
#: its widgets (comms). Voilà executes the notebook on the server, and the page renders the
#: outputs it was sent; it never sends code (no execute, complete, inspect, history, debug,
#: input or shutdown message). Voilà 0.5 passes its kernel manager a similar list
#: (``allowed_message_types``, which also lets ``shutdown_request`` through) and drops the rest
#: with a line in the server log; this filter refuses the shutdown too, and logs each refusal
#: in the access log under the user's name.
PAGE_MESSAGES = frozenset({"kernel_info_request", "comm_info_request", "comm_open", "comm_msg", "comm_close"})
#: refused messages one websocket may send before the server closes it
REFUSALS_PER_SOCKET = 20


def _json(raw: bytes | str):
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def parse_incoming(message: bytes | str, v1: bool) -> tuple[str, dict, dict]:
    """``(channel, header, content)`` of a message from the page; ``ValueError`` if malformed."""
    try:
        if v1:
            channel, parts = deserialize_msg_from_ws_v1(message)
            header, content = _json(parts[0]), _json(parts[3])
        else:
            msg = deserialize_binary_message(message) if isinstance(message, bytes) else json.loads(message)
            channel, header, content = msg.get("channel") or "shell", msg["header"], msg["content"]
    except Exception as exc:  # noqa: BLE001 - any garbage is one answer: malformed
        raise ValueError("malformed kernel message") from exc
    if not isinstance(header, dict) or not isinstance(content, dict) or not isinstance(header.get("msg_type"), str):
        raise ValueError("malformed kernel message")
    return str(channel), header, content


def _outgoing_comm(message: bytes | str, binary: bool, v1: bool) -> tuple[str, dict] | None:
    """``(msg_type, content)`` of a comm message to the page that carries selection options."""
    if isinstance(message, dict):
        header, content = message.get("header") or {}, message.get("content")
    elif isinstance(message, bytes) and v1:
        n = int.from_bytes(message[:8], "little")
        offsets = [int.from_bytes(message[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)]
        if len(offsets) < 6 or b"_options_labels" not in message[offsets[4]:offsets[5]]:
            return None
        header, content = _json(message[offsets[1]:offsets[2]]), _json(message[offsets[4]:offsets[5]])
    elif isinstance(message, str):
        if "_options_labels" not in message:
            return None
        msg = json.loads(message)
        header, content = msg.get("header") or {}, msg.get("content")
    elif isinstance(message, bytes):
        if b"_options_labels" not in message:
            return None
        msg = deserialize_binary_message(message)
        header, content = msg.get("header") or {}, msg.get("content")
    else:
        return None
    kind = header.get("msg_type")
    return (kind, content) if kind in ("comm_open", "comm_msg") and isinstance(content, dict) else None


def learn_widget_options(kernel_id: str, kind: str, content: dict) -> None:
    """Remember the option labels of every selection widget the kernel shows the page."""
    data = content.get("data") or {}
    states: dict = {}
    if kind == "comm_open" or data.get("method") == "update":
        states[content.get("comm_id")] = data.get("state") or {}
    elif data.get("method") == "update_states":
        states = {cid: (s or {}).get("state") or {} for cid, s in (data.get("states") or {}).items()}
    if kernel_id not in State.widget_labels and State.kernel_manager is not None:
        for gone in [k for k in State.widget_labels if k not in State.kernel_manager]:
            State.widget_labels.pop(gone, None)  # kernels shut down or culled since
    known = State.widget_labels.setdefault(kernel_id, {})
    for comm_id, state in states.items():
        labels = state.get("_options_labels") if isinstance(state, dict) else None
        if isinstance(comm_id, str) and isinstance(labels, list):
            known[comm_id] = tuple(str(x) for x in labels)


def widget_choice_refused(user: User, kernel_id: str, content: dict) -> str | None:
    """Why a widget message from ``user``'s page is refused, or ``None``.

    A department head's page may not pick a department outside their scope in any widget:
    the picked option (``index``, resolved with the labels the kernel sent the page) and any
    value named in the update are checked. A selection update of a widget the server never
    saw going to the page is refused too (a real page always learns its widgets first)."""
    if not user.restricted:
        return None
    data = content.get("data")
    if not isinstance(data, dict) or data.get("method") != "update" or not isinstance(data.get("state"), dict):
        return None
    state = data["state"]
    scope = set(departments_in_scope(user))
    picked: list = [v for k, v in state.items() if k != "index" and isinstance(v, str)]
    if "index" in state:
        labels = State.widget_labels.get(kernel_id, {}).get(content.get("comm_id"))
        if labels is None:
            return "a selection update of a widget this page was never shown"
        idx = state["index"]
        for i in (idx if isinstance(idx, list) else [idx]):
            if isinstance(i, int) and 0 <= i < len(labels):
                picked.append(labels[i])
    outside = sorted({v for v in picked if v in DEPARTMENTS and v not in scope})
    if outside:
        return f"{user.name} may not see {', '.join(outside)}"
    return None


class ChannelsMixin:
    """The kernel websocket's side of the gate: learn the widgets the page is shown, and drop
    (and log) whatever a Voilà page would never send."""

    def write_message(self, message, binary=False):
        kid = getattr(self, "kernel_id", None)
        if kid is not None:
            try:
                found = _outgoing_comm(message, binary, self.selected_subprotocol == V1)
                if found is not None:
                    learn_widget_options(kid, *found)
            except Exception:  # noqa: BLE001 - never break the page over what we merely learn
                log.debug("finlib dashboards: could not read an outgoing comm message", exc_info=True)
        return super().write_message(message, binary=binary)

    def on_message(self, message):
        kid = getattr(self, "kernel_id", "?")
        user = getattr(self, "_finlib_user", None)
        try:
            channel, header, content = parse_incoming(message, self.selected_subprotocol == V1)
        except ValueError:
            return self._refuse_message(user, kid, "malformed", "a malformed kernel message")
        kind = header["msg_type"]
        if kind not in PAGE_MESSAGES or (kind != "kernel_info_request" and channel != "shell"):
            return self._refuse_message(user, kid, kind, f"{kind} on {channel}: a dashboard page sends no such message")
        if kind == "comm_msg" and user is not None:
            why = widget_choice_refused(user, kid, content)
            if why is not None:
                return self._refuse_message(user, kid, kind, why)
        return super().on_message(message)

    def _refuse_message(self, user: User | None, kid: str, kind: str, reason: str) -> None:
        self._finlib_refused = getattr(self, "_finlib_refused", 0) + 1
        target = f"/api/kernels/{kid}/channels"
        address = client_address(self)
        if self._finlib_refused <= REFUSALS_PER_SOCKET:
            IOLoop.current().spawn_callback(_log_refusal, user, "kernel-message", target, address, reason,
                                            msg_type=kind)
        else:
            log.warning("finlib dashboards: %s sent %d refused kernel messages; closing the socket",
                        user.name if user else "anonymous", self._finlib_refused)
            self.close(1008, "refused kernel messages")


def guard(cls):
    """``cls`` with the gate in front (idempotent); a kernel websocket also gets the message
    filter (:class:`ChannelsMixin`)."""
    if issubclass(cls, GateMixin):
        return cls
    if issubclass(cls, KernelWebsocketHandler):
        return type(f"Guarded{cls.__name__}", (GateMixin, ChannelsMixin, cls), {})
    return type(f"Guarded{cls.__name__}", (GateMixin, cls), {})


# -- pages ------------------------------------------------------------------------------------

def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")


class _Limiter:
    """At most ``LOGIN_CONCURRENCY`` password checks at once; a per-address rate."""

    def __init__(self):
        self.sem = asyncio.Semaphore(LOGIN_CONCURRENCY)
        self.recent: dict[str, collections.deque] = collections.defaultdict(collections.deque)

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        q = self.recent[address]
        while q and q[0] < now - 60:
            q.popleft()
        if len(q) >= int(os.environ.get(LOGIN_RATE_ENV) or LOGIN_PER_ADDRESS_PER_MINUTE):
            return False
        q.append(now)
        return True


_limiter: _Limiter | None = None


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class LoginHandler(GateMixin, JupyterHandler):
    """GET: the form; POST (XSRF-checked): name and password → the session cookie."""

    def _form(self, message: str = "") -> str:
        nxt = html.escape(_safe_next(self.get_argument("next", "/")), quote=True)
        msg = f"<p class='error' role='alert'>{html.escape(message)}</p>" if message else ""
        return _page("Log in", f"{msg}<form method='post' action='/login'>"
                     f"<input type='hidden' name='_xsrf' value='{html.escape(self.xsrf_token.decode(), quote=True)}'>"
                     f"<input type='hidden' name='next' value='{nxt}'>"
                     "<p><label>User name <input name='username' autocomplete='username' required></label></p>"
                     "<p><label>Password <input name='password' type='password' "
                     "autocomplete='current-password' required></label></p>"
                     "<p><button type='submit'>Log in</button></p></form>")

    @allow_unauthenticated
    def get(self):
        self.set_header("Cache-Control", "no-store")
        self.finish(self._form())

    @allow_unauthenticated
    async def post(self):
        global _limiter
        if _limiter is None:
            _limiter = _Limiter()
        address = client_address(self)
        if not _limiter.allow(address):
            self.set_status(429)
            self.finish(self._form("Too many attempts: wait a minute."))
            return
        name = self.get_body_argument("username", "")[:64]
        password = self.get_body_argument("password", "")[:1024]
        async with _limiter.sem:
            try:
                user = await run_blocking(authenticate_password, warehouse(), name, password, address)
            except AuthenticationError as exc:
                self.set_status(403)
                self.finish(self._form(str(exc)))
                return
        hours = load_settings().sessions.max_age_hours
        value = await run_blocking(issue_session, user)
        self.set_cookie(COOKIE, value, httponly=True, samesite="Lax", secure=State.tls,
                        expires_days=hours / 24, path="/")
        self.redirect(_safe_next(self.get_body_argument("next", "/")))


class LogoutHandler(GateMixin, JupyterHandler):
    """GET: a button; POST (XSRF-checked): end every session of the user, clear the cookie."""

    @allow_unauthenticated
    def get(self):
        self.finish(_page("Log out", "<form method='post' action='/logout'>"
                          f"<input type='hidden' name='_xsrf' value='{html.escape(self.xsrf_token.decode(), quote=True)}'>"
                          "<button type='submit'>Log out</button></form>"))

    @allow_unauthenticated
    async def post(self):
        user = await identify(self)
        if user is not None and not State.no_auth:
            await run_blocking(end_sessions, warehouse(), user.name)
        self.clear_cookie(COOKIE, path="/")
        self.redirect("/login")


class LandingHandler(JupyterHandler):
    """``/``: the dashboards this user may open, and a link to the reports."""

    @web.authenticated
    def get(self):
        user = self._finlib_user
        allowed = dashboards_for(user)
        names = sorted(p.stem for p in State.root.glob("*.ipynb") if not p.is_symlink())
        shown = [n for n in names if allowed is None or n in allowed]
        items = "".join(f"<li><a href='/voila/render/{html.escape(n)}.ipynb'>{html.escape(n)}.ipynb</a></li>"
                        for n in shown)
        self.finish(_page("Dashboards", f"<p>Logged in as {html.escape(user.name)} ({html.escape(user.role)}). "
                          "<a href='/logout'>Log out</a></p>"
                          f"<ul>{items}</ul><p><a href='/reports/'>Reports</a></p>"))


class NotServedHandler(JupyterHandler):
    """Every path no other handler serves: the gate refuses it (and logs the refusal) before
    this handler runs; it answers 404 should the gate ever let one through."""

    def get(self, *args):
        raise web.HTTPError(404)

    post = put = delete = patch = head = get


class RedirectToSlash(JupyterHandler):
    @web.authenticated
    def get(self):
        self.redirect(self.request.path + "/")


def configure(root: Path, tls: bool, no_auth: bool) -> None:
    State.root = Path(root).resolve()
    State.tls = tls
    State.no_auth = no_auth
    settings = load_settings()  # a bad value: one ConfigError naming the file and the key
    State.proxy = settings.proxy
    State.proxy_log_hours = settings.sessions.max_age_hours
    if State.proxy.enabled and not no_auth:
        log.warning("finlib dashboards: single sign-on: the %s header names the user on requests from %s "
                    "(this port must be reachable from the proxy only)", State.proxy.user_header,
                    ", ".join(State.proxy.trusted))
    if no_auth:
        log.warning("finlib dashboards: AUTHENTICATION IS OFF (--no-auth): every visitor is an admin")
        os.environ.pop(AUTH_ENV, None)
    else:
        os.environ[AUTH_ENV] = "1"  # kernels (they inherit this environment) require a grant
    if not os.environ.get(KEY_ENV):
        # kernels verify their grant with the same key: one random key for this server run
        os.environ[KEY_ENV] = secrets.token_urlsafe(32)
