"""Alembic owns every perfdata table: apply migrations, and refuse to run on a stale schema."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa  # noqa: F401  (type hints)
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from perfdata_assets.db.engines import SCHEMA

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaNotCurrent(Exception):
    """The perfdata schema is missing or at another revision than this code expects."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table_schema": SCHEMA})
        return context.get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations in one transaction; returns (revision before, revision after)."""
    before = current_revision(engine)
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(engine)


def require_current_schema(engine: sa.Engine) -> None:
    """Stop a run before it writes into a schema this code does not know."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaNotCurrent("the perfdata schema has not been created: run `perfdata db upgrade`")
    raise SchemaNotCurrent(
        f"the perfdata schema is at revision {current} but this code needs {head}: run `perfdata db upgrade`"
    )
