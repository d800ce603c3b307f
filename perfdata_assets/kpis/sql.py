"""The KPI definitions of kpis.md, as SQL. This is the one place a figure is computed.

Each query computes every month of a run's window in one statement from
perfdata's own history tables (never the live source), with a row for every
month, empty ones included: counts 0, percentages NULL.
``{months}`` becomes a CTE ``months(month, next_month)`` listing the window's months.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from perfdata_assets.db.dialect import percent
from perfdata_assets.partitions import next_month


def with_months(query: str, months: list[dt.date]) -> sa.TextClause:
    """Bind a query to the months of a run's window (one VALUES row per month)."""
    rows = ", ".join(f"(:m{i}, :n{i})" for i in range(len(months)))
    clause = sa.text(query.format(months=f"WITH months(month, next_month) AS (VALUES {rows})"))
    params = {}
    for i, month in enumerate(months):
        params[f"m{i}"], params[f"n{i}"] = month, next_month(month)
    return clause.bindparams(*(sa.bindparam(k, v, type_=sa.Date) for k, v in params.items()))


# --- 1. User satisfaction ----------------------------------------------------
# Ratings weigh 1 (very dissatisfied) to 5 (very satisfied); the score is
# 100 × (mean − 1) / 4 = 100 × Σ(weight − 1) / (4 × responses).
USER_SATISFACTION = f"""
{{months}}
INSERT INTO perfdata.user_satisfaction
       (month, responses, very_dissatisfied, dissatisfied, neither, satisfied, very_satisfied,
        satisfied_percent, score_percent)
SELECT month, responses, very_dissatisfied, dissatisfied, neither, satisfied, very_satisfied,
       {percent("satisfied + very_satisfied", "responses")} AS satisfied_percent,
       {percent("dissatisfied + 2 * neither + 3 * satisfied + 4 * very_satisfied", "4 * responses")} AS score_percent
  FROM (
        SELECT m.month,
               count(f.rating) AS responses,
               count(CASE WHEN f.rating = 'very-dissatisfied' THEN 1 END) AS very_dissatisfied,
               count(CASE WHEN f.rating = 'dissatisfied' THEN 1 END) AS dissatisfied,
               count(CASE WHEN f.rating = 'neither-satisfied-or-dissatisfied' THEN 1 END) AS neither,
               count(CASE WHEN f.rating = 'satisfied' THEN 1 END) AS satisfied,
               count(CASE WHEN f.rating = 'very-satisfied' THEN 1 END) AS very_satisfied
          FROM months m
          LEFT JOIN perfdata.raw_feedback f ON f.day >= m.month AND f.day < m.next_month
         GROUP BY m.month
       ) counted
"""

REJECTED_RATINGS = """
{months}
SELECT m.month, count(f.feedback_id) - count(f.rating) AS rejected
  FROM months m
  LEFT JOIN perfdata.raw_feedback f ON f.day >= m.month AND f.day < m.next_month
 GROUP BY m.month
"""

# --- 2. Completion rate --------------------------------------------------------
# Counted by the day each event happened, whenever the LPA was started.
COMPLETION_RATE = f"""
{{months}}
INSERT INTO perfdata.completion_rate (month, started, created, completed, completion_rate_percent)
SELECT month, started, created, completed, {percent("created", "started")} AS completion_rate_percent
  FROM (
        SELECT m.month,
               count(CASE WHEN e.event = 'started' THEN 1 END) AS started,
               count(CASE WHEN e.event = 'created' THEN 1 END) AS created,
               count(CASE WHEN e.event = 'completed' THEN 1 END) AS completed
          FROM months m
          LEFT JOIN perfdata.lpa_lifecycle_events e ON e.day >= m.month AND e.day < m.next_month
         GROUP BY m.month
       ) counted
"""

# --- 3. Digital take-up --------------------------------------------------------
# 'online' is the digital channel; every channel, unknown ones included, is in the total.
DIGITAL_TAKE_UP = f"""
{{months}}
INSERT INTO perfdata.digital_take_up (month, digital, total, take_up_percent)
SELECT month, digital, total, {percent("digital", "total")} AS take_up_percent
  FROM (
        SELECT m.month,
               coalesce(sum(CASE WHEN c.channel = 'online' THEN c."count" END), 0) AS digital,
               coalesce(sum(c."count"), 0) AS total
          FROM months m
          LEFT JOIN perfdata.channel_counts c ON c.day >= m.month AND c.day < m.next_month
         GROUP BY m.month
       ) counted
"""
