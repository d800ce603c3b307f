"""A small, self-contained code location for the deployment tests.

It stands in for perfdata's own (whose schedules and data live elsewhere) so
that the tests exercise the deployment itself: the production dagster.yaml on
PostgreSQL, the daemon's scheduler, run queue, concurrency pools and run
retries. Nothing here touches a perfdata database.
"""

import os
import tempfile
import time
from pathlib import Path

import dagster as dg

# How long a pooled step holds its pool slot: long enough that two runs would
# visibly overlap if the pool did not serialise them.
STEP_SECONDS = float(os.environ.get("PERFDATA_TEST_STEP_SECONDS", "6"))
# A directory where `pooled` shows it is writing, so that `elsewhere` can wait
# for that moment and prove the two pools run at once (test-only: production
# runs share no filesystem).
RENDEZVOUS = Path(os.environ.get("PERFDATA_TEST_RENDEZVOUS", tempfile.gettempdir()))
OVERLAP_TIMEOUT = 120.0

SHARED_POOL = "perfdata_test/pooled"
OTHER_POOL = "perfdata_test/other"


@dg.asset
def heartbeat() -> dg.MaterializeResult:
    """What the every-minute schedule materialises."""
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


@dg.asset(pool=SHARED_POOL, partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"))
def pooled(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Like a perfdata asset: its own pool, daily partitions, a slow write."""
    context.log.info(f"writing {context.partition_key} for {STEP_SECONDS}s")
    writing = RENDEZVOUS / f"pooled-writing-{context.run_id}"
    writing.touch()
    try:
        time.sleep(STEP_SECONDS)
    finally:
        writing.unlink(missing_ok=True)
    return dg.MaterializeResult(metadata={"partition": context.partition_key})


@dg.asset(pool=OTHER_POOL)
def elsewhere(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Another pool: runs while a `pooled` step holds its slot, or fails."""
    deadline = time.monotonic() + OVERLAP_TIMEOUT
    while not any(RENDEZVOUS.glob("pooled-writing-*")):
        if time.monotonic() > deadline:
            raise dg.Failure(description=f"no pooled write was running at any time in {OVERLAP_TIMEOUT:.0f}s")
        time.sleep(0.2)
    return dg.MaterializeResult(metadata={"saw_pooled_writing": True})


@dg.asset
def flaky(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Fails the first time, as a dropped database connection would, and succeeds on the retry."""
    retry = context.run.tags.get("dagster/retry_number")
    if retry is None:
        raise dg.Failure(description="transient failure (first attempt)")
    return dg.MaterializeResult(metadata={"retry_number": int(retry)})


# A backfill as perfdata's are: daily sources, each day a partition, then a monthly
# figure from them; single-run backfill policies, so a UI backfill is two runs.
DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2026-12-01")
MONTHS = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_date="2026-12-01")


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def daily_source(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset(partitions_def=MONTHS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[daily_source])
def monthly_figure(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"months": len(context.partition_keys)})


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def failing_daily(context: dg.AssetExecutionContext) -> None:
    raise dg.Failure(description=f"{len(context.partition_keys)} days refused (test)", allow_retries=False)


heartbeat_job = dg.define_asset_job("heartbeat_job", selection=[heartbeat], executor_def=dg.in_process_executor)
pooled_job = dg.define_asset_job("pooled_job", selection=[pooled], executor_def=dg.in_process_executor)
elsewhere_job = dg.define_asset_job("elsewhere_job", selection=[elsewhere], executor_def=dg.in_process_executor)
flaky_job = dg.define_asset_job("flaky_job", selection=[flaky], executor_def=dg.in_process_executor)

every_minute = dg.ScheduleDefinition(
    name="every_minute",
    job=heartbeat_job,
    cron_schedule="* * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    assets=[heartbeat, pooled, elsewhere, flaky, daily_source, monthly_figure, failing_daily],
    jobs=[heartbeat_job, pooled_job, elsewhere_job, flaky_job],
    schedules=[every_minute],
    executor=dg.in_process_executor,  # as perfdata's definitions
)
