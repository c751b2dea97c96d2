"""Job specs: one YAML file per job in ``parameters/jobs/<name>.yaml``.

The file name (without ``.yaml``) is the job's name; it names the archive folder
``reports/<name>/``. Every key is checked (an unknown key is an error), and so are the
cron expression, the notebook's existence and every parameter against the notebook's
``parameters`` cell, *before anything runs*. All problems across all files are reported
together in one :class:`~finlib.errors.JobSpecError`.

Example (``parameters/jobs/department.yaml``)::

    notebook: notebooks/department.ipynb   # relative to the project root
    title: Department views
    schedule: "0 6 2 * *"                 # cron: 06:00 on the 2nd of each month
    timezone: UTC                          # the cron's time zone
    catch_up_days: 7                       # --due catches up missed slots this far back
    parameters:
      period: last_closed_month            # symbolic, resolved per run
      interactive: false
    matrix:
      department: [Sales, Marketing, Product, Customer Success]
    timeout: 600                           # seconds per cell
    start_timeout: 60                      # seconds for the kernel to start
    retries: 2                             # extra attempts when the kernel dies
    retry_backoff: 10                      # seconds before the first retry, doubled after
    audience: [executives, finance]

Symbolic parameter values (a string exactly equal to one of these is replaced at run
time; the run's period P is ``--period`` if given, else the period of the schedule slot,
else the last closed month):

``last_closed_month`` / ``period``  P as an ISO date (``2024-03-01``)
``previous_month``                  the month before P
``current_month``                   the month after P (the month P was closed in)
``period_end``                      the last day of P (``2024-03-31``)
``today``                           the run's date (UTC)
``run_id``                          the archive run id
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from finlib import config
from finlib.errors import JobSpecError
from finlib.periods import add_months, month_end

JOB_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
SPEC_DIRNAME = "jobs"


class JobSpec(BaseModel):
    """The schema of one job file. ``name`` and ``path`` come from the file, not its keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notebook: str = Field(description="notebook path, relative to the project root")
    title: str
    description: str = ""
    schedule: str | None = Field(None, description="cron expression; none = manual only")
    timezone: str = "UTC"
    catch_up_days: float = Field(7, ge=0)
    parameters: dict[str, Any] = Field(default_factory=dict)
    matrix: dict[str, list[Any]] = Field(default_factory=dict)
    timeout: float = Field(600, gt=0, description="seconds per cell")
    start_timeout: float = Field(60, gt=0, description="seconds for the kernel to start")
    retries: int = Field(1, ge=0, le=10)
    retry_backoff: float = Field(5, ge=0)
    audience: list[str] = Field(default_factory=list)
    kernel: str | None = None
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list,
                             description="jobs that, when run in the same batch and period, finish first")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v

        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a valid cron expression (e.g. '0 6 2 * *')")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return config.check_time_zone(v)

    @field_validator("matrix")
    @classmethod
    def _matrix(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"matrix {key!r} has no values")
            if len(set(map(str, values))) != len(values):
                raise ValueError(f"matrix {key!r} repeats a value")
        return v


@dataclass(frozen=True)
class Job:
    """A validated job: its spec plus where it came from."""

    name: str
    path: Path
    spec: JobSpec
    notebook_path: Path
    notebook_parameters: dict[str, str] = field(default_factory=dict)  # name -> help

    def variants(self) -> list[dict[str, Any]]:
        """One dict per matrix combination (``[{}]`` without a matrix), in file order."""
        combos: list[dict[str, Any]] = [{}]
        for key, values in self.spec.matrix.items():
            combos = [{**c, key: v} for c in combos for v in values]
        return combos


def variant_label(variant: dict[str, Any]) -> str:
    """``department=Sales`` (``""`` for the single run of a job without matrix)."""
    return ",".join(f"{k}={v}" for k, v in variant.items())


def variant_slug(variant: dict[str, Any]) -> str:
    """A file-name-safe form of :func:`variant_label` (``_`` when empty)."""
    label = variant_label(variant)
    return re.sub(r"[^A-Za-z0-9=,.\-]+", "-", label) or "_"


def jobs_dir(parameters_dir: Path | None = None) -> Path:
    return (parameters_dir or config.parameters_dir()) / SPEC_DIRNAME


def resolve_notebook(path: str, root: Path | None = None) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (root or config.project_root()) / p


# -- the notebook's parameters cell -------------------------------------------------

def notebook_parameters(nb_path: Path) -> dict[str, str] | None:
    """Names declared in the cell tagged ``parameters`` -> their ``# help`` comment.

    Reads the notebook JSON and parses the cell with :mod:`ast` (no papermill import, so
    ``finlib jobs validate`` stays fast). Returns ``None`` when no cell is tagged.
    """
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and "parameters" in tags:
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            lines = src.splitlines()
            tree = ast.parse(src)
            out: dict[str, str] = {}
            for node in tree.body:
                targets: list[ast.expr] = []
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AnnAssign):
                    targets = [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            line = lines[node.lineno - 1]
                            out[n.id] = line.split("#", 1)[1].strip() if "#" in line else ""
            return out
    return None


# -- loading ------------------------------------------------------------------------

def _load_one(path: Path, root: Path) -> tuple[Job | None, list[str]]:
    rel = _display(path, root)
    problems: list[str] = []
    name = path.stem
    if not JOB_NAME_RE.match(name):
        problems.append(f"{rel}: the file name {name!r} must be lower-case letters, digits, '_' or '-'")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return None, [f"{rel}: not valid YAML: {exc}"]
    if not isinstance(raw, dict):
        return None, [f"{rel}: expected a mapping of keys (notebook, title, schedule, ...)"]
    try:
        spec = JobSpec.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(file)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown key (allowed: {', '.join(JobSpec.model_fields)})"
            elif err["type"] == "missing":
                msg = "required key is missing"
            problems.append(f"{rel}: {loc}: {msg}")
        return None, problems
    nb_path = resolve_notebook(spec.notebook, root)
    declared: dict[str, str] = {}
    if not nb_path.is_file():
        problems.append(f"{rel}: notebook: {spec.notebook} does not exist (looked at {nb_path})")
    else:
        try:
            found = notebook_parameters(nb_path)
        except (ValueError, SyntaxError) as exc:
            problems.append(f"{rel}: notebook {spec.notebook} cannot be read: {exc}")
            found = {}
        wanted = list(spec.parameters) + [k for k in spec.matrix if k not in spec.parameters]
        if found is None:
            if wanted:
                problems.append(
                    f"{rel}: notebook {spec.notebook} has no cell tagged 'parameters', "
                    f"so it cannot take {', '.join(wanted)}"
                )
            found = {}
        else:
            for key in wanted:
                if key not in found:
                    problems.append(
                        f"{rel}: parameters.{key}: the notebook {spec.notebook} does not declare "
                        f"{key!r} in its parameters cell (it declares: {', '.join(found) or 'nothing'})"
                    )
        declared = found
    if problems:
        return None, problems
    return Job(name=name, path=path, spec=spec, notebook_path=nb_path, notebook_parameters=declared), []


def load_jobs(
    names: Iterable[str] | None = None,
    parameters_dir: Path | None = None,
    root: Path | None = None,
    include_disabled: bool = True,
) -> list[Job]:
    """Load and validate job specs (all of them, or those ``names``), sorted by name.

    Raises :class:`JobSpecError` listing every problem in every file examined.
    """
    root = root or config.project_root()
    folder = jobs_dir(parameters_dir)
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    by_name = {p.stem: p for p in files}
    problems: list[str] = []
    if names is not None:
        names = list(names)
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise JobSpecError(
                f"no job named {', '.join(unknown)} in {folder} "
                f"(known: {', '.join(sorted(by_name)) or 'none'})"
            )
        files = [by_name[n] for n in names]
    jobs: list[Job] = []
    for path in files:
        job, errs = _load_one(path, root)
        problems.extend(errs)
        if job is not None and (include_disabled or job.spec.enabled):
            jobs.append(job)
    problems.extend(_order_problems(jobs, set(by_name), root))
    if problems:
        raise JobSpecError(
            f"{len(problems)} problem(s) in job specs; nothing was run:\n  " + "\n  ".join(problems),
            problems,
        )
    return sorted(jobs, key=lambda j: j.name)


def _order_problems(jobs: list[Job], known: set[str], root: Path) -> list[str]:
    """``after`` must name existing jobs and must not form a cycle."""
    problems = []
    for job in jobs:
        for dep in job.spec.after:
            if dep not in known:
                problems.append(f"{_display(job.path, root)}: after: no job named {dep!r} "
                                f"(known: {', '.join(sorted(known))})")
            elif dep == job.name:
                problems.append(f"{_display(job.path, root)}: after: a job cannot wait for itself")
    try:
        waves([j.name for j in jobs], {j.name: j.spec.after for j in jobs})
    except JobSpecError as exc:
        problems.append(str(exc))
    return problems


def waves(names: list[str], after: dict[str, list[str]]) -> list[list[str]]:
    """Group ``names`` into waves: a job runs in a later wave than every job of the batch it
    is ``after`` (jobs not in the batch impose nothing). Raises on a cycle.

    >>> waves(["a", "b", "x"], {"x": ["a", "b"], "a": [], "b": []})
    [['a', 'b'], ['x']]
    """
    todo = list(dict.fromkeys(names))
    batch = set(todo)
    done: set[str] = set()
    out: list[list[str]] = []
    while todo:
        ready = [n for n in todo if all(d in done or d not in batch for d in after.get(n, []))]
        if not ready:
            raise JobSpecError(f"job order has a cycle among: {', '.join(todo)} (check their 'after' keys)")
        out.append(ready)
        done.update(ready)
        todo = [n for n in todo if n not in done]
    return out


# -- run-time parameter resolution --------------------------------------------------

SYMBOLS = ("last_closed_month", "period", "previous_month", "current_month", "period_end", "today", "run_id")


def resolve_parameters(
    job: Job, variant: dict[str, Any], period: dt.date, run_id: str, today: dt.date | None = None
) -> dict[str, Any]:
    """The parameters papermill injects: the spec's, symbols replaced, plus the variant."""
    today = today or dt.datetime.now(dt.UTC).date()
    values = {
        "last_closed_month": period.isoformat(),
        "period": period.isoformat(),
        "previous_month": add_months(period, -1).isoformat(),
        "current_month": add_months(period, 1).isoformat(),
        "period_end": month_end(period).isoformat(),
        "today": today.isoformat(),
        "run_id": run_id,
    }
    out: dict[str, Any] = {}
    for key, value in job.spec.parameters.items():
        out[key] = values[value] if isinstance(value, str) and value in values else value
    out.update(variant)
    return out


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
