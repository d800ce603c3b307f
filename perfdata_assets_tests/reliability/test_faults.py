"""Faults in the middle of a write: the connection dropped, the run process killed, Sirius hanging.

Each test starts from a copy of the ``world``: perfdata tables as a backfill of
January and February 2024 left them (the previous rows), and a source that has
changed since. A re-run of the same backfill is interrupted while its write
transaction is open (a test-only trigger holds the statement on the chosen
table; production code is untouched). Afterwards every table holds exactly its
previous rows or exactly the new ones, the interrupted one the previous rows;
then a re-run completes with exactly the rows of one clean backfill.
"""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import threading

import dagster as dg
import pytest
import sqlalchemy as sa

from perfdata_assets.db import engines
from perfdata_assets.db.migrate import upgrade
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.devtools.sirius_stub import SiriusStub
from perfdata_assets.kpis.assets import digital_take_up
from perfdata_assets.sources.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets.sources.lpa.tables import create_source_tables
from perfdata_assets.sources.sirius.assets import ChannelCountsSource, sirius_channel_counts
from perfdata_assets.sources.sirius.client import SiriusClient
from perfdata_assets_tests.reliability import support
from perfdata_assets_tests.reliability.support import BIN, Hold
from perfdata_assets_tests.support import range_tags

pytestmark = pytest.mark.postgres

# The ledger row is a daily step's last INSERT (after its merge); the publication's INSERT follows its DELETE.
FAST_TABLES = ["loaded_days", "published_kpis"]
OTHER_TABLES = ["raw_feedback", "lpa_lifecycle_events", "channel_counts", "user_satisfaction", "completion_rate",
                "digital_take_up"]


def backfill_in_thread(url, world, export_dir) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(support.backfill(url, world.csv, export_dir))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def check_rerun_completes(url, world, export_dir) -> None:
    support.backfill(url, world.csv, export_dir)
    assert support.snapshot(url, with_run_times=False) == world.new


def terminate_mid_write(world, url, export_dir, table) -> None:
    with Hold(url, table) as hold:
        thread, outcome = backfill_in_thread(url, world, export_dir)
        backend = support.sleeping_backend(url)
        assert backend["writing"], "the run's transaction has written nothing yet"
        support.terminate(url, backend["pid"])
        support.wait_for_backend_gone(url, backend["pid"])
        if table in support.TABLE_STEP:  # at once, before the run goes on (or its step is retried)
            support.assert_step_rolled_back(url, world.previous, world.new, support.TABLE_STEP[table])
        hold.release()
        thread.join(timeout=400)
    assert not thread.is_alive()
    if table == "channel_counts":
        # The Sirius step's retry policy runs it again after the dropped connection: the run completes.
        assert not isinstance(outcome[0], BaseException), outcome[0]
        assert support.snapshot(url, with_run_times=False) == world.new
        return
    # The run failed on the dropped connection (it did not hang, nor succeed)...
    # (psycopg reads either the server's "terminating connection" or the closed socket first)
    failure = outcome[0]
    assert isinstance(failure, support.RunFailed), failure
    assert len(failure.causes) == 1 and failure.causes[0].split(":")[0] in ("AdminShutdown", "OperationalError")
    assert "terminating connection" in failure.causes[0] or "closed the connection" in failure.causes[0]
    # ...the step it was in wrote nothing, and no day or month anywhere is half old, half new.
    (step,) = failure.steps
    assert table in (*support.STEP_WRITES[step], "loaded_days")
    support.assert_step_rolled_back(url, world.previous, world.new, step)
    support.assert_each_partition_previous_or_new(url, world.previous, world.new)
    if step == "published_kpis":  # the exports, downstream of the publication, were not rewritten either
        assert support.export_files(export_dir) == support.export_files(world.exports)
    check_rerun_completes(url, world, export_dir)


@pytest.mark.parametrize("table", FAST_TABLES)
def test_a_connection_terminated_mid_write_leaves_the_previous_rows(world, copy_of_world, table):
    terminate_mid_write(world, *copy_of_world, table)


@pytest.mark.soak
@pytest.mark.parametrize("table", OTHER_TABLES)
def test_a_connection_terminated_mid_write_of_any_table_leaves_the_previous_rows(world, copy_of_world, table):
    terminate_mid_write(world, *copy_of_world, table)


def perfdata_backfill_command(_export_dir) -> list[str]:
    return [str(BIN / "perfdata"), "backfill", "--start", str(support.FIRST), "--end", str(support.LAST)]


def dagster_materialize_command(table) -> list[str]:
    daily = table in ("raw_feedback", "lpa_lifecycle_events", "channel_counts")
    selection = "raw_feedback,lpa_lifecycle_events,sirius_channel_counts" if daily else \
        "user_satisfaction,completion_rate,digital_take_up,published_kpis,performance_data_exports"
    last = str(support.LAST) if daily else "2024-02-01"
    return [str(BIN / "dagster"), "asset", "materialize", "-m", "perfdata_assets.definitions",
            "--select", selection, "--partition-range", f"{support.FIRST}...{last}"]


def kill_mid_write(world, url, export_dir, tmp_path, table, command) -> None:
    """The run's process (and every process it started) SIGKILLed while TABLE's write is open."""
    env = support.cli_env(url, tmp_path, SIRIUS_CHANNEL_COUNTS_CSV=str(world.csv),
                          PERFDATA_EXPORT_DIR=str(export_dir))
    # Which step writes TABLE; for the ledger, the daily steps run one after another, so the held one is
    # whichever was first, and nothing is known but that some daily step's writes are all previous.
    steps = set(support.DAILY_STEPS) if table == "loaded_days" else {support.TABLE_STEP[table]}
    with Hold(url, table) as hold:
        process = support.start(command, env, tmp_path, tmp_path / "run.log")
        try:
            backend = support.sleeping_backend(url, timeout=240)
            assert backend["writing"], (tmp_path / "run.log").read_text()[-2000:]
        finally:
            support.kill_group(process)
        assert process.returncode == -9
        # The killed run's backend is still inside its statement: its transaction is open, uncommitted.
        assert steps & support.assert_steps_atomic(url, world.previous, world.new)
        hold.release()  # the orphaned statement ends, finds its client gone, and rolls back
        support.wait_for_no_open_transaction(url)
    assert steps & support.assert_steps_atomic(url, world.previous, world.new)
    support.assert_each_partition_previous_or_new(url, world.previous, world.new)
    if steps == {"published_kpis"}:
        assert support.export_files(export_dir) == support.export_files(world.exports)
    check_rerun_completes(url, world, export_dir)


def test_the_run_process_killed_mid_write_leaves_the_previous_rows(world, copy_of_world, tmp_path):
    """`perfdata backfill` SIGKILLed, with every process it started, while a history write is open."""
    url, export_dir = copy_of_world
    kill_mid_write(world, url, export_dir, tmp_path, "loaded_days", perfdata_backfill_command(export_dir))


@pytest.mark.soak
@pytest.mark.parametrize("table", ["raw_feedback", "lpa_lifecycle_events", "channel_counts", "user_satisfaction",
                                   "completion_rate", "digital_take_up", "published_kpis"])
def test_perfdata_backfill_killed_mid_write_of_any_table(world, copy_of_world, tmp_path, table):
    url, export_dir = copy_of_world
    kill_mid_write(world, url, export_dir, tmp_path, table, perfdata_backfill_command(export_dir))


@pytest.mark.soak
@pytest.mark.parametrize("table", ["lpa_lifecycle_events", "channel_counts", "completion_rate", "published_kpis"])
def test_dagster_asset_materialize_killed_mid_write(world, copy_of_world, tmp_path, table):
    """The multiprocess executor: each step in its own child process, all killed with the run."""
    url, export_dir = copy_of_world
    if table == "published_kpis":
        # A publication that changes nothing writes nothing (unchanged rows keep their published_at):
        # the changed history is loaded first, so the publication has rows to write when it is killed.
        env = support.cli_env(url, tmp_path, SIRIUS_CHANNEL_COUNTS_CSV=str(world.csv),
                              PERFDATA_EXPORT_DIR=str(export_dir))
        daily = subprocess.run(dagster_materialize_command("channel_counts"), env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=600)
        assert daily.returncode == 0, daily.stdout[-2000:] + daily.stderr[-2000:]
    kill_mid_write(world, url, export_dir, tmp_path, table, dagster_materialize_command(table))


@pytest.mark.soak
@pytest.mark.parametrize("round_", range(8))
def test_perfdata_backfill_killed_at_a_random_moment(world, copy_of_world, tmp_path, round_):
    """No trigger: the kill lands wherever the run happens to be (seeded per round)."""
    url, export_dir = copy_of_world
    env = support.cli_env(url, tmp_path, SIRIUS_CHANNEL_COUNTS_CSV=str(world.csv),
                          PERFDATA_EXPORT_DIR=str(export_dir))
    process = support.start(perfdata_backfill_command(export_dir), env, tmp_path, tmp_path / "run.log")
    delay = random.Random(round_).uniform(2.0, 20.0)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        pass
    finally:
        support.kill_group(process)
    support.wait_for_no_open_transaction(url)
    support.assert_each_partition_previous_or_new(url, world.previous, world.new)
    check_rerun_completes(url, world, export_dir)


@pytest.mark.soak
def test_a_killed_runs_statement_ends_within_seconds(world, copy_of_world, tmp_path):
    """A killed run's backend would go on with its statement until the statement ends (perhaps minutes,
    holding its locks) unless the server checks the client socket meanwhile: perfdata's connections set
    client_connection_check_interval (PostgreSQL 14+), so the orphaned transaction is rolled back within
    seconds."""
    url, export_dir = copy_of_world
    env = support.cli_env(url, tmp_path, SIRIUS_CHANNEL_COUNTS_CSV=str(world.csv), PERFDATA_EXPORT_DIR=str(export_dir))
    with Hold(url, "lpa_lifecycle_events"):
        process = support.start(perfdata_backfill_command(export_dir), env, tmp_path, tmp_path / "run.log")
        try:
            support.sleeping_backend(url, timeout=240)
        finally:
            support.kill_group(process)
        # While the hold still stands: the interval (5 s), then the rollback.
        support.wait_for_no_open_transaction(url, timeout=engines.CLIENT_CHECK_INTERVAL_MS / 1000 + 10)
    support.assert_step_rolled_back(url, world.previous, world.new, "lpa_lifecycle_events")
    check_rerun_completes(url, world, export_dir)


def test_a_first_load_terminated_mid_write_leaves_an_empty_table_with_its_keys(postgres_url, tmp_path):
    """The bulk first load drops the empty table's indexes inside the run's transaction: a dropped
    connection rolls that back too, and the next load merges into an intact table."""
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    create_source_tables(engine)
    engine.dispose()
    upgrade(engines.databases(postgres_url, postgres_url).perfdata)
    support.seed_source(postgres_url, seed=3, first=dt.date(2024, 1, 1), days=10)
    indexes = "SELECT indexdef FROM pg_indexes WHERE tablename = 'lpa_lifecycle_events' ORDER BY 1"
    before = [r[0] for r in support.admin_engine(postgres_url).connect().exec_driver_sql(indexes)]
    assert any("PRIMARY KEY" in i or "pkey" in i for i in before)

    resource = PerfdataDatabase(lpa_database_url=postgres_url, perfdata_database_url=postgres_url)
    outcome = []

    def run() -> None:
        outcome.append(dg.materialize([lpa_lifecycle_events], resources={"database": resource},
                                      tags=range_tags("2024-01-01", "2024-01-10"), raise_on_error=False))

    with Hold(postgres_url, "lpa_lifecycle_events") as hold:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        backend = support.sleeping_backend(postgres_url)
        assert "INSERT INTO perfdata.lpa_lifecycle_events" in backend["query"]  # the bulk path's plain INSERT
        support.terminate(postgres_url, backend["pid"])
        hold.release()
        thread.join(timeout=120)
    assert not outcome[0].success
    admin = support.admin_engine(postgres_url)
    with admin.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql(indexes)] == before
        assert conn.exec_driver_sql("SELECT count(*) FROM perfdata.lpa_lifecycle_events").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM perfdata.loaded_days").scalar() == 0
    result = dg.materialize([lpa_lifecycle_events], resources={"database": resource},
                            tags=range_tags("2024-01-01", "2024-01-10"))
    assert result.success
    with admin.connect() as conn:
        events = conn.exec_driver_sql("SELECT count(*) FROM perfdata.lpa_lifecycle_events").scalar()
        assert events > 0 and conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT lpa_id, event FROM perfdata.lpa_lifecycle_events "
            "GROUP BY 1, 2 HAVING count(*) > 1) d").scalar() == 0
    admin.dispose()


def test_sirius_hanging_mid_backfill_leaves_its_tables_untouched(world, copy_of_world, monkeypatch):
    """The stub answers the first 92-day chunk, then hangs longer than the client's read timeout."""
    # The step's retry policy runs in full (three attempts), without its minutes of waiting.
    monkeypatch.setattr(dg.RetryPolicy, "calculate_delay", lambda self, attempt: 0)
    sirius_hangs(world, copy_of_world, monkeypatch)


@pytest.mark.soak
def test_sirius_hanging_through_the_real_retry_policy_leaves_its_tables_untouched(world, copy_of_world, monkeypatch):
    """The same, with the asset's own retry waits (a minute, then two)."""
    sirius_hangs(world, copy_of_world, monkeypatch)


def sirius_hangs(world, copy_of_world, monkeypatch) -> None:
    url, export_dir = copy_of_world
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPERFDATATEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "perfdata-reliability-secret")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    class HangsAfterTheFirstRequest(SiriusStub):
        def _channel_counts(self, handler, query, number):  # noqa: ANN001
            if number > 1:
                self._stopping.wait(600)
            super()._channel_counts(handler, query, number)

    before = support.snapshot(url)
    with HangsAfterTheFirstRequest(seed=4, complete_through=dt.date(2024, 6, 30)) as stub:
        client = SiriusClient(base_url=stub.base_url, read_timeout_seconds=1, max_attempts=2, backoff_seconds=0.1)
        result = dg.materialize(
            [raw_feedback, lpa_lifecycle_events, sirius_channel_counts, digital_take_up],
            selection=[raw_feedback, lpa_lifecycle_events, sirius_channel_counts],
            resources={"database": PerfdataDatabase(lpa_database_url=url, perfdata_database_url=url),
                       "channel_counts_source": ChannelCountsSource(sirius=client)},
            tags=range_tags("2024-01-01", "2024-04-30"),  # 121 days: two requests
            raise_on_error=False,
        )
        assert stub.request_count >= 2
    assert not result.success
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 2
    failed = {e.step_key for e in result.get_step_failure_events()}
    assert failed == {"sirius_channel_counts"}
    description = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert "a timeout" in description
    after = support.snapshot(url)
    for table in ("channel_counts", "digital_take_up", "published_kpis", "user_satisfaction", "completion_rate"):
        assert after[table] == before[table], table
    sirius_days = [r for r in after["loaded_days"] if r[0] == "sirius_channel_counts"]
    assert sirius_days == [r for r in before["loaded_days"] if r[0] == "sirius_channel_counts"]
    # The month it would have fed cannot be published from half the days: it waits for them.
    month = dg.materialize([digital_take_up], resources={"database": PerfdataDatabase(
        lpa_database_url=url, perfdata_database_url=url)}, tags=range_tags("2024-03-01", "2024-03-01"))
    waiting = month.get_asset_materialization_events()[0].materialization.metadata["waiting_for"].value
    assert waiting.startswith("sirius_channel_counts:")
    assert support.snapshot(url)["digital_take_up"] == before["digital_take_up"]
