"""The four monthly KPIs of kpis.md: their SQL (``sql``, the one place a figure is
computed), their assets, their checks, and ``report`` (what `perfdata kpis` prints).

May import: db, calendar, config (its inputs, the sources' assets, are named as Dagster deps, never imported).
"""
