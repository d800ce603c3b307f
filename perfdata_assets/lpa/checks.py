"""Asset checks on the raw history tables."""

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.lpa.sql import EVENTS, VALID_RATINGS
from perfdata_assets.resources import PerfdataDatabase


def _count(database: PerfdataDatabase, query: str, **params) -> int:
    with database.connect().perfdata.connect() as conn:
        return conn.execute(sa.text(query), params).scalar_one()


@dg.asset_check(asset="raw_feedback", name="ratings_valid", blocking=True,
                description="No rating outside the five valid values is in the history (invalid ones are NULL).")
def raw_feedback_ratings_valid(database: PerfdataDatabase) -> dg.AssetCheckResult:
    valid = ", ".join(f"'{r}'" for r in VALID_RATINGS)
    bad = _count(database, f"SELECT count(*) FROM perfdata.raw_feedback WHERE rating NOT IN ({valid})")
    return dg.AssetCheckResult(passed=bad == 0, metadata={"invalid_ratings": bad})


@dg.asset_check(asset="lpa_lifecycle_events", name="events_known", blocking=True,
                description="Only started, created and completed events, each on a day.")
def lpa_lifecycle_events_known(database: PerfdataDatabase) -> dg.AssetCheckResult:
    events = ", ".join(f"'{e}'" for e in EVENTS)
    bad = _count(
        database, f"SELECT count(*) FROM perfdata.lpa_lifecycle_events WHERE event NOT IN ({events}) OR day IS NULL"
    )
    return dg.AssetCheckResult(passed=bad == 0, metadata={"bad_events": bad})


@dg.asset_check(asset="sirius_channel_counts", name="counts_non_negative", blocking=True,
                description="Every stored channel count is a non-negative integer.")
def channel_counts_non_negative(database: PerfdataDatabase) -> dg.AssetCheckResult:
    bad = _count(database, 'SELECT count(*) FROM perfdata.channel_counts WHERE "count" < 0 OR "count" IS NULL')
    return dg.AssetCheckResult(passed=bad == 0, metadata={"bad_counts": bad})


history_checks = [raw_feedback_ratings_valid, lpa_lifecycle_events_known, channel_counts_non_negative]
