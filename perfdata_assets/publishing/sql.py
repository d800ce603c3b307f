"""The publication of kpis.md sections 5 and 6, as SQL. This is the one place a published row is defined.

Writes copy the four KPI tables into ``perfdata.published_kpis`` in one
``INSERT ... SELECT`` (so a published figure is the KPI figure, never a
recomputation); reads are the only queries the API, the exports and the
``PerformanceData`` resource run. ``{months}`` is the CTE of
``perfdata_assets.kpis.sql.with_months``: ``months(month, next_month)``.
"""

from __future__ import annotations

# --- Writing -------------------------------------------------------------------

# Each KPI is published for the months its table holds (a KPI writes a month
# only once every day of its input is loaded), so a late source holds back its
# own data types alone. value / numerator / denominator, as kpis.md section 5 says:
#   user-satisfaction-percent  satisfied_percent        satisfied + very_satisfied / responses
#   very-dissatisfied … very-satisfied   the level's count   the count / responses
#   uptime-percent             uptime_percent           healthy_minutes / observed_minutes
#   digital-take-up            take_up_percent          digital / total
#   completion-rate-percent    completion_rate_percent  created / started
#   user-satisfaction-score    score_percent            NULL / responses
# A count's value is NULL where its denominator (the responses) is 0, like every value.


def _level(data_type: str, column: str) -> str:
    return f"""
SELECT u.month AS period_start, 'month' AS period, '{data_type}' AS data_type,
       CASE WHEN u.responses = 0 THEN NULL ELSE CAST(u.{column} AS NUMERIC) END AS value,
       u.{column} AS numerator, u.responses AS denominator
  FROM months m JOIN perfdata.user_satisfaction u ON u.month = m.month"""


# Cost per transaction (kpis.md section 6) is published per year, period_start the window's
# first month, for the quarters that ended in the twelve months up to the window's months
# (those the cost_per_transaction asset recomputes for them):
#   cost-per-transaction          cost_per_transaction_gbp          total_cost_gbp / transactions
#   digital-cost-per-transaction  digital_cost_per_transaction_gbp  digital_cost_gbp / digital_transactions
YEAR_ROWS = """
SELECT c.window_start, 'year', 'cost-per-transaction', c.cost_per_transaction_gbp, c.total_cost_gbp, c.transactions
  FROM perfdata.cost_per_transaction c
 WHERE c.window_end >= :year_first AND c.window_end <= :year_last
UNION ALL
SELECT c.window_start, 'year', 'digital-cost-per-transaction', c.digital_cost_per_transaction_gbp,
       c.digital_cost_gbp, c.digital_transactions
  FROM perfdata.cost_per_transaction c
 WHERE c.window_end >= :year_first AND c.window_end <= :year_last
"""

NEW_ROWS = f"""
SELECT u.month AS period_start, 'month' AS period, 'user-satisfaction-percent' AS data_type,
       u.satisfied_percent AS value, u.satisfied + u.very_satisfied AS numerator, u.responses AS denominator
  FROM months m JOIN perfdata.user_satisfaction u ON u.month = m.month
UNION ALL {_level("very-dissatisfied", "very_dissatisfied")}
UNION ALL {_level("dissatisfied", "dissatisfied")}
UNION ALL {_level("neither", "neither")}
UNION ALL {_level("satisfied", "satisfied")}
UNION ALL {_level("very-satisfied", "very_satisfied")}
UNION ALL
SELECT s.month, 'month', 'uptime-percent', s.uptime_percent, s.healthy_minutes, s.observed_minutes
  FROM months m JOIN perfdata.service_uptime s ON s.month = m.month
UNION ALL
SELECT d.month, 'month', 'digital-take-up', d.take_up_percent, d.digital, d.total
  FROM months m JOIN perfdata.digital_take_up d ON d.month = m.month
UNION ALL
SELECT c.month, 'month', 'completion-rate-percent', c.completion_rate_percent, c.created, c.started
  FROM months m JOIN perfdata.completion_rate c ON c.month = m.month
UNION ALL
SELECT u.month, 'month', 'user-satisfaction-score', u.score_percent, CAST(NULL AS INTEGER), u.responses
  FROM months m JOIN perfdata.user_satisfaction u ON u.month = m.month
UNION ALL {YEAR_ROWS}
"""

# A value published again with a different value is a restatement: the old
# and new values, when and by which run, are kept (kpis.md section 5).
RECORD_RESTATEMENTS = f"""
{{months}}, new_rows AS ({NEW_ROWS})
INSERT INTO perfdata.published_kpis_restatements
       (period_start, period, service, data_type, old_value, new_value, old_numerator, new_numerator,
        old_denominator, new_denominator, old_published_at, restated_at, run_id)
SELECT p.period_start, p.period, p.service, p.data_type, p.value, n.value, p.numerator, n.numerator,
       p.denominator, n.denominator, p.published_at, :published_at, :run_id
  FROM new_rows n
  JOIN perfdata.published_kpis p
    ON p.period = n.period AND p.service = :service
   AND p.period_start = n.period_start AND p.data_type = n.data_type
 WHERE p.value IS DISTINCT FROM n.value
"""

# A published row is written only when it is new or changed (value, numerator
# or denominator): an unchanged row keeps its published_at, so a re-run that
# changed nothing has written nothing, and nothing is announced for it. Only the
# data types about to be written again are deleted: a KPI whose month is not
# complete keeps what was published for it.
_SAME_ROW = """p.period = n.period AND p.period_start = n.period_start AND p.data_type = n.data_type
   AND p.value IS NOT DISTINCT FROM n.value AND p.numerator IS NOT DISTINCT FROM n.numerator
   AND p.denominator IS NOT DISTINCT FROM n.denominator"""

DELETE_REPUBLISHED = f"""
{{months}}, new_rows AS ({NEW_ROWS})
DELETE FROM perfdata.published_kpis
 WHERE service = :service
   AND EXISTS (SELECT 1 FROM new_rows n
                WHERE n.period = published_kpis.period AND n.period_start = published_kpis.period_start
                  AND n.data_type = published_kpis.data_type)
   AND NOT EXISTS (SELECT 1 FROM new_rows n, perfdata.published_kpis p
                    WHERE p.period = published_kpis.period AND p.service = published_kpis.service
                      AND p.period_start = published_kpis.period_start AND p.data_type = published_kpis.data_type
                      AND {_SAME_ROW})
"""

PUBLISH = f"""
{{months}}, new_rows AS ({NEW_ROWS})
INSERT INTO perfdata.published_kpis
       (period_start, period, service, data_type, value, numerator, denominator, published_at)
SELECT n.period_start, n.period, :service, n.data_type, n.value, n.numerator, n.denominator, :published_at
  FROM new_rows n
 WHERE NOT EXISTS (SELECT 1 FROM perfdata.published_kpis p WHERE p.service = :service AND {_SAME_ROW})
RETURNING period_start, data_type
"""

# What the KPI tables hold to publish for the window's months, written or unchanged.
PUBLISHABLE = f"""
{{months}}, new_rows AS ({NEW_ROWS})
SELECT period_start, data_type FROM new_rows
"""

# --- Reading -------------------------------------------------------------------

_COLUMNS = "period_start, period, data_type, value, numerator, denominator, published_at"

# Each data type has one period (a month, or a year for cost per transaction), so the
# reads below select by data type; OPG's files ask for the monthly data types only.

PUBLISHED_BETWEEN = f"""
SELECT {_COLUMNS}
  FROM perfdata.published_kpis
 WHERE service = :service AND data_type IN :data_types
   AND period_start >= :first AND period_start <= :last
"""

LATEST = f"""
SELECT {_COLUMNS}
  FROM perfdata.latest_kpis
 WHERE service = :service AND data_type IN :data_types
"""

PUBLISHED_MONTHS_OF = """
SELECT period_start
  FROM perfdata.published_kpis
 WHERE period = :period AND service = :service AND data_type = :data_type
 ORDER BY period_start
"""

RESTATEMENTS = """
SELECT period_start, period, data_type, old_value, new_value, old_published_at, restated_at, run_id
  FROM perfdata.published_kpis_restatements
 WHERE service = :service {since}
 ORDER BY restated_at, period_start, data_type
"""

PUBLISHED_MONTHS = """
SELECT DISTINCT period_start
  FROM perfdata.published_kpis
 WHERE period = :period AND service = :service
 ORDER BY period_start
"""

# Channel counts per month and source channel, for the GOV.UK CSV: the view holds
# the months whose digital take-up is published only (migration 0004), so a month
# still being loaded is never exported.
CHANNEL_TOTALS = """
SELECT month, channel, total
  FROM perfdata.published_channel_totals
 {where}
 ORDER BY month, channel
"""

# The open-data file (kpis.md section 7): every published row, with the time of its
# latest restatement, in the file's order. ``{unit}`` and ``{order}`` are the CASE
# expressions of ``published.OPEN_DATA_UNITS`` (one table of measures, so the file's
# units and order come from the database with the rows).
OPEN_DATA_SELECT = """
SELECT p.period_start, p.period, p.data_type, p.value, p.numerator, p.denominator, p.published_at,
       {unit} AS unit, r.last_restated_at
  FROM perfdata.published_kpis p
  LEFT JOIN (SELECT period_start, period, service, data_type, max(restated_at) AS last_restated_at
               FROM perfdata.published_kpis_restatements
              GROUP BY period_start, period, service, data_type) r
    ON r.period_start = p.period_start AND r.period = p.period
   AND r.service = p.service AND r.data_type = p.data_type
 WHERE p.service = :service AND p.data_type IN :data_types
"""
OPEN_DATA_ROWS = OPEN_DATA_SELECT + " ORDER BY p.period_start, p.period, {order}\n"

# A digest of those rows, every column as the database holds it (PostgreSQL): equal digests, equal
# files. Any write that changes a row changes it, a change in the same second as the last publication
# or a hand-made UPDATE too, which a count and max(published_at) would miss.
OPEN_DATA_FINGERPRINT = f"""
SELECT count(*) || ':' || coalesce(md5(string_agg(q::text, ';' ORDER BY q.period_start, q.period, q.data_type)), '')
  FROM ({OPEN_DATA_SELECT}) q
"""
