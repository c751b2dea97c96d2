"""finlib: the helper package of the financial analytics workbench.

``import finlib`` is deliberately cheap (no pandas, statsmodels or plotly at import
time): notebooks, dashboards and the CLI import only the modules they use.
"""

__version__ = "0.1.0"

from finlib.errors import FinlibError  # noqa: E402,F401
