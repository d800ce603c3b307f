"""Daily channel counts from Sirius (its API, or the hand-supplied CSV) into perfdata.channel_counts."""

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
from perfdata_assets.sources.sirius.client import SiriusClient
from perfdata_assets.sources.sirius.counts import ChannelCounts, SiriusError, SiriusUnavailable
from perfdata_assets.sources.sirius.csv_source import read_channel_counts_csv

# Said by the asset when it runs unconfigured, and by `perfdata backfill` when it skips it.
NO_CHANNEL_COUNTS_SOURCE = (
    "no channel counts source: set SIRIUS_BASE_URL (the Sirius API) or SIRIUS_CHANNEL_COUNTS_CSV (a CSV file)"
)


class ChannelCountsSource(dg.ConfigurableResource):
    """Where channel counts come from: the CSV file when one is named, else the Sirius API."""

    csv_path: str = Field(default="", description="SIRIUS_CHANNEL_COUNTS_CSV: hand-supplied counts")
    sirius: SiriusClient | None = Field(default=None, description="SIRIUS_BASE_URL: the Sirius data API")

    @property
    def is_configured(self) -> bool:
        return bool(self.csv_path) or self.sirius is not None

    def fetch(self, first: dt.date, last: dt.date) -> ChannelCounts:
        if self.csv_path:
            return read_channel_counts_csv(check_setting("SIRIUS_CHANNEL_COUNTS_CSV", self.csv_path), first, last)
        if self.sirius is None:
            raise dg.Failure(description=NO_CHANNEL_COUNTS_SOURCE, allow_retries=False)
        return self.sirius.fetch_channel_counts(first, last)


def channel_counts_source_from_env() -> ChannelCountsSource:
    """SIRIUS_CHANNEL_COUNTS_CSV wins over SIRIUS_BASE_URL; EnvVar keeps values out of the UI."""
    if os.environ.get("SIRIUS_CHANNEL_COUNTS_CSV"):
        return ChannelCountsSource(csv_path=dg.EnvVar("SIRIUS_CHANNEL_COUNTS_CSV"))
    if os.environ.get("SIRIUS_BASE_URL"):
        return ChannelCountsSource(
            sirius=SiriusClient(
                base_url=dg.EnvVar("SIRIUS_BASE_URL"),
                region=os.environ.get("SIRIUS_REGION", "eu-west-1"),
            )
        )
    return ChannelCountsSource()


MERGE_CHANNEL_COUNT = sa.text(
    """
    INSERT INTO perfdata.channel_counts (day, channel, "count") VALUES (:day, :channel, :count)
    ON CONFLICT (day, channel) DO UPDATE SET "count" = excluded."count"
     WHERE channel_counts."count" IS DISTINCT FROM excluded."count"
    """
).bindparams(sa.bindparam("day", type_=sa.Date))


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="perfdata/sirius_channel_counts",
    group_name="sirius",
    kinds={"api", "csv", "sql"},
    owners=["team:opg-perfdata"],
    retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    description=(
        "LPAs received per day and channel (online, paper, phone, and any channel Sirius adds), "
        "from the Sirius data API or the hand-supplied CSV, merged into perfdata.channel_counts. "
        "Only days Sirius says are final (completeThrough) are written."
    ),
)
def sirius_channel_counts(
    context: dg.AssetExecutionContext, database: PerfdataDatabase, channel_counts_source: ChannelCountsSource
) -> dg.MaterializeResult:
    window = DayWindow.from_time_window(context.partition_time_window)
    days = window.days()
    try:
        fetched = channel_counts_source.fetch(days[0], days[-1])
    except ConfigError as exc:  # a wrong setting: waiting will not mend it
        raise dg.Failure(description=f"channel counts for {window}: {exc}", allow_retries=False) from None
    except SiriusError as exc:
        # Only an unavailable Sirius is worth the step's retries; a refusal or a
        # malformed body will be the same in a minute.
        raise dg.Failure(
            description=f"channel counts for {window}: {exc}", allow_retries=isinstance(exc, SiriusUnavailable)
        ) from None
    final_days = [d for d in days if fetched.is_final(d)]
    pending = [d for d in days if not fetched.is_final(d)]
    rows = [c for c in fetched.counts if fetched.is_final(c.day)]

    dbs = database.connect()
    with dbs.perfdata.begin() as conn:
        # One writer of the counts at a time: no two runs' row locks can form a deadlock.
        lock_table_for_replace(conn, "perfdata.channel_counts")
        if rows:
            conn.execute(MERGE_CHANNEL_COUNT, [{"day": c.day, "channel": c.channel, "count": c.count} for c in rows])
        record_loaded_days(conn, "sirius_channel_counts", final_days, dt.datetime.now(dt.timezone.utc))

    per_day: dict[dt.date, dict[str, int]] = {d: {} for d in final_days}
    for c in rows:
        per_day[c.day][c.channel] = c.count
    for day, channels in per_day.items():
        context.add_asset_metadata(
            {
                "dagster/row_count": len(channels),
                "total": sum(channels.values()),
                "online": channels.get("online", 0),
                "channels": ", ".join(sorted(channels)) or "none",
            },
            partition_key=day.isoformat(),
        )
    if pending:
        # Saved days stay saved (nothing lost); the run fails so that the
        # unfinished days show as not materialised and a later run picks them up.
        raise dg.Failure(
            description=(
                f"Sirius figures are final only through {fetched.complete_through or 'no day'}: "
                f"{len(pending)} day(s) not final yet ({describe_days(pending)}), not written; "
                f"{len(final_days)} final day(s) were saved. A later run picks them up."
            ),
            metadata={"final_days_saved": len(final_days), "days_not_final": len(pending),
                      "healed_days": day_ranges(healed_days(context.run.tags, final_days)) or "none",},
            allow_retries=False,
        )
    return dg.MaterializeResult(
        metadata={
            "window": str(window),
            # Days the ledger lacked before this run, loaded now (see schedules.py).
            "healed_days": day_ranges(healed_days(context.run.tags, final_days)) or "none",
            "rows": len(rows),
            "total_in_window": sum(c.count for c in rows),
            "channels": ", ".join(sorted({c.channel for c in rows})) or "none",
        }
    )
