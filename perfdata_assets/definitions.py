"""The perfdata code location: every asset, check, schedule, sensor and resource."""

import gc

import dagster as dg

from perfdata_assets.config import check_settings
from perfdata_assets.db.resource import database_resource_from_env
from perfdata_assets.freshness import perfdata_overdue_webhook, with_freshness
from perfdata_assets.kpis.assets import completion_rate, digital_take_up, service_uptime, user_satisfaction
from perfdata_assets.kpis.checks import kpi_checks
from perfdata_assets.kpis.cost_per_transaction import cost_per_transaction, cost_per_transaction_checks
from perfdata_assets.publishing.assets import performance_data_exports, published_kpis
from perfdata_assets.publishing.checks import publication_checks
from perfdata_assets.publishing.delivery import opg_publication_delivery, publication_bucket_from_env
from perfdata_assets.publishing.resource import export_directory_from_env
from perfdata_assets.publishing.sensors import perfdata_run_failure_webhook, published_kpis_webhook
from perfdata_assets.publishing.webhooks import webhooks_from_env
from perfdata_assets.schedules import jobs, schedules
from perfdata_assets.sources.costs.assets import service_costs, service_costs_source_from_env
from perfdata_assets.sources.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets.sources.sirius.assets import channel_counts_source_from_env, sirius_channel_counts
from perfdata_assets.sources.uptime.assets import health_check_uptime, uptime_checks, uptime_source_from_env

# The partitions' first day must be right before anything is defined on it (calendar.py falls
# back to the default only so that importing never fails): the code location refuses to load,
# with the same one line as the CLI, rather than show partitions from the wrong day.
check_settings(["PERFDATA_START_DATE"])

defs = dg.Definitions(
    # Each with its deadline (freshness.py), shown in the Dagster UI.
    assets=with_freshness([
        raw_feedback,
        lpa_lifecycle_events,
        sirius_channel_counts,
        health_check_uptime,
        service_costs,
        user_satisfaction,
        completion_rate,
        digital_take_up,
        service_uptime,
        cost_per_transaction,
        published_kpis,
        performance_data_exports,
        opg_publication_delivery,
    ]),
    asset_checks=[*kpi_checks, *cost_per_transaction_checks, *uptime_checks, *publication_checks],
    jobs=jobs,
    # Every run's steps one after another in the run's own process. The default starts a process
    # per step (2-3 s each: Python, Dagster, perfdata) and runs them side by side, but the steps'
    # work is SQL in one database, where they only compete; a UI backfill's monthly run took
    # 43 s so and 4 s in process (bench/RESULTS.md, "Where A_ui's time goes").
    executor=dg.in_process_executor,
    schedules=schedules,
    sensors=[published_kpis_webhook, perfdata_run_failure_webhook, perfdata_overdue_webhook],
    resources={
        "database": database_resource_from_env(),
        "channel_counts_source": channel_counts_source_from_env(),
        "uptime_source": uptime_source_from_env(),
        "service_costs_source": service_costs_source_from_env(),
        "export_directory": export_directory_from_env(),
        "publication_bucket": publication_bucket_from_env(),
        "webhooks": webhooks_from_env(),
    },
)

# The modules and these definitions live as long as the process: moved out of the collector's
# generations, no later full collection scans them again, nor do the interpreter's at exit
# (0.6-0.9 s of a nightly run's process, bench step E, with them in). Only what exists now is
# frozen; what the runs create is collected as before.
gc.freeze()
