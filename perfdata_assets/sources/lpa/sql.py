"""SQL for the two raw history assets read from the LPA service's tables.

Extractions read only the columns a KPI needs: no ``details``, ``email``,
``phone``, ``user`` or ``search`` ever leaves the source tables.
Merges follow kpis.md's writing rules for raw history: a row new or changed in
the source is written, a row gone from the source is kept.
"""

from __future__ import annotations

from perfdata_assets.db.dialect import Dialect, html_unescape
from perfdata_assets.db.transfer import Extraction, History
from perfdata_assets.sources.lpa.tables import RATINGS

VALID_RATINGS = RATINGS
EVENTS = ("started", "created", "completed")
_RATING_LIST = ", ".join(f"'{r}'" for r in VALID_RATINGS)
TS = "TIMESTAMP WITH TIME ZONE"


def _feedback(d: Dialect) -> str:
    rating = d.json_text("message", "rating")
    # Decoded first (the service stores "&#039;", whose '#' is no fragment), then
    # cut to the path: a query string can carry an email address.
    from_page = d.path_only(html_unescape(d.json_text("message", "fromPage")))
    # An invalid rating is kept as NULL: the row still counts as rejected for
    # its month, and none of its content is copied.
    return f"""
        SELECT id AS feedback_id,
               received AS received_at,
               {d.london_date("received")} AS day,
               CASE WHEN {rating} IN ({_RATING_LIST}) THEN {rating} END AS rating,
               {from_page} AS from_page
          FROM feedback
         WHERE received >= :starts_at AND received < :ends_at
    """


FEEDBACK = Extraction(
    name="raw_feedback",
    columns=(
        ("feedback_id", "BIGINT"),
        ("received_at", TS),
        ("day", "DATE"),
        ("rating", "TEXT"),
        ("from_page", "TEXT"),
    ),
    render=_feedback,
)

INSERT_FEEDBACK = """
    INSERT INTO perfdata.raw_feedback (feedback_id, received_at, day, rating, from_page)
    SELECT feedback_id, received_at, day, rating, from_page FROM {source} WHERE true
"""

MERGE_FEEDBACK = INSERT_FEEDBACK + """
    ON CONFLICT (feedback_id) DO UPDATE
       SET received_at = excluded.received_at,
           day = excluded.day,
           rating = excluded.rating,
           from_page = excluded.from_page
     WHERE raw_feedback.received_at IS DISTINCT FROM excluded.received_at
        OR raw_feedback.rating IS DISTINCT FROM excluded.rating
        OR raw_feedback.from_page IS DISTINCT FROM excluded.from_page
"""

HISTORY_FEEDBACK = History("perfdata.raw_feedback", INSERT_FEEDBACK, MERGE_FEEDBACK)

FEEDBACK_DAYS = """
    SELECT day, count(*) AS received, count(rating) AS valid
      FROM perfdata.raw_feedback
     WHERE day >= :first AND day < :end
     GROUP BY day
"""


def _lifecycle_events(d: Dialect) -> str:
    in_window = " OR ".join(f'"{c}" >= :starts_at AND "{c}" < :ends_at' for c in ("startedAt", "createdAt", "completedAt"))
    # One pass over applications, each LPA with any event in the window once, fanned out to its
    # three events. The OR of the three ranges is what lets the planner choose: the three
    # timestamp indexes for a few days (the nightly runs), one sequential scan for years (a
    # first load); three UNION ALL branches would read the table three times for years.
    # The LPA's type is read from its document once, not once per event.
    return f"""
        SELECT lpa_id, event, occurred_at, {d.london_date("occurred_at")} AS day, lpa_type
          FROM (SELECT a.lpa_id, e.event,
                       CASE e.event WHEN 'started' THEN a."startedAt"
                                    WHEN 'created' THEN a."createdAt"
                                    ELSE a."completedAt" END AS occurred_at,
                       a.lpa_type
                  FROM (SELECT id AS lpa_id, "startedAt", "createdAt", "completedAt",
                               {d.json_text("document", "type")} AS lpa_type
                          FROM applications
                         WHERE {in_window} {d.evaluate_here()}) AS a
                 CROSS JOIN (SELECT 'started' AS event UNION ALL SELECT 'created' UNION ALL SELECT 'completed') AS e
               ) AS events
         WHERE occurred_at >= :starts_at AND occurred_at < :ends_at"""


LIFECYCLE_EVENTS = Extraction(
    name="lpa_lifecycle_events",
    columns=(
        ("lpa_id", "BIGINT"),
        ("event", "TEXT"),
        ("occurred_at", TS),
        ("day", "DATE"),
        ("lpa_type", "TEXT"),
    ),
    render=_lifecycle_events,
)

# One row per (LPA, event): an LPA whose createdAt moves (un-created, then
# created again) is counted on its latest day; a deleted LPA loses its
# timestamps in the source, matches no window, and so keeps its events here.
INSERT_LIFECYCLE_EVENTS = """
    INSERT INTO perfdata.lpa_lifecycle_events (lpa_id, event, occurred_at, day, lpa_type)
    SELECT lpa_id, event, occurred_at, day, lpa_type FROM {source} WHERE true
"""

MERGE_LIFECYCLE_EVENTS = INSERT_LIFECYCLE_EVENTS + """
    ON CONFLICT (lpa_id, event) DO UPDATE
       SET occurred_at = excluded.occurred_at,
           day = excluded.day,
           lpa_type = excluded.lpa_type
     WHERE lpa_lifecycle_events.occurred_at IS DISTINCT FROM excluded.occurred_at
        OR lpa_lifecycle_events.lpa_type IS DISTINCT FROM excluded.lpa_type
"""

HISTORY_LIFECYCLE_EVENTS = History("perfdata.lpa_lifecycle_events", INSERT_LIFECYCLE_EVENTS, MERGE_LIFECYCLE_EVENTS)

LIFECYCLE_EVENT_DAYS = """
    SELECT day, event, count(*) AS events
      FROM perfdata.lpa_lifecycle_events
     WHERE day >= :first AND day < :end
     GROUP BY day, event
"""
