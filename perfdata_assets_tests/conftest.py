"""Fixtures: a throwaway perfdata database on SQLite and on a real PostgreSQL.

Every test that takes ``dbs`` runs twice, once per backend. PostgreSQL tests
create their own database and drop it afterwards; they never assume a clean
server. With PERFDATA_REQUIRE_POSTGRES=1 (as .ci/run sets) an unreachable
server fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from perfdata_assets.db import engines
from perfdata_assets.db.migrate import upgrade
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.sources.lpa.tables import create_source_tables
from perfdata_assets_tests.support import SourceRows, create_database, drop_database

# moto_server and the other AWS stand-ins (perfdata_assets_tests/aws.py), for every test.
pytest_plugins = ["perfdata_assets_tests.aws"]

ADMIN_URL = os.environ.get("PERFDATA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _postgres_admin() -> sa.Engine:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        if os.environ.get("PERFDATA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (PERFDATA_REQUIRE_POSTGRES=1) but unreachable: {exc.orig}")
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}")
    return engine


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database, dropped after the test."""
    _postgres_admin().dispose()
    url = create_database(ADMIN_URL)
    yield url
    engines.databases.cache_clear()
    drop_database(ADMIN_URL, url)


class Backend:
    """One perfdata deployment under test: its URLs, engines and source-row helper."""

    def __init__(self, name: str, lpa_url: str, perfdata_url: str):
        self.name = name
        self.lpa_url = lpa_url
        self.perfdata_url = perfdata_url
        self.resource = PerfdataDatabase(lpa_database_url=lpa_url, perfdata_database_url=perfdata_url)
        self.dbs = engines.databases(perfdata_url, lpa_url)
        self.source = SourceRows(engines.lpa_write_engine(lpa_url))

    def env(self) -> dict[str, str]:
        return {"LPA_DATABASE_URL": self.lpa_url, "PERFDATA_DATABASE_URL": self.perfdata_url}

    def query(self, sql: str, **params) -> list[tuple]:
        with self.dbs.perfdata.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def _make_backend(name: str, lpa_url: str, perfdata_url: str) -> Backend:
    lpa_engine = engines.lpa_write_engine(lpa_url)
    create_source_tables(lpa_engine)
    lpa_engine.dispose()
    backend = Backend(name, lpa_url, perfdata_url)
    upgrade(backend.dbs.perfdata)
    return backend


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        b = _make_backend("sqlite", f"sqlite:///{tmp_path / 'lpa.sqlite'}", f"sqlite:///{tmp_path / 'perfdata.sqlite'}")
    else:
        url = request.getfixturevalue("postgres_url")
        b = _make_backend("postgres", url, url)
    yield b
    engines.databases.cache_clear()
