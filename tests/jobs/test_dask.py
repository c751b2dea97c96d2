"""`--executor dask` against a real local cluster of two worker processes."""

from __future__ import annotations

import pytest

from finlib.jobs import archive


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as c:
        yield c


def test_dask_executor_runs_and_archives_on_two_worker_processes(project, cluster):
    project.job("q1", "notebook: notebooks/quick.ipynb\ntitle: Q1\nparameters: {period: last_closed_month, label: one}\n")
    project.job("q2", "notebook: notebooks/quick.ipynb\ntitle: Q2\nparameters: {period: last_closed_month, label: two}\n")
    project.job("f", "notebook: notebooks/fail.ipynb\ntitle: F\n")
    proc = project.finlib("run", "--all", "--period", "2024-05", "--executor", "dask",
                          "--address", cluster.scheduler_address)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # `f` fails, the others complete
    found = {job: archive.read_manifest(path) for job, _, _, path in archive.iter_run_dirs(project.reports)}
    assert set(found) == {"q1", "q2", "f"}
    assert found["q1"]["status"] == found["q2"]["status"] == "succeeded"
    assert found["f"]["status"] == "failed"
    assert found["q2"]["parameters"] == {"period": "2024-05-01", "label": "two"}
    assert (project.reports / "index.html").exists()


def test_dask_executor_needs_an_address(project):
    project.job("q1", "notebook: notebooks/quick.ipynb\ntitle: Q1\n")
    proc = project.finlib("run", "q1", "--executor", "dask")
    assert proc.returncode != 0 and "--address" in proc.stderr
