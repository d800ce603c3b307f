"""What the schedules ask for at a given tick, in UK local time."""

import datetime as dt

import dagster as dg

from perfdata_assets.db.engines import LONDON
from perfdata_assets.definitions import defs
from perfdata_assets.schedules import (
    LOOKBACK_DAYS,
    lpa_history_nightly,
    monthly_kpis_schedule,
    sirius_channel_counts_nightly,
)


def tick(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=LONDON)


def test_nightly_runs_yesterday_and_rechecks_the_days_before_it_in_one_run():
    for schedule in (lpa_history_nightly, sirius_channel_counts_nightly):
        # 02:30 BST on 1 April 2024 is 01:30 UTC: "yesterday" is 31 March in London.
        with dg.build_schedule_context(scheduled_execution_time=tick("2024-04-01 02:30")) as context:
            request = schedule.evaluate_tick(context).run_requests[0]
        assert request.partition_key_range == dg.PartitionKeyRange("2024-03-29", "2024-03-31")
        assert request.run_key == "2024-03-29..2024-03-31"
    assert LOOKBACK_DAYS == 3


def test_monthly_kpis_publish_the_previous_month_after_the_recheck_window():
    assert monthly_kpis_schedule.cron_schedule == f"0 8 {LOOKBACK_DAYS + 1} * *"
    assert monthly_kpis_schedule.execution_timezone == "Europe/London"
    with dg.build_schedule_context(scheduled_execution_time=tick("2024-11-04 08:00")) as context:
        request = monthly_kpis_schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2024-10-01"


def test_the_monthly_job_covers_every_kpi_and_what_is_published_from_them():
    job = defs.resolve_job_def("monthly_kpis_job")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"user_satisfaction", "completion_rate", "digital_take_up"} <= keys
    assert not keys & {"raw_feedback", "lpa_lifecycle_events", "sirius_channel_counts"}
