"""The derived tables derived.py recreates are the tables the migrations make, on both databases,
and every relation of the perfdata schema is either history, derived, a view or the version table."""

import pytest
import sqlalchemy as sa

from perfdata_assets.db import derived
from perfdata_assets.db.derived import DERIVED_TABLES, HISTORY_TABLES, VERSION_TABLE, VIEWS, recreate_derived_tables
from perfdata_assets.db.engines import SCHEMA
from perfdata_assets_tests.conftest import _make_backend


def shape(backend) -> dict[str, dict]:
    """Each derived table as the database describes it: columns (type, nullability), keys, indexes, checks;
    on PostgreSQL also its owner and who may read it."""
    out = {}
    with backend.dbs.perfdata.connect() as conn:
        inspector = sa.inspect(conn)
        for table in DERIVED_TABLES:
            columns = [
                (c["name"], c["type"].compile(dialect=conn.dialect), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table, schema=SCHEMA)
            ]
            out[table] = {
                "columns": columns,
                "primary_key": inspector.get_pk_constraint(table, schema=SCHEMA),
                "indexes": inspector.get_indexes(table, schema=SCHEMA),
                "checks": inspector.get_check_constraints(table, schema=SCHEMA),
                "unique": inspector.get_unique_constraints(table, schema=SCHEMA),
                "foreign_keys": inspector.get_foreign_keys(table, schema=SCHEMA),
            }
            if backend.name == "postgres":
                owner, acl = conn.execute(sa.text(
                    "SELECT pg_get_userbyid(c.relowner), c.relacl::text FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relname = :t"),
                    {"s": SCHEMA, "t": table}).one()
                out[table].update(owner=owner, acl=acl)
            else:
                out[table]["sql"] = conn.exec_driver_sql(
                    f"SELECT sql FROM {SCHEMA}.sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
    return out


def test_the_recreated_tables_are_the_migrated_tables(backend):
    migrated = shape(backend)
    assert set(migrated) == {"user_satisfaction", "completion_rate", "digital_take_up", "service_uptime",
                             "cost_per_transaction"}
    assert migrated["service_uptime"]["primary_key"]["constrained_columns"] == ["month"]
    if backend.name == "postgres":
        assert "perfdata_reader=r/" in migrated["service_uptime"]["acl"]
    with backend.dbs.perfdata.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO {SCHEMA}.completion_rate VALUES ('2024-01-01', 3, 2, 1, 66.67)")

    recreated = recreate_derived_tables(backend.dbs.perfdata)

    assert [r.describe() for r in recreated] == [
        "perfdata.user_satisfaction (0 rows dropped)", "perfdata.completion_rate (1 row dropped)",
        "perfdata.digital_take_up (0 rows dropped)", "perfdata.service_uptime (0 rows dropped)",
        "perfdata.cost_per_transaction (0 rows dropped)"]
    assert shape(backend) == migrated
    assert backend.query(f"SELECT count(*) FROM {SCHEMA}.completion_rate") == [(0,)]

    # Dropped by hand (or lost): they come back the same, grants and owner included.
    with backend.dbs.perfdata.begin() as conn:
        for table in DERIVED_TABLES:
            conn.exec_driver_sql(f"DROP TABLE {SCHEMA}.{table}")
    assert {r.rows_before for r in recreate_derived_tables(backend.dbs.perfdata)} == {None}
    assert shape(backend) == migrated


def test_every_relation_the_migrations_make_is_history_derived_a_view_or_the_version(backend):
    with backend.dbs.perfdata.connect() as conn:
        inspector = sa.inspect(conn)
        tables = set(inspector.get_table_names(schema=SCHEMA))
        views = set(inspector.get_view_names(schema=SCHEMA))
    assert tables == {*HISTORY_TABLES, *DERIVED_TABLES, VERSION_TABLE}
    assert views == set(VIEWS)
    assert not set(HISTORY_TABLES) & set(DERIVED_TABLES)
    assert [t.name for t in derived.DERIVED] == list(DERIVED_TABLES)


@pytest.mark.postgres
def test_a_table_someone_built_a_view_on_is_not_dropped_and_nothing_changes(postgres_url):
    backend = _make_backend("postgres", postgres_url, postgres_url)
    with backend.dbs.perfdata.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO {SCHEMA}.user_satisfaction VALUES ('2024-01-01', 1, 0, 0, 0, 1, 0, 100, 75)")
        conn.exec_driver_sql(f"CREATE VIEW public.satisfaction_report AS SELECT month FROM {SCHEMA}.digital_take_up")

    with pytest.raises(sa.exc.InternalError, match="depend"):
        recreate_derived_tables(backend.dbs.perfdata)

    # One transaction: user_satisfaction, dropped before the failing table, is back with its row.
    assert backend.query(f"SELECT count(*) FROM {SCHEMA}.user_satisfaction") == [(1,)]
