"""statsmodels and scipy are loaded lazily: never at `import finlib` or when a models module loads."""

from tests.imports import imported_by, under


def test_importing_finlib_models_does_not_import_statsmodels_or_scipy():
    loaded = imported_by("import finlib, finlib.models.attribution, finlib.models.churn, "
                         "finlib.models.forecast, finlib.models.launch, finlib.models.satisfaction, finlib.metrics.clv")
    # lazy.load("statsmodels.api") has to import the package itself, whose __init__ only
    # reads the version; everything below it is what costs a second.
    assert under(loaded, "statsmodels") <= {"statsmodels", "statsmodels._version"}
    assert not under(loaded, "scipy")


def test_the_lazy_modules_load_on_first_use():
    loaded = imported_by("import finlib.models.churn as c; c.sm.Logit")
    assert {"statsmodels.api", "statsmodels.discrete.discrete_model"} <= loaded
