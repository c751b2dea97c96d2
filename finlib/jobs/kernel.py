"""Kernels for unattended runs: which kernel, and starting many at once safely.

The port race
-------------
With the default TCP transport, jupyter_client picks five free ports by binding port 0
and *closing* the sockets, then the kernel binds them a moment later. Two kernels started
at the same time (parallel papermill runs) can be handed the same port, and one fails with
``ZMQError: Address already in use`` (papermill#511, ipython#12372, nbconvert#1066).
:class:`IPCKernelManager` avoids ports altogether: the kernel talks over Unix domain
sockets (``transport = "ipc"``) under a fresh private folder per kernel, so no two kernels
can ever collide. Socket paths must stay short (~100 bytes), hence a short temp root.
On platforms without Unix sockets set ``FINLIB_KERNEL_TRANSPORT=tcp``; kernel starts are
then retried on failure by the runner.

A quiet log
-----------
A scheduler's log carries only what matters. Over TCP the kernel's sockets are encrypted
with CurveZMQ keys the manager provisions (``transport_encryption = "auto"``; the kernel
otherwise warns that it "is running over TCP without encryption"). Shutting a finished
run's kernel down sends it no SIGINT first (jupyter_client's default, which logs
"KeyboardInterrupt caught in kernel." when it lands while the kernel answers a message); a
kernel that does not stop is still terminated, then killed, after ``shutdown_wait_time``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache

import zmq
from jupyter_client.kernelspec import find_kernel_specs
from jupyter_client.manager import AsyncKernelManager

DEFAULT_KERNEL = "finlib"
FALLBACK_KERNEL = "python3"


def transport() -> str:
    return os.environ.get("FINLIB_KERNEL_TRANSPORT", "ipc" if os.name == "posix" else "tcp")


class IPCKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel listens on private Unix sockets."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._ipc_dir: str | None = None
        if transport() == "ipc":
            root = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
            self._ipc_dir = tempfile.mkdtemp(prefix="fk-", dir=root)
            os.chmod(self._ipc_dir, 0o700)
            self.transport = "ipc"
            self.ip = os.path.join(self._ipc_dir, "k")
        elif zmq.has("curve"):  # TCP: encrypted when the kernelspec supports it (see "A quiet log")
            self.transport_encryption = "auto"

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:  # no SIGINT before a shutdown (see "A quiet log" above)
            return
        await super()._async_interrupt_kernel()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:  # shutdown_kernel calls it
        await super()._async_cleanup_resources(restart=restart)
        if self._ipc_dir and not restart:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def __del__(self):  # the kernel is gone by now; remove the socket folder
        if getattr(self, "_ipc_dir", None):
            shutil.rmtree(self._ipc_dir, ignore_errors=True)


@lru_cache(maxsize=1)
def installed_kernels() -> frozenset[str]:
    return frozenset(find_kernel_specs())


def choose_kernel(notebook_kernel: str | None, override: str | None = None) -> str:
    """The kernel to run: the spec's ``kernel``, else the notebook's if installed, else
    ``finlib`` (registered by ``make setup``) if installed, else ``python3``."""
    if override:
        return override
    kernels = installed_kernels()
    if notebook_kernel and notebook_kernel in kernels:
        return notebook_kernel
    return DEFAULT_KERNEL if DEFAULT_KERNEL in kernels else FALLBACK_KERNEL
