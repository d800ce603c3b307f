"""The PostgreSQL database `perfdata demo --database-url` seeds, and the marks that make it the demo's.

The demo writes the service's two tables (``applications``, ``feedback``) and the
``perfdata`` schema. In a database that holds real ones that would destroy the
service's data or the published figures, so the demo claims a database only where
each of the three is absent or carries the demo's mark (a COMMENT it writes when it
creates them), and then replaces only what it made itself: the same as deleting the
SQLite demo's files, so a second run starts from nothing and prints the same figures.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from perfdata_assets.config import ConfigError, normalise_url
from perfdata_assets.db.engines import SCHEMA
from perfdata_assets.sources.lpa.tables import metadata as source_metadata

OPTION = "--database-url"
DEMO_MARK = "perfdata demo: synthetic data, replaced by the next `perfdata demo --database-url` run"
SOURCE_TABLES = ("applications", "feedback")
CONNECT_TIMEOUT_S = 10

# What of the demo's is in the database already, each with its comment. to_regclass follows
# the search_path, as the demo's CREATE TABLE and perfdata's source queries do.
_EXISTING = sa.text(
    "SELECT 'table ' || c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
    "WHERE c.oid IN (to_regclass('applications'), to_regclass('feedback')) "
    "UNION ALL "
    "SELECT 'schema ' || n.nspname, obj_description(n.oid, 'pg_namespace') FROM pg_namespace n "
    f"WHERE n.nspname = '{SCHEMA}' ORDER BY 1"
)


def demo_database_url(value: str) -> str:
    """The option's URL, normalised (``postgresql://`` means psycopg 3); one line naming the option if wrong."""
    example = "e.g. postgresql://postgres@127.0.0.1/perfdata_demo"
    if not value.strip():
        raise ConfigError(f"{OPTION} is empty: give a PostgreSQL URL, {example}")
    try:
        backend = make_url(value.strip()).get_backend_name()
    except ArgumentError:
        backend = None  # normalise_url says what is wrong
    if backend is not None and backend != "postgresql":
        raise ConfigError(f"{OPTION} uses '{backend}': give a PostgreSQL URL, {example} "
                          "(without the option the demo uses its embedded SQLite files)")
    url = normalise_url(OPTION, value)
    parsed = make_url(url)
    if not parsed.database:
        raise ConfigError(f"{OPTION} names no database: give one, {example}")
    return url


def describe(url: str) -> str:
    """The database for messages: no password."""
    return make_url(url).render_as_string(hide_password=True)


def claim_demo_database(url: str) -> None:
    """Refuse a database holding anything of the service's or perfdata's not made by the demo; else
    drop what an earlier demo made and create the two source tables and the schema, marked, afresh.

    One transaction: a refused or unreachable database is left exactly as it was.
    """
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    name = make_url(url).database
    try:
        with engine.begin() as conn:
            existing = conn.execute(_EXISTING).all()
            foreign = [what for what, comment in existing if comment != DEMO_MARK]
            if foreign:
                raise ConfigError(
                    f"{OPTION}: database {name} already holds {', '.join(foreign)}, which perfdata demo did not "
                    "make: the demo never replaces the service's or perfdata's tables; give it an empty database "
                    "(e.g. createdb perfdata_demo)"
                )
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {', '.join(SOURCE_TABLES)}")
            source_metadata.create_all(conn)
            conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
            # COMMENT takes no bound parameters: the mark is a constant, quoted as a literal.
            mark = "'" + DEMO_MARK.replace("'", "''") + "'"
            for target in (*(f"TABLE {t}" for t in SOURCE_TABLES), f"SCHEMA {SCHEMA}"):
                conn.exec_driver_sql(f"COMMENT ON {target} IS {mark}")
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        hint = f" (create it first: createdb {name})" if f'database "{name}" does not exist' in reason else ""
        raise ConfigError(f"{OPTION}: cannot connect to {describe(url)}: {reason}{hint}") from None
    except sa.exc.DBAPIError as exc:  # e.g. a role that may not create tables there
        reason = str(exc.orig).strip().splitlines()[0]
        raise ConfigError(f"{OPTION}: cannot create the demo's tables in {describe(url)}: {reason}") from None
    finally:
        engine.dispose()
