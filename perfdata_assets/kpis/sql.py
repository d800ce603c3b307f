"""The KPI definitions of kpis.md (sections 1 to 4 monthly, 6 quarterly), as SQL. This is the one place a figure is computed.

Each query computes every month of a run's window in one statement from
perfdata's own history tables (never the live source), with a row for every
month, empty ones included: counts 0, percentages NULL. Each is a SELECT of the
KPI table's columns in order; kpis/assets.py ``write_kpi`` writes its rows.
``{months}`` becomes a CTE ``months(month, next_month)`` listing the window's months.

Each query first counts per day over the window's days (one pass over the
history table: an index range scan for a month, a sequential scan for years),
then adds the days up into their months. Joining the months straight to the
history rows by range made PostgreSQL loop over every row for every month: 100
seconds for five years of lifecycle events, against about 3 this way.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from perfdata_assets.calendar import add_months, next_month
from perfdata_assets.db.dialect import percent


def with_months(query: str, months: list[dt.date]) -> sa.TextClause:
    """Bind a query to the months of a run's window (one VALUES row per month)."""
    rows = ", ".join(f"(:m{i}, :n{i})" for i in range(len(months)))
    clause = sa.text(query.format(months=f"WITH months(month, next_month) AS (VALUES {rows})"))
    params = {}
    for i, month in enumerate(months):
        params[f"m{i}"], params[f"n{i}"] = month, next_month(month)
    if ":window_first" in query:
        params["window_first"], params["window_end"] = min(months), next_month(max(months))
    if ":year_first" in query:
        # The quarters that ended in the twelve months up to the window's months (cost per transaction).
        params["year_first"], params["year_last"] = add_months(min(months), -11), max(months)
    return clause.bindparams(*(sa.bindparam(k, v, type_=sa.Date) for k, v in params.items()))


# The window's days, bounding the per-day pass over a history table. Bound values, not
# subqueries on ``months``: with a subquery the planner cannot see how many days the window
# holds, guessed a few, and read five years of lifecycle events through the day index
# (47 s at twice the bench's size, against about 4 s in one sequential pass).
WINDOW = "{column} >= :window_first AND {column} < :window_end"
IN_MONTH = "d.day >= m.month AND d.day < m.next_month"


def total(column: str) -> str:
    """A month's count from its days' counts: an integer, 0 when no day has any."""
    return f"CAST(coalesce(sum(d.{column}), 0) AS BIGINT)"


# --- 1. User satisfaction ----------------------------------------------------
# Ratings weigh 1 (very dissatisfied) to 5 (very satisfied); the score is
# 100 × (mean − 1) / 4 = 100 × Σ(weight − 1) / (4 × responses).
USER_SATISFACTION = f"""
{{months}}, days AS (
        SELECT day,
               count(rating) AS responses,
               count(CASE WHEN rating = 'very-dissatisfied' THEN 1 END) AS very_dissatisfied,
               count(CASE WHEN rating = 'dissatisfied' THEN 1 END) AS dissatisfied,
               count(CASE WHEN rating = 'neither-satisfied-or-dissatisfied' THEN 1 END) AS neither,
               count(CASE WHEN rating = 'satisfied' THEN 1 END) AS satisfied,
               count(CASE WHEN rating = 'very-satisfied' THEN 1 END) AS very_satisfied
          FROM perfdata.raw_feedback
         WHERE {WINDOW.format(column="day")}
         GROUP BY day
)
SELECT month, responses, very_dissatisfied, dissatisfied, neither, satisfied, very_satisfied,
       {percent("satisfied + very_satisfied", "responses")} AS satisfied_percent,
       {percent("dissatisfied + 2 * neither + 3 * satisfied + 4 * very_satisfied", "4 * responses")} AS score_percent
  FROM (
        SELECT m.month,
               {total("responses")} AS responses,
               {total("very_dissatisfied")} AS very_dissatisfied,
               {total("dissatisfied")} AS dissatisfied,
               {total("neither")} AS neither,
               {total("satisfied")} AS satisfied,
               {total("very_satisfied")} AS very_satisfied
          FROM months m
          LEFT JOIN days d ON {IN_MONTH}
         GROUP BY m.month
       ) counted
"""

REJECTED_RATINGS = f"""
{{months}}, days AS (
        SELECT day, count(feedback_id) - count(rating) AS rejected
          FROM perfdata.raw_feedback
         WHERE {WINDOW.format(column="day")}
         GROUP BY day
)
SELECT m.month, {total("rejected")} AS rejected
  FROM months m
  LEFT JOIN days d ON {IN_MONTH}
 GROUP BY m.month
"""

# --- 2. Completion rate --------------------------------------------------------
# Counted by the day each event happened, whenever the LPA was started.
COMPLETION_RATE = f"""
{{months}}, days AS (
        SELECT day,
               count(CASE WHEN event = 'started' THEN 1 END) AS started,
               count(CASE WHEN event = 'created' THEN 1 END) AS created,
               count(CASE WHEN event = 'completed' THEN 1 END) AS completed
          FROM perfdata.lpa_lifecycle_events
         WHERE {WINDOW.format(column="day")}
         GROUP BY day
)
SELECT month, started, created, completed, {percent("created", "started")} AS completion_rate_percent
  FROM (
        SELECT m.month,
               {total("started")} AS started,
               {total("created")} AS created,
               {total("completed")} AS completed
          FROM months m
          LEFT JOIN days d ON {IN_MONTH}
         GROUP BY m.month
       ) counted
"""

# --- 3. Digital take-up --------------------------------------------------------
# 'online' is the digital channel; every channel, unknown ones included, is in the total.
DIGITAL_TAKE_UP = f"""
{{months}}, days AS (
        SELECT day,
               sum(CASE WHEN channel = 'online' THEN "count" END) AS digital,
               sum("count") AS total
          FROM perfdata.channel_counts
         WHERE {WINDOW.format(column="day")}
         GROUP BY day
)
SELECT month, digital, total, {percent("digital", "total")} AS take_up_percent
  FROM (
        SELECT m.month,
               {total("digital")} AS digital,
               {total("total")} AS total
          FROM months m
          LEFT JOIN days d ON {IN_MONTH}
         GROUP BY m.month
       ) counted
"""

# --- 4. Service uptime ---------------------------------------------------------
# Minutes the health check reported, and of those the minutes it was healthy
# throughout, per day (docs/contract/uptime.md); a month is the sum of its days.
SERVICE_UPTIME = f"""
{{months}}
SELECT month, observed_minutes, healthy_minutes,
       {percent("healthy_minutes", "observed_minutes")} AS uptime_percent
  FROM (
        SELECT m.month,
               {total("observed_minutes")} AS observed_minutes,
               {total("healthy_minutes")} AS healthy_minutes
          FROM months m
          LEFT JOIN perfdata.uptime_days d ON {IN_MONTH}
         GROUP BY m.month
       ) counted
"""

# How many days of each month the KPI's daily input has loaded: only months
# with every day loaded are written, so a late source holds back its own KPI alone.
LOADED_DAYS_BY_MONTH = """
{months}
SELECT m.month, count(l.day) AS loaded
  FROM months m
  LEFT JOIN perfdata.loaded_days l ON l.asset = :asset AND l.day >= m.month AND l.day < m.next_month
 GROUP BY m.month
"""

# --- 6. Cost per transaction -----------------------------------------------------
# Per quarter end, over the twelve months ending with it (kpis.md section 6).
# ``{quarters}`` becomes a CTE ``quarters(window_end, window_start, window_next)``.
# Exact on both databases, in whole pence and integer arithmetic (SQLite has no
# decimal type): every amount has at most 2 decimal places, so × 100 is a whole number
# (``round`` only undoes a binary float's representation on SQLite). With D the digital
# and AWS lines, S the shared lines, T all lines (pence), N transactions and n digital ones:
#   digital cost (pence)          = D + S × n / N = (D N + S n) / N
#   cost per transaction (pence)  = T / N
#   digital cost per transaction  = (D N + S n) / (N n)
# and round(a / b) half away from zero = floor((2a + b) / 2b) for a, b >= 0. Each figure is
# rounded once; NULL where its denominator is 0 (the digital cost too: no transactions,
# nothing to split the shared costs by).


def with_quarters(query: str, quarter_ends: list[dt.date]) -> sa.TextClause:
    """Bind a query to quarter ends (each the first day of a window's last month)."""
    rows = ", ".join(f"(:e{i}, :s{i}, :n{i})" for i in range(len(quarter_ends)))
    clause = sa.text(query.format(quarters=f"WITH quarters(window_end, window_start, window_next) AS (VALUES {rows})"))
    params = {}
    for i, end in enumerate(quarter_ends):
        params[f"e{i}"], params[f"s{i}"], params[f"n{i}"] = end, add_months(end, -11), next_month(end)
    params["costs_first"], params["costs_end"] = add_months(min(quarter_ends), -11), next_month(max(quarter_ends))
    return clause.bindparams(*(sa.bindparam(k, v, type_=sa.Date) for k, v in params.items()))


_PENCE = "CAST(coalesce(sum({expr}), 0) AS BIGINT)"
_DIGITAL_NUMERATOR = "(c.digital_pence * t.n + c.shared_pence * t.dn)"

COST_PER_TRANSACTION = f"""
{{quarters}}, lines AS (
        SELECT month, channel, CAST(round(amount_gbp * 100) AS BIGINT) AS pence
          FROM perfdata.service_costs
         WHERE month >= :costs_first AND month < :costs_end
), costs AS (
        SELECT q.window_end,
               {_PENCE.format(expr="l.pence")} AS total_pence,
               {_PENCE.format(expr="CASE WHEN l.channel = 'digital' THEN l.pence END")} AS digital_pence,
               {_PENCE.format(expr="CASE WHEN l.channel = 'shared' THEN l.pence END")} AS shared_pence
          FROM quarters q
          LEFT JOIN lines l ON l.month >= q.window_start AND l.month < q.window_next
         GROUP BY q.window_end
), days AS (
        SELECT day, sum("count") AS total, sum(CASE WHEN channel = 'online' THEN "count" END) AS online
          FROM perfdata.channel_counts
         WHERE day >= :costs_first AND day < :costs_end
         GROUP BY day
), counted AS (
        SELECT q.window_end,
               {_PENCE.format(expr="d.total")} AS n,
               {_PENCE.format(expr="d.online")} AS dn
          FROM quarters q
          LEFT JOIN days d ON d.day >= q.window_start AND d.day < q.window_next
         GROUP BY q.window_end
)
SELECT q.window_end, q.window_start,
       CAST(c.total_pence AS NUMERIC) / 100.0 AS total_cost_gbp,
       CASE WHEN t.n = 0 THEN NULL
            ELSE CAST((2 * {_DIGITAL_NUMERATOR} + t.n) / (2 * t.n) AS NUMERIC) / 100.0 END AS digital_cost_gbp,
       t.n AS transactions,
       t.dn AS digital_transactions,
       CASE WHEN t.n = 0 THEN NULL
            ELSE CAST((2 * c.total_pence + t.n) / (2 * t.n) AS NUMERIC) / 100.0 END AS cost_per_transaction_gbp,
       CASE WHEN t.dn = 0 THEN NULL
            ELSE CAST((2 * {_DIGITAL_NUMERATOR} + t.n * t.dn) / (2 * t.n * t.dn) AS NUMERIC) / 100.0
       END AS digital_cost_per_transaction_gbp
  FROM quarters q
  JOIN costs c ON c.window_end = q.window_end
  JOIN counted t ON t.window_end = q.window_end
"""

# Which of the given months (first days) the cost source has costed (the ledger holds a
# monthly asset's months by their first day).
COSTED_MONTHS = """
SELECT day FROM perfdata.loaded_days WHERE asset = :asset AND day >= :first AND day <= :last
"""
