"""How much of a window's source data is malformed: counts only, never content.

One set-based query per asset over the run's window, run on the LPA database
(read only), whose counts go into the run's metadata. Nothing here decides
what is counted in a KPI: that is ``lpa/sql.py`` and ``kpis/sql.py``. These
counts say how much of the window was odd, so that a data engineer sees it
in the run without anyone reading the rows (which hold personal data).

Feedback (rows whose ``received`` falls in the window):

- ``message_not_an_object``: ``message`` is a JSON array, string, number,
  boolean or ``null``; no rating can be read from it.
- ``rating_missing``: an object without ``rating``, or with ``"rating": null``.
- ``rating_not_a_string``: a rating that is a number, boolean, array or object.
- ``rating_not_one_of_the_five``: a string that is not exactly one of the five
  values (``Satisfied``, ``very satisfied``, ``5``, `` satisfied`` ...).
- ``duplicate_submissions``: rows with the same ``received`` and the same
  ``message`` as an earlier row (each extra copy counts once). They are NOT
  dropped: kpis.md counts rows, and the independent checker counts them too,
  so a duplicated valid rating is counted twice in the KPI. They are reported
  here so that a burst of them is seen.

The first four are exactly the rejected ratings (their sum is the window's
``rejected_ratings_in_window`` while nothing has been pruned from the source).

Applications (rows "touched" by the window: one of ``startedAt``,
``createdAt``, ``completedAt`` falls in it; three index range scans):

- ``completed_before_started``, ``created_before_started``,
  ``completed_before_created``: out-of-order timestamps;
- ``created_without_started``: ``createdAt`` set, ``startedAt`` NULL;
- ``completed_without_created``: ``completedAt`` set, ``createdAt`` NULL;
- ``timestamp_in_future``: one of the three is after the run's start;
- ``timestamp_before_2000``: one of the three is before 2000-01-01 UTC.

Each lifecycle event still counts on the day it happened, as kpis.md defines
it (an event in the future or before 2000 is in no loadable window, so it is
never loaded); the counts only report the oddity.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from perfdata_assets.db.dialect import Dialect
from perfdata_assets.sources.lpa.sql import VALID_RATINGS

FEEDBACK_COUNTS = (
    "message_not_an_object",
    "rating_missing",
    "rating_not_a_string",
    "rating_not_one_of_the_five",
    "duplicate_submissions",
)
APPLICATION_COUNTS = (
    "completed_before_started",
    "created_before_started",
    "completed_before_created",
    "created_without_started",
    "completed_without_created",
    "timestamp_in_future",
    "timestamp_before_2000",
)
YEAR_2000 = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
_RATING_LIST = ", ".join(f"'{r}'" for r in VALID_RATINGS)


def _count_where(condition: str) -> str:
    return f"count(CASE WHEN {condition} THEN 1 END)"


def feedback_query(d: Dialect) -> str:
    """One row of counts for the feedback received in [:starts_at, :ends_at)."""
    is_object = f"{d.json_type('message')} = 'object'"
    # Evaluated only where the message is an object (SQLite's json_type fails on malformed text).
    rating_type = f"(CASE WHEN {is_object} THEN {d.json_member_type('message', 'rating')} END)"
    rating = f"(CASE WHEN {is_object} THEN message ->> 'rating' END)"
    window = "received >= :starts_at AND received < :ends_at"
    return f"""
        SELECT {_count_where(f"NOT ({is_object})")} AS message_not_an_object,
               {_count_where(f"{is_object} AND ({rating_type} IS NULL OR {rating_type} = 'null')")} AS rating_missing,
               {_count_where(f"{rating_type} IN ('number', 'boolean', 'array', 'object')")} AS rating_not_a_string,
               {_count_where(f"{rating_type} = 'string' AND {rating} NOT IN ({_RATING_LIST})")}
                   AS rating_not_one_of_the_five,
               (SELECT coalesce(sum(copies - 1), 0)
                  FROM (SELECT count(*) AS copies FROM feedback WHERE {window}
                         GROUP BY received, message) AS same) AS duplicate_submissions
          FROM feedback
         WHERE {window}
    """


def applications_query(d: Dialect) -> str:
    """One row of counts for the applications with an event in [:starts_at, :ends_at)."""
    started, created, completed = '"startedAt"', '"createdAt"', '"completedAt"'
    stamps = (started, created, completed)
    touched = " OR ".join(f"({c} >= :starts_at AND {c} < :ends_at)" for c in stamps)
    return f"""
        SELECT {_count_where(f"{completed} < {started}")} AS completed_before_started,
               {_count_where(f"{created} < {started}")} AS created_before_started,
               {_count_where(f"{completed} < {created}")} AS completed_before_created,
               {_count_where(f"{started} IS NULL AND {created} IS NOT NULL")} AS created_without_started,
               {_count_where(f"{created} IS NULL AND {completed} IS NOT NULL")} AS completed_without_created,
               {_count_where(" OR ".join(f"{c} > :now" for c in stamps))} AS timestamp_in_future,
               {_count_where(" OR ".join(f"{c} < :year_2000" for c in stamps))} AS timestamp_before_2000
          FROM applications
         WHERE {touched}
    """


def _counts(
    conn: sa.Connection, query: str, names: tuple[str, ...], starts_at: dt.datetime, ends_at: dt.datetime,
    now: dt.datetime,
) -> dict[str, int]:
    d = Dialect(conn.dialect.name)
    params = {"starts_at": starts_at, "ends_at": ends_at, "now": now, "year_2000": YEAR_2000}
    bound = {k: d.instant(v) for k, v in params.items() if f":{k}" in query}
    row = conn.execute(sa.text(query), bound).mappings().one()
    return {name: int(row[name] or 0) for name in names}


def feedback_anomalies(
    conn: sa.Connection, starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime | None = None
) -> dict[str, int]:
    """Counts of malformed feedback received in the window (``conn`` on the LPA database)."""
    query = feedback_query(Dialect(conn.dialect.name))
    return _counts(conn, query, FEEDBACK_COUNTS, starts_at, ends_at, now or dt.datetime.now(dt.timezone.utc))


def application_anomalies(
    conn: sa.Connection, starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime | None = None
) -> dict[str, int]:
    """Counts of odd timestamps in the applications with an event in the window."""
    query = applications_query(Dialect(conn.dialect.name))
    return _counts(conn, query, APPLICATION_COUNTS, starts_at, ends_at, now or dt.datetime.now(dt.timezone.utc))
