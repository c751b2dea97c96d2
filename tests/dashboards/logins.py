"""The users every dashboard test server knows, and logging a Playwright page in."""

from __future__ import annotations

#: name -> (role, departments, password)
USERS = {
    "admin": ("admin", (), "admin-password-0001"),
    "exec": ("executive", (), "exec-password-0001"),
    "sales_head": ("department_head", ("Sales",), "sales-password-0001"),
    "product_head": ("department_head", ("Product",), "product-password-0001"),
    "auditor": ("auditor", (), "auditor-password-0001"),
    "locked": ("executive", (), "locked-password-0001"),
}


def add_users(wh) -> None:
    from finlib.access.users import add_user

    for name, (role, depts, password) in USERS.items():
        add_user(wh, name, role, depts, password)


def password(name: str) -> str:
    return USERS[name][2]


def log_in(page, server, name: str = "admin") -> None:
    """Give ``page``'s browser context the session of ``name`` on ``server`` (once)."""
    key = (server.port, name)
    if getattr(page, "finlib_login", None) != key:
        page.context.clear_cookies()
        server.login_context(page.context, name, password(name))
        page.finlib_login = key
