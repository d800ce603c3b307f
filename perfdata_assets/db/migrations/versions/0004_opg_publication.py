"""OPG's publication: its data types, restatements, uptime, and the delivery ledger.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

- ``published_kpis`` takes the data types of OPG's Make an LPA page (kpis.md
  section 5): ``digital-take-up-percent`` becomes ``digital-take-up``, and the
  five satisfaction levels and ``uptime-percent`` are added.
- ``published_kpis_restatements``: a month published again with a different
  value keeps its old value, when and by which run (never silently overwritten).
- ``uptime_days`` and ``service_uptime`` (kpis.md section 4, docs/contract/uptime.md).
- ``publication_deliveries``: every file perfdata put in OPG's bucket, so an
  unchanged file is not uploaded twice and a changed one is announced.
- ``published_channel_totals``: LPAs received per channel in each month whose digital
  take-up is published (the GOV.UK CSV's figures), readable by ``perfdata_reader``
  without the per-day channel counts behind them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "perfdata"
TS = sa.DateTime(timezone=True)
PERCENT = sa.Numeric(8, 2)
READER = "perfdata_reader"

OLD_DATA_TYPES = (
    "user-satisfaction-percent",
    "user-satisfaction-score",
    "completion-rate-percent",
    "digital-take-up-percent",
)
DATA_TYPES = (
    "user-satisfaction-percent",
    "very-dissatisfied",
    "dissatisfied",
    "neither",
    "satisfied",
    "very-satisfied",
    "uptime-percent",
    "digital-take-up",
    "completion-rate-percent",
    "user-satisfaction-score",
)
RENAMED = {"digital-take-up-percent": "digital-take-up"}

LATEST_VIEW = """
SELECT p.period_start, p.period, p.service, p.data_type, p.value,
       p.numerator, p.denominator, p.published_at
  FROM {t} p
  JOIN (SELECT service, period, data_type, max(period_start) AS period_start
          FROM {t} GROUP BY service, period, data_type) l
    ON l.service = p.service AND l.period = p.period
   AND l.data_type = p.data_type AND l.period_start = p.period_start
"""
PUBLISHED_COLUMNS = "period_start, period, service, data_type, value, numerator, denominator, published_at"


def _data_type_check(data_types: tuple[str, ...]) -> str:
    return "data_type IN (" + ", ".join(f"'{t}'" for t in data_types) + ")"


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _published_kpis_columns() -> list[sa.Column]:
    return [
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("data_type", sa.Text, nullable=False),
        sa.Column("value", PERCENT, nullable=True),
        sa.Column("numerator", sa.Integer, nullable=True),
        sa.Column("denominator", sa.Integer, nullable=True),
        sa.Column("published_at", TS, nullable=False),
    ]


def _change_data_types(old: tuple[str, ...], new: tuple[str, ...], renamed: dict[str, str]) -> None:
    rename = " ".join(f"WHEN '{a}' THEN '{b}'" for a, b in renamed.items())
    if _postgres():
        op.execute(f"ALTER TABLE {S}.published_kpis DROP CONSTRAINT published_kpis_data_type")
        op.execute(f"UPDATE {S}.published_kpis SET data_type = CASE data_type {rename} ELSE data_type END")
        # Rows of a data type the older version does not know (a downgrade) go.
        op.execute(f"DELETE FROM {S}.published_kpis WHERE NOT ({_data_type_check(new)})")
        op.execute(
            f"ALTER TABLE {S}.published_kpis ADD CONSTRAINT published_kpis_data_type CHECK ({_data_type_check(new)})"
        )
        return
    # SQLite cannot alter a CHECK constraint: rebuild the table (and its view).
    op.execute(f"DROP VIEW {S}.latest_kpis")
    op.create_table(
        "published_kpis_rebuilt",
        *_published_kpis_columns(),
        sa.PrimaryKeyConstraint("period_start", "period", "service", "data_type", name="published_kpis_rebuilt_pkey"),
        sa.CheckConstraint(_data_type_check(new), name="published_kpis_data_type"),
        schema=S,
    )
    op.execute(
        f"INSERT INTO {S}.published_kpis_rebuilt ({PUBLISHED_COLUMNS}) "
        f"SELECT period_start, period, service, CASE data_type {rename} ELSE data_type END, "
        f"value, numerator, denominator, published_at FROM {S}.published_kpis "
        f"WHERE (CASE data_type {rename} ELSE data_type END) IN ({', '.join(repr(t) for t in new)})"
    )
    op.drop_table("published_kpis", schema=S)
    op.rename_table("published_kpis_rebuilt", "published_kpis", schema=S)
    op.execute(f"CREATE VIEW {S}.latest_kpis AS {LATEST_VIEW.format(t='published_kpis')}")


def upgrade() -> None:
    _change_data_types(OLD_DATA_TYPES, DATA_TYPES, RENAMED)

    op.create_table(
        "published_kpis_restatements",
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("data_type", sa.Text, nullable=False),
        sa.Column("old_value", PERCENT, nullable=True),
        sa.Column("new_value", PERCENT, nullable=True),
        sa.Column("old_numerator", sa.Integer, nullable=True),
        sa.Column("new_numerator", sa.Integer, nullable=True),
        sa.Column("old_denominator", sa.Integer, nullable=True),
        sa.Column("new_denominator", sa.Integer, nullable=True),
        sa.Column("old_published_at", TS, nullable=False),
        sa.Column("restated_at", TS, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint(
            "period_start", "period", "service", "data_type", "restated_at", name="published_kpis_restatements_pkey"
        ),
        schema=S,
    )

    op.create_table(
        "uptime_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("observed_minutes", sa.Integer, nullable=False),
        sa.Column("healthy_minutes", sa.Integer, nullable=False),
        # The CloudWatch period the day was fetched at; NULL for a day from the CSV.
        sa.Column("resolution_seconds", sa.Integer, nullable=True),
        sa.CheckConstraint(
            "healthy_minutes >= 0 AND healthy_minutes <= observed_minutes AND observed_minutes <= 1500",
            name="uptime_days_minutes",
        ),
        sa.CheckConstraint(
            "resolution_seconds IS NULL OR resolution_seconds IN (60, 300, 3600)", name="uptime_days_resolution"
        ),
        schema=S,
    )
    op.create_table(
        "service_uptime",
        sa.Column("month", sa.Date, primary_key=True),
        sa.Column("observed_minutes", sa.Integer, nullable=False),
        sa.Column("healthy_minutes", sa.Integer, nullable=False),
        sa.Column("uptime_percent", PERCENT, nullable=True),
        schema=S,
    )

    op.create_table(
        "publication_deliveries",
        sa.Column("bucket", sa.Text, nullable=False),
        sa.Column("object_key", sa.Text, nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("delivered_at", TS, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        # Delivered after OPG's import of the month (12:00 UTC on the 1st), or a
        # changed file: OPG needs a hand-made pull request for it.
        sa.Column("needs_manual_pull_request", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("bucket", "object_key", "delivered_at", name="publication_deliveries_pkey"),
        schema=S,
    )

    _create_channel_totals_view()

    if _postgres():
        op.execute(f"GRANT SELECT ON {S}.published_kpis, {S}.latest_kpis, {S}.published_kpis_restatements, "
                   f"{S}.service_uptime, {S}.published_channel_totals TO {READER}")


def _create_channel_totals_view() -> None:
    # On SQLite a view in the attached perfdata file names its own tables unqualified.
    if _postgres():
        published, counts, month_end = f"{S}.published_kpis", f"{S}.channel_counts", "p.period_start + 1 * interval '1 month'"
    else:
        published, counts, month_end = "published_kpis", "channel_counts", "date(p.period_start, '+1 month')"
    op.execute(
        f"""
        CREATE VIEW {S}.published_channel_totals AS
        SELECT p.period_start AS month, c.channel, sum(c."count") AS total
          FROM {published} p
          JOIN {counts} c ON c.day >= p.period_start AND c.day < {month_end}
         WHERE p.data_type = 'digital-take-up' AND p.period = 'month' AND p.service = 'make-a-lpa'
         GROUP BY p.period_start, c.channel
        """
    )


def downgrade() -> None:
    op.execute(f"DROP VIEW {S}.published_channel_totals")
    for table in ("publication_deliveries", "service_uptime", "uptime_days", "published_kpis_restatements"):
        op.drop_table(table, schema=S)
    _change_data_types(DATA_TYPES, OLD_DATA_TYPES, {v: k for k, v in RENAMED.items()})
    if _postgres():
        op.execute(f"GRANT SELECT ON {S}.published_kpis, {S}.latest_kpis TO {READER}")
