"""One exception hierarchy for finlib.

Every error a user can cause derives from :class:`FinlibError`; the CLI prints its
message (never a traceback) and exits non-zero. Messages say what is wrong and what to do.
"""

from __future__ import annotations


class FinlibError(Exception):
    """Base class of every error finlib raises on purpose."""

    exit_code = 1


class ConfigError(FinlibError):
    """A setting, URL, parameter file or job spec is wrong."""

    exit_code = 2


class WarehouseError(FinlibError):
    """The warehouse could not be reached or a statement failed."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the DuckDB file's write lock longer than we wait."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class ValidationError(FinlibError):
    """Input data broke one or more rules. ``problems`` lists every one found.

    Each problem is a mapping with keys ``file``, ``line``, ``column``, ``value``, ``rule``
    and ``message``.
    """

    exit_code = 3

    def __init__(self, message: str, problems: list[dict] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class IngestError(FinlibError):
    """A file could not be ingested (missing, undecodable, already loaded, ...)."""

    exit_code = 3


class ModelError(FinlibError):
    """A statistical model could not be fitted on the data given."""


class JobError(FinlibError):
    """A job spec is invalid or a run failed."""


class AlertError(FinlibError):
    """An alert rule or channel is misconfigured."""


class AccessDenied(FinlibError):
    """The current identity may not see or change this data."""

    exit_code = 77


class JobSpecError(JobError):
    """One or more job specs in ``parameters/jobs/`` are invalid. ``problems`` lists each
    as ``"FILE: what is wrong"``; nothing has run."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class JobRunError(JobError):
    """One or more runs failed (each is archived as failed; the others completed)."""


class UndefinedMetricError(FinlibError, ValueError):
    """A metric is undefined for its inputs (e.g. simple CLV at zero churn)."""


class NoDataError(FinlibError):
    """The warehouse holds no data for the period asked about."""

    exit_code = 4


class DemoDataError(FinlibError):
    """The demo data could not be generated (warehouse not empty, bad scale or period, ...)."""

    exit_code = 2
