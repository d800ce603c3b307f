"""The lifecycle events' day index is on ``day`` alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Every reader of the index asks for a range of days (the KPI's per-day pass, the
per-day counts in a run's metadata) and groups by event from the rows; none reads
``event`` from the index. On ``day`` alone PostgreSQL deduplicates the index's keys,
so it is a fraction of the size and builds in about 3 s rather than 5 on five
years of events (bench/RESULTS.md), on the first load and in every restore.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "perfdata"


def upgrade() -> None:
    op.drop_index("lpa_lifecycle_events_day", table_name="lpa_lifecycle_events", schema=S)
    op.create_index("lpa_lifecycle_events_day", "lpa_lifecycle_events", ["day"], schema=S)


def downgrade() -> None:
    op.drop_index("lpa_lifecycle_events_day", table_name="lpa_lifecycle_events", schema=S)
    op.create_index("lpa_lifecycle_events_day", "lpa_lifecycle_events", ["day", "event"], schema=S)
