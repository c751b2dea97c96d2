"""Running the real ``finlib`` command in a subprocess with a controlled environment."""

from __future__ import annotations

import os
import subprocess
import sys


def finlib(*args: str, env: dict | None = None, input: str | None = None, timeout: float = 300):
    """Run ``python -m finlib ARGS`` with the current environment plus ``env`` (a value of
    None removes the variable). Returns the CompletedProcess (text)."""
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run([sys.executable, "-m", "finlib", *args], env=e, capture_output=True,
                          text=True, input=input, timeout=timeout)
