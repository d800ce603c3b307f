"""perfdata can never write to, lock or stall the live service's tables."""

import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from perfdata_assets.db import engines
from perfdata_assets.db.grants import runtime_grants
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.sources.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets_tests.conftest import _make_backend
from perfdata_assets_tests.support import london, materialize

pytestmark = pytest.mark.postgres


def test_the_separate_lpa_connection_is_read_only_with_timeouts(postgres_url, tmp_path):
    backend = _make_backend("split", lpa_url=postgres_url, perfdata_url=f"sqlite:///{tmp_path / 'p.sqlite'}")
    with backend.dbs.lpa_source.connect() as conn:
        settings = {s: conn.exec_driver_sql(f"SHOW {s}").scalar() for s in
                    ("default_transaction_read_only", "statement_timeout", "lock_timeout",
                     "client_connection_check_interval")}
        assert settings == {"default_transaction_read_only": "on", "statement_timeout": "10min", "lock_timeout": "10s",
                            "client_connection_check_interval": "5s"}
        with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
            conn.exec_driver_sql("""INSERT INTO feedback (received, message) VALUES (now(), '{}')""")
    engines.databases.cache_clear()


def test_the_embedded_connection_never_waits_long_on_the_services_locks(postgres_url):
    with engines.databases(postgres_url, postgres_url).perfdata.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "10s"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "30min"
        # A killed run's statement is noticed within seconds, not at the statement timeout
        # (reliability/test_faults.py::test_a_killed_runs_statement_ends_within_seconds).
        assert conn.exec_driver_sql("SHOW client_connection_check_interval").scalar() == "5s"
        conn.rollback()
        assert conn.exec_driver_sql("SHOW client_connection_check_interval").scalar() == "5s"


def test_with_its_grants_perfdata_runs_but_cannot_write_the_service_tables(postgres_url):
    backend = _make_backend("postgres", postgres_url, postgres_url)  # migrated by the DBA's role
    backend.source.feedback(london("2024-01-10 10:00"), "satisfied")
    backend.source.lpa(started=london("2024-01-10 10:00"))
    role = f"perfdata_run_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        for statement in runtime_grants(role):
            conn.exec_driver_sql(statement)
    url = sa.engine.make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    try:
        resource = PerfdataDatabase(lpa_database_url=url, perfdata_database_url=url)
        result = materialize([raw_feedback, lpa_lifecycle_events], SimpleNamespace(resource=resource),
                             "2024-01-01", "2024-01-31")
        assert result.success
        engine = engines.databases(url, url).perfdata
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM perfdata.raw_feedback").scalar() == 1
        for statement in ("DELETE FROM feedback", "UPDATE applications SET locked = true",
                          """INSERT INTO feedback (received, message) VALUES (now(), '{}')"""):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                with engine.begin() as conn:
                    conn.exec_driver_sql(statement)
    finally:
        engines.databases.cache_clear()
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()
