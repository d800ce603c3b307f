"""The HTTP side: one FastAPI app (``api``) with the KPI and export routes, the
feedback intake (``feedback``), the OPG error shape (``errors``), the per-client rate
limit (``ratelimit``), the public dashboard (``dashboard``), and ``server`` (`perfdata serve`).

Reads published figures through ``publishing``'s read model. May import: publishing,
sources.lpa.tables (the feedback intake writes the service's own table), db, calendar, config.
"""
