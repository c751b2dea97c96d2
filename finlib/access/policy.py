"""Who may open what: the role table and every authorisation decision, in one place.

The server (dashboards, the report archive), the data layer and the commands ask here and
nowhere else. A decision is a :class:`Decision` (``allowed``, ``reason``, and the
departments the page may show); refusals say why without revealing any figure.

The role table (docs/ACCESS.md prints :func:`role_table_markdown`, and a test keeps them equal):

* ``admin``: everything, and user administration
* ``executive``: every dashboard and report
* ``controller``: every dashboard and report, governance, period close/reopen
* ``analyst``: every dashboard and report, JupyterLab
* ``department_head``: the department dashboard and reports of their own department(s);
  Product also ``product_roi``, Customer Success also ``retention_roi``
* ``auditor``: governance, the audit trail and every archived report, read-only
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from finlib.errors import AccessDenied
from finlib.warehouse.schema import DEPARTMENTS, ROLES

# -- actions other than opening a dashboard or a report -----------------------------------
USER_ADMIN = "user_admin"          #: finlib users ..., and every user-admin page
PERIOD_CLOSE = "period_close"
PERIOD_REOPEN = "period_reopen"
GOVERNANCE = "governance"          #: read the controls and their evidence
AUDIT_READ = "audit_read"          #: read the audit trail and the access log
JUPYTERLAB = "jupyterlab"          #: run arbitrary code over the warehouse
ACTIONS = (USER_ADMIN, PERIOD_CLOSE, PERIOD_REOPEN, GOVERNANCE, AUDIT_READ, JUPYTERLAB)
#: actions that change data: refused to every read-only role whatever the table says
WRITE_ACTIONS = frozenset({USER_ADMIN, PERIOD_CLOSE, PERIOD_REOPEN, JUPYTERLAB})

#: the dashboard every department head may open, for their own departments only
DEPARTMENT_DASHBOARD = "department"
#: the dashboards a head of one department may open besides the department dashboard
DEPARTMENT_EXTRAS: dict[str, tuple[str, ...]] = {
    "Product": ("product_roi",),
    "Customer Success": ("retention_roi",),
}
#: the parameter of a dashboard or report that names a department
DEPARTMENT_PARAM = "department"
#: the value of that parameter meaning every department
ALL = "all"

_NOTEBOOK_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Role:
    name: str
    summary: str
    all_dashboards: bool = False
    all_reports: bool = False
    own_department_only: bool = False
    actions: frozenset[str] = frozenset()
    read_only: bool = False


ROLE_TABLE: dict[str, Role] = {r.name: r for r in (
    Role("admin", "everything, and user administration",
         all_dashboards=True, all_reports=True, actions=frozenset(ACTIONS)),
    Role("executive", "every dashboard and report", all_dashboards=True, all_reports=True),
    Role("controller", "every dashboard and report, governance, period close/reopen",
         all_dashboards=True, all_reports=True,
         actions=frozenset({GOVERNANCE, PERIOD_CLOSE, PERIOD_REOPEN})),
    Role("analyst", "every dashboard and report, JupyterLab",
         all_dashboards=True, all_reports=True, actions=frozenset({JUPYTERLAB})),
    Role("department_head", "the department dashboard and reports of their own department(s); "
         "Product also `product_roi`, Customer Success also `retention_roi`",
         own_department_only=True),
    Role("auditor", "governance, the audit trail and every archived report, read-only",
         all_reports=True, actions=frozenset({GOVERNANCE, AUDIT_READ}), read_only=True),
)}
assert tuple(ROLE_TABLE) == ROLES, "the role table and finlib.warehouse.schema.ROLES disagree"


@dataclass(frozen=True)
class User:
    """An authenticated user as the policy sees it (never carries a password or token)."""

    name: str
    role: str
    departments: tuple[str, ...] = ()
    disabled: bool = False
    session_version: int = 0

    @property
    def restricted(self) -> bool:
        return ROLE_TABLE[self.role].own_department_only


@dataclass(frozen=True)
class Decision:
    """``allowed`` or not, the ``reason`` (safe to show and log), and the ``departments`` the
    page or report may show (the kernel is bound to these)."""

    allowed: bool
    reason: str
    departments: tuple[str, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return self.allowed

    def check(self) -> Decision:
        """Raise :class:`~finlib.errors.AccessDenied` with the reason when refused."""
        if not self.allowed:
            raise AccessDenied(self.reason)
        return self


def _deny(reason: str) -> Decision:
    return Decision(False, reason)


def _role(user: User) -> Role | None:
    return ROLE_TABLE.get(user.role) if user is not None else None


def departments_in_scope(user: User) -> tuple[str, ...]:
    """The departments whose figures ``user`` may see (in :data:`DEPARTMENTS` order)."""
    role = _role(user)
    if role is None or user.disabled or not (role.all_dashboards or role.all_reports
                                             or role.own_department_only):
        return ()
    if role.own_department_only:
        return tuple(d for d in DEPARTMENTS if d in set(user.departments))
    return DEPARTMENTS


def dashboards_for(user: User) -> frozenset[str] | None:
    """The dashboards (notebook names) ``user`` may open; ``None`` means every dashboard."""
    role = _role(user)
    if role is None or user.disabled:
        return frozenset()
    if role.all_dashboards:
        return None
    if role.own_department_only:
        names = {DEPARTMENT_DASHBOARD}
        for d in departments_in_scope(user):
            names.update(DEPARTMENT_EXTRAS.get(d, ()))
        return frozenset(names)
    return frozenset()


def notebook_name(notebook: str | None) -> str | None:
    """``department`` for ``department``, ``department.ipynb`` or ``notebooks/department.ipynb``;
    ``None`` for anything else (a traversal, another folder, odd characters)."""
    if not notebook or not isinstance(notebook, str):
        return None
    path = PurePosixPath(notebook.replace("\\", "/"))
    parts = path.parts
    if len(parts) == 2 and parts[0] == "notebooks":
        path = PurePosixPath(parts[1])
    elif len(parts) != 1:
        return None
    name = path.name[:-len(".ipynb")] if path.name.endswith(".ipynb") else path.name
    return name if _NOTEBOOK_NAME.match(name) else None


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        value = [value]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in value]


def _check_department_params(user: User, params: Mapping[str, Any] | None,
                             scope: tuple[str, ...]) -> Decision | None:
    """A refusal if a ``department`` parameter names a department outside ``scope``."""
    for value in _values((params or {}).get(DEPARTMENT_PARAM)):
        if value == ALL:
            if user.restricted:
                return _deny(f"{user.name} may not see every department's figures")
            continue
        if value not in DEPARTMENTS:
            return _deny(f"no department {value!r}")
        if value not in scope:
            return _deny(f"{user.name} may not see the figures of {value}")
    return None


def can_open_dashboard(user: User, notebook: str, params: Mapping[str, Any] | None = None) -> Decision:
    """May ``user`` open the dashboard ``notebook`` with ``params`` (the query parameters)?

    Allowed decisions carry the departments the kernel may show: for a department head
    their own departments (the server defaults ``department`` to the first of them)."""
    role = _role(user)
    if role is None or user.disabled:
        return _deny("not a known, enabled user")
    name = notebook_name(notebook)
    if name is None:
        return _deny(f"not a dashboard: {str(notebook)[:80]!r}")
    allowed = dashboards_for(user)
    if allowed is not None and name not in allowed:
        return _deny(f"{user.name} ({user.role}) may not open the {name} dashboard")
    scope = departments_in_scope(user)
    if not scope:
        return _deny(f"{user.name} has no department in scope")
    refusal = _check_department_params(user, params, scope)
    if refusal is not None:
        return refusal
    return Decision(True, f"{user.role} may open {name}", scope)


def can_open_report(user: User, manifest: Mapping[str, Any]) -> Decision:
    """May ``user`` open the archived report described by ``manifest`` (its manifest.json:
    ``notebook``, ``job``, ``parameters``, ``variant``)?"""
    role = _role(user)
    if role is None or user.disabled:
        return _deny("not a known, enabled user")
    if not isinstance(manifest, Mapping):
        return _deny("a report without a readable manifest")
    if role.all_reports:
        return Decision(True, f"{user.role} may open every report", DEPARTMENTS)
    if not role.own_department_only:
        return _deny(f"{user.name} ({user.role}) may not open reports")
    name = notebook_name(manifest.get("notebook"))
    if name is None:
        return _deny("a report whose notebook is unknown")
    if name not in (dashboards_for(user) or ()):
        return _deny(f"{user.name} ({user.role}) may not open {name} reports")
    scope = departments_in_scope(user)
    raw = manifest.get("parameters") or {}
    variant = manifest.get("variant") or {}
    if not isinstance(raw, Mapping) or not isinstance(variant, Mapping):
        return _deny("a report whose manifest is malformed")
    # the department may be in the parameters, in the variant of a matrix run, or both:
    # every value found is checked, so a manifest whose two disagree is refused
    asked = _values(raw.get(DEPARTMENT_PARAM)) + _values(variant.get(DEPARTMENT_PARAM))
    params = {**raw, DEPARTMENT_PARAM: asked} if asked else dict(raw)
    if name == DEPARTMENT_DASHBOARD and not _values(params.get(DEPARTMENT_PARAM)):
        return _deny("a department report that names no department")
    refusal = _check_department_params(user, params, scope)
    if refusal is not None:
        return refusal
    return Decision(True, f"{user.role} may open this {name} report", scope)


def can(user: User, action: str) -> Decision:
    """May ``user`` do ``action`` (one of :data:`ACTIONS`)?"""
    if action not in ACTIONS:
        return _deny(f"unknown action {action!r}")
    role = _role(user)
    if role is None or user.disabled:
        return _deny("not a known, enabled user")
    if role.read_only and action in WRITE_ACTIONS:
        return _deny(f"{user.name} ({user.role}) is read-only")
    if action not in role.actions:
        return _deny(f"{user.name} ({user.role}) may not {action.replace('_', ' ')}")
    return Decision(True, f"{user.role} may {action.replace('_', ' ')}", departments_in_scope(user))


def require(user: User, action: str) -> None:
    """:func:`can`, raising :class:`~finlib.errors.AccessDenied` when refused."""
    can(user, action).check()


def scoped_departments(user: User, requested: str | Iterable[str] | None) -> tuple[str, ...]:
    """The departments a data function may read for ``user``, asked for ``requested``.

    ``requested`` is required: one department name, several, ``"all"`` (every department:
    refused to a department head) or ``None`` (everything in the user's scope). A department
    outside the user's scope, or unknown, raises :class:`~finlib.errors.AccessDenied`."""
    scope = departments_in_scope(user)
    if not scope:
        raise AccessDenied(f"{getattr(user, 'name', user)!r} may not read any department's figures")
    if requested is None:
        return scope
    asked = _values(requested)
    if asked == [ALL]:
        if user.restricted:
            raise AccessDenied(f"{user.name} may not read every department's figures")
        return scope
    if not asked:
        raise AccessDenied("no department asked for")
    for d in asked:
        if d not in DEPARTMENTS:
            raise AccessDenied(f"no department {d!r}")
        if d not in scope:
            raise AccessDenied(f"{user.name} may not read the figures of {d}")
    return tuple(d for d in DEPARTMENTS if d in set(asked))


def department_filter(user: User, requested: str | Iterable[str] | None,
                      column: str = "department_id") -> tuple[str, dict[str, str]]:
    """A SQL condition and its parameters restricting ``column`` (a ``departments`` id) to
    :func:`scoped_departments`: ``("department_id IN (SELECT ... WHERE name IN (:dept_0))",
    {"dept_0": "Marketing"})``. Works on both backends."""
    if not re.fullmatch(r"[A-Za-z_][\w.]*", column):
        raise ValueError(f"not a column: {column!r}")
    depts = scoped_departments(user, requested)
    params = {f"dept_{i}": d for i, d in enumerate(depts)}
    names = ", ".join(f":{k}" for k in params)
    return f"{column} IN (SELECT department_id FROM departments WHERE name IN ({names}))", params


def role_table_markdown() -> str:
    """The role table of docs/ACCESS.md, generated from :data:`ROLE_TABLE`."""
    lines = ["| role | may open | actions |", "|---|---|---|"]
    for role in ROLE_TABLE.values():
        acts = ", ".join(f"`{a}`" for a in ACTIONS if a in role.actions) or "—"
        lines.append(f"| `{role.name}` | {role.summary} | {acts} |")
    return "\n".join(lines)
