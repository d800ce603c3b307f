"""When perfdata runs: nightly for the daily history, monthly for the KPIs (UK local time)."""

import datetime as dt

import dagster as dg

from perfdata_assets.backfill import range_tags
from perfdata_assets.db.engines import LONDON
from perfdata_assets.kpis.assets import completion_rate, digital_take_up, user_satisfaction
from perfdata_assets.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets.partitions import START_DATE, TIMEZONE, daily_partitions, monthly_partitions
from perfdata_assets.sirius.assets import sirius_channel_counts

# Sources change late (an LPA created just before midnight is saved a little
# after; Sirius finalises a day's receipts a day or two later), so each night
# re-checks the days before yesterday too.
LOOKBACK_DAYS = 3

lpa_history_job = dg.define_asset_job(
    "lpa_history_job", selection=[raw_feedback, lpa_lifecycle_events], partitions_def=daily_partitions
)
sirius_channel_counts_job = dg.define_asset_job(
    "sirius_channel_counts_job", selection=[sirius_channel_counts], partitions_def=daily_partitions
)
monthly_kpis_job = dg.define_asset_job(
    "monthly_kpis_job",
    selection=dg.AssetSelection.assets(user_satisfaction, completion_rate, digital_take_up).downstream(),
    partitions_def=monthly_partitions,
)


def nightly_window(tick: dt.datetime) -> tuple[dt.date, dt.date]:
    """Yesterday and the LOOKBACK_DAYS - 1 days before it, never before the first partition."""
    today = tick.astimezone(LONDON).date()
    return max(today - dt.timedelta(days=LOOKBACK_DAYS), START_DATE), today - dt.timedelta(days=1)


def _nightly_request(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    first, last = nightly_window(context.scheduled_execution_time)
    # One run for the whole window (single-run backfill); the run key makes a
    # re-evaluated tick launch nothing twice.
    return dg.RunRequest(
        run_key=f"{first}..{last}", tags={**range_tags(first.isoformat(), last.isoformat()), "perfdata/trigger": "nightly"}
    )


@dg.schedule(job=lpa_history_job, cron_schedule="30 2 * * *", execution_timezone=TIMEZONE)
def lpa_history_nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Feedback and lifecycle events for yesterday, re-checking the days before it."""
    return _nightly_request(context)


@dg.schedule(job=sirius_channel_counts_job, cron_schedule="0 7 * * *", execution_timezone=TIMEZONE)
def sirius_channel_counts_nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Sirius counts, after Sirius's own overnight processing."""
    return _nightly_request(context)


# A month is published once it has ended and its last days have been through
# the nightly re-check, i.e. on day LOOKBACK_DAYS + 1 of the next month.
monthly_kpis_schedule = dg.build_schedule_from_partitioned_job(
    monthly_kpis_job, name="monthly_kpis", day_of_month=LOOKBACK_DAYS + 1, hour_of_day=8
)

jobs = [lpa_history_job, sirius_channel_counts_job, monthly_kpis_job]
schedules = [lpa_history_nightly, sirius_channel_counts_nightly, monthly_kpis_schedule]
