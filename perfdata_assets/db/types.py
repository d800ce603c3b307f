"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(sa.types.TypeDecorator):
    """``timestamptz`` on PostgreSQL; UTC text on SQLite.

    SQLite stores ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC so that comparing the
    text compares the instants, exactly as ``timestamptz`` does.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: perfdata stores instants, give a time zone")
        if dialect.name == "sqlite":
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")


def sqlite_utc_text(value: dt.datetime) -> str:
    """The text form UTCDateTime stores on SQLite, for bound parameters in raw SQL."""
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
