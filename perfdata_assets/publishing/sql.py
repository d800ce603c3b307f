"""The publication of kpis.md section 4, as SQL. This is the one place a published row is defined.

Writes copy the three KPI tables into ``perfdata.published_kpis`` in one
``INSERT ... SELECT`` (so a published figure is the KPI figure, never a
recomputation); reads are the only queries the API, the exports and the
``PerformanceData`` resource run. ``{months}`` is the CTE of
``perfdata_assets.kpis.sql.with_months``: ``months(month, next_month)``.
"""

from __future__ import annotations

# --- Writing -------------------------------------------------------------------

# Which months of the window lack a row in a KPI table: the publication refuses
# to run rather than publish a month with a measure missing.
MISSING_KPI_MONTHS = """
{months}
SELECT 'user_satisfaction' AS kpi, m.month FROM months m
 WHERE NOT EXISTS (SELECT 1 FROM perfdata.user_satisfaction t WHERE t.month = m.month)
UNION ALL
SELECT 'completion_rate' AS kpi, m.month FROM months m
 WHERE NOT EXISTS (SELECT 1 FROM perfdata.completion_rate t WHERE t.month = m.month)
UNION ALL
SELECT 'digital_take_up' AS kpi, m.month FROM months m
 WHERE NOT EXISTS (SELECT 1 FROM perfdata.digital_take_up t WHERE t.month = m.month)
ORDER BY kpi, month
"""

DELETE_WINDOW = """
DELETE FROM perfdata.published_kpis
 WHERE period = :period AND service = :service AND period_start >= :first AND period_start < :end
"""

# Four rows per month. value / numerator / denominator, as kpis.md section 4 says:
#   user-satisfaction-percent  satisfied_percent        satisfied + very_satisfied / responses
#   user-satisfaction-score    score_percent            NULL / responses
#   completion-rate-percent    completion_rate_percent  created / started
#   digital-take-up-percent    take_up_percent          digital / total
PUBLISH = """
{months}
INSERT INTO perfdata.published_kpis
       (period_start, period, service, data_type, value, numerator, denominator, published_at)
SELECT u.month, :period, :service, 'user-satisfaction-percent',
       u.satisfied_percent, u.satisfied + u.very_satisfied, u.responses, :published_at
  FROM months m JOIN perfdata.user_satisfaction u ON u.month = m.month
UNION ALL
SELECT u.month, :period, :service, 'user-satisfaction-score',
       u.score_percent, CAST(NULL AS INTEGER), u.responses, :published_at
  FROM months m JOIN perfdata.user_satisfaction u ON u.month = m.month
UNION ALL
SELECT c.month, :period, :service, 'completion-rate-percent',
       c.completion_rate_percent, c.created, c.started, :published_at
  FROM months m JOIN perfdata.completion_rate c ON c.month = m.month
UNION ALL
SELECT d.month, :period, :service, 'digital-take-up-percent',
       d.take_up_percent, d.digital, d.total, :published_at
  FROM months m JOIN perfdata.digital_take_up d ON d.month = m.month
"""

# --- Reading -------------------------------------------------------------------

_COLUMNS = "period_start, data_type, value, numerator, denominator, published_at"

PUBLISHED_BETWEEN = f"""
SELECT {_COLUMNS}
  FROM perfdata.published_kpis
 WHERE period = :period AND service = :service AND data_type IN :data_types
   AND period_start >= :first AND period_start <= :last
"""

LATEST = f"""
SELECT {_COLUMNS}
  FROM perfdata.latest_kpis
 WHERE period = :period AND service = :service AND data_type IN :data_types
"""

PUBLISHED_MONTHS = """
SELECT DISTINCT period_start
  FROM perfdata.published_kpis
 WHERE period = :period AND service = :service
 ORDER BY period_start
"""

# Channel counts per month and source channel, for the GOV.UK CSV. The caller
# passes the published months only: a month still being loaded is never exported.
CHANNEL_TOTALS = """
{months}
SELECT m.month, c.channel, sum(c."count") AS total
  FROM months m
  JOIN perfdata.channel_counts c ON c.day >= m.month AND c.day < m.next_month
 GROUP BY m.month, c.channel
"""
