"""Fixtures for the model tests: the synthetic warehouse (tests/models/synth.py) loaded once
per session into a real DuckDB file and a real PostgreSQL database."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.models import synth


@pytest.fixture(scope="session")
def synth_built():
    return synth.build()


@pytest.fixture(scope="session")
def synth_tables(synth_built):
    return synth_built[0]


@pytest.fixture(scope="session")
def synth_truth(synth_built):
    """TRUTH plus the campaign's expected window churn rates."""
    return synth_built[1]


@pytest.fixture(scope="session")
def synth_duckdb(tmp_path_factory, synth_tables):
    from finlib.warehouse.db import Warehouse

    wh = Warehouse.from_url(f"duckdb://{tmp_path_factory.mktemp('models') / 'synth.duckdb'}")
    synth.load(wh, synth_tables)
    return wh


@pytest.fixture(scope="session")
def synth_postgres(pg_server, synth_tables):
    from finlib.warehouse.db import Warehouse

    name = f"finlib_models_{uuid.uuid4().hex[:8]}"
    if pg_server is None:
        import psycopg

        base = os.environ["FINLIB_TEST_PG_URL"]
        with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = base.rsplit("/", 1)[0] + "/" + name
    else:
        url = pg_server.create_database(name)
    wh = Warehouse.from_url(url)
    synth.load(wh, synth_tables)
    return wh


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def synth_wh(request):
    """The synthetic warehouse on each backend (same data, same SQL)."""
    return request.getfixturevalue("synth_duckdb" if request.param == "duckdb" else "synth_postgres")
