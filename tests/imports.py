"""What a fresh interpreter has really imported after running some code.

A module that :func:`lazy_loader.load` has only registered (``sys.modules`` holds a
placeholder that loads on first attribute use) does not count: it has cost nothing yet.
"""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import importlib.util, json, sys
{code}
print(json.dumps(sorted(name for name, mod in list(sys.modules.items())
                        if not isinstance(mod, importlib.util._LazyModule))))
"""


def imported_by(code: str) -> set[str]:
    """Names of the modules really imported (not merely registered lazily) by ``code``."""
    out = subprocess.run([sys.executable, "-c", _PROBE.format(code=code)], capture_output=True,
                         text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def under(names: set[str], *packages: str) -> set[str]:
    """The names in ``names`` that are one of ``packages`` or inside one of them."""
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in packages)}
