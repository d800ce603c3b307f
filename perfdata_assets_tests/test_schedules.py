"""What the schedules ask for at a given tick, in UK local time."""

import datetime as dt

import dagster as dg
import pytest

from perfdata_assets.calendar import LONDON
from perfdata_assets.db.ledger import record_loaded_days
from perfdata_assets.definitions import defs
from perfdata_assets.schedules import (
    LOOKBACK_DAYS,
    MONTHLY_RERUN_DAYS,
    health_check_uptime_nightly,
    lpa_history_nightly,
    monthly_assets,
    monthly_kpis_schedule,
    service_costs_nightly,
    sirius_channel_counts_nightly,
)


def tick(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=LONDON)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_nightly_runs_yesterday_and_rechecks_the_days_before_it_in_one_run(backend):
    # The ledger lacks nothing older (days it lacks: test_schedules_heal.py).
    with backend.dbs.perfdata.begin() as conn:
        for asset in ("raw_feedback", "lpa_lifecycle_events", "sirius_channel_counts", "health_check_uptime"):
            record_loaded_days(conn, asset, [dt.date(2024, 3, d) for d in range(1, 29)], dt.datetime.now(dt.timezone.utc))
    for schedule in (lpa_history_nightly, sirius_channel_counts_nightly, health_check_uptime_nightly):
        # 02:30 BST on 1 April 2024 is 01:30 UTC: "yesterday" is 31 March in London.
        with dg.build_schedule_context(scheduled_execution_time=tick("2024-04-01 02:30"),
                                       resources={"database": backend.resource}) as context:
            request = schedule.evaluate_tick(context).run_requests[0]
        assert request.partition_key_range == dg.PartitionKeyRange("2024-03-29", "2024-03-31")
        assert request.run_key == "2024-03-29..2024-03-31"
    assert LOOKBACK_DAYS == 3


def cron_time(schedule: dg.ScheduleDefinition) -> dt.time:
    minute, hour = schedule.cron_schedule.split()[:2]
    return dt.time(int(hour), int(minute))


def test_the_month_is_loaded_then_published_before_opgs_import_at_noon_utc_on_the_1st():
    assert monthly_kpis_schedule.cron_schedule == f"0 9 1-{MONTHLY_RERUN_DAYS} * *"
    assert monthly_kpis_schedule.execution_timezone == "Europe/London"
    # Every nightly source loads the month's last day before the monthly run starts.
    for nightly in (lpa_history_nightly, sirius_channel_counts_nightly, health_check_uptime_nightly):
        assert nightly.execution_timezone == "Europe/London"
        assert cron_time(nightly) < cron_time(monthly_kpis_schedule)
    # 09:00 in London is before 12:00 UTC in summer and in winter.
    for day in ("2024-07-01", "2024-12-01"):
        assert tick(f"{day} 09:00").astimezone(dt.timezone.utc).hour < 12
    # The uptime day is final 15 minutes after midnight: its nightly run comes after that.
    assert cron_time(health_check_uptime_nightly) >= dt.time(0, 15)


def test_the_monthly_run_asks_for_last_month_on_the_1st_and_again_on_the_next_days():
    keys = []
    repository = defs.get_repository_def()
    for day in ("2024-11-01", "2024-11-02", "2024-11-07"):
        with dg.build_schedule_context(scheduled_execution_time=tick(f"{day} 09:00"),
                                       repository_def=repository) as context:
            [request] = monthly_kpis_schedule.evaluate_tick(context).run_requests
        assert request.partition_key == "2024-10-01"
        keys.append(request.run_key)
    # A distinct run each day (late KPIs, restatements), each launched once.
    assert keys == ["2024-10@2024-11-01", "2024-10@2024-11-02", "2024-10@2024-11-07"]
    with dg.build_schedule_context(scheduled_execution_time=tick("2025-01-01 09:00"),
                                   repository_def=repository) as context:
        assert monthly_kpis_schedule.evaluate_tick(context).run_requests[0].partition_key == "2024-12-01"


def test_the_monthly_job_leaves_out_what_is_not_configured():
    names = [a.key.to_user_string() for a in monthly_assets({"digital_take_up", "opg_publication_delivery"})]
    assert names == ["user_satisfaction", "completion_rate", "service_uptime", "cost_per_transaction",
                     "published_kpis", "performance_data_exports"]
    names = [a.key.to_user_string() for a in monthly_assets({"cost_per_transaction"})]
    assert "cost_per_transaction" not in names and "published_kpis" in names


def test_the_monthly_job_covers_every_kpi_and_what_is_published_from_them():
    job = defs.resolve_job_def("monthly_kpis_job")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"user_satisfaction", "completion_rate", "published_kpis", "performance_data_exports"} <= keys
    assert not keys & {"raw_feedback", "lpa_lifecycle_events", "sirius_channel_counts"}


def test_the_costs_of_the_last_twelve_months_are_read_every_night(monkeypatch, tmp_path):
    monkeypatch.delenv("SERVICE_COSTS_CSV", raising=False)
    with dg.build_schedule_context(scheduled_execution_time=tick("2026-02-10 06:00")) as context:
        skipped = service_costs_nightly.evaluate_tick(context)
    assert not skipped.run_requests and "SERVICE_COSTS_CSV" in skipped.skip_message
    monkeypatch.setenv("SERVICE_COSTS_CSV", str(tmp_path / "costs.csv"))
    # January has ended by 06:00 on 1 February: it is the last of the twelve months read.
    for when, first, last in (("2026-02-01 06:00", "2025-02-01", "2026-01-01"),
                              ("2026-07-15 06:00", "2025-07-01", "2026-06-01")):
        with dg.build_schedule_context(scheduled_execution_time=tick(when)) as context:
            request = service_costs_nightly.evaluate_tick(context).run_requests[0]
        assert request.partition_key_range == dg.PartitionKeyRange(first, last)
