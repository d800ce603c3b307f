"""Core tables: raw history, the KPI tables, and the loaded-days ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "perfdata"
TS = sa.DateTime(timezone=True)
# Wide enough for a completion rate over 100 % (LPAs started in earlier months).
PERCENT = sa.Numeric(8, 2)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False)


def upgrade() -> None:
    # Raw history: merged, never pruned, so old months stay reproducible after
    # the service prunes feedback or deletes LPAs. No personal data columns.
    op.create_table(
        "raw_feedback",
        sa.Column("feedback_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        # NULL when the source rating is not one of the five valid strings.
        sa.Column("rating", sa.Text, nullable=True),
        sa.Column("from_page", sa.Text, nullable=True),
        sa.CheckConstraint(
            "rating IS NULL OR rating IN ('very-dissatisfied', 'dissatisfied', "
            "'neither-satisfied-or-dissatisfied', 'satisfied', 'very-satisfied')",
            name="raw_feedback_rating_valid",
        ),
        schema=S,
    )
    op.create_index("raw_feedback_day", "raw_feedback", ["day"], schema=S)

    op.create_table(
        "lpa_lifecycle_events",
        sa.Column("lpa_id", sa.BigInteger, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("lpa_type", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("lpa_id", "event", name="lpa_lifecycle_events_pkey"),
        sa.CheckConstraint("event IN ('started', 'created', 'completed')", name="lpa_lifecycle_events_event"),
        schema=S,
    )
    op.create_index("lpa_lifecycle_events_day", "lpa_lifecycle_events", ["day", "event"], schema=S)

    op.create_table(
        "channel_counts",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", name="channel_counts_pkey"),
        sa.CheckConstraint('"count" >= 0', name="channel_counts_count_non_negative"),
        schema=S,
    )

    # Which days each daily asset has loaded: a month is published only when
    # every one of its days is here, whatever the Dagster instance remembers.
    op.create_table(
        "loaded_days",
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("loaded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("asset", "day", name="loaded_days_pkey"),
        schema=S,
    )

    op.create_table(
        "user_satisfaction",
        sa.Column("month", sa.Date, primary_key=True),
        _count("responses"),
        _count("very_dissatisfied"),
        _count("dissatisfied"),
        _count("neither"),
        _count("satisfied"),
        _count("very_satisfied"),
        sa.Column("satisfied_percent", PERCENT, nullable=True),
        sa.Column("score_percent", PERCENT, nullable=True),
        schema=S,
    )
    op.create_table(
        "completion_rate",
        sa.Column("month", sa.Date, primary_key=True),
        _count("started"),
        _count("created"),
        _count("completed"),
        sa.Column("completion_rate_percent", PERCENT, nullable=True),
        schema=S,
    )
    op.create_table(
        "digital_take_up",
        sa.Column("month", sa.Date, primary_key=True),
        _count("digital"),
        _count("total"),
        sa.Column("take_up_percent", PERCENT, nullable=True),
        schema=S,
    )


def downgrade() -> None:
    for table in (
        "digital_take_up",
        "completion_rate",
        "user_satisfaction",
        "loaded_days",
        "channel_counts",
        "lpa_lifecycle_events",
        "raw_feedback",
    ):
        op.drop_table(table, schema=S)
