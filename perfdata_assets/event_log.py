"""Dagster's event logs (PostgreSQL in production, SQLite for the demo), writing batches in one go.

When a run is created, Dagster writes an ASSET_MATERIALIZATION_PLANNED event for
every partition of every asset it will materialise: a single-run backfill of five
years writes about 5,500 (bench/RESULTS.md). Dagster hands them to the event log in
batches (DAGSTER_EVENT_BATCH_SIZE), but dagster-postgres writes a batch of planned
events one event at a time: an INSERT, a NOTIFY and an asset-index update each, on
its own connection. That was the largest part of `perfdata backfill`'s own cost
beyond its SQL.

This storage writes such a batch as dagster-postgres writes a batch of
materialisations: multi-row INSERTs of the same rows, then the asset-index update for
the last planned event of each asset (the value each asset's row would have ended
with, one event at a time). The per-partition planned events themselves are all kept,
so a failed backfill's partitions still show as failed in the UI.

A batch of materialisations (a step's, all its partitions: the image sets
DAGSTER_EVENT_BATCH_SIZE above any step's) gets the same rows as dagster-postgres
writes, but each batch, planned or materialised, is one transaction of INSERTs of
ROWS_PER_INSERT rows: the backfill daemon sees all of a step's days done or none,
so it asks for the monthly KPIs once rather than once per slice, and the statement
being built stays the same size however long the history. Every other event and
batch goes to dagster-postgres unchanged.

It also keeps its connections open in a small pool, as dagster-postgres does for
dagster-webserver: by default each event is written on a new connection, which was
a tenth of a nightly run's time.

It is Dagster's own extension point (``event_log_storage`` in dagster.yaml, see
deploy/dagster.yaml), but it calls dagster-postgres's internal helpers; it is written
against dagster 1.13.27 / dagster-postgres 0.29.27 (README, "Dagster internals"), and
perfdata_assets_tests/test_event_log.py fails if what it writes stops being what
dagster-postgres writes one event at a time.
"""

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

PLANNED = dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
MATERIALIZATION = dg.DagsterEventType.ASSET_MATERIALIZATION
# Rows per INSERT statement. A batch (a run's planned events, a step's materialisations: all of
# them, DAGSTER_EVENT_BATCH_SIZE being larger than any step's partitions) is written in
# statements of this many, in one transaction: the daemon sees all of it or none, and the
# statement being built stays the same size whatever the history's length.
ROWS_PER_INSERT = 1000
# Connections opened beyond the one kept open, and closed again when returned: the daemon's
# threads (schedules, sensors, the run queue, monitoring) can each be writing at once, and
# a pool that ran out would make one wait (dagster-postgres's own engine has no limit).
MAX_OVERFLOW = 10


class PooledConnections:
    """Mixin for a dagster-postgres storage: its connections kept in a small pool in every process.

    One open connection (and more under load) instead of a new one for every event or
    query: dagster-postgres's own setting for dagster-webserver, the same here for every
    run and the daemon. No statement timeout, as with dagster-postgres's default engine.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=MAX_OVERFLOW)

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]):
        # dagster-postgres's own builds its base class by name; this builds the subclass.
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


class BatchedPostgresEventLogStorage(PooledConnections, PostgresEventLogStorage):
    """dagster-postgres's event log, a batch of planned events or materialisations in one transaction."""

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        # In order: each stretch of consecutive planned materialisations, and each stretch of
        # materialisations, in one transaction; anything else (a check's planned evaluation, an
        # observation) as dagster-postgres writes it.
        for kind, stretch in itertools.groupby(events, key=_batched_kind):
            stretch = list(stretch)
            if kind is not None and len(stretch) > 1:
                self._store_asset_events(stretch, kind)
            else:
                super().store_event_batch(stretch)

    def _store_asset_events(self, events: list[dg.EventLogEntry], kind: dg.DagsterEventType) -> None:
        """The rows dagster-postgres writes for such a batch, all in one transaction.

        dagster-postgres inserts a materialisation batch in one statement and commits it
        before the asset index; planned events it writes one at a time. Here both are
        inserted ROWS_PER_INSERT at a time and committed together with their tags and the
        asset index: a backfill daemon reading between two statements sees nothing yet.
        No NOTIFY, as in dagster-postgres's own batch path (nothing listens since 1.x).
        """
        with self.index_transaction() as conn:
            event_ids: list[int] = []
            for start in range(0, len(events), ROWS_PER_INSERT):
                insert = self.prepare_insert_event_batch(events[start:start + ROWS_PER_INSERT])
                event_ids += [int(row[0]) for row in conn.execute(insert.returning(SqlEventLogStorageTable.c.id))]
            self._store_asset_event_tags(conn, events, event_ids)
            if kind == PLANNED:
                # The value each asset's index row would have ended with, one event at a time.
                last_of_asset: dict[dg.AssetKey, tuple[dg.EventLogEntry, int]] = {}
                for event, event_id in zip(events, event_ids):
                    last_of_asset[event.get_dagster_event().asset_key] = (event, event_id)
                for event, event_id in last_of_asset.values():
                    self._store_asset_event(conn, event, event_id)
            else:
                # As dagster-postgres's batch path: the index takes the batch's last event.
                self._store_asset_event(conn, events[-1], event_ids[-1])


def _batched_kind(event: dg.EventLogEntry) -> dg.DagsterEventType | None:
    """PLANNED or MATERIALIZATION for the events written here in one transaction, else None."""
    if event.is_dagster_event and event.dagster_event_type in (PLANNED, MATERIALIZATION):
        return event.dagster_event_type
    return None


# The asset events Dagster hands to store_event_batch that the SQLite event log stores
# alike: the row in the run's database, its copy in the index database, the asset's tags
# and its row in asset_keys. Anything else is stored one event at a time, as Dagster does.
_ASSET_EVENT_TYPES = frozenset({
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_OBSERVATION,
    dg.DagsterEventType.ASSET_FAILED_TO_MATERIALIZE,
})


def _is_asset_event(event: dg.EventLogEntry) -> bool:
    return event.is_dagster_event and event.dagster_event_type in _ASSET_EVENT_TYPES


# Rows per INSERT: well under SQLite's 32,766 bound parameters (7 a row).
_ROWS_PER_INSERT = 500


class LocalSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (the same databases and rows), for the local instance.

    Dagster's own stores a batch of events (DAGSTER_EVENT_BATCH_SIZE) one at a time,
    each on two new connections and in two transactions: the run's database and the index
    database. A one-run backfill of a year writes two such events per day and asset (planned,
    then materialised): 3,000 for the demo, three quarters of its time. This one writes a
    batch's asset events in one INSERT per database and transaction, then their tags and each
    asset's latest state, with the storage's own public methods; other events go to
    store_event. The rows are the ones store_event writes (test_local_instance.py compares them).
    """

    def __init__(self, base_dir: str | None = None, inst_data=None):
        # Where Dagster's own SQLite storage keeps them: DAGSTER_HOME/history/runs.
        super().__init__(base_dir or os.path.join(os.environ["DAGSTER_HOME"], "history", "runs"), inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence) -> None:
        # In order: each stretch of consecutive asset events in one go, anything else alone.
        for asset_events, stretch in itertools.groupby(events, key=_is_asset_event):
            if asset_events:
                self._store_asset_events(list(stretch))
            else:
                for event in stretch:
                    self.store_event(event)

    def _store_asset_events(self, events: list) -> None:
        by_run: dict[str, list] = {}
        for event in events:
            by_run.setdefault(event.run_id, []).append(event)
        for run_id, run_events in by_run.items():
            self._store_run_asset_events(run_id, run_events)

    def _store_run_asset_events(self, run_id: str, events: list) -> None:
        inserts = [self.prepare_insert_event_batch(events[i:i + _ROWS_PER_INSERT])
                   for i in range(0, len(events), _ROWS_PER_INSERT)]
        run_event_ids = self._insert(self.run_connection(run_id), inserts)
        try:
            event_ids = self._insert(self.index_transaction(), inserts)
            if len(event_ids) != len(events):  # pragma: no cover (RETURNING gives one id a row)
                raise RuntimeError(f"{len(events)} events stored, {len(event_ids)} ids returned")
        except Exception:
            # Dagster then stores the batch one event at a time: no copy may stay behind.
            table = inserts[0].table
            with self.run_connection(run_id) as conn:
                conn.execute(table.delete().where(table.c.id.in_(run_event_ids)))
            raise
        self.store_asset_event_tags(events, event_ids)
        # asset_keys holds each asset's latest event of each type: storing only the last
        # one of each (asset, type) leaves the row as storing all of them in turn would.
        latest = {(e.dagster_event.asset_key, e.dagster_event_type): i for i, e in enumerate(events)}
        for i in sorted(latest.values()):
            self.store_asset_event(events[i], event_ids[i])

    @staticmethod
    def _insert(connection, inserts: list) -> list[int]:
        """Run the INSERTs in one transaction (`connection` begins it); the rows' ids, in order."""
        event_ids: list[int] = []
        with connection as conn:
            for insert in inserts:
                # SQLite numbers the rows in VALUES order: sorted, the ids line up with the rows.
                ids = sorted(row[0] for row in conn.execute(insert.returning(insert.table.c.id)))
                event_ids.extend(ids)
        return event_ids
