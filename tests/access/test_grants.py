"""Kernel grants: the signed identity a dashboard kernel verifies without reading users."""

from __future__ import annotations

import pytest

from finlib.access import session
from finlib.access.policy import User, can_open_dashboard, scoped_departments
from finlib.errors import AccessDenied
from tests.access.helpers import Clock

KEY = b"k" * 40
MKT = User("ana", "department_head", ("Marketing",), False, 3)


def test_a_grant_carries_the_decision_to_the_kernel():
    clock = Clock()
    d = can_open_dashboard(MKT, "department.ipynb", {"department": "Marketing"}).check()
    grant = session.issue_grant(MKT, "department", d.departments, clock=clock, key=KEY)
    user = session.verify_grant(grant, "department", clock=clock, key=KEY)
    assert user == User("ana", "department_head", ("Marketing",))
    assert scoped_departments(user, "Marketing") == ("Marketing",)
    with pytest.raises(AccessDenied):
        scoped_departments(user, "Sales")


def test_forged_misused_or_expired_grants_are_refused():
    clock = Clock()
    grant = session.issue_grant(MKT, "department", ("Marketing",), clock=clock, key=KEY)
    cookie = session.issue_session(MKT, clock=clock, key=KEY, max_age_hours=8)
    assert session.verify_grant(grant, "product_roi", clock=clock, key=KEY) is None  # another notebook
    assert session.verify_grant(cookie, clock=clock, key=KEY) is None  # a session is not a grant
    assert session.read_session(grant, clock=clock, key=KEY) is None  # nor a grant a session
    assert session.verify_grant(grant, clock=clock, key=b"z" * 40) is None  # another key
    payload, sig = grant.split(".")
    import base64
    import json

    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    widened = base64.urlsafe_b64encode(json.dumps(dict(body, d=["Marketing", "Sales"])).encode()).rstrip(b"=")
    assert session.verify_grant(f"{widened.decode()}.{sig}", clock=clock, key=KEY) is None
    clock.advance(hours=12)
    assert session.verify_grant(grant, clock=clock, key=KEY) is None
