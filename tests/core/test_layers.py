"""The data layer sits below everything: loading the warehouse modules loads no layer above."""

from tests.imports import imported_by, under


def test_the_warehouse_imports_nothing_from_the_layers_above_it():
    loaded = imported_by("import finlib.warehouse.db, finlib.warehouse.load, finlib.warehouse.create, "
                         "finlib.warehouse.status, finlib.warehouse.schema, finlib.warehouse.cli")
    above = under(loaded, "finlib.demo", "finlib.metrics", "finlib.models", "finlib.alerts", "finlib.jobs",
                  "finlib.views", "finlib.dashboards", "finlib.ingest")
    assert "finlib.warehouse.status" in loaded and not above, sorted(above)


def test_the_alerts_store_does_not_need_the_engine():
    loaded = imported_by("import finlib.alerts.store")
    assert "finlib.alerts.store" in loaded and "finlib.alerts.engine" not in loaded
