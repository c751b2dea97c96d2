"""The tamper-evident audit trail: who changed what, when, why, and what it was before.

Light at import (no pandas): :mod:`finlib.audit.identity` says who is acting,
:mod:`finlib.audit.trail` writes one hash-chained ``audit_log`` entry per write batch (its
hooks are installed by :func:`finlib.warehouse.load.write_batch` itself, so no batch can
skip them), :mod:`finlib.audit.verify` checks the chain, the tables and the checkpoint,
:mod:`finlib.audit.asof` rebuilds the data as it stood after an entry. See docs/AUDIT.md.
"""

from finlib.audit.identity import Actor, acting_as, current_actor  # noqa: F401
