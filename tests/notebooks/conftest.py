"""A small demo warehouse for the whole session, and the notebooks executed once on it.

The warehouse is built with ``finlib.demo.generate`` (scale small, seed 42, ending
2026-10) in a temporary DuckDB file. ``FINLIB_DB_URL`` and ``FINLIB_REPORTS`` (an empty
archive) are set only while a notebook runs (papermill's kernel inherits them) or inside a
test using ``nb_env``, so other test folders never see them.
Executed notebooks are cached per (notebook, parameters): papermill costs seconds per run.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PERIOD = "2026-10"
NAMES = ("product_roi", "retention_roi", "budget_variance", "executive", "department")


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory):
    """A small demo warehouse (``.url``, ``.wh``, ``.env`` to select it, ``.reports``)."""
    from finlib.demo import generate
    from finlib.views.common import clear_cache
    from finlib.warehouse.db import get_warehouse

    base = tmp_path_factory.mktemp("nb-warehouse")
    url = f"duckdb://{base / 'warehouse.duckdb'}"
    reports = base / "reports"
    reports.mkdir()
    wh = get_warehouse(url)
    generate(wh, "small", 42, end=PERIOD)
    clear_cache()
    env = {"FINLIB_DB_URL": url, "FINLIB_REPORTS": str(reports),
           "FINLIB_DASHBOARD_LOG": str(base / "dashboards.log")}
    yield Warehouse(url, wh, env, reports)
    clear_cache()


class Warehouse:
    def __init__(self, url, wh, env, reports):
        self.url, self.wh, self.env, self.reports = url, wh, env, reports


@pytest.fixture
def nb_env(small_warehouse, monkeypatch):
    """This test sees the session's warehouse (and empty archive) through the environment."""
    from finlib.views.common import clear_cache

    for k, v in small_warehouse.env.items():
        monkeypatch.setenv(k, v)
    clear_cache()
    yield small_warehouse
    clear_cache()


class Runs:
    """Executes notebooks with papermill, once per parameter set; records timings."""

    def __init__(self, out: Path, env: dict):
        self.out = out
        self.env = env
        self.cache: dict[tuple, Path] = {}
        self.seconds: dict[tuple, float] = {}

    def run(self, name: str, **parameters) -> Path:
        import papermill as pm

        key = (name, tuple(sorted(parameters.items())))
        if key not in self.cache:
            slug = "-".join(f"{k}={v}" for k, v in sorted(parameters.items())).replace(" ", "_")
            target = self.out / f"{name}-{slug}.ipynb"
            t0 = time.perf_counter()
            with pytest.MonkeyPatch.context() as mp:  # the kernel inherits this environment
                for k, v in self.env.items():
                    mp.setenv(k, v)
                pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(target), parameters=parameters,
                                    kernel_name="finlib", progress_bar=False, cwd=str(NOTEBOOKS),
                                    execution_timeout=300)
            self.seconds[key] = time.perf_counter() - t0
            self.cache[key] = target
        return self.cache[key]


@pytest.fixture(scope="session")
def runs(small_warehouse, tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("executed"), small_warehouse.env)


def static_params(name: str) -> dict:
    p = {"period": PERIOD, "interactive": False}
    if name == "department":
        p["department"] = "Marketing"
    return p


@pytest.fixture(scope="session")
def scraps_of(runs):
    """``scraps_of(name)`` -> dict of the scraps of the notebook's static run."""
    import scrapbook as sb

    def read(name: str) -> dict:
        nb = sb.read_notebook(str(runs.run(name, **static_params(name))))
        return {k: v.data for k, v in nb.scraps.items()}

    return read
