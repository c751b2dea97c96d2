"""Access control: users and roles, authentication, sessions, the one authorisation policy,
and the department scope of the data (docs/ACCESS.md).

The server layer calls :mod:`finlib.access.auth` (log in), :mod:`finlib.access.session`
(cookies) and :mod:`finlib.access.policy` (may this user open this page, report or
action?); data functions take the scope of :func:`finlib.access.policy.scoped_departments`.
"""
