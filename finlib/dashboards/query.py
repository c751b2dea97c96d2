"""The page's URL query string, for notebooks served by Voilà.

``param(name, default)`` returns ``?name=value`` from the URL a viewer opened, or ``default``
when the notebook runs anywhere else (papermill, JupyterLab, nbconvert)::

    department: str = "Sales"  # parameters cell (papermill may inject another value)
    ...
    from finlib.dashboards import query
    department = query.param("department", department, choices=DEPARTMENTS)

How it works
------------
Without preheating, Voilà starts a kernel per page view with the request in its environment
(``QUERY_STRING``, ``PATH_INFO``, ...). With preheated kernels (our configuration) the
kernel is started and the notebook executed *before* anyone asks for the page, so the
environment has no request yet; Voilà's documented mechanism is ``voila.utils.get_query_string()``,
which blocks the kernel until a viewer is handed that kernel and then receives the request
over the websocket ``/voila/query/<VOILA_KERNEL_ID>``. This module does the same, once per
kernel (a second blocking wait would hang: the server sends the request only once), and
also over TLS (Voilà's helper would verify the certificate against 127.0.0.1 and fail).

The warehouse connection
------------------------
On PostgreSQL the dashboard server gives its kernels no connection of their own: only the
template ``FINLIB_DASHBOARD_DB_URL`` (``postgresql://{role}@host/db``) and, until the viewer
is known, a ``FINLIB_DB_URL`` naming a role that may not log in. :func:`bind` (called when the
page's parameters are read and whenever the department control changes) verifies the grant
and points ``FINLIB_DB_URL`` at the login role of the scope (:func:`db_role`), so every read
of the views is made as that role, under row-level security. On DuckDB the kernel opens the
file read-only and :func:`scope` is what the data functions are given.

Consequence for notebook authors: in a preheated kernel everything *above* the first
:func:`param` / :func:`wait_for_viewer` call runs ahead of time (put imports there) and
everything below runs when the page is opened (read the warehouse there, so the data is
as of the page view, not as of the kernel's start).
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs

from websockets.sync.client import connect

from finlib.access import pg
from finlib.access.policy import DEPARTMENT_EXTRAS, User, departments_in_scope, scoped_departments
from finlib.access.session import verify_grant
from finlib.errors import AccessDenied, ConfigError, FinlibError
from finlib.warehouse.schema import DEPARTMENTS

#: environment variables Voilà sets from the viewer's request
REQUEST_KEYS = (
    "QUERY_STRING",
    "PATH_INFO",
    "SCRIPT_NAME",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
)
CONNECT_TIMEOUT = 10.0
#: set by the dashboard server when it requires a login: kernels then require a grant
AUTH_ENV = "FINLIB_DASHBOARD_AUTH"
#: the signed grant of the viewer (the server's ``X-Finlib-Grant`` request header)
GRANT_KEY = "HTTP_X_FINLIB_GRANT"
#: PostgreSQL: the kernels' connection, ``{role}`` standing for the login role (set by the server)
DB_TEMPLATE_ENV = "FINLIB_DASHBOARD_DB_URL"
#: the ``--prefix`` of ``finlib access pg-setup`` (default ``finlib``)
ROLE_PREFIX_ENV = "FINLIB_DASHBOARD_ROLE_PREFIX"

_request: dict[str, str] | None = None  # this kernel's request, once known
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def under_voila() -> bool:
    """True in a kernel started by Voilà (preheated or not)."""
    return "VOILA_PREHEAT" in os.environ or "VOILA_KERNEL_ID" in os.environ


def preheated() -> bool:
    """True in a preheated kernel (whether or not its viewer has arrived yet)."""
    return os.environ.get("VOILA_PREHEAT") == "True"


def _request_ws_url() -> str:
    kernel_id = os.environ.get("VOILA_KERNEL_ID")
    if not kernel_id:
        raise FinlibError("This dashboard's kernel has no VOILA_KERNEL_ID: reload the page.")
    proto = os.environ.get("VOILA_WS_PROTOCOL", "ws")
    host = os.environ.get("VOILA_APP_IP", "127.0.0.1")
    port = os.environ.get("VOILA_APP_PORT", "8866")
    base = os.environ.get("VOILA_WS_BASE_URL") or os.environ.get("VOILA_SERVER_URL") or "/"
    if not base.endswith("/"):
        base += "/"
    return f"{proto}://{host}:{port}{base}voila/query/{kernel_id}"


def _receive_request(url: str) -> dict[str, str]:
    """Block until the server sends this kernel's request (i.e. until a viewer opens it)."""
    ctx = None
    if url.startswith("wss://"):
        # our own server on this machine (VOILA_APP_IP): its certificate names the public
        # host, not 127.0.0.1, so verify nothing here; the hop never leaves the host.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        with connect(url, open_timeout=CONNECT_TIMEOUT, ssl=ctx, max_size=2**20) as ws:
            message = ws.recv()
    except OSError as exc:
        raise FinlibError(
            "This dashboard could not read its address from the dashboard server; "
            "reload the page."
        ) from exc
    payload = json.loads(message)
    return {str(k): str(v) for k, v in payload.items()}


def request_info() -> dict[str, str]:
    """The viewer's request as a dict (``QUERY_STRING``, ``PATH_INFO``, ...); ``{}`` outside Voilà.

    In a preheated kernel the first call blocks until a viewer opens the page; later calls
    return at once.
    """
    global _request
    if _request is not None:
        return _request
    if not under_voila():
        return {}
    if preheated():
        info = _receive_request(_request_ws_url())
        os.environ.update(info)  # as voila.utils.wait_for_request does
    else:
        info = {k: os.environ[k] for k in REQUEST_KEYS if k in os.environ}
    _request = info
    return info


def wait_for_viewer() -> None:
    """Hold a preheated kernel here until someone opens the page (no-op elsewhere).

    Call it after the imports and before the first warehouse query in dashboards that take
    no URL parameters, so the figures are read when the page is opened.
    """
    request_info()


def params() -> dict[str, str]:
    """Every query parameter of the page (first value of each); ``{}`` outside Voilà."""
    qs = request_info().get("QUERY_STRING", "")
    return {k: v[0] for k, v in parse_qs(qs, keep_blank_values=True).items()}


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"The address gives {name}={raw!r}, which is not a valid {kind.__name__}."
        ) from None


def param(
    name: str,
    default: Any = None,
    *,
    choices: Iterable[Any] | None = None,
    cast: type | None = None,
) -> Any:
    """The URL query parameter ``name`` under Voilà, else ``default``.

    Parameters
    ----------
    name : the query-string key (``?department=Marketing`` -> ``"department"``).
    default : returned when not under Voilà or when the URL does not have ``name``. Under
        papermill pass the parameters-cell value, so the job's parameter wins there.
    choices : allowed values; anything else raises :class:`~finlib.errors.ConfigError`
        with a message fit for the viewer (the URL is user input).
    cast : ``str`` (default, or the type of ``default``), ``int``, ``float`` or ``bool``.

    Examples
    --------
    >>> param("department", "Sales")          # outside Voilà
    'Sales'
    """
    qs = request_info().get("QUERY_STRING", "")
    values = parse_qs(qs, keep_blank_values=False).get(name)
    if not values:
        if name == "department":
            user = viewer()
            if user is not None and user.restricted and default not in departments_in_scope(user):
                default = departments_in_scope(user)[0]  # a department head's own department
            bind(in_scope(default))
        return default
    raw = values[0]
    kind = cast or (type(default) if default is not None else str)
    value = _convert(name, raw, kind) if kind is not str else raw
    if choices is not None:
        allowed = list(choices)
        if value not in allowed:
            shown = ", ".join(str(c) for c in allowed)
            raise ConfigError(f"Unknown {name} {raw!r}: choose one of {shown}.")
    if name == "department":
        in_scope(value)
        bind(value)
    return value


def viewer() -> User | None:
    """The viewer this kernel serves, as the server's signed grant says (its departments are
    the granted scope); ``None`` outside Voilà or when the server runs without login.

    Raises :class:`~finlib.errors.AccessDenied` when the server requires a login and the
    kernel got no genuine grant for this notebook (a client cannot send one: the server drops
    the header from requests and signs its own)."""
    info = request_info()
    if not under_voila() or os.environ.get(AUTH_ENV) != "1":
        return None
    notebook = PurePosixPath(info.get("SCRIPT_NAME", "")).stem
    user = verify_grant(os.environ.get(GRANT_KEY, ""), notebook)
    if user is None:
        raise AccessDenied("This page was not opened through the dashboard server's login: reload it.")
    return user


def in_scope(department: Any) -> Any:
    """``department`` if the viewer may see it; raises :class:`AccessDenied` otherwise."""
    user = viewer()
    if user is not None and department is not None:
        scoped_departments(user, department)
    return department


def scope() -> tuple[str, ...]:
    """The departments this kernel may read: the granted scope of its viewer; every
    department where there is no viewer (papermill jobs, JupyterLab, a server without
    login). What a notebook passes to the data functions' required ``scope`` argument."""
    user = viewer()
    return DEPARTMENTS if user is None else scoped_departments(user, None)


def notebook() -> str:
    """The name of the page's notebook (``department``); ``""`` outside Voilà."""
    return PurePosixPath(request_info().get("SCRIPT_NAME", "")).stem


def db_role(department: str | None = None) -> str:
    """The PostgreSQL login role this kernel reads as (``finlib.access.pg.login_role``).

    Decision: a viewer who may see every department (or no viewer: a server without login)
    reads as ``<prefix>_dash_all``; a department head reads as the role of ``department``
    (checked against the grant), or, when the page names none, of the department the page
    is about (``product_roi``: Product, ``retention_roi``: Customer Success) or of their
    first department. A head of several departments therefore holds one connection per
    department shown, never one that sees all of them at once."""
    user = viewer()
    prefix = os.environ.get(ROLE_PREFIX_ENV) or pg.PREFIX
    if user is None or not user.restricted:
        return pg.login_role(None, prefix)
    depts = scoped_departments(user, department)
    if department is None:
        about = [d for d in depts if notebook() in DEPARTMENT_EXTRAS.get(d, ())]
        depts = (*about, *depts)
    return pg.login_role(depts[0], prefix)


def bind(department: str | None = None) -> None:
    """Read the warehouse as the login role of ``department`` (:func:`db_role`) from now on.

    A no-op unless the server gave this kernel a dashboard connection template (PostgreSQL).
    Raises :class:`AccessDenied` without a genuine grant or for a department outside it."""
    template = os.environ.get(DB_TEMPLATE_ENV)
    if not template:
        return
    os.environ["FINLIB_DB_URL"] = template.replace("{role}", db_role(department))


def _reset_for_tests() -> None:
    global _request
    _request = None
