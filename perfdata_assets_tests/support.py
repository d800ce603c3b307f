"""Helpers that write LPA-service rows the way the service does, for fixtures."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa
import uvicorn

from perfdata_assets.sources.lpa.tables import applications, feedback

LONDON = ZoneInfo("Europe/London")
UTC = dt.timezone.utc


# --- Scratch PostgreSQL databases -----------------------------------------------------


def admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def create_database(admin_url: str, template: str | None = None) -> str:
    """A new scratch database on ``admin_url``'s server, empty or a copy of the database named
    ``template`` (no one may be connected to it); returns its URL. drop_database removes it."""
    name = f"perfdata_test_{uuid.uuid4().hex[:12]}"
    engine = admin_engine(admin_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    engine.dispose()
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """Drops a database create_database made, ending any session still connected to it."""
    name = sa.engine.make_url(url).database
    engine = admin_engine(admin_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    engine.dispose()


def london(text: str) -> dt.datetime:
    """'2024-03-31 00:30' as a London wall-clock time."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=LONDON)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class SourceRows:
    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._next_id = 10_000_000_000

    def lpa(
        self,
        started: dt.datetime | None = None,
        created: dt.datetime | None = None,
        completed: dt.datetime | None = None,
        lpa_type: str = "property-and-finance",
        lpa_id: int | None = None,
        donor: str = "Ada Lovelace",
    ) -> int:
        if lpa_id is None:
            self._next_id += 1
            lpa_id = self._next_id
        updated = max([t for t in (started, created, completed) if t] or [utc("2020-01-01 00:00")])
        with self.engine.begin() as conn:
            conn.execute(
                applications.insert().values(
                    id=lpa_id,
                    user="acct-" + str(lpa_id),
                    updatedAt=updated,
                    startedAt=started,
                    createdAt=created,
                    completedAt=completed,
                    locked=completed is not None,
                    document={"type": lpa_type, "donor": {"name": donor}},
                    search=donor,
                )
            )
        return lpa_id

    def delete_lpa(self, lpa_id: int) -> None:
        """As the service deletes: every column but id and updatedAt set to NULL."""
        nulls = {c.name: None for c in applications.columns if c.name not in ("id", "updatedAt")}
        with self.engine.begin() as conn:
            conn.execute(applications.update().where(applications.c.id == lpa_id).values(**nulls))

    def update_lpa(self, lpa_id: int, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(applications.update().where(applications.c.id == lpa_id).values(**values))

    def feedback(self, received: dt.datetime, rating: object = "satisfied", **message) -> int:
        body = {"details": "It was fine", "email": "person@example.com", "phone": "07700 900123",
                "agent": "Mozilla/5.0", "fromPage": "/home"}
        body.update(message)
        if rating is not ...:
            body["rating"] = rating
        return self.raw_feedback(received, body)

    def raw_feedback(self, received: dt.datetime, message: object) -> int:
        with self.engine.begin() as conn:
            return conn.execute(feedback.insert().values(received=received, message=message)).inserted_primary_key[0]

    def prune_feedback_before(self, when: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(feedback.delete().where(feedback.c.received < when))


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags for a single-run backfill over partitions first..last (inclusive)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def materialize(assets, backend, first: str, last: str | None = None, **kwargs):
    return dg.materialize(
        assets,
        resources={"database": backend.resource, **kwargs.pop("resources", {})},
        tags=range_tags(first, last or first),
        **kwargs,
    )


@contextlib.contextmanager
def running_server(app):
    """The app behind a real uvicorn on an ephemeral loopback port, in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_for_activity(url: str, query: str, until, failure: str, timeout: float, interval: float = 0.05) -> dict | None:
    """Runs ``query`` (over pg_stat_activity) on its own connection until ``until(first row)``; returns that row."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as conn:
            while True:
                row = conn.exec_driver_sql(query).mappings().first()
                if until(row):
                    return None if row is None else dict(row)
                assert time.monotonic() < deadline, failure
                time.sleep(interval)
    finally:
        engine.dispose()
