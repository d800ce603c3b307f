"""The Dagster instance the CLI records its runs in, so they show in the UI.

With DAGSTER_HOME set (production: a dagster.yaml on PostgreSQL) that instance
is used as it is. Without it, a local SQLite instance under ``.perfdata/`` is
created on first use, so `perfdata demo` needs no set-up and `dagster dev`
pointed at the same DAGSTER_HOME shows the demo's runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from sqlalchemy.engine import make_url

from perfdata_assets.config import ConfigError, perfdata_home

LOCAL_INSTANCE_YAML = """\
# Written by perfdata for local use (the demo). Production uses the
# repository's dagster.yaml on PostgreSQL.
telemetry:
  enabled: false
# Dagster's SQLite event log (same files under history/runs), writing each batch of
# asset events in one transaction per database (perfdata_assets/event_log.py).
event_log_storage:
  module: perfdata_assets.event_log
  class: LocalSqliteEventLogStorage
"""
# What earlier versions wrote: such a file is brought up to date (nothing else in it).
_EARLIER_LOCAL_INSTANCE_YAMLS = (
    """\
# Written by perfdata for local use (the demo). Production uses the
# repository's dagster.yaml on PostgreSQL.
telemetry:
  enabled: false
""",
)


def local_dagster_home() -> Path:
    return (perfdata_home() / "dagster_home").resolve()


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME, defaulting it (in this process's environment) to the local instance."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = local_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() in _EARLIER_LOCAL_INSTANCE_YAMLS:
        config.write_text(LOCAL_INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()


# Dagster's own switch: a step's materialisation events are handed to the event log
# together, up to this many, rather than each alone. More than any step's partitions
# (a century of days), so they are one transaction (event_log.py): the backfill daemon sees all of a
# step's days done or none, and starts the monthly runs once, not for each slice
# of 1,000 days as it did (bench/RESULTS.md, "Where A_ui's time goes").
EVENT_BATCH_SIZE = "100000"


@contextlib.contextmanager
def backfill_instance() -> Iterator[dg.DagsterInstance]:
    """The instance, set up for runs of thousands of partitions (`perfdata backfill`).

    A single-run backfill of five years writes an event per day and asset when the
    run is planned and another when it is materialised. By default each event is
    written alone, on a connection of its own (dagster-postgres holds none): most of
    such a backfill's time went there (bench/RESULTS.md). While the block runs:

    - DAGSTER_EVENT_BATCH_SIZE is 100,000 unless the environment sets it;
    - on PostgreSQL, the instance's storages hold a small pool of connections, as
      dagster-webserver does, with no statement timeout (the same as any run's).

    Planned events stay one per partition (DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS
    is left unset): with it, the partitions of a failed backfill would not show as failed
    in the UI. On a SQLite instance the pool changes nothing.
    """
    batch_size_was = os.environ.get("DAGSTER_EVENT_BATCH_SIZE")
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    try:
        with get_instance() as instance:
            if _postgres_storage_urls(instance):
                instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
            yield instance
    finally:
        if batch_size_was is None:
            os.environ.pop("DAGSTER_EVENT_BATCH_SIZE", None)


def _postgres_storage_urls(instance: dg.DagsterInstance) -> list[str]:
    """The instance's PostgreSQL storage URLs; refuses those dagster-postgres cannot use.

    SQLAlchemy 2.1 reads a plain ``postgresql://`` as psycopg 3, on which dagster-postgres
    fails (its NOTIFY has a bound parameter; its pooled engine closes its own connections).
    """
    storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
    urls = [url for url in (getattr(s, "postgres_url", None) for s in storages) if url]
    for url in urls:
        driver = make_url(url).get_dialect().driver
        if driver != "psycopg2":
            raise ConfigError(
                f"the Dagster instance in {os.environ.get('DAGSTER_HOME')}/dagster.yaml connects to PostgreSQL "
                f"with {driver}; dagster-postgres needs psycopg2: write the URL as postgresql+psycopg2://… "
                "(or scheme: postgresql+psycopg2 under postgres_db), as deploy/dagster.yaml does"
            )
    return urls
