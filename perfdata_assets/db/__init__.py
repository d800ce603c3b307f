"""perfdata's own database: engines, the Alembic migrations, the SQL dialect fragments,
the streaming transfer between databases, the loaded-days ledger, the replace locks, and
the ``PerfdataDatabase`` resource every asset writes through.

May import: calendar, config.
"""
