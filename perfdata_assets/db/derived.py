"""The derived tables: what perfdata can always compute again from its own history.

Derived, and so dropped and recreated by ``recreate_derived_tables`` (then filled
again by ``perfdata rebuild``): the five KPI tables, ``perfdata.user_satisfaction``,
``completion_rate``, ``digital_take_up``, ``service_uptime`` and ``cost_per_transaction``. Each row is a pure
function of the raw history and the loaded-days ledger (``kpis/sql.py``); every run
already replaces its months wholesale (delete, then insert); no other table or view
refers to them; and nothing is recorded in them that a run does not compute again.

Everything else perfdata stores is not derived, even where a run computes it:

- ``raw_feedback``, ``lpa_lifecycle_events``, ``channel_counts``, ``uptime_days``,
  ``service_costs``: the history itself (finance's file and Cost Explorer's 13 months move on). The service prunes feedback after two years and deletes LPAs,
  Sirius's API answers for recent days, CloudWatch keeps health-check metrics 15
  months: after that perfdata's copy is the only one.
- ``loaded_days``: which days each input has loaded, so which months are complete.
  It cannot be inferred from the rows (a day without feedback has none, yet is loaded).
- ``published_kpis``: copied from the KPI tables, but it is the record of what was
  published and when (``published_at``). A KPI whose month is not complete keeps what
  was published for it, and a figure published again is compared with it to record a
  restatement; recreated, it would forget both. A rebuild publishes into it (any
  different value becomes a restatement) instead of recreating it.
- ``published_kpis_restatements`` and ``publication_deliveries``: records of events
  (a value replaced, a file put in OPG's bucket). Nothing can compute them again.
- The views ``latest_kpis`` and ``published_channel_totals`` hold no rows; they read
  ``published_kpis`` and ``channel_counts``, never a KPI table, so they are left alone.
- ``alembic_version``: the schema's revision.

``HISTORY_TABLES`` + ``DERIVED_TABLES`` + ``VIEWS`` + the version table are every
relation the migrations make (``perfdata_assets_tests/db/test_derived.py`` checks it,
so a new table must be put in one of them).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from perfdata_assets.db.engines import SCHEMA
from perfdata_assets.db.migrate import require_current_schema

# The NOLOGIN role downstream services are granted (migrations 0002 and 0004).
READER = "perfdata_reader"

# Irreplaceable: back them up (docs/operations.md).
HISTORY_TABLES = (
    "raw_feedback",
    "lpa_lifecycle_events",
    "channel_counts",
    "uptime_days",
    "service_costs",
    "loaded_days",
    "published_kpis",
    "published_kpis_restatements",
    "publication_deliveries",
)
VIEWS = ("latest_kpis", "published_channel_totals")
VERSION_TABLE = "alembic_version"

# The shape migrations 0001 (the first three) and 0004 (service_uptime) leave them in.
PERCENT = sa.Numeric(8, 2)
metadata = sa.MetaData(schema=SCHEMA)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False)


user_satisfaction = sa.Table(
    "user_satisfaction",
    metadata,
    sa.Column("month", sa.Date, primary_key=True),
    _count("responses"),
    _count("very_dissatisfied"),
    _count("dissatisfied"),
    _count("neither"),
    _count("satisfied"),
    _count("very_satisfied"),
    sa.Column("satisfied_percent", PERCENT, nullable=True),
    sa.Column("score_percent", PERCENT, nullable=True),
)
completion_rate = sa.Table(
    "completion_rate",
    metadata,
    sa.Column("month", sa.Date, primary_key=True),
    _count("started"),
    _count("created"),
    _count("completed"),
    sa.Column("completion_rate_percent", PERCENT, nullable=True),
)
digital_take_up = sa.Table(
    "digital_take_up",
    metadata,
    sa.Column("month", sa.Date, primary_key=True),
    _count("digital"),
    _count("total"),
    sa.Column("take_up_percent", PERCENT, nullable=True),
)
service_uptime = sa.Table(
    "service_uptime",
    metadata,
    sa.Column("month", sa.Date, primary_key=True),
    _count("observed_minutes"),
    _count("healthy_minutes"),
    sa.Column("uptime_percent", PERCENT, nullable=True),
)

cost_per_transaction = sa.Table(
    "cost_per_transaction",
    metadata,
    sa.Column("window_end", sa.Date, primary_key=True),
    sa.Column("window_start", sa.Date, nullable=False),
    sa.Column("total_cost_gbp", sa.Numeric(14, 2), nullable=False),
    sa.Column("digital_cost_gbp", sa.Numeric(14, 2), nullable=True),
    _count("transactions"),
    _count("digital_transactions"),
    sa.Column("cost_per_transaction_gbp", PERCENT, nullable=True),
    sa.Column("digital_cost_per_transaction_gbp", PERCENT, nullable=True),
)

DERIVED = (user_satisfaction, completion_rate, digital_take_up, service_uptime, cost_per_transaction)
DERIVED_TABLES = tuple(t.name for t in DERIVED)


@dataclass(frozen=True)
class Recreated:
    """One derived table, dropped (if it was there) and created empty."""

    table: str  # schema-qualified
    rows_before: int | None  # None: the table was not there

    def describe(self) -> str:
        if self.rows_before is None:
            return f"{self.table} (was missing)"
        return f"{self.table} ({self.rows_before} row{'' if self.rows_before == 1 else 's'} dropped)"


def recreate_derived_tables(engine: sa.Engine) -> list[Recreated]:
    """Drop the derived tables (those present) and create them empty, in one transaction.

    On PostgreSQL each table keeps its owner (a table that was missing goes to the
    owner of schema ``perfdata``, as ``perfdata db grants`` arranges), and the
    ``perfdata_reader`` role, where it exists, gets back the SELECT the migrations
    gave it. A table another object depends on (someone's view) is not dropped with
    CASCADE: the transaction fails, and every table is left as it was.
    """
    require_current_schema(engine)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        present = set(sa.inspect(conn).get_table_names(schema=SCHEMA))
        before = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() if t.name in present else None
            for t in DERIVED
        }
        owners = _owners(conn) if postgres else {}
        for table in DERIVED:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {SCHEMA}.{table.name}")
        metadata.create_all(conn, tables=list(DERIVED), checkfirst=False)
        if postgres:
            _grant_and_own(conn, owners)
    return [Recreated(f"{SCHEMA}.{t.name}", before[t.name]) for t in DERIVED]


def _owners(conn: sa.Connection) -> dict[str, str]:
    """Who each derived table belongs to: its present owner, else the schema's owner."""
    schema_owner = conn.execute(
        sa.text("SELECT pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace WHERE nspname = :schema"),
        {"schema": SCHEMA},
    ).scalar_one()
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind = 'r' AND c.relname IN :names"
        ).bindparams(sa.bindparam("names", expanding=True)),
        {"schema": SCHEMA, "names": list(DERIVED_TABLES)},
    ).all()
    present = dict(rows)
    return {name: present.get(name, schema_owner) for name in DERIVED_TABLES}


def _grant_and_own(conn: sa.Connection, owners: dict[str, str]) -> None:
    # The grants first: once the tables belong to another role, this one may no longer grant.
    if conn.execute(sa.text("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :r"), {"r": READER}).first():
        conn.exec_driver_sql(f"GRANT SELECT ON {', '.join(f'{SCHEMA}.{t}' for t in DERIVED_TABLES)} TO {READER}")
    me = conn.execute(sa.text("SELECT current_user")).scalar_one()
    quote = conn.dialect.identifier_preparer.quote
    for name, owner in owners.items():
        if owner != me:
            conn.exec_driver_sql(f"ALTER TABLE {SCHEMA}.{name} OWNER TO {quote(owner)}")
