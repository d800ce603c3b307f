"""Alembic environment: runs on the connection perfdata.db.migrate hands it."""

from alembic import context

from perfdata_assets.db.engines import SCHEMA

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")

context.configure(
    connection=connection,
    version_table_schema=SCHEMA,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
