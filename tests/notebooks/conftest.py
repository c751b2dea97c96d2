"""A small demo warehouse for the whole session, and the notebooks executed once on it.

The warehouse is built with ``finlib.demo.generate`` (scale small, seed 42, ending
2026-10) in a temporary DuckDB file. ``FINLIB_DB_URL`` and ``FINLIB_REPORTS`` (an empty
archive) are set in this process's environment, which papermill's kernels inherit.
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
    """``(url, wh)`` of a small demo warehouse, selected through the environment."""
    from finlib.demo import generate
    from finlib.views.common import clear_cache
    from finlib.warehouse.db import get_warehouse

    base = tmp_path_factory.mktemp("nb-warehouse")
    url = f"duckdb://{base / 'warehouse.duckdb'}"
    reports = base / "reports"
    reports.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FINLIB_DB_URL", url)
        mp.setenv("FINLIB_REPORTS", str(reports))
        mp.setenv("FINLIB_DASHBOARD_LOG", str(base / "dashboards.log"))
        wh = get_warehouse(url)
        generate(wh, "small", 42, end=PERIOD)
        clear_cache()
        yield url, wh
        clear_cache()


class Runs:
    """Executes notebooks with papermill, once per parameter set; records timings."""

    def __init__(self, out: Path):
        self.out = out
        self.cache: dict[tuple, Path] = {}
        self.seconds: dict[tuple, float] = {}

    def run(self, name: str, **parameters) -> Path:
        import papermill as pm

        key = (name, tuple(sorted(parameters.items())))
        if key not in self.cache:
            slug = "-".join(f"{k}={v}" for k, v in sorted(parameters.items())).replace(" ", "_")
            target = self.out / f"{name}-{slug}.ipynb"
            t0 = time.perf_counter()
            pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(target), parameters=parameters,
                                kernel_name="finlib", progress_bar=False, cwd=str(NOTEBOOKS),
                                execution_timeout=300)
            self.seconds[key] = time.perf_counter() - t0
            self.cache[key] = target
        return self.cache[key]


@pytest.fixture(scope="session")
def runs(small_warehouse, tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("executed"))


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
