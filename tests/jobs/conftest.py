"""A throw-away project per test module: fixture notebooks, job specs, an empty archive.

``FINLIB_HOME`` points at it, so parameters/, notebooks/ and reports/ are its own; the CLI
runs as a real subprocess (``python -m finlib``) to test exit codes and processes as
users see them. Papermill runs cost seconds each: modules share one batch of runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


class Project:
    def __init__(self, root: Path):
        self.root = root
        self.jobs = root / "parameters" / "jobs"
        self.reports = root / "reports"
        self.jobs.mkdir(parents=True)
        shutil.copytree(FIXTURES, root / "notebooks")
        self.env = {
            **os.environ,
            "FINLIB_HOME": str(root),
            "FINLIB_DB_URL": f"duckdb://{root / 'data' / 'warehouse.duckdb'}",
            "PYTHONWARNINGS": "ignore",
        }
        for k in ("FINLIB_REPORTS", "FINLIB_PARAMETERS"):
            self.env.pop(k, None)

    def job(self, name: str, yaml_text: str) -> Path:
        p = self.jobs / f"{name}.yaml"
        p.write_text(textwrap.dedent(yaml_text))
        return p

    def finlib(self, *args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "finlib", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"finlib {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "finlib", *args], cwd=self.root, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def use_env(self, mp: pytest.MonkeyPatch) -> None:
        for k in ("FINLIB_HOME", "FINLIB_DB_URL"):
            mp.setenv(k, self.env[k])
        for k in ("FINLIB_REPORTS", "FINLIB_PARAMETERS"):
            mp.delenv(k, raising=False)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    p = Project(tmp_path / "proj")
    p.use_env(monkeypatch)
    return p


@pytest.fixture(scope="module")
def module_project(tmp_path_factory) -> Project:
    p = Project(tmp_path_factory.mktemp("proj") / "proj")
    with pytest.MonkeyPatch.context() as mp:
        p.use_env(mp)
        yield p
