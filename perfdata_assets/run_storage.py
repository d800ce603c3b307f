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

from collections.abc import Mapping
from typing import Any

from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from perfdata_assets.event_log import MAX_OVERFLOW


def _storage_kwargs(inst_data, config_value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "inst_data": inst_data,
        "postgres_url": pg_url_from_config(config_value),
        "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
        "token_provider": get_token_provider_from_config(config_value),
    }


class PooledPostgresRunStorage(PostgresRunStorage):
    """dagster-postgres's run storage, its connections pooled in every process."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=MAX_OVERFLOW)

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> "PooledPostgresRunStorage":
        return cls(**_storage_kwargs(inst_data, config_value))


class PooledPostgresScheduleStorage(PostgresScheduleStorage):
    """dagster-postgres's schedule storage, its connections pooled in every process."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=MAX_OVERFLOW)

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> "PooledPostgresScheduleStorage":
        return cls(**_storage_kwargs(inst_data, config_value))
