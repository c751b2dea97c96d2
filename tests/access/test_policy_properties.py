"""Properties of the policy over generated users, notebooks and parameters: whatever is
asked, a department head is never granted a department outside their own, and a decision
that allows always binds the page to a subset of the user's scope."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from finlib.access.policy import (
    User,
    can_open_dashboard,
    can_open_report,
    departments_in_scope,
)
from finlib.warehouse.schema import DEPARTMENTS, ROLES

NAMES = st.sampled_from(["department", "product_roi", "retention_roi", "executive", "budget_variance",
                         "../department", "notebooks/department.ipynb", "x/y.ipynb", "department.ipynb"])
DEPT_VALUES = st.one_of(st.sampled_from([*DEPARTMENTS, "all", "ALL", "", "Legal", "sales"]),
                        st.text(max_size=12))
PARAMS = st.dictionaries(st.sampled_from(["department", "period", "segment"]),
                         st.one_of(DEPT_VALUES, st.lists(DEPT_VALUES, max_size=3)), max_size=3)
USERS = st.builds(User, name=st.just("u"), role=st.sampled_from(ROLES),
                  departments=st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=3, unique=True).map(tuple),
                  disabled=st.booleans())


def asked(params) -> set[str]:
    v = params.get("department")
    return set() if v is None else ({v} if isinstance(v, str) else set(v))


@settings(max_examples=400, deadline=None)
@given(USERS, NAMES, PARAMS)
def test_a_dashboard_decision_never_exceeds_the_scope(user, notebook, params):
    d = can_open_dashboard(user, notebook, params)
    if not d.allowed:
        return
    scope = set(departments_in_scope(user))
    assert not user.disabled and set(d.departments) <= scope
    if user.role == "department_head":
        assert scope == set(user.departments)
        assert asked(params) <= scope  # every department asked for is theirs ("all" never)
    assert user.role != "auditor"


SIMPLE = st.sampled_from([*DEPARTMENTS, "all"])


@settings(max_examples=400, deadline=None)
@given(USERS, st.sampled_from(["department", "notebooks/department.ipynb", "product_roi", "retention_roi"]),
       st.one_of(PARAMS, st.fixed_dictionaries({"department": SIMPLE})),
       st.one_of(st.none(), st.fixed_dictionaries({"department": SIMPLE})))
def test_a_report_decision_never_exceeds_the_scope(user, notebook, params, variant):
    manifest = {"notebook": notebook, "parameters": params, "variant": variant}
    d = can_open_report(user, manifest)
    if not d.allowed:
        return
    assert not user.disabled
    if user.role == "department_head":
        assert asked(params) | asked(variant or {}) <= set(user.departments)
