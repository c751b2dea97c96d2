"""``python -m finlib.dashboards serve [--port PORT] [--ip IP] [--notebooks DIR]``."""

from __future__ import annotations

import sys

from finlib.dashboards.cli import main

if __name__ == "__main__":
    sys.exit(main())
