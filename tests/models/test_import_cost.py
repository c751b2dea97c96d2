"""statsmodels is imported lazily: never at `import finlib` or when a models module loads."""

import subprocess
import sys


def test_importing_finlib_models_does_not_import_statsmodels():
    code = ("import sys, finlib, finlib.models.attribution, finlib.models.churn, "
            "finlib.models.forecast, finlib.models.launch, finlib.models.satisfaction, finlib.metrics.clv; "
            "print(any(m.startswith('statsmodels') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
