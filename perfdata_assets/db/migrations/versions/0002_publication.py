"""The publication: perfdata.published_kpis, the latest_kpis view, and a read-only role.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Downstream services read the publication, never the raw history, so on
PostgreSQL a NOLOGIN role ``perfdata_reader`` carries exactly that: the
published tables and the three KPI tables. A service's login role is granted
``perfdata_reader``; it can never see raw_feedback, lpa_lifecycle_events,
channel_counts or loaded_days. SQLite has no roles, so that part is skipped.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "perfdata"
READER = "perfdata_reader"
DATA_TYPES = (
    "user-satisfaction-percent",
    "user-satisfaction-score",
    "completion-rate-percent",
    "digital-take-up-percent",
)
# What the reader role may SELECT. Anything not listed (the raw history, the
# loaded-days ledger, Alembic's version table) stays invisible to it.
KPI_TABLES = ("user_satisfaction", "completion_rate", "digital_take_up")
READABLE = ("published_kpis", "latest_kpis", *KPI_TABLES)


def upgrade() -> None:
    op.create_table(
        "published_kpis",
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("data_type", sa.Text, nullable=False),
        sa.Column("value", sa.Numeric(8, 2), nullable=True),
        sa.Column("numerator", sa.Integer, nullable=True),
        sa.Column("denominator", sa.Integer, nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period_start", "period", "service", "data_type", name="published_kpis_pkey"),
        sa.CheckConstraint(
            "data_type IN (" + ", ".join(f"'{t}'" for t in DATA_TYPES) + ")", name="published_kpis_data_type"
        ),
        schema=S,
    )
    # One row per (service, period, data_type): the one with the latest period_start.
    # Today there is one service and one period, so that is one row per data_type.
    # On SQLite a view in the attached perfdata file may name only its own
    # file's tables, unqualified (qualified, the file cannot be opened alone).
    table = f"{S}.published_kpis" if op.get_bind().dialect.name == "postgresql" else "published_kpis"
    op.execute(
        f"""
        CREATE VIEW {S}.latest_kpis AS
        SELECT p.period_start, p.period, p.service, p.data_type, p.value,
               p.numerator, p.denominator, p.published_at
          FROM {table} p
         WHERE p.period_start = (
                SELECT max(q.period_start)
                  FROM {table} q
                 WHERE q.service = p.service AND q.period = p.period AND q.data_type = p.data_type
               )
        """
    )
    if op.get_bind().dialect.name == "postgresql":
        _grant_reader()


def _grant_reader() -> None:
    # Roles belong to the whole cluster, not this database: another database
    # (or a concurrent migration) may have created it already. The exception
    # handler covers the race between the check and the CREATE.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{READER}') THEN
                CREATE ROLE {READER} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA {S} TO {READER}")
    op.execute(f"GRANT SELECT ON {', '.join(f'{S}.{t}' for t in READABLE)} TO {READER}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Revoke this database's grants only (dropping the table and view below
        # takes theirs with them). The role itself stays: other databases on the
        # cluster may still grant it, and dropping it would strand their readers.
        kpi_tables = ", ".join(f"{S}.{t}" for t in KPI_TABLES)
        op.execute(
            f"""
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{READER}') THEN
                    REVOKE ALL ON {kpi_tables} FROM {READER};
                    REVOKE USAGE ON SCHEMA {S} FROM {READER};
                END IF;
            END
            $$
            """
        )
    op.execute(f"DROP VIEW {S}.latest_kpis")
    op.drop_table("published_kpis", schema=S)
