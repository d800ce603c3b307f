"""When perfdata runs: nightly for the daily history, monthly for the publication (UK local time).

OPG's import copies last month's file at 12:00 UTC on the 1st, so every
source has loaded the month's last day by 07:00 UK time and the monthly run
publishes and delivers at 09:00 UK time (08:00 or 09:00 UTC). The monthly run
is repeated on the next days of the month: a KPI whose source was late is then
published, and a restated figure is recorded, re-delivered and announced; a
re-run that changes nothing writes and announces nothing.

Each nightly run also heals: the days of this month and last month that the
loaded-days ledger lacks for its source join the run (see nightly_request), so a
source down for days is caught up by the first night it answers, in time for the
monthly re-runs.
"""

import datetime as dt

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.calendar import (
    HEALING_TAG,
    LONDON,
    START_DATE,
    TIMEZONE,
    DayWindow,
    add_months,
    daily_partitions,
    day_ranges,
    monthly_partitions,
    range_tags,
)
from perfdata_assets.configured import skipped_asset_names
from perfdata_assets.db.ledger import first_loaded_day, missing_days
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.kpis.assets import completion_rate, digital_take_up, service_uptime, user_satisfaction
from perfdata_assets.kpis.cost_per_transaction import cost_per_transaction
from perfdata_assets.publishing.assets import performance_data_exports, published_kpis
from perfdata_assets.publishing.delivery import opg_publication_delivery
from perfdata_assets.sources.costs.assets import service_costs
from perfdata_assets.sources.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets.sources.sirius.assets import sirius_channel_counts
from perfdata_assets.sources.uptime.assets import health_check_uptime

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
health_check_uptime_job = dg.define_asset_job(
    "health_check_uptime_job", selection=[health_check_uptime], partitions_def=daily_partitions
)
service_costs_job = dg.define_asset_job(
    "service_costs_job", selection=[service_costs], partitions_def=monthly_partitions
)


def monthly_assets(skipped: set[str]) -> list[dg.AssetsDefinition]:
    """The monthly run's assets: every configured KPI, the publication, its files and their delivery."""
    monthly = [user_satisfaction, completion_rate, digital_take_up, service_uptime, cost_per_transaction,
               published_kpis, performance_data_exports, opg_publication_delivery]
    return [a for a in monthly if a.key.to_user_string() not in skipped]


def _skipped_here() -> set[str]:
    """What this deployment's environment leaves unconfigured (the resources definitions.py builds)."""
    from perfdata_assets.publishing.delivery import publication_bucket_from_env
    from perfdata_assets.sources.costs.assets import service_costs_source_from_env
    from perfdata_assets.sources.sirius.assets import channel_counts_source_from_env
    from perfdata_assets.sources.uptime.assets import uptime_source_from_env

    return skipped_asset_names({
        "channel_counts_source": channel_counts_source_from_env(),
        "uptime_source": uptime_source_from_env(),
        "service_costs_source": service_costs_source_from_env(),
        "publication_bucket": publication_bucket_from_env(),
    })


monthly_kpis_job = dg.define_asset_job(
    "monthly_kpis_job", selection=monthly_assets(_skipped_here()), partitions_def=monthly_partitions
)


def nightly_window(tick: dt.datetime) -> tuple[dt.date, dt.date]:
    """Yesterday and the LOOKBACK_DAYS - 1 days before it, never before the first partition."""
    today = tick.astimezone(LONDON).date()
    return max(today - dt.timedelta(days=LOOKBACK_DAYS), START_DATE), today - dt.timedelta(days=1)


def healing_window(tick: dt.datetime) -> DayWindow:
    """The days a nightly run may heal: the current and the previous month, up to yesterday.

    Bounded so that one night's run stays one night's work; anything older is
    `perfdata backfill`'s (the monthly re-runs stop on the 7th anyway).
    """
    today = tick.astimezone(LONDON).date()
    return DayWindow(max(add_months(today.replace(day=1), -1), START_DATE), today)


def nightly_request(tick: dt.datetime, missing: list[dt.date]) -> dg.RunRequest:
    """One run from the earliest day the ledger lacks (or the usual window) to yesterday.

    The days before the usual window that the ledger lacks are named in the
    HEALING_TAG tag; the days in between that are loaded already are loaded
    again, which is what every nightly run does to its window anyway.
    """
    usual, last = nightly_window(tick)
    healing = [d for d in missing if d < usual]
    first = healing[0] if healing else usual
    tags = {**range_tags(first.isoformat(), last.isoformat()), "perfdata/trigger": "nightly"}
    if healing:
        tags[HEALING_TAG] = day_ranges(healing)
    # One run for the whole window (single-run backfill). The run key is the tick's
    # usual window, whatever the ledger said: a re-evaluated tick launches nothing
    # twice, even after its first run has filled the hole.
    return dg.RunRequest(run_key=f"{usual}..{last}", tags=tags)


def _nightly_request(
    context: dg.ScheduleEvaluationContext, database: PerfdataDatabase, assets: tuple[str, ...]
) -> dg.RunRequest:
    tick = context.scheduled_execution_time
    window = healing_window(tick)
    missing: set[dt.date] = set()
    if window.first < window.end:
        try:
            with database.connect().perfdata.connect() as conn:
                for asset in assets:
                    # A hole is a day missing after the history starts: the days before
                    # it (a new deployment) are `perfdata backfill`'s to load.
                    start = first_loaded_day(conn, asset)
                    if start is not None:
                        missing.update(missing_days(conn, asset, DayWindow(max(start, window.first), window.end)))
        except (dg.Failure, sa.exc.SQLAlchemyError) as exc:
            # The database the run would write to is unreachable: the usual
            # window is asked for, and the run says why it cannot load it.
            reason = getattr(exc, "description", None) or str(exc).splitlines()[0]
            context.log.warning(f"cannot read the loaded-days ledger, no healing this night: {reason}")
    return nightly_request(tick, sorted(missing))


@dg.schedule(job=lpa_history_job, cron_schedule="30 2 * * *", execution_timezone=TIMEZONE)
def lpa_history_nightly(context: dg.ScheduleEvaluationContext, database: PerfdataDatabase) -> dg.RunRequest:
    """Feedback and lifecycle events for yesterday, re-checking the days before it and healing gaps."""
    return _nightly_request(context, database, ("raw_feedback", "lpa_lifecycle_events"))


@dg.schedule(job=health_check_uptime_job, cron_schedule="30 0 * * *", execution_timezone=TIMEZONE)
def health_check_uptime_nightly(context: dg.ScheduleEvaluationContext, database: PerfdataDatabase) -> dg.RunRequest:
    """Uptime for yesterday once CloudWatch has it (a day is final 15 minutes after it ends), healing gaps."""
    return _nightly_request(context, database, ("health_check_uptime",))


@dg.schedule(job=sirius_channel_counts_job, cron_schedule="0 7 * * *", execution_timezone=TIMEZONE)
def sirius_channel_counts_nightly(context: dg.ScheduleEvaluationContext, database: PerfdataDatabase) -> dg.RunRequest:
    """Sirius counts, after Sirius's own overnight processing, healing gaps."""
    return _nightly_request(context, database, ("sirius_channel_counts",))


# Days 1 to MONTHLY_RERUN_DAYS of each month: the first run delivers before
# OPG's import; the others pick up late KPIs and restatements.
MONTHLY_RERUN_DAYS = 7


def last_month(tick: dt.datetime) -> dt.date:
    return (tick.astimezone(LONDON).date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


@dg.schedule(
    job=monthly_kpis_job,
    cron_schedule=f"0 9 1-{MONTHLY_RERUN_DAYS} * *",
    execution_timezone=TIMEZONE,
    name="monthly_kpis",
)
def monthly_kpis_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Last month's KPIs, publication, files and delivery, before OPG's import at 12:00 UTC on the 1st."""
    month = last_month(context.scheduled_execution_time)
    if month < monthly_partitions.start.date():
        return dg.SkipReason(f"{month:%Y-%m} is before the first monthly partition")
    tick_day = context.scheduled_execution_time.astimezone(LONDON).date()
    return dg.RunRequest(
        run_key=f"{month:%Y-%m}@{tick_day}",
        partition_key=month.isoformat(),
        tags={"perfdata/trigger": "monthly"},
    )


# Finance's figures for a month arrive days or weeks after it, and Cost Explorer's bill is an
# estimate until AWS closes it: every night the costs of the last COSTS_LOOKBACK_MONTHS months
# are read again, so a late month is costed, and a restated one merged, within a day. The
# monthly run then recomputes and publishes the quarters that ended in the last twelve months.
COSTS_LOOKBACK_MONTHS = 12


def costs_window(tick: dt.datetime) -> tuple[dt.date, dt.date]:
    """Last month and the COSTS_LOOKBACK_MONTHS - 1 before it, never before the first partition."""
    last = last_month(tick)
    first = last
    for _ in range(COSTS_LOOKBACK_MONTHS - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return max(first, monthly_partitions.start.date()), last


@dg.schedule(job=service_costs_job, cron_schedule="0 6 * * *", execution_timezone=TIMEZONE)
def service_costs_nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """The finance CSV and Cost Explorer for the last twelve months, every night."""
    from perfdata_assets.sources.costs.assets import NO_SERVICE_COSTS_SOURCE, service_costs_source_from_env

    if not service_costs_source_from_env().is_configured:
        return dg.SkipReason(NO_SERVICE_COSTS_SOURCE)
    first, last = costs_window(context.scheduled_execution_time)
    if last < monthly_partitions.start.date():
        return dg.SkipReason(f"{last:%Y-%m} is before the first monthly partition")
    tick_day = context.scheduled_execution_time.astimezone(LONDON).date()
    return dg.RunRequest(
        run_key=f"{first:%Y-%m}..{last:%Y-%m}@{tick_day}",
        tags={**range_tags(first.isoformat(), last.isoformat()), "perfdata/trigger": "nightly"},
    )


jobs = [lpa_history_job, sirius_channel_counts_job, health_check_uptime_job, service_costs_job, monthly_kpis_job]
schedules = [lpa_history_nightly, health_check_uptime_nightly, sirius_channel_counts_nightly, service_costs_nightly,
             monthly_kpis_schedule]
