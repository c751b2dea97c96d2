"""Job specs are validated before anything runs (no kernels started here: fast)."""

from __future__ import annotations

import datetime as dt

import pytest

from finlib.errors import JobSpecError
from finlib.jobs.spec import load_jobs, notebook_parameters, resolve_parameters, variant_label

GOOD = """\
    notebook: notebooks/ok.ipynb
    title: Fixture report
    schedule: "0 6 2 * *"
    parameters: {period: last_closed_month, scale: 2.0}
    matrix: {department: [Sales, Marketing]}
    audience: [executives]
"""


def test_a_valid_spec_loads_with_its_matrix_variants(project):
    project.job("ok", GOOD)
    (job,) = load_jobs()
    assert job.name == "ok" and job.spec.title == "Fixture report"
    assert [variant_label(v) for v in job.variants()] == ["department=Sales", "department=Marketing"]
    assert set(job.notebook_parameters) == {"period", "department", "scale"}
    assert job.notebook_parameters["scale"] == "multiplies the figures"


def test_every_problem_in_every_file_is_reported_together_naming_the_file(project):
    project.job("ok", GOOD)
    project.job("unknown_key", """\
        notebook: notebooks/ok.ipynb
        title: x
        timeot: 5
    """)
    project.job("bad_cron", """\
        notebook: notebooks/ok.ipynb
        title: x
        schedule: "61 * * * *"
    """)
    project.job("missing_nb", """\
        notebook: notebooks/nope.ipynb
        title: x
    """)
    project.job("undeclared", """\
        notebook: notebooks/ok.ipynb
        title: x
        parameters: {period: last_closed_month, segmnt: SMB}
    """)
    with pytest.raises(JobSpecError) as err:
        load_jobs()
    msg = str(err.value)
    assert "nothing was run" in msg
    assert "unknown_key.yaml: timeot: unknown key" in msg
    assert "bad_cron.yaml: schedule:" in msg and "not a valid cron expression" in msg
    assert "missing_nb.yaml: notebook: notebooks/nope.ipynb does not exist" in msg
    assert "undeclared.yaml: parameters.segmnt" in msg and "does not declare 'segmnt'" in msg
    assert len(err.value.problems) == 4
    assert err.value.exit_code == 2


def test_a_matrix_key_must_be_a_notebook_parameter(project):
    project.job("m", """\
        notebook: notebooks/quick.ipynb
        title: x
        matrix: {department: [Sales]}
    """)
    with pytest.raises(JobSpecError, match="m.yaml: parameters.department"):
        load_jobs()


def test_validate_command_exits_2_with_the_message_and_no_traceback(project):
    project.job("bad", "notebook: notebooks/ok.ipynb\ntitle: x\nretries: many\n")
    proc = project.finlib("jobs", "validate")
    assert proc.returncode == 2
    assert "bad.yaml: retries" in proc.stderr and "Traceback" not in proc.stderr
    project.job("bad", GOOD)
    proc = project.finlib("jobs", "validate", check=True)
    assert "ok  bad" in proc.stdout


def test_run_refuses_to_start_when_a_spec_is_invalid(project):
    project.job("bad", "notebook: notebooks/ok.ipynb\ntitle: x\nschedule: nonsense\n")
    proc = project.finlib("run", "--all")
    assert proc.returncode == 2 and "not a valid cron expression" in proc.stderr
    assert not (project.reports / "bad").exists()


def test_symbolic_parameters_resolve_against_the_run_period(project):
    project.job("ok", """\
        notebook: notebooks/ok.ipynb
        title: x
        parameters: {period: last_closed_month, department: current_month, scale: 3}
    """)
    (job,) = load_jobs()
    got = resolve_parameters(job, {}, dt.date(2024, 3, 1), "RID", today=dt.date(2024, 4, 2))
    assert got == {"period": "2024-03-01", "department": "2024-04-01", "scale": 3}


def test_parameters_cell_is_read_without_running_the_notebook(project):
    names = notebook_parameters(project.root / "notebooks" / "crash.ipynb")
    assert list(names) == ["period", "marker", "kill_times"]
    assert notebook_parameters(project.root / "notebooks" / "quick.ipynb")["label"] == "any text"


def test_after_must_name_existing_jobs_and_cannot_form_a_cycle(project):
    project.job("a", GOOD + "    after: [b]\n")
    project.job("b", GOOD + "    after: [a]\n")
    project.job("c", GOOD + "    after: [nope]\n")
    with pytest.raises(JobSpecError) as err:
        load_jobs()
    text = str(err.value)
    assert "c.yaml: after: no job named 'nope'" in text
    assert "cycle" in text and "a, b" in text


def test_waves_put_a_job_after_the_jobs_it_waits_for_in_the_same_batch():
    from finlib.jobs.spec import waves

    after = {"executive": ["product_roi", "department"], "product_roi": [], "department": []}
    assert waves(["executive", "product_roi", "department", "department"], after) == [
        ["product_roi", "department"], ["executive"]]
    # a job it waits for that is not in this batch imposes nothing
    assert waves(["executive"], after) == [["executive"]]
