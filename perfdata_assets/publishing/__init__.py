"""The publication: perfdata.published_kpis, its exports, the HTTP API and notifications.

- ``sql``: the publication's SQL, the one place a published row is defined.
- ``published``: the published values as Python reads them (data types, queries).
- ``assets``: the ``published_kpis`` and ``performance_data_exports`` assets.
- ``resource``: ``PerformanceData`` (typed reads) and ``ExportDirectory``.
- ``exports`` / ``atomic``: the OPG JSON and GOV.UK CSV formats, and writing files safely.
- ``api`` / ``errors`` / ``feedback`` / ``ratelimit``: the HTTP API, its OPG error
  shape, the feedback form's intake and its per-client rate limit.
- ``server``: ``serve()`` and the ``serve`` command.
- ``webhooks`` / ``sensors``: notifications when a month is published or a run fails.
"""
