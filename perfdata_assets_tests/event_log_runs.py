"""What test_event_log.py and test_local_instance.py both run: the same backfills on two instances.

Two daily assets and a blocking check over 60 days; a single-run backfill that fails in
the second asset, then one that succeeds. An instance's dagster.yaml on PostgreSQL names
its three storages as deploy/dagster.yaml does, the event log's class chosen by the test.
"""

import dagster as dg
import sqlalchemy as sa

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")
KEYS = DAYS.get_partition_keys()


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def first_days(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for key in context.partition_keys:
        context.add_asset_metadata({"dagster/row_count": 1}, partition_key=key)
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[first_days])
def second_days(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    if context.run.tags.get("fail"):
        raise RuntimeError("this run fails on purpose")
    return dg.MaterializeResult()


@dg.asset_check(asset=second_days, blocking=True)
def second_days_check() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def backfill_twice(instance: dg.DagsterInstance, after_each=lambda: None) -> list:
    """One single-run backfill that fails in its second asset, then one that succeeds, over every day;
    what ``after_each()`` returns after each of them."""
    assets = [first_days, second_days, second_days_check]
    every_day = {"dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]}
    failed = dg.materialize(assets, instance=instance, raise_on_error=False, tags={"fail": "yes", **every_day})
    assert not failed.success
    statuses = instance.get_status_by_partition(second_days.key, KEYS, DAYS)
    assert set(statuses.values()) == {dg.AssetPartitionStatus.FAILED}
    after_failure = after_each()
    done = dg.materialize(assets, instance=instance, tags=every_day)
    assert done.success
    return [after_failure, after_each()]


def record_single_writes(monkeypatch, storage) -> list:
    """The events ``storage`` is then asked to write one at a time (store_event), in a list."""
    written: list = []
    store_event = storage.store_event
    monkeypatch.setattr(storage, "store_event", lambda event: (written.append(event), store_event(event))[1])
    return written


def postgres_instance_yaml(url: str, event_log_module: str, event_log_class: str,
                           scheme: str = "postgresql+psycopg2") -> str:
    """dagster.yaml for an instance in the database at ``url``, its storages named as deploy/dagster.yaml does."""
    dagster_url = sa.engine.make_url(url).set(drivername=scheme).render_as_string(hide_password=False)
    config = f"{{postgres_url: '{dagster_url}'}}"
    return (
        "telemetry: {enabled: false}\n"
        f"run_storage: {{module: dagster_postgres.run_storage, class: PostgresRunStorage, config: {config}}}\n"
        f"event_log_storage: {{module: {event_log_module}, class: {event_log_class}, config: {config}}}\n"
        f"schedule_storage: {{module: dagster_postgres.schedule_storage, class: PostgresScheduleStorage, "
        f"config: {config}}}\n"
    )
