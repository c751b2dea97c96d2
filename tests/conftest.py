"""Shared fixtures: a real DuckDB file per test, a real PostgreSQL server per session."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def duckdb_url(tmp_path, monkeypatch) -> str:
    """A fresh DuckDB warehouse file, selected through FINLIB_DB_URL."""
    url = f"duckdb://{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("FINLIB_DB_URL", url)
    return url


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the whole session (Debian's postgresql)."""
    if os.environ.get("FINLIB_TEST_PG_URL"):
        yield None
        return
    from tests.pg_server import PostgresServer

    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(pg_server, monkeypatch) -> str:
    """A fresh, empty PostgreSQL database, selected through FINLIB_DB_URL."""
    if pg_server is None:
        import psycopg

        base = os.environ["FINLIB_TEST_PG_URL"]
        name = f"finlib_{uuid.uuid4().hex[:10]}"
        dsn = base.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = base.rsplit("/", 1)[0] + "/" + name
    else:
        url = pg_server.create_database(f"finlib_{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("FINLIB_DB_URL", url)
    return url


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db_url(request):
    """Parametrises a test over a real DuckDB file and a real PostgreSQL database."""
    if request.param == "duckdb":
        return request.getfixturevalue("duckdb_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium (driven by Playwright) for the whole session.

    Playwright's sync API allows one instance per thread, so every browser test shares it.
    """
    from finlib.dashboards.harness import chromium

    with chromium() as b:
        yield b
