"""The HTTP side: one app factory (``api.create_app``) and small routers: ``kpis`` (the
figures and the healthcheck), ``exports`` (the files, one implementation for the API and
the dashboard), ``feedback_route`` (the form's intake; validation and storage in
``feedback``); the OPG error shape (``errors``), the per-client rate limit
(``ratelimit``), the public page (``dashboard``), and ``server`` (`perfdata serve`).

Reads published figures through ``publishing``'s read model. May import: publishing,
sources.lpa.tables (the feedback intake writes the service's own table), db, calendar, config.
"""
