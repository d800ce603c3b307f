"""Raw history read from the LPA service's own tables: feedback ratings and lifecycle events."""

import concurrent.futures
import contextlib
import datetime as dt

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.calendar import DayWindow, daily_partitions, day_ranges
from perfdata_assets.db.ledger import healed_days, record_loaded_days
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.db.transfer import Extraction, History, merge_window
from perfdata_assets.sources.lpa import anomalies, sql

OWNERS = ["team:opg-perfdata"]


def load_window(
    context: dg.AssetExecutionContext,
    database: PerfdataDatabase,
    asset: str,
    extraction: Extraction,
    history: History,
) -> tuple[DayWindow, int]:
    """Merge the run's whole window and record its days, in one transaction."""
    window = DayWindow.from_time_window(context.partition_time_window)
    dbs = database.connect()
    with dbs.perfdata.begin() as conn:
        written = merge_window(
            conn, dbs, extraction, history, {"starts_at": window.starts_at, "ends_at": window.ends_at}
        )
        record_loaded_days(conn, asset, window.days(), dt.datetime.now(dt.timezone.utc))
    context.log.info(f"{asset}: {window}: {written} rows new or changed")
    return window, written


def _day_stats(database: PerfdataDatabase, query: str, window: DayWindow) -> list[sa.Row]:
    with database.connect().perfdata.connect() as conn:
        return conn.execute(
            sa.text(query).bindparams(sa.bindparam("first", type_=sa.Date), sa.bindparam("end", type_=sa.Date)),
            {"first": window.first, "end": window.end},
        ).all()


def _anomalies(database: PerfdataDatabase, count, window: DayWindow, alongside: bool = False) -> dict[str, int]:
    """Counts of malformed source rows in the window (anomalies.py): counts only, never content."""
    with database.connect().lpa_source.connect() as conn:
        if alongside:
            # One backend, not a parallel query: the load needs the other cores.
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        return count(conn, window.starts_at, window.ends_at)


@contextlib.contextmanager
def _anomalies_alongside(context: dg.AssetExecutionContext, database: PerfdataDatabase, count):
    """The anomaly counts, read from the source on their own connection while the window loads.

    The load keeps one PostgreSQL backend busy and the counts are a second pass over the
    same source rows: on a second backend they cost the run no time (1.3 s of five years'
    first load, bench/RESULTS.md). On SQLite, whose writer excludes other connections,
    they are read after the load, as before.
    """
    window = DayWindow.from_time_window(context.partition_time_window)
    if database.connect().lpa_source.dialect.name != "postgresql":
        yield lambda: _anomalies(database, count, window)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="anomalies") as pool:
        counted = pool.submit(_anomalies, database, count, window, True)
        yield counted.result


def _day_key(day: object) -> str:
    return day if isinstance(day, str) else day.isoformat()


def _add_daily_metadata(context: dg.AssetExecutionContext, per_day: dict[str, dict[str, int]]) -> None:
    """Per-partition figures, so the UI plots them across days even after a range backfill."""
    for day, metadata in per_day.items():
        context.add_asset_metadata(metadata, partition_key=day)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="perfdata/raw_feedback",
    group_name="lpa_service",
    kinds={"sql", "postgres"},
    owners=OWNERS,
    description=(
        "Every feedback form rating, with when it was received and the page it came from, "
        "merged into perfdata.raw_feedback. Never the details, email or phone. Survives the "
        "service pruning feedback older than two years. A rating that is not one of the five "
        "valid strings is kept as NULL and counted as rejected."
    ),
)
def raw_feedback(context: dg.AssetExecutionContext, database: PerfdataDatabase) -> dg.MaterializeResult:
    with _anomalies_alongside(context, database, anomalies.feedback_anomalies) as anomaly_counts:
        window, written = load_window(context, database, "raw_feedback", sql.FEEDBACK, sql.HISTORY_FEEDBACK)
        source_anomalies = anomaly_counts()
    per_day = {day.isoformat(): {"dagster/row_count": 0, "rejected_ratings": 0} for day in window.days()}
    for row in _day_stats(database, sql.FEEDBACK_DAYS, window):
        per_day[_day_key(row.day)] = {"dagster/row_count": row.received, "rejected_ratings": row.received - row.valid}
    _add_daily_metadata(context, per_day)
    # Duplicated submissions are reported, not dropped: kpis.md counts rows, and so
    # does the independent checker (see anomalies.py).
    return dg.MaterializeResult(
        metadata={
            "window": str(window),
            "healed_days": day_ranges(healed_days(context.run.tags, window.days())) or "none",
            "feedback_in_window": sum(m["dagster/row_count"] for m in per_day.values()),
            "rejected_ratings_in_window": sum(m["rejected_ratings"] for m in per_day.values()),
            "rows_new_or_changed": written,
            **source_anomalies,
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="perfdata/lpa_lifecycle_events",
    group_name="lpa_service",
    kinds={"sql", "postgres"},
    owners=OWNERS,
    description=(
        "One row per LPA and lifecycle event (started, created, completed) with its time, day "
        "and LPA type, merged into perfdata.lpa_lifecycle_events. A later deletion in the source "
        "never removes a recorded event."
    ),
)
def lpa_lifecycle_events(context: dg.AssetExecutionContext, database: PerfdataDatabase) -> dg.MaterializeResult:
    with _anomalies_alongside(context, database, anomalies.application_anomalies) as anomaly_counts:
        window, written = load_window(
            context, database, "lpa_lifecycle_events", sql.LIFECYCLE_EVENTS, sql.HISTORY_LIFECYCLE_EVENTS
        )
        source_anomalies = anomaly_counts()
    per_day = {
        day.isoformat(): {"dagster/row_count": 0, "started_events": 0, "created_events": 0, "completed_events": 0}
        for day in window.days()
    }
    for row in _day_stats(database, sql.LIFECYCLE_EVENT_DAYS, window):
        per_day[_day_key(row.day)][f"{row.event}_events"] = row.events
        per_day[_day_key(row.day)]["dagster/row_count"] += row.events
    _add_daily_metadata(context, per_day)
    return dg.MaterializeResult(
        metadata={
            "window": str(window),
            "healed_days": day_ranges(healed_days(context.run.tags, window.days())) or "none",
            **{f"{e}_events_in_window": sum(m[f"{e}_events"] for m in per_day.values()) for e in sql.EVENTS},
            "rows_new_or_changed": written,
            **source_anomalies,
        }
    )
