"""perfdata's event log (event_log.py) writes exactly what dagster-postgres writes, in fewer statements.

Each test runs the same single-run backfills on two instances in their own
PostgreSQL databases, one with dagster-postgres's event log as shipped and one with
perfdata's subclass, and compares what the UI reads: the event log's rows, the asset
index, the planned materialisations, each partition's status (failed ones included).
If a Dagster upgrade changes what dagster-postgres writes, these fail.
"""

import dagster as dg
import dagster_postgres
import pytest
import sqlalchemy as sa

from perfdata_assets import event_log
from perfdata_assets.event_log import BatchedPostgresEventLogStorage
from perfdata_assets.instance import EVENT_BATCH_SIZE
from perfdata_assets_tests.event_log_runs import (
    DAYS,
    KEYS,
    backfill_twice,
    postgres_instance_yaml,
    record_single_writes,
    second_days,
)

pytestmark = pytest.mark.postgres

def what_the_ui_reads(instance: dg.DagsterInstance, url: str) -> dict:
    """Every row the event log and the asset index hold, with ids, run ids and times taken out."""
    runs = {r.run_id: i for i, r in enumerate(reversed(instance.get_runs()))}  # newest first, so reversed
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        events = [
            (runs[r.run_id], r.dagster_event_type, r.asset_key, r.partition, r.step_key)
            for r in conn.exec_driver_sql(
                "SELECT run_id, dagster_event_type, asset_key, partition, step_key FROM event_logs ORDER BY id")
        ]
        assets = sorted(
            (r.asset_key, runs[r.last_run_id], r.last_materialization is not None,
             r.last_materialization_timestamp is not None)
            for r in conn.exec_driver_sql(
                "SELECT asset_key, last_run_id, last_materialization, last_materialization_timestamp FROM asset_keys")
        )
        # A data version is a hash over ids that differ between the two instances: its presence is compared.
        tags = sorted((r.asset_key, r.key, None if "version" in r.key else r.value)
                      for r in conn.exec_driver_sql("SELECT asset_key, key, value FROM asset_event_tags"))
        checks = sorted(
            (r.check_name, runs[r.run_id], r.execution_status)
            for r in conn.exec_driver_sql("SELECT check_name, run_id, execution_status FROM asset_check_executions")
        )
    engine.dispose()
    planned = instance.fetch_planned_materializations(second_days.key, limit=1000).records
    return {
        "events": sorted(events, key=lambda e: (e[0], str(e[1]), str(e[2]), str(e[3]))),
        "event_order_per_run": [e[1] for e in events],
        "assets": assets,
        "tags": tags,
        "checks": checks,
        "planned": sorted((runs[r.run_id], r.partition_key) for r in planned),
        "status": instance.get_status_by_partition(second_days.key, KEYS, DAYS),
    }


@pytest.fixture
def second_postgres_url(postgres_url):
    """A second empty database beside the fixture's, dropped after the test."""
    url = sa.engine.make_url(postgres_url)
    name = f"{url.database}_b"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


# As shipped, and with a statement of 7 rows, so that each batch (60 days an asset) takes several.
@pytest.mark.parametrize("rows_per_insert", [event_log.ROWS_PER_INSERT, 7])
def test_batches_in_one_transaction_are_what_dagster_postgres_writes(
    tmp_path, postgres_url, second_postgres_url, monkeypatch, rows_per_insert
):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)  # what the image and `perfdata backfill` set
    monkeypatch.setattr(event_log, "ROWS_PER_INSERT", rows_per_insert)
    seen = {}
    for name, url, module, cls in [
        ("shipped", postgres_url, "dagster_postgres.event_log", "PostgresEventLogStorage"),
        ("batched", second_postgres_url, "perfdata_assets.event_log", "BatchedPostgresEventLogStorage"),
    ]:
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(postgres_instance_yaml(url, module, cls))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.event_log_storage).__name__ == cls
            if name == "batched":  # its connections are pooled, as dagster-webserver's are
                assert type(instance.event_log_storage._engine.pool).__name__ == "QueuePool"
            single_writes = record_single_writes(monkeypatch, instance.event_log_storage)
            seen[name] = backfill_twice(instance, lambda: what_the_ui_reads(instance, url))
            planned_alone = [e for e in single_writes
                             if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED]
            # Dagster hands the planned events over in batches: dagster-postgres writes them one
            # by one (2 runs x 2 assets x 60 days), perfdata in one INSERT per run.
            assert len(planned_alone) == (4 * len(KEYS) if name == "shipped" else 0), name

    assert seen["batched"][-1]["planned"] == [(run, key) for run in (0, 1) for key in KEYS]
    # Each run's batch of an asset's events was one transaction, however many statements.
    engine = sa.create_engine(second_postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        transactions = conn.exec_driver_sql(
            "SELECT run_id, asset_key, dagster_event_type, count(*), count(DISTINCT xmin::text) FROM event_logs "
            "WHERE dagster_event_type IN ('ASSET_MATERIALIZATION', 'ASSET_MATERIALIZATION_PLANNED') "
            "GROUP BY 1, 2, 3").all()
    engine.dispose()
    assert transactions and all(row[4] == 1 for row in transactions), transactions
    assert any(row[3] > rows_per_insert for row in transactions) or rows_per_insert > 60
    for after, (batched, shipped) in enumerate(zip(seen["batched"], seen["shipped"])):
        for part in shipped:
            assert batched[part] == shipped[part], (f"after run {after}", part)


def test_the_dagster_versions_event_log_py_was_checked_against():
    # event_log.py calls dagster-postgres's internal helpers; the test above proves they still
    # write the same rows. On an upgrade: run it, then update this pin and README's "Dagster internals".
    assert (dg.__version__, dagster_postgres.__version__) == ("1.13.27", "0.29.27")


def test_other_batches_and_single_events_go_to_dagster_postgres_unchanged():
    assert BatchedPostgresEventLogStorage.store_event is dagster_postgres.PostgresEventLogStorage.store_event
