"""The local instance (instance.py): its event log (event_log.py) writes what Dagster's SQLite event log writes.

`perfdata demo` and `perfdata backfill` without DAGSTER_HOME record their runs in a SQLite
instance under .perfdata/. Its event log, LocalSqliteEventLogStorage, stores a batch of
asset events in one INSERT per database where Dagster's stores them one at a time. The
same single-run backfills run on two such instances, one with Dagster's event log as
shipped, and everything the UI reads is compared: each database's rows, the asset index,
the tags, the checks, the planned materialisations, each partition's status (failed
ones included). If a Dagster upgrade changes what its SQLite event log writes, this fails.
"""

import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from perfdata_assets import event_log
from perfdata_assets.instance import EVENT_BATCH_SIZE
from perfdata_assets import instance as local
from perfdata_assets.event_log import LocalSqliteEventLogStorage
from perfdata_assets.instance import LOCAL_INSTANCE_YAML, ensure_dagster_home
from perfdata_assets_tests.event_log_runs import (
    DAYS,
    KEYS,
    backfill_twice,
    first_days,
    record_single_writes,
    second_days,
)


def _rows(path: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def what_the_ui_reads(instance: dg.DagsterInstance, home: Path) -> dict:
    """Every row the run databases and the index database hold, with ids, run ids and times taken out."""
    run_ids = [r.run_id for r in reversed(instance.get_runs())]  # newest first, so reversed
    runs = {run_id: i for i, run_id in enumerate(run_ids)}
    events_sql = "SELECT run_id, dagster_event_type, asset_key, partition, step_key FROM event_logs ORDER BY id"
    databases = home / "history" / "runs"

    def events(path: Path) -> list[tuple]:
        return [(runs[r["run_id"]], r["dagster_event_type"], r["asset_key"], r["partition"], r["step_key"])
                for r in _rows(path, events_sql)]

    index = databases / "index.db"
    return {
        "run_events": [events(databases / f"{run_id}.db") for run_id in run_ids],
        "index_events": events(index),
        "assets": sorted(
            (r["asset_key"], runs[r["last_run_id"]], r["last_materialization"] is not None,
             r["last_materialization_timestamp"] is not None)
            for r in _rows(index, "SELECT asset_key, last_run_id, last_materialization, "
                                  "last_materialization_timestamp FROM asset_keys")
        ),
        # A data version is a hash over ids that differ between the two instances: its presence is compared.
        "tags": sorted((r["asset_key"], r["key"], None if "version" in r["key"] else r["value"])
                       for r in _rows(index, "SELECT asset_key, key, value FROM asset_event_tags")),
        "checks": sorted((r["check_name"], runs[r["run_id"]], r["execution_status"])
                         for r in _rows(index, "SELECT check_name, run_id, execution_status "
                                               "FROM asset_check_executions")),
        "planned": sorted((runs[r.run_id], r.partition_key)
                          for r in instance.fetch_planned_materializations(second_days.key, limit=1000).records),
        "materialized": sorted(instance.get_materialized_partitions(first_days.key)),
        "latest": instance.get_latest_materialization_event(first_days.key).dagster_event.partition,
        "status": instance.get_status_by_partition(second_days.key, KEYS, DAYS),
    }


def test_asset_events_in_one_insert_are_what_dagsters_sqlite_event_log_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)  # what `perfdata backfill` and the demo set
    seen = {}
    for name, yaml in [("shipped", "telemetry:\n  enabled: false\n"), ("batched", LOCAL_INSTANCE_YAML)]:
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            storage = instance.event_log_storage
            assert type(storage).__name__ == ("LocalSqliteEventLogStorage" if name == "batched"
                                              else "SqliteEventLogStorage")
            single_writes = record_single_writes(monkeypatch, storage)
            backfill_twice(instance)
            seen[name] = what_the_ui_reads(instance, home)
            asset_events_alone = [e for e in single_writes if e.dagster_event_type in event_log._ASSET_EVENT_TYPES]
            # Dagster hands planned events and materialisations over in batches: its SQLite event
            # log writes them one by one, perfdata's in one INSERT per database and batch.
            assert (len(asset_events_alone) > 4 * len(KEYS)) if name == "shipped" else not asset_events_alone

    assert seen["batched"]["planned"] == [(run, key) for run in (0, 1) for key in KEYS]
    assert seen["batched"]["materialized"] == sorted(KEYS)
    for part in seen["shipped"]:
        assert seen["batched"][part] == seen["shipped"][part], part


def test_a_batch_that_fails_in_the_index_leaves_no_copy_for_dagsters_retry(tmp_path, monkeypatch):
    # Dagster stores a batch again one event at a time when store_event_batch raises.
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text(LOCAL_INSTANCE_YAML)
    insert = LocalSqliteEventLogStorage._insert
    calls = []

    def failing_index_insert(connection, inserts):
        calls.append(len(calls))
        if len(calls) == 2:  # the first batch: its run database first, then the index
            raise RuntimeError("index database unavailable")
        return insert(connection, inserts)

    monkeypatch.setattr(LocalSqliteEventLogStorage, "_insert", staticmethod(failing_index_insert))
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([first_days], instance=instance, tags={
            "dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]})
        planned = instance.fetch_planned_materializations(first_days.key, limit=1000).records
        run_db = tmp_path / "history" / "runs" / f"{result.run_id}.db"
        run_planned = _rows(run_db, "SELECT partition FROM event_logs "
                                    "WHERE dagster_event_type = 'ASSET_MATERIALIZATION_PLANNED'")
    assert result.success
    assert sorted(r.partition_key for r in planned) == sorted(KEYS)
    assert sorted(r["partition"] for r in run_planned) == sorted(KEYS)


def test_the_local_instance_is_written_once_and_brought_up_to_date(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("PERFDATA_HOME", str(tmp_path))
    home = ensure_dagster_home()
    assert home == tmp_path.resolve() / "dagster_home"
    assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, LocalSqliteEventLogStorage)
        assert Path(instance.event_log_storage._base_dir) == home / "history" / "runs"

    # What an earlier perfdata wrote is replaced; a file someone edited is left as it is.
    for earlier in local._EARLIER_LOCAL_INSTANCE_YAMLS:
        (home / "dagster.yaml").write_text(earlier)
        monkeypatch.delenv("DAGSTER_HOME")
        ensure_dagster_home()
        assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    edited = LOCAL_INSTANCE_YAML + "run_monitoring:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(edited)
    monkeypatch.delenv("DAGSTER_HOME")
    ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == edited


@pytest.mark.parametrize("config", [{}, {"base_dir": "somewhere"}])
def test_the_event_log_takes_dagsters_config(tmp_path, monkeypatch, config):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    storage = LocalSqliteEventLogStorage.from_config_value(None, config)
    expected = tmp_path / config["base_dir"] if config else tmp_path / "history" / "runs"
    assert Path(storage._base_dir) == expected
