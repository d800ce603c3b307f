"""deploy/up.sh: the webserver and the daemon on the production dagster.yaml, on a real PostgreSQL.

One stack (a throwaway PostgreSQL database for the instance, up.sh running the
webserver and the daemon on the small code location in location.py) serves
every test in this module; the last test stops it with SIGTERM, as Ctrl-C or
`docker stop` would.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from perfdata_assets.devtools.loopback import free_port
from perfdata_assets_tests.deployment import location
from perfdata_assets_tests.deployment.support import (
    REPO,
    VENV_BIN,
    Service,
    clean_env,
    dagster_pg_env,
    graphql,
    http_ok,
    location_loaded,
    tail,
    throwaway_database,
    wait_for,
)

pytestmark = pytest.mark.postgres

LOCATION = "deployment_test"
RUN_TIMEOUT = 180  # seconds for a handful of 8-second runs on a busy 2-core machine
TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}

LAUNCH_RUN = """
mutation Launch($job: String!, $tags: [ExecutionTag!]) {
  launchRun(executionParams: {
    selector: {repositoryLocationName: "%s", repositoryName: "__repository__", jobName: $job},
    executionMetadata: {tags: $tags}
  }) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
  }
}
""" % LOCATION


@dataclass
class Stack:
    up: Service
    port: int
    home: Path
    database_url: str
    instance: dg.DagsterInstance
    engine: sa.Engine

    def launch(self, job: str, **tags: str) -> str:
        """Launch a run through the webserver, as the UI's Materialize button does."""
        data = graphql(
            self.port, LAUNCH_RUN, {"job": job, "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        )["launchRun"]
        assert data["__typename"] == "LaunchRunSuccess", data
        # The QueuedRunCoordinator only enqueues: the daemon decides when it starts.
        assert data["run"]["status"] in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED"), data
        return data["run"]["runId"]

    def finished(self, run_id: str, timeout: float = RUN_TIMEOUT) -> dg.DagsterRun:
        def probe():
            run = self.instance.get_run_by_id(run_id)
            return run if run is not None and run.status in TERMINAL else None

        return wait_for(f"run {run_id} to finish", probe, timeout, interval=1, log=self.up.log)

    def event_times(self, run_id: str) -> dict[str, float]:
        """First timestamp of each event type of a run, from the event log in PostgreSQL."""
        times: dict[str, float] = {}
        for entry in self.instance.all_logs(run_id):
            if entry.dagster_event is not None:
                times.setdefault(entry.dagster_event.event_type_value, entry.timestamp)
        return times

    def sql(self, query: str, **params) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(query), params)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("up")
    workspace = tmp / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_module:\n"
        f"      module_name: {location.__name__}\n"
        f"      location_name: {LOCATION}\n"
        f"      working_directory: {REPO}\n"
    )
    home = tmp / "dagster_home"
    rendezvous = tmp / "rendezvous"
    rendezvous.mkdir()
    port = free_port()
    # up.sh creates the instance database itself, as on a first `make up`.
    with throwaway_database("perfdata_dagster_test", create=False) as url, pytest.MonkeyPatch.context() as mp:
        pg = dagster_pg_env(url)
        env = clean_env(
            **pg,
            PERFDATA_UP_HOME=str(home),
            PERFDATA_WORKSPACE=str(workspace),
            DAGSTER_WEBSERVER_PORT=str(port),
            DAGSTER_BIN=str(VENV_BIN),
            PERFDATA_TEST_STEP_SECONDS="8",
            PERFDATA_TEST_RENDEZVOUS=str(rendezvous),
        )
        up = Service(["bash", str(REPO / "deploy" / "up.sh")], env, tmp / "up.log").start()
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        instance = None
        try:
            wait_for("the webserver", lambda: up.alive() and http_ok(f"http://127.0.0.1:{port}/server_info"), 120, log=up.log)
            assert "up.sh: created database" in up.log.read_text()

            wait_for("the webserver to load the test code location", lambda: location_loaded(port, LOCATION), 120, log=up.log)
            # The test process reads the same instance: the same dagster.yaml, the same env.
            for key, value in pg.items():
                mp.setenv(key, value)
            instance = dg.DagsterInstance.from_config(str(home))
            wait_for(
                "the daemon's run queue and scheduler heartbeats",
                lambda: {"QUEUED_RUN_COORDINATOR", "SCHEDULER"} <= set(instance.get_daemon_heartbeats()),
                120,
                log=up.log,
            )
            yield Stack(up, port, home, url, instance, engine)
        finally:
            up.stop()
            if instance is not None:
                instance.dispose()
            engine.dispose()


def test_up_refuses_an_unreachable_instance_database(tmp_path: Path):
    env = clean_env(
        DAGSTER_BIN=str(VENV_BIN),
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT=str(free_port()),  # nothing listens there
        PERFDATA_UP_HOME=str(tmp_path / "home"),
        DAGSTER_WEBSERVER_PORT=str(free_port()),
    )
    result = subprocess.run(
        ["bash", str(REPO / "deploy" / "up.sh")], env=env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode != 0
    assert "up.sh: cannot prepare the Dagster database perfdata_dagster" in result.stderr
    assert "Traceback" not in result.stderr


def test_instance_storage_is_on_postgresql(stack: Stack):
    assert type(stack.instance.run_storage).__name__ == "PooledPostgresRunStorage"
    assert type(stack.instance.event_log_storage).__name__ == "BatchedPostgresEventLogStorage"
    assert type(stack.instance.schedule_storage).__name__ == "PooledPostgresScheduleStorage"
    assert type(stack.instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    tables = {row[0] for row in stack.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "jobs", "job_ticks", "daemon_heartbeats", "concurrency_limits"} <= tables
    # The daemon's heartbeats are in PostgreSQL, including the loops run retries and
    # run monitoring need.
    daemons = {row[0] for row in stack.sql("SELECT daemon_type FROM daemon_heartbeats")}
    assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "EVENT_LOG_CONSUMER", "MONITORING"} <= daemons
    # Nothing fell back to SQLite files in DAGSTER_HOME.
    assert not list(stack.home.rglob("*.db")), list(stack.home.rglob("*"))


STARTING = dg.DagsterEventType.RUN_STARTING.value  # the daemon took the run off the queue
STEP_START = dg.DagsterEventType.STEP_START.value
STEP_SUCCESS = dg.DagsterEventType.STEP_SUCCESS.value


def overlap(x: dict[str, float], y: dict[str, float]) -> bool:
    return x[STEP_START] < y[STEP_SUCCESS] and y[STEP_START] < x[STEP_SUCCESS]


def test_writes_to_one_pool_never_overlap_and_other_pools_run_alongside(stack: Stack):
    partition = {"dagster/partition": "2024-01-02"}
    # Launched back to back: one run writing an asset in another pool (first, as
    # the daemon launches runs one after the other), then two runs writing the
    # same asset partition.
    other = stack.launch("elsewhere_job")
    first = stack.launch("pooled_job", **partition)
    second = stack.launch("pooled_job", **partition)
    runs = {run_id: stack.finished(run_id) for run_id in (first, second, other)}
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs.values()), {
        r: run.status for r, run in runs.items()
    }
    times = {run_id: stack.event_times(run_id) for run_id in runs}
    a, b = sorted((first, second), key=lambda r: times[r][STEP_START])
    # The step claims its pool's slot in PostgreSQL before it writes, so even when
    # both runs started (the queue only learns a pool's limit the first time it
    # sees the pool) the second write began after the first had finished.
    assert times[b][STEP_START] >= times[a][STEP_SUCCESS], (times[a], times[b])
    # The pool is per asset, not a global lock: the other asset's step ran (and
    # succeeded: it waits to see a pooled write in progress) alongside a pooled one.
    assert overlap(times[a], times[other]) or overlap(times[b], times[other]), times
    # The pools took dagster.yaml's default limit of 1, recorded in PostgreSQL.
    limits = dict(stack.sql('SELECT concurrency_key, "limit" FROM concurrency_limits'))
    assert limits.get(location.SHARED_POOL) == 1 and limits.get(location.OTHER_POOL) == 1, limits


def test_the_queue_holds_a_second_run_for_a_busy_pool(stack: Stack):
    # What Dagster does the first time it sees a pool (the test above did it too):
    # from then on the run queue itself enforces the pool's limit.
    storage = stack.instance.event_log_storage
    if location.SHARED_POOL not in {pool.name for pool in storage.get_pool_limits()}:
        storage.initialize_concurrency_limit_to_default(location.SHARED_POOL)
    partition = {"dagster/partition": "2024-01-03"}
    first = stack.launch("pooled_job", **partition)
    second = stack.launch("pooled_job", **partition)
    runs = {run_id: stack.finished(run_id) for run_id in (first, second)}
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs.values())
    times = {run_id: stack.event_times(run_id) for run_id in runs}
    a, b = sorted((first, second), key=lambda r: times[r][STARTING])
    # The second run stayed QUEUED (no worker, no connections) until the first
    # had finished writing, and only then was started.
    assert times[b][STARTING] >= times[a][STEP_SUCCESS], (times[a], times[b])


def test_a_failed_run_is_retried(stack: Stack):
    original = stack.launch("flaky_job")
    assert stack.finished(original).status == dg.DagsterRunStatus.FAILURE

    def retry():
        runs = stack.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": original}))
        return runs[0] if runs else None

    retried = wait_for("the daemon to retry the failed run", retry, RUN_TIMEOUT, interval=1, log=stack.up.log)
    assert retried.tags.get("dagster/retry_number") == "1"
    assert stack.finished(retried.run_id).status == dg.DagsterRunStatus.SUCCESS


LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }
"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }
"""


def test_a_backfill_launched_as_the_ui_does_is_two_runs_each_partition_once(stack: Stack):
    # The UI's Materialize dialog for a range: the assets and the daily partitions, the monthly
    # figure following. 1,065 days: more than Dagster's default batch of 1,000 events.
    days = location.DAYS.get_partition_keys()
    answer = graphql(stack.port, LAUNCH_BACKFILL, {"params": {
        "assetSelection": [{"path": ["daily_source"]}, {"path": ["monthly_figure"]}],
        "partitionNames": days, "fromFailure": False,
    }})["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer

    def done():
        status = graphql(stack.port, BACKFILL_STATUS, {"id": answer["backfillId"]})["partitionBackfillOrError"]["status"]
        return status if status not in ("REQUESTED", "CANCELING", "FAILING") else None

    assert wait_for("the daemon to finish the backfill", done, RUN_TIMEOUT, interval=1, log=stack.up.log) == "COMPLETED_SUCCESS"
    runs = stack.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": answer["backfillId"]}))
    assert len(runs) == 2, [run.asset_selection for run in runs]
    materialised = stack.sql(
        "SELECT asset_key, partition, count(*) FROM event_logs "
        "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND run_id = ANY(:runs) GROUP BY asset_key, partition",
        runs=[run.run_id for run in runs],
    )
    by_asset: dict[str, list[str]] = {}
    for asset_key, partition, count in materialised:
        assert count == 1, (asset_key, partition, count)  # no partition materialised twice
        by_asset.setdefault(asset_key, []).append(partition)
    assert sorted(by_asset['["daily_source"]']) == days
    assert len(by_asset['["monthly_figure"]']) == len(location.MONTHS.get_partition_keys())
    # A step's materialisations are one INSERT (DAGSTER_EVENT_BATCH_SIZE, deploy/up.sh as the image):
    # the daemon sees every day done or none, and asks for the months once.
    transactions = stack.sql(
        "SELECT count(DISTINCT xmin::text) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        "AND asset_key = '[\"daily_source\"]' AND run_id = ANY(:runs)", runs=[run.run_id for run in runs])
    assert transactions == [(1,)]


PARTITION_STATUSES = """
query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } } } } }
"""


def test_a_failed_backfill_shows_its_partitions_as_failed(stack: Stack):
    days = location.DAYS.get_partition_keys()[100:110]
    answer = graphql(stack.port, LAUNCH_BACKFILL, {"params": {
        "assetSelection": [{"path": ["failing_daily"]}], "partitionNames": days, "fromFailure": False,
        "tags": [{"key": "dagster/max_retries", "value": "0"}],
    }})["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer

    def done():
        status = graphql(stack.port, BACKFILL_STATUS, {"id": answer["backfillId"]})["partitionBackfillOrError"]["status"]
        return status if status not in ("REQUESTED", "CANCELING", "FAILING") else None

    assert wait_for("the daemon to finish the backfill", done, RUN_TIMEOUT, interval=1, log=stack.up.log) in (
        "COMPLETED_FAILED", "FAILED")
    # What the UI's partition bar reads: the ten days, failed.
    ranges = graphql(stack.port, PARTITION_STATUSES, {"path": ["failing_daily"]})["assetNodeOrError"][
        "assetPartitionStatuses"]["ranges"]
    assert ranges == [{"status": "FAILED", "startKey": days[0], "endKey": days[-1]}], ranges


def test_a_schedule_tick_launches_a_run_that_succeeds(stack: Stack):
    # The schedule is on by default and ticks every minute: at most ~60s after
    # the daemon started, plus the run itself.
    def scheduled_run():
        runs = stack.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": "every_minute"}))
        return runs[-1] if runs else None  # the oldest

    run = wait_for("a run launched by the every_minute schedule", scheduled_run, 150, interval=2, log=stack.up.log)
    finished = stack.finished(run.run_id)
    assert finished.status == dg.DagsterRunStatus.SUCCESS, tail(stack.up.log)
    assert finished.job_name == "heartbeat_job"
    assert "ASSET_MATERIALIZATION" in stack.event_times(run.run_id)
    # The tick that launched it is recorded in the schedule storage, in PostgreSQL.
    ticks = stack.sql("SELECT status, tick_body FROM job_ticks WHERE type = 'SCHEDULE'")
    assert any(status == "SUCCESS" and run.run_id in body for status, body in ticks), ticks


def test_sigterm_stops_the_webserver_the_daemon_and_their_children(stack: Stack):
    assert len(stack.up.marked_pids()) >= 3  # up.sh, the webserver, the daemon (and their code servers)
    os.kill(stack.up.pid, signal.SIGTERM)  # up.sh alone, as a terminal's Ctrl-C or a supervisor would
    assert stack.up.process is not None
    status = stack.up.process.wait(timeout=60)
    assert status in (130, 143, 0), status
    # The webserver and the daemon shut their code servers down as they exit.
    wait_for("every process up.sh started to exit", lambda: not stack.up.marked_pids(), 60, log=stack.up.log)
