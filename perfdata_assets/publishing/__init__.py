"""The publication: perfdata.published_kpis, its files, their delivery to OPG, notifications.

- ``sql``: the publication's SQL, the one place a published row is defined.
- ``published``: the published values as Python reads them (data types, queries).
- ``assets``: the ``published_kpis`` and ``performance_data_exports`` assets; ``checks``:
  the blocking OPG contract check (rules in ``opg_validation``).
- ``resource``: ``PerformanceData``, the read model every reader uses, and ``ExportDirectory``.
- ``exports`` / ``atomic``: the OPG JSON and GOV.UK CSV formats, and writing files safely.
- ``delivery`` / ``s3``: the file in OPG's bucket, once and on time.
- ``webhooks`` / ``sensors``: notifications when a month is published or a run fails.

May import: kpis, db, calendar, config.
"""
