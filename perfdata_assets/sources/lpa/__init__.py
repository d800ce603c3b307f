"""The LPA service's own tables (``tables``: their shape), read by the daily assets
raw_feedback and lpa_lifecycle_events (``assets``, SQL in ``sql``) into perfdata's history.

May import: db, calendar, config.
"""
