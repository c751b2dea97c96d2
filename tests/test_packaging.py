"""The project's packaging promises: pyproject.toml and environment.yml agree, and the
top-level layout the project card asks for exists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from tests.imports import imported_by, under

ROOT = Path(__file__).resolve().parent.parent

# conda-forge names that differ from PyPI's
CONDA_NAME = {"psycopg[binary]": "psycopg", "dask[distributed]": "dask"}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", req)
    assert m, req
    name, spec = m.group(1), m.group(2).replace(" ", "")
    return CONDA_NAME.get(name, name).lower().replace("_", "-"), spec


def _pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"]) + list(data["project"]["optional-dependencies"]["test"])
    return dict(_split(r) for r in reqs)


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and not dep.startswith("python="):
            name, spec = _split(dep)
            out[name] = spec
    return out


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    py = _pyproject_requirements()
    env = _environment_requirements()
    env.pop("distributed", None)  # conda-forge splits dask[distributed] into two packages
    assert set(py) == set(env), f"only in pyproject: {set(py) - set(env)}; only in environment.yml: {set(env) - set(py)}"
    drift = {name: (py[name], env[name]) for name in py if py[name] != env[name]}
    assert not drift, f"version ranges differ (pyproject, environment.yml): {drift}"


def test_environment_yml_pins_python_311_from_conda_forge():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]


def test_security_floors_are_kept():
    py = _pyproject_requirements()
    assert ">=7.17.1" in py["nbconvert"]
    assert ">=2.20.0" in py["jupyter-server"]
    assert ">=0.5.6" in py["voila"]


def test_top_level_layout_exists():
    for name in ["notebooks", "finlib", "parameters", "reports", "tests", "bench",
                 "environment.yml", "Makefile", "README.md", "pyproject.toml", ".ci/run"]:
        assert (ROOT / name).exists(), name
    gitignore = (ROOT / ".gitignore").read_text()
    assert "data/*" in gitignore and "reports/*" in gitignore


def test_makefile_has_every_documented_target():
    text = (ROOT / "Makefile").read_text()
    for target in ["run", "test", "lab", "dashboards", "schedule", "bench", "clean"]:
        assert re.search(rf"^{target}:", text, re.M), target


def test_import_finlib_is_cheap():
    loaded = imported_by("import finlib, finlib.cli, finlib.warehouse.db")
    heavy = under(loaded, "pandas", "statsmodels", "scipy", "plotly", "papermill", "scrapbook", "nbconvert",
                  "pyarrow", "duckdb", "psycopg")
    assert not heavy, f"import finlib pulled in heavy modules: {sorted(heavy)[:10]}"


def test_every_command_has_its_own_summary_in_the_help_listing():
    import importlib

    from finlib.cli import COMMANDS, SUMMARIES

    assert set(SUMMARIES) == set(COMMANDS)
    for name, ref in COMMANDS.items():
        module, attr = ref.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert SUMMARIES[name] == command.get_short_help_str(limit=70), name


def test_finlib_help_loads_no_heavy_module():
    # --help imports every command's module to list it: each must stay light
    loaded = imported_by("from finlib.cli import main\nmain(['--help'])")
    heavy = under(loaded, "pandas", "numpy", "statsmodels", "scipy", "plotly", "papermill", "nbformat",
                  "scrapbook", "nbconvert", "pyarrow", "duckdb", "psycopg", "jupyter_client")
    assert not heavy, f"`finlib --help` imported {sorted(heavy)[:10]}"
