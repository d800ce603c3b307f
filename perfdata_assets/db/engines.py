"""Engines for the two databases perfdata talks to, and how they relate.

PostgreSQL (production): perfdata's tables live in schema ``perfdata``; in the
embedded architecture that schema sits in the LPA service's own database, so
the heavy work is one ``INSERT ... SELECT`` reading the source tables directly.

SQLite (the demo and fast tests): the source tables live in the LPA file and
perfdata's tables in a second file ATTACHed as ``perfdata`` to the same
connection, so every statement is written once, with the same ``perfdata.``
prefix on both databases.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from perfdata_assets.calendar import LONDON
from perfdata_assets.config import DatabaseUrls

SCHEMA = "perfdata"

# Milliseconds. A backfill of five years is one statement of a few minutes at
# most (see bench/RESULTS.md); anything far beyond that is a fault, not work.
LOCK_TIMEOUT_MS = 10_000
SOURCE_STATEMENT_TIMEOUT_MS = 600_000
WRITE_STATEMENT_TIMEOUT_MS = 1_800_000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 600_000
# How often the server checks, during a statement, that perfdata is still there: a run
# killed mid-statement is rolled back within seconds, its locks released, instead of
# running on to the statement timeout (PostgreSQL 14+; older servers lack the setting).
CLIENT_CHECK_INTERVAL_MS = 5_000

# Connection pools stay small: a run does its work in one transaction, and a
# backfill must never exhaust the server's connections (see README). At most 4,
# all kept once opened: with overflow connections (2 + 2 before), the API under 4
# clients closed and reopened a PostgreSQL connection on most requests (bench F).
POOL_SIZE = 4
MAX_OVERFLOW = 0


@dataclass(frozen=True)
class Databases:
    """The perfdata engine (schema ``perfdata``: reads and writes), the LPA service's engine
    (read only: ``feedback`` and ``applications``), and whether one query can read both."""

    perfdata: Engine
    lpa_source: Engine
    same_database: bool

    @property
    def dialect(self) -> str:
        return self.perfdata.dialect.name


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise ValueError("an in-memory SQLite database cannot be shared between runs; give a file path")
    return Path(url.database).resolve()


def sqlite_perfdata_file(perfdata_url: URL, lpa_url: URL) -> Path:
    """The file that plays the ``perfdata`` schema on SQLite.

    SQLite cannot attach a file to a connection that already has it open, so
    when both URLs name one file the perfdata tables go in a sibling file.
    """
    path = _sqlite_path(perfdata_url)
    if lpa_url.get_backend_name() == "sqlite" and _sqlite_path(lpa_url) == path:
        path = path.with_name(f"{path.stem}-perfdata{path.suffix or '.sqlite'}")
    return path


def _london_date(value: str | None) -> str | None:
    """SQLite has no time zones: this UDF gives a UTC timestamp's London calendar day."""
    if value is None:
        return None
    ts = dt.datetime.fromisoformat(value)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.timezone.utc)
    return ts.astimezone(LONDON).date().isoformat()


def _configure_sqlite(engine: Engine, attach: Path | None) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Python's sqlite3 opens transactions lazily and never for DDL; taking
        # over BEGIN makes every perfdata write (DDL included) one transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if attach is not None:
            attach.parent.mkdir(parents=True, exist_ok=True)
            cursor.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(attach),))
        cursor.close()
        dbapi_connection.create_function("london_date", 1, _london_date, deterministic=True)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _make_engine(url: URL, *, attach: Path | None = None, read_only: bool = False) -> Engine:
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        _configure_sqlite(engine, attach)
        return engine
    # perfdata shares the live service's database: it must never queue behind
    # the service's locks (queued lock requests would stall the service's own
    # queries behind it), nor hold a transaction open, nor run without bound.
    options = {
        "lock_timeout": LOCK_TIMEOUT_MS,
        "statement_timeout": SOURCE_STATEMENT_TIMEOUT_MS if read_only else WRITE_STATEMENT_TIMEOUT_MS,
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT_MS,
    }
    if read_only:
        # The LPA database reached on its own connection: every transaction is read only.
        options["default_transaction_read_only"] = "on"
    connect_args = {
        "application_name": "perfdata",
        "options": " ".join(f"-c {name}={value}" for name, value in options.items()),
    }
    engine = sa.create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_pre_ping=True,
        connect_args=connect_args,
    )

    @sa.event.listens_for(engine, "connect")
    def _check_client(dbapi_connection, _record):  # noqa: ANN001
        if dbapi_connection.info.server_version >= 140000:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET client_connection_check_interval = {CLIENT_CHECK_INTERVAL_MS}")
            dbapi_connection.commit()

    return engine


def _same_server_database(a: URL, b: URL) -> bool:
    return (a.get_backend_name(), a.host or "", a.port or 5432, a.database) == (
        b.get_backend_name(),
        b.host or "",
        b.port or 5432,
        b.database,
    )


def databases_for(urls: DatabaseUrls) -> Databases:
    """The engines of a deployment's two (normalised, typed) database URLs."""
    return databases(urls.perfdata, urls.lpa)


@functools.lru_cache(maxsize=16)
def databases(perfdata_url: str, lpa_url: str) -> Databases:
    """Engines are cached per URL pair: one pool per process, not one per run."""
    perf, lpa = make_url(perfdata_url), make_url(lpa_url)
    if perf.get_backend_name() == "sqlite":
        attach = sqlite_perfdata_file(perf, lpa)
        if lpa.get_backend_name() == "sqlite":
            work = _make_engine(lpa, attach=attach)
            return Databases(perfdata=work, lpa_source=work, same_database=True)
        work = _make_engine(make_url("sqlite://"), attach=attach)
        return Databases(perfdata=work, lpa_source=_make_engine(lpa, read_only=True), same_database=False)
    engine = _make_engine(perf)
    if _same_server_database(perf, lpa):
        return Databases(perfdata=engine, lpa_source=engine, same_database=True)
    return Databases(perfdata=engine, lpa_source=_make_engine(lpa, read_only=True), same_database=False)


def lpa_write_engine(lpa_url: str) -> Engine:
    """A read-write engine on the LPA database, for the demo seeder and the feedback form only."""
    return _make_engine(make_url(lpa_url))
