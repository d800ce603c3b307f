"""Cost per transaction: the service's monthly costs, the quarterly KPI, and its publication.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

- ``service_costs`` (service-costs.md): each month's cost lines in pounds, from the
  finance CSV and Cost Explorer; raw history, merged, never pruned.
- ``cost_per_transaction`` (kpis.md section 6): one row per quarter end, over the twelve
  months ending with it.
- ``published_kpis`` takes ``cost-per-transaction`` and ``digital-cost-per-transaction``
  (period ``year``), whose numerator is an amount in pounds: ``numerator`` (and the
  restatements' numerators) become ``numeric``, unconstrained so that the counts already
  there read back exactly as they were (``12``, not ``12.00``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

S = "perfdata"
TS = sa.DateTime(timezone=True)
PERCENT = sa.Numeric(8, 2)
READER = "perfdata_reader"
GBP = sa.Numeric(14, 2)

OLD_DATA_TYPES = (
    "user-satisfaction-percent", "very-dissatisfied", "dissatisfied", "neither", "satisfied", "very-satisfied",
    "uptime-percent", "digital-take-up", "completion-rate-percent", "user-satisfaction-score",
)
DATA_TYPES = (*OLD_DATA_TYPES, "cost-per-transaction", "digital-cost-per-transaction")

LATEST_VIEW = """
SELECT p.period_start, p.period, p.service, p.data_type, p.value,
       p.numerator, p.denominator, p.published_at
  FROM {t} p
  JOIN (SELECT service, period, data_type, max(period_start) AS period_start
          FROM {t} GROUP BY service, period, data_type) l
    ON l.service = p.service AND l.period = p.period
   AND l.data_type = p.data_type AND l.period_start = p.period_start
"""
CHANNEL_TOTALS_VIEW = """
SELECT p.period_start AS month, c.channel, sum(c."count") AS total
  FROM {published} p
  JOIN {counts} c ON c.day >= p.period_start AND c.day < {month_end}
 WHERE p.data_type = 'digital-take-up' AND p.period = 'month' AND p.service = 'make-a-lpa'
 GROUP BY p.period_start, c.channel
"""
PUBLISHED_COLUMNS = "period_start, period, service, data_type, value, numerator, denominator, published_at"


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _check(data_types: tuple[str, ...]) -> str:
    return "data_type IN (" + ", ".join(f"'{t}'" for t in data_types) + ")"


def _published_table(name: str, data_types: tuple[str, ...], numerator: sa.types.TypeEngine) -> None:
    op.create_table(
        name,
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("data_type", sa.Text, nullable=False),
        sa.Column("value", PERCENT, nullable=True),
        sa.Column("numerator", numerator, nullable=True),
        sa.Column("denominator", sa.Integer, nullable=True),
        sa.Column("published_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("period_start", "period", "service", "data_type", name=f"{name}_pkey"),
        sa.CheckConstraint(_check(data_types), name="published_kpis_data_type"),
        schema=S,
    )


def _change_publication(data_types: tuple[str, ...], numerator: sa.types.TypeEngine, numerator_sql: str) -> None:
    if _postgres():
        # The view reads numerator, so it goes while the column's type changes (and its grant with it).
        op.execute(f"DROP VIEW {S}.latest_kpis")
        op.execute(f"ALTER TABLE {S}.published_kpis DROP CONSTRAINT published_kpis_data_type")
        op.execute(f"DELETE FROM {S}.published_kpis WHERE NOT ({_check(data_types)})")
        op.execute(f"DELETE FROM {S}.published_kpis_restatements WHERE NOT ({_check(data_types)})")
        op.execute(f"ALTER TABLE {S}.published_kpis ADD CONSTRAINT published_kpis_data_type CHECK ({_check(data_types)})")
        op.execute(f"ALTER TABLE {S}.published_kpis ALTER COLUMN numerator TYPE {numerator_sql.format(c='numerator')}")
        for column in ("old_numerator", "new_numerator"):
            op.execute(f"ALTER TABLE {S}.published_kpis_restatements ALTER COLUMN {column} TYPE {numerator_sql.format(c=column)}")
        op.execute(f"CREATE VIEW {S}.latest_kpis AS {LATEST_VIEW.format(t=f'{S}.published_kpis')}")
        op.execute(f"GRANT SELECT ON {S}.latest_kpis TO {READER}")
        return
    # SQLite cannot alter a CHECK constraint: rebuild the table and the two views that read it.
    # (Its INTEGER restatement columns keep an amount in pounds as it is: SQLite converts only losslessly.)
    op.execute(f"DROP VIEW {S}.latest_kpis")
    op.execute(f"DROP VIEW {S}.published_channel_totals")
    _published_table("published_kpis_rebuilt", data_types, numerator)
    op.execute(
        f"INSERT INTO {S}.published_kpis_rebuilt ({PUBLISHED_COLUMNS}) SELECT {PUBLISHED_COLUMNS} "
        f"FROM {S}.published_kpis WHERE {_check(data_types)}"
    )
    op.execute(f"DELETE FROM {S}.published_kpis_restatements WHERE NOT ({_check(data_types)})")
    op.drop_table("published_kpis", schema=S)
    op.rename_table("published_kpis_rebuilt", "published_kpis", schema=S)
    op.execute(f"CREATE VIEW {S}.latest_kpis AS {LATEST_VIEW.format(t='published_kpis')}")
    op.execute(f"CREATE VIEW {S}.published_channel_totals AS " + CHANNEL_TOTALS_VIEW.format(
        published="published_kpis", counts="channel_counts", month_end="date(p.period_start, '+1 month')"))


def upgrade() -> None:
    op.create_table(
        "service_costs",
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("amount_gbp", GBP, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("month", "channel", "category", "source", name="service_costs_pkey"),
        sa.CheckConstraint("channel IN ('digital', 'paper', 'phone', 'shared')", name="service_costs_channel"),
        sa.CheckConstraint("source IN ('finance', 'aws')", name="service_costs_source"),
        sa.CheckConstraint("amount_gbp >= 0", name="service_costs_amount_non_negative"),
        schema=S,
    )
    op.create_table(
        "cost_per_transaction",
        sa.Column("window_end", sa.Date, primary_key=True),
        sa.Column("window_start", sa.Date, nullable=False),
        sa.Column("total_cost_gbp", GBP, nullable=False),
        sa.Column("digital_cost_gbp", GBP, nullable=True),
        sa.Column("transactions", sa.Integer, nullable=False),
        sa.Column("digital_transactions", sa.Integer, nullable=False),
        sa.Column("cost_per_transaction_gbp", PERCENT, nullable=True),
        sa.Column("digital_cost_per_transaction_gbp", PERCENT, nullable=True),
        schema=S,
    )
    _change_publication(DATA_TYPES, sa.Numeric(), "numeric")
    if _postgres():
        op.execute(f"GRANT SELECT ON {S}.cost_per_transaction TO {READER}")


def downgrade() -> None:
    _change_publication(OLD_DATA_TYPES, sa.Integer(), "integer USING round({c})::integer")
    op.drop_table("cost_per_transaction", schema=S)
    op.drop_table("service_costs", schema=S)
