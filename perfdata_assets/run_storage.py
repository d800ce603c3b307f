"""Dagster's run and schedule storages on PostgreSQL, keeping their connections open.

dagster-postgres's run and schedule storages open a new PostgreSQL connection for
every query, except in dagster-webserver, which asks them to hold one
(``optimize_for_webserver``). A scheduled run's process makes about 70 such
queries (the run, its tags, its status, the concurrency settings): 0.2-0.3 s of
bench step E's 2.7 s went to connecting. These subclasses hold a small pool in
every process, as perfdata's event log already does (event_log.py), with no
statement timeout (dagster-postgres's default). The rows are dagster-postgres's own:
only the connections differ. Configured through Dagster's own extension points
(``run_storage`` and ``schedule_storage`` in deploy/dagster.yaml); written against
dagster-postgres 0.29.27 (README, "Dagster internals").
"""

from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage

from perfdata_assets.event_log import PooledConnections


class PooledPostgresRunStorage(PooledConnections, PostgresRunStorage):
    """dagster-postgres's run storage, its connections pooled in every process."""


class PooledPostgresScheduleStorage(PooledConnections, PostgresScheduleStorage):
    """dagster-postgres's schedule storage, its connections pooled in every process."""
