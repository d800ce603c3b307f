"""The publication table and view (migrations 0002 and 0004), and on PostgreSQL the perfdata_reader role.

The role is cluster-wide, so these tests never assume it is absent, and the
login role each test makes to connect as a reader is dropped afterwards.
"""

import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from perfdata_assets.db.migrate import MIGRATIONS, current_revision, head_revision
from perfdata_assets.publishing.published import DATA_TYPES
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets_tests.publishing.fixtures import seed_publication

postgres_only = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                        indirect=True)

READABLE = ["published_kpis", "latest_kpis", "published_kpis_restatements", "user_satisfaction", "completion_rate",
            "digital_take_up", "service_uptime", "published_channel_totals", "cost_per_transaction"]
DENIED = ["raw_feedback", "lpa_lifecycle_events", "channel_counts", "loaded_days", "uptime_days",
          "publication_deliveries", "alembic_version", "service_costs"]


def migrate(engine: sa.Engine, revision: str, downgrade: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if downgrade else command.upgrade)(config, revision)


@pytest.fixture
def reader_engine(backend):
    """An engine logged in as a throwaway role that is only a member of perfdata_reader."""
    name = f"perfdata_test_reader_{uuid.uuid4().hex[:8]}"
    with backend.dbs.perfdata.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN IN ROLE perfdata_reader")
    engine = sa.create_engine(make_url(backend.perfdata_url).set(username=name), poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()
    with backend.dbs.perfdata.begin() as conn:
        conn.exec_driver_sql(f"DROP ROLE {name}")


@postgres_only
def test_the_reader_role_sees_the_publication_and_nothing_raw(backend, reader_engine):
    seed_publication(backend)
    with reader_engine.connect() as conn:
        # Three months of the ten data types; the latest month of each.
        assert conn.execute(sa.text("SELECT count(*) FROM perfdata.published_kpis")).scalar() == 30
        assert conn.execute(sa.text("SELECT count(*) FROM perfdata.latest_kpis")).scalar() == 10
        for table in READABLE:
            conn.execute(sa.text(f"SELECT * FROM perfdata.{table}")).all()
    # PerformanceData needs nothing more than the role gives.
    reader = PerformanceData(perfdata_database_url=reader_engine.url.render_as_string(hide_password=False))
    assert [v.data_type for v in reader.latest_all()] == list(DATA_TYPES)
    assert reader.restatements() == []

    for table in [f"perfdata.{t}" for t in DENIED] + ["public.feedback", "public.applications"]:
        with reader_engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text(f"SELECT * FROM {table}")).all()
    with reader_engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        conn.execute(sa.text("DELETE FROM perfdata.published_kpis"))


@postgres_only
def test_downgrade_revokes_this_databases_grants_keeps_the_role_and_upgrade_tolerates_it(backend):
    engine = backend.dbs.perfdata

    def privileges() -> list[bool]:
        with engine.connect() as conn:
            return [
                conn.execute(sa.text("SELECT has_schema_privilege('perfdata_reader', 'perfdata', 'USAGE')")).scalar(),
                *(
                    conn.execute(
                        sa.text("SELECT has_table_privilege('perfdata_reader', :t, 'SELECT')"), {"t": f"perfdata.{t}"}
                    ).scalar()
                    for t in ("user_satisfaction", "completion_rate", "digital_take_up")
                ),
            ]

    assert privileges() == [True, True, True, True]
    migrate(engine, "0001", downgrade=True)
    assert current_revision(engine) == "0001"
    assert privileges() == [False, False, False, False]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = 'perfdata_reader'")).scalar() == 1
        assert conn.execute(sa.text("SELECT to_regclass('perfdata.published_kpis')")).scalar() is None

    migrate(engine, "head")  # the role already exists: no error
    assert current_revision(engine) == head_revision()
    assert privileges() == [True, True, True, True]


def test_downgrade_and_upgrade_round_trip(backend):
    seed_publication(backend)
    migrate(backend.dbs.perfdata, "0001", downgrade=True)
    with backend.dbs.perfdata.connect() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.execute(sa.text("SELECT * FROM perfdata.latest_kpis")).all()
    migrate(backend.dbs.perfdata, "head")
    assert backend.query("SELECT count(*) FROM perfdata.published_kpis") == [(0,)]
    # The KPI tables of 0001 were untouched by the round trip.
    assert backend.query("SELECT count(*) FROM perfdata.user_satisfaction") == [(3,)]


@pytest.mark.parametrize("data_type", ["user-satisfaction", "digital-take-up-percent"])  # the latter renamed
def test_the_table_refuses_an_unknown_data_type(backend, data_type):
    with backend.dbs.perfdata.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(
            sa.text(
                "INSERT INTO perfdata.published_kpis (period_start, period, service, data_type, published_at) "
                "VALUES ('2024-01-01', 'month', 'make-a-lpa', :data_type, '2024-02-01 00:00:00+00')"
            ),
            {"data_type": data_type},
        )


def test_0006_down_and_up_keeps_the_monthly_publication_exactly_and_drops_the_years(backend):
    import datetime as dt
    from decimal import Decimal

    from perfdata_assets.publishing import published

    seed_publication(backend)
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("INSERT INTO perfdata.cost_per_transaction VALUES "
                             "('2024-03-01', '2023-04-01', 19005.96, 14399.98, 1050, 630, 18.10, 22.86)"))
        conn.execute(sa.text(
            "INSERT INTO perfdata.published_kpis VALUES ('2023-04-01', 'year', 'make-a-lpa', 'cost-per-transaction', "
            "18.10, 19005.96, 1050, '2024-04-02 06:30:00+00')"))

    def monthly() -> list:
        with backend.dbs.perfdata.connect() as conn:
            return published.values_between(conn, dt.date(2024, 1, 1), dt.date(2024, 3, 1))

    before = monthly()
    assert before and all(isinstance(v.numerator, int) for v in before if v.numerator is not None)
    migrate(backend.dbs.perfdata, "0005", downgrade=True)
    assert backend.query("SELECT count(*) FROM perfdata.published_kpis WHERE period = 'year'") == [(0,)]
    migrate(backend.dbs.perfdata, "head")
    assert monthly() == before
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO perfdata.published_kpis VALUES ('2023-04-01', 'year', 'make-a-lpa', 'cost-per-transaction', "
            "18.10, 19005.96, 1050, '2024-04-02 06:30:00+00')"))
        [year] = published.values_between(conn, dt.date(2023, 4, 1), dt.date(2023, 4, 1), published.COST_DATA_TYPES)
    assert (year.period, year.value, year.numerator, year.denominator) == ("year", Decimal("18.10"),
                                                                           Decimal("19005.96"), 1050)
