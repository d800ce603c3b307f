"""Daily service uptime from the Route 53 health check (CloudWatch) or the hand-supplied
CSV into perfdata.uptime_days, and the check that the health check was mostly reporting."""

import datetime as dt
import os

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from perfdata_assets.calendar import DayWindow, daily_partitions, day_ranges
from perfdata_assets.config import ConfigError, check_setting
from perfdata_assets.db.ledger import describe_days, healed_days, record_loaded_days
from perfdata_assets.db.locks import lock_table_for_replace
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.sources.uptime.cloudwatch import (
    MAX_DATAPOINTS_PER_PAGE,
    CloudWatchSettings,
    fetch_health_check_days,
)
from perfdata_assets.sources.uptime.csv_source import read_uptime_csv
from perfdata_assets.sources.uptime.figures import UTC, UptimeDay, UptimeError, UptimeUnavailable, day_minutes, is_final

ASSET = "health_check_uptime"
# Under this share of the day observed, a day's uptime says little: reported, not rejected.
OBSERVED_SHARE_WARNING = 0.95


def utc_now() -> dt.datetime:
    """The asset's clock (tests replace it to stand just after a day's end)."""
    return dt.datetime.now(UTC)


# Said by the asset when it runs unconfigured, and by `perfdata backfill` when it skips it.
NO_UPTIME_SOURCE = (
    "no uptime source: set UPTIME_HEALTH_CHECK_ID (the Route 53 health check in CloudWatch) "
    "or SERVICE_UPTIME_CSV (a CSV file)"
)


class UptimeSource(dg.ConfigurableResource):
    """Where per-day uptime comes from: the CSV file when one is named, else CloudWatch.

    AWS credentials are never configured here: boto3's default chain finds them
    (environment, shared config, web identity, container credentials).
    """

    csv_path: str = Field(default="", description="SERVICE_UPTIME_CSV: hand-supplied per-day uptime")
    health_check_id: str = Field(default="", description="UPTIME_HEALTH_CHECK_ID: the Route 53 health check")
    max_attempts: int = Field(default=5, description="Attempts per CloudWatch request, including the first "
                              "(botocore standard retries, for throttling, 5xx and timeouts)")
    connect_timeout_seconds: float = Field(default=5, description="Time allowed to open a connection")
    read_timeout_seconds: float = Field(default=30, description="Time allowed between bytes of an answer")
    max_datapoints_per_page: int = Field(
        default=MAX_DATAPOINTS_PER_PAGE, description="GetMetricData MaxDatapoints: datapoints per page"
    )

    @property
    def is_configured(self) -> bool:
        return bool(self.csv_path or self.health_check_id)

    def is_final(self, day: dt.date, now: dt.datetime) -> bool:
        # Hand-supplied figures are final; CloudWatch's are 15 minutes after the day.
        return bool(self.csv_path) or is_final(day, now)

    def fetch(self, first: dt.date, last: dt.date, now: dt.datetime) -> list[UptimeDay]:
        """Every day of [first, last] in order, or an UptimeError (dg.Failure when unconfigured)."""
        if self.csv_path:
            try:
                path = check_setting("SERVICE_UPTIME_CSV", self.csv_path)
            except ConfigError as exc:
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            return read_uptime_csv(path, first, last)
        if not self.health_check_id:
            raise dg.Failure(description=NO_UPTIME_SOURCE, allow_retries=False)
        try:
            settings = CloudWatchSettings(
                max_attempts=self.max_attempts,
                connect_timeout_seconds=self.connect_timeout_seconds,
                read_timeout_seconds=self.read_timeout_seconds,
                max_datapoints_per_page=self.max_datapoints_per_page,
            )
            settings.check()
        except ValueError as exc:
            raise dg.Failure(description=f"uptime source settings: {exc}", allow_retries=False) from None
        return fetch_health_check_days(self.health_check_id, first, last, now, settings)


def uptime_source_from_env() -> UptimeSource:
    """SERVICE_UPTIME_CSV wins over UPTIME_HEALTH_CHECK_ID; EnvVar keeps values out of the UI."""
    settings = {}
    if os.environ.get("SERVICE_UPTIME_CSV"):
        settings["csv_path"] = dg.EnvVar("SERVICE_UPTIME_CSV")
    if os.environ.get("UPTIME_HEALTH_CHECK_ID"):
        settings["health_check_id"] = dg.EnvVar("UPTIME_HEALTH_CHECK_ID")
    return UptimeSource(**settings)


# A day already held at a finer CloudWatch period is not replaced by a coarser one:
# once CloudWatch has rolled minutes up into hours, a re-run must not turn one bad
# minute into a bad hour. Anything else (a CSV line, a re-fetch at the same or a finer
# period) replaces the row when it differs.
MERGE_UPTIME_DAY = sa.text(
    """
    INSERT INTO perfdata.uptime_days (day, observed_minutes, healthy_minutes, resolution_seconds)
    VALUES (:day, :observed, :healthy, :resolution)
    ON CONFLICT (day) DO UPDATE SET observed_minutes = excluded.observed_minutes,
                                    healthy_minutes = excluded.healthy_minutes,
                                    resolution_seconds = excluded.resolution_seconds
     WHERE (excluded.resolution_seconds IS NULL OR uptime_days.resolution_seconds IS NULL
            OR excluded.resolution_seconds <= uptime_days.resolution_seconds)
       AND (uptime_days.observed_minutes IS DISTINCT FROM excluded.observed_minutes
            OR uptime_days.healthy_minutes IS DISTINCT FROM excluded.healthy_minutes
            OR uptime_days.resolution_seconds IS DISTINCT FROM excluded.resolution_seconds)
    """
).bindparams(sa.bindparam("day", type_=sa.Date), sa.bindparam("resolution", type_=sa.Integer))

STORED_DAYS = (
    sa.text(
        "SELECT day, observed_minutes, healthy_minutes, resolution_seconds FROM perfdata.uptime_days "
        "WHERE day >= :first AND day <= :last ORDER BY day"
    )
    .bindparams(sa.bindparam("first", type_=sa.Date), sa.bindparam("last", type_=sa.Date))
    .columns(day=sa.Date, observed_minutes=sa.Integer, healthy_minutes=sa.Integer, resolution_seconds=sa.Integer)
)


def _resolution(seconds: int | None) -> str:
    return "CSV" if seconds is None else f"{seconds} s"


def _day_metadata(day: UptimeDay) -> dict[str, object]:
    metadata: dict[str, object] = {
        "dagster/row_count": 1,
        "observed_minutes": day.observed_minutes,
        "healthy_minutes": day.healthy_minutes,
        "day_minutes": day_minutes(day.day),
        "resolution": _resolution(day.resolution_seconds),
    }
    if day.observed_minutes:
        metadata["uptime_percent"] = round(100 * day.healthy_minutes / day.observed_minutes, 2)
    return metadata


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="perfdata/health_check_uptime",
    group_name="uptime",
    kinds={"aws", "csv", "sql"},
    owners=["team:opg-perfdata"],
    retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    description=(
        "Minutes per day the service's Route 53 health check reported a status, and of those the minutes it "
        "found the service healthy throughout, from CloudWatch (AWS/Route53 HealthCheckStatus, Minimum, at the "
        "finest period CloudWatch still holds) or the hand-supplied SERVICE_UPTIME_CSV, merged into "
        "perfdata.uptime_days. A day is written only once final, 15 minutes after it ends."
    ),
)
def health_check_uptime(
    context: dg.AssetExecutionContext, database: PerfdataDatabase, uptime_source: UptimeSource
) -> dg.MaterializeResult:
    window = DayWindow.from_time_window(context.partition_time_window)
    days = window.days()
    if not uptime_source.is_configured:
        raise dg.Failure(description=NO_UPTIME_SOURCE, allow_retries=False)
    now = utc_now()
    # Finality only moves forward, so the final days are the window's first ones.
    final_days = [d for d in days if uptime_source.is_final(d, now)]
    pending = days[len(final_days):]
    try:
        fetched = uptime_source.fetch(final_days[0], final_days[-1], now) if final_days else []
    except UptimeError as exc:
        # Only an unavailable CloudWatch is worth the step's retries; a refusal, a
        # malformed answer or a bad CSV line will be the same in a minute.
        raise dg.Failure(
            description=f"service uptime for {window}: {exc}", allow_retries=isinstance(exc, UptimeUnavailable)
        ) from None

    dbs = database.connect()
    with dbs.perfdata.begin() as conn:
        # One writer of the days at a time: no two runs' row locks can form a deadlock.
        lock_table_for_replace(conn, "perfdata.uptime_days")
        if fetched:
            conn.execute(
                MERGE_UPTIME_DAY,
                [{"day": d.day, "observed": d.observed_minutes, "healthy": d.healthy_minutes,
                  "resolution": d.resolution_seconds} for d in fetched],
            )
        record_loaded_days(conn, ASSET, final_days, now)
        stored = [UptimeDay(*row) for row in conn.execute(STORED_DAYS, {"first": days[0], "last": days[-1]})]

    stored = [d for d in stored if d.day in set(final_days)]
    fetched_resolution = {d.day: d.resolution_seconds for d in fetched}
    kept_finer = [d.day for d in stored if d.resolution_seconds != fetched_resolution.get(d.day)]
    for day in stored:
        context.add_asset_metadata(_day_metadata(day), partition_key=day.day.isoformat())

    if pending:
        # Saved days stay saved; the run fails so that the unfinished days show as not
        # materialised and a later run picks them up.
        raise dg.Failure(
            description=(
                f"service uptime: {len(pending)} day(s) not final yet ({describe_days(pending)}): a day's "
                f"health-check figures are final 15 minutes after it ends; {len(final_days)} final day(s) were "
                "saved. A later run picks them up."
            ),
            metadata={"final_days_saved": len(final_days), "days_not_final": len(pending),
                      "healed_days": day_ranges(healed_days(context.run.tags, final_days)) or "none",},
            allow_retries=False,
        )
    resolutions = sorted({_resolution(d.resolution_seconds) for d in stored})
    observed = sum(d.observed_minutes for d in stored)
    healthy = sum(d.healthy_minutes for d in stored)
    metadata: dict[str, object] = {
        "window": str(window),
        # Days the ledger lacked before this run, loaded now (see schedules.py).
        "healed_days": day_ranges(healed_days(context.run.tags, final_days)) or "none",
        "days": len(stored),
        "observed_minutes": observed,
        "healthy_minutes": healthy,
        "resolutions": ", ".join(resolutions) or "none",
        # Days kept at the finer period they were fetched at before (see MERGE_UPTIME_DAY).
        "days_kept_at_a_finer_period": len(kept_finer),
    }
    if observed:
        metadata["uptime_percent"] = round(100 * healthy / observed, 2)
    return dg.MaterializeResult(metadata=metadata)


LATEST_WINDOW = sa.text(
    """
    SELECT u.day, u.observed_minutes
      FROM perfdata.uptime_days u
      JOIN perfdata.loaded_days l ON l.day = u.day AND l.asset = :asset
     WHERE l.loaded_at = (SELECT max(loaded_at) FROM perfdata.loaded_days WHERE asset = :asset)
     ORDER BY u.day
    """
).columns(day=sa.Date, observed_minutes=sa.Integer)


@dg.asset_check(
    asset=health_check_uptime,
    name="health_check_uptime_observed",
    blocking=False,
    description=(
        "The days of the latest materialised window on which the health check reported for less than 95 % of "
        "the day (23, 24 or 25 hours in London), or for more minutes than the day has: their uptime says little. "
        "A warning: such days are kept and counted as observed."
    ),
)
def health_check_uptime_observed(database: PerfdataDatabase) -> dg.AssetCheckResult:
    with database.connect().perfdata.connect() as conn:
        rows = conn.execute(LATEST_WINDOW, {"asset": ASSET}).all()
    short, over = [], []
    for day, observed in rows:
        length = day_minutes(day)
        if observed < OBSERVED_SHARE_WARNING * length:
            short.append(f"{day} ({observed} of {length} min, {100 * observed / length:.1f} %)")
        elif observed > length:
            over.append(f"{day} ({observed} of {length} min)")
    window = f"{rows[0][0]} to {rows[-1][0]}" if rows else "none loaded"
    return dg.AssetCheckResult(
        passed=not short and not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "window": window,
            "days_checked": len(rows),
            "days_under_95_percent_observed": len(short),
            "under_95_percent": "; ".join(short[:31]) + (f"; and {len(short) - 31} more" if len(short) > 31 else "")
            or "none",
            "days_over_their_length": len(over),
            "over_their_length": "; ".join(over[:31]) or "none",
        },
    )


uptime_checks = [health_check_uptime_observed]
