"""The governance area's errors (children of :class:`finlib.errors.FinlibError`)."""

from __future__ import annotations

from finlib.errors import ConfigError, FinlibError, IngestError


class ControlsConfigError(ConfigError):
    """``parameters/controls.yaml`` is missing, not YAML, or has a bad key or value (exit 2)."""


class PeriodStateError(ConfigError):
    """A close or reopen that does not fit the period's state (already closed, not closed,
    not ended yet, no reason given). Exit 2: nothing was written."""


class PeriodClosedError(IngestError):
    """A write would change rows of a closed period; the whole batch was rolled back.

    An :class:`~finlib.errors.IngestError` (exit 3), so an ingest records it as a rejected
    batch with this message.
    """


class ControlsFailed(FinlibError):
    """One or more controls failed (exit 3); the results were stored and alerts raised."""

    exit_code = 3
