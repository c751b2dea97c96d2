"""A scheduler's log carries only what matters: no kernel chatter on a job run's stderr.

Two messages used to reach `finlib run`'s stderr from the kernels it starts:
``[IPKernelApp] WARNING | Kernel is running over TCP without encryption`` (TCP transport)
and ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.`` (jupyter_client sends a
SIGINT before every shutdown; landing while the kernel answers a message, it is logged).
"""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

from finlib.jobs.kernel import IPCKernelManager, choose_kernel

NOISE = ("IPKernelApp", "without encryption", "KeyboardInterrupt")


def _jobs(project, n: int) -> None:
    matrix = ", ".join(f"q{i}" for i in range(n))
    project.job("quick", f"""\
        notebook: notebooks/quick.ipynb
        title: Quick
        parameters: {{period: last_closed_month}}
        matrix: {{label: [{matrix}]}}
        retries: 0
    """)


def test_a_job_run_over_tcp_writes_no_kernel_warning_to_stderr(project):
    _jobs(project, 2)
    project.env["FINLIB_KERNEL_TRANSPORT"] = "tcp"
    proc = project.finlib("run", "quick", "--period", "2024-03", "--workers", "1", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 run(s)" in proc.stdout + proc.stderr
    for noise in NOISE:
        assert noise not in proc.stderr, proc.stderr


def test_parallel_job_runs_write_no_kernel_messages_to_stderr(project):
    _jobs(project, 4)
    proc = project.finlib("run", "quick", "--period", "2024-03", "--workers", "2", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for noise in NOISE:
        assert noise not in proc.stderr, proc.stderr


def test_shutting_a_run_kernel_down_sends_it_no_sigint_but_interrupt_still_does():
    """The deterministic half of the KeyboardInterrupt message: its cause, the SIGINT that
    jupyter_client sends before a shutdown, is gone; an explicit interrupt still works."""

    async def scenario() -> list[int]:
        km = IPCKernelManager(kernel_name=choose_kernel(None))
        await km.start_kernel()
        sent: list[int] = []
        send = km.provisioner.send_signal

        async def recording(signum: int) -> None:
            sent.append(signum)
            await send(signum)

        km.provisioner.send_signal = recording
        try:
            await km.interrupt_kernel()  # what a cell timeout would do: still a SIGINT
            assert sent == [signal.SIGINT]
            await km.shutdown_kernel()
        finally:
            if km.has_kernel:
                await km.shutdown_kernel(now=True)
        return sent

    # a thread of its own: an earlier test (Playwright's sync API) may leave a loop running here
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(asyncio.run, scenario()).result()
    assert signal.SIGINT not in sent[1:], f"shutdown sent {sent[1:]}"
