"""Shared helpers of the access-control tests: a settable clock, a warehouse with users,
and a write hook that keeps every batch (the real hook mechanism the audit trail uses)."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from finlib.access.settings import AccessSettings
from finlib.access.users import add_user
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.load import register_write_hook, unregister_write_hook

PASSWORD = "correct horse battery staple"
SETTINGS = AccessSettings()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime = dt.datetime(2026, 3, 2, 9, 0, 0)):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


def warehouse_with_users(url: str):
    """``ana`` heads Marketing, ``paula`` heads Product, ``cate`` is a controller, ``aud`` an
    auditor, ``root`` an admin (all with :data:`PASSWORD`)."""
    wh = get_warehouse(url)
    init_db(wh)
    for name, role, depts in [("ana", "department_head", ["Marketing"]), ("paula", "department_head", ["Product"]),
                              ("cate", "controller", []), ("aud", "auditor", []), ("root", "admin", [])]:
        add_user(wh, name, role, depts, PASSWORD, settings=SETTINGS)
    return wh


@contextmanager
def batches():
    """Every write batch committed inside the block: (action, target, actor, details, tables)."""
    seen: list[dict] = []

    def hook(conn, batch):
        seen.append({"action": batch.action, "target": batch.target, "actor": batch.actor,
                     "details": dict(batch.details), "tables": batch.tables_changed})

    register_write_hook(hook)
    try:
        yield seen
    finally:
        unregister_write_hook(hook)


def dump_tables(wh, tables=("access_log", "login_attempts", "users", "api_tokens")) -> dict[str, str]:
    """Every row of ``tables`` as text, for leak checks."""
    out = {}
    with wh.connect(read_only=True) as conn:
        for t in tables:
            if conn.table_exists(t):
                out[t] = "\n".join(map(repr, conn.query(f"SELECT * FROM {t}")))
    return out

ROOT_PARAMETERS = __import__("pathlib").Path(__file__).resolve().parents[2] / "parameters"
