"""The LPA service's own tables, as sources.md describes them.

perfdata never creates these in production: they belong to the service. The
demo and the tests create them (on SQLite and PostgreSQL) to stand in for it.
"""

from __future__ import annotations

import sqlalchemy as sa

from perfdata_assets.db.types import JSONDocument, UTCDateTime

metadata = sa.MetaData()

# The feedback form's ratings, worst to best (sources.md): every reader and writer of
# ``feedback.message->>'rating'`` uses this one list.
RATINGS = (
    "very-dissatisfied",
    "dissatisfied",
    "neither-satisfied-or-dissatisfied",
    "satisfied",
    "very-satisfied",
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("user", sa.Text, nullable=True),
    sa.Column("updatedAt", UTCDateTime, nullable=False),
    sa.Column("startedAt", UTCDateTime, nullable=True),
    sa.Column("createdAt", UTCDateTime, nullable=True),
    sa.Column("completedAt", UTCDateTime, nullable=True),
    sa.Column("lockedAt", UTCDateTime, nullable=True),
    sa.Column("locked", sa.Boolean, nullable=True),
    sa.Column("whoAreYouAnswered", sa.Boolean, nullable=True),
    sa.Column("seed", sa.BigInteger, nullable=True),
    sa.Column("repeatCaseNumber", sa.BigInteger, nullable=True),
    sa.Column("document", JSONDocument, nullable=True),
    sa.Column("payment", JSONDocument, nullable=True),
    sa.Column("metadata", JSONDocument, nullable=True),
    sa.Column("search", sa.Text, nullable=True),
    sa.Index("applications_user_updated", "user", "updatedAt"),
    sa.Index("applications_started", "startedAt"),
    sa.Index("applications_created", "createdAt"),
    sa.Index("applications_completed", "completedAt"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("received", UTCDateTime, nullable=False, index=True),
    sa.Column("message", JSONDocument, nullable=False),
)


def create_source_tables(engine: sa.Engine) -> None:
    metadata.create_all(engine)
