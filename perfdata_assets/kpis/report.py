"""The KPI tables side by side, month by month: what `perfdata kpis` prints."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from perfdata_assets.config import DatabaseUrls
from perfdata_assets.db.engines import databases_for
from perfdata_assets.db.migrate import require_current_schema

LATEST_MONTHS = """
WITH months AS (
    SELECT month FROM perfdata.user_satisfaction
    UNION SELECT month FROM perfdata.completion_rate
    UNION SELECT month FROM perfdata.digital_take_up
    UNION SELECT month FROM perfdata.service_uptime
), latest AS (SELECT month FROM months ORDER BY month DESC LIMIT :limit)
SELECT l.month,
       us.responses, us.satisfied_percent, us.score_percent,
       cr.started, cr.created, cr.completion_rate_percent,
       dt.digital, dt.total, dt.take_up_percent,
       su.uptime_percent
  FROM latest l
  LEFT JOIN perfdata.user_satisfaction us ON us.month = l.month
  LEFT JOIN perfdata.completion_rate cr ON cr.month = l.month
  LEFT JOIN perfdata.digital_take_up dt ON dt.month = l.month
  LEFT JOIN perfdata.service_uptime su ON su.month = l.month
 ORDER BY l.month
"""

PERCENTS = ("satisfied_percent", "score_percent", "completion_rate_percent", "take_up_percent", "uptime_percent")

LATEST_QUARTERS = """
SELECT window_end AS quarter_end, window_start AS year_from, total_cost_gbp, transactions, cost_per_transaction_gbp,
       digital_cost_gbp, digital_transactions, digital_cost_per_transaction_gbp
  FROM perfdata.cost_per_transaction
 ORDER BY window_end DESC
 LIMIT :limit
"""
MONEY = ("total_cost_gbp", "cost_per_transaction_gbp", "digital_cost_gbp", "digital_cost_per_transaction_gbp")


def latest_quarters(urls: DatabaseUrls, limit: int) -> list[dict]:
    """Cost per transaction, the latest ``limit`` quarter ends, oldest first."""
    engine = databases_for(urls).perfdata
    require_current_schema(engine)
    query = sa.text(LATEST_QUARTERS).columns(quarter_end=sa.Date, year_from=sa.Date,
                                             **{m: sa.Numeric(14, 2) for m in MONEY})
    with engine.connect() as conn:
        return [dict(r) for r in reversed(conn.execute(query, {"limit": limit}).mappings().all())]


def latest_months(urls: DatabaseUrls, limit: int) -> list[dict]:
    engine = databases_for(urls).perfdata
    require_current_schema(engine)
    query = sa.text(LATEST_MONTHS).columns(month=sa.Date, **{p: sa.Numeric(8, 2) for p in PERCENTS})
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query, {"limit": limit}).mappings()]


def render_table(rows: list[dict], empty: str = "no published months yet: run `perfdata backfill` (or `perfdata demo`)") -> str:
    if not rows:
        return empty
    headers = list(rows[0])

    def cell(v: object) -> str:
        return "–" if v is None else (f"{v:.2f}" if isinstance(v, Decimal) else str(v))

    cells = [[cell(r[h]) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths))
    body = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])
