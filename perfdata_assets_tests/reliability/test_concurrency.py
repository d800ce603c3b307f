"""Runs at the same time on one PostgreSQL: overlapping backfills and the nightly schedule's run.

Each test starts from a copy of the ``world`` (see conftest.py) and ends with
every perfdata table exactly as one clean backfill leaves it: no duplicate,
nothing lost, no run stuck. A run may fail, but only cleanly (a database error,
nothing half-written), and re-running it completes.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import subprocess
import threading
import time

import dagster as dg
import pytest

from perfdata_assets.calendar import LONDON
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.schedules import lpa_history_nightly
from perfdata_assets_tests.reliability import support
from perfdata_assets_tests.reliability.support import FIRST, LAST, Hold

pytestmark = pytest.mark.postgres
FEBRUARY = dt.date(2024, 2, 1)
NIGHTLY_TICK = dt.datetime(2024, 2, 3, 2, 30, tzinfo=LONDON)  # loads 31 January to 2 February


def ledger(url: str) -> PerfdataDatabase:
    """The database the nightly schedule reads the loaded-days ledger from (it heals what it lacks)."""
    return PerfdataDatabase(lpa_database_url=url, perfdata_database_url=url)


def nightly_run(url, world, export_dir, tick: dt.datetime = NIGHTLY_TICK) -> None:
    """What the daemon launches for an ``lpa_history_nightly`` tick: its RunRequest, executed."""
    with dg.build_schedule_context(scheduled_execution_time=tick, resources={"database": ledger(url)}) as context:
        request = lpa_history_nightly.evaluate_tick(context).run_requests[0]
    job = support.definitions(url, world.csv, export_dir).resolve_job_def(lpa_history_nightly.job_name)
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(tags=request.tags, instance=instance, raise_on_error=False)
    if not result.success:
        raise support.RunFailed("nightly run failed", *support.root_causes(result.get_step_failure_events()))


def run_together(runs: dict, timeout: float = 240) -> dict[str, object]:
    """Starts every run at the same moment, each in its own thread; returns each one's outcome."""
    barrier = threading.Barrier(len(runs))
    outcomes: dict[str, object] = {}

    def go(name, run) -> None:
        barrier.wait()
        try:
            run()
            outcomes[name] = "ok"
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcomes[name] = exc

    threads = [threading.Thread(target=go, args=item, daemon=True) for item in runs.items()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"stuck: {outcomes}"  # no deadlock, no endless wait
    return outcomes


def settle(url, world, runs: dict, outcomes: dict) -> list[str]:
    """Re-runs every run that failed, after checking it failed cleanly; returns the failures' causes."""
    causes = []
    for name, outcome in outcomes.items():
        if outcome == "ok":
            continue
        assert isinstance(outcome, support.RunFailed), outcome
        assert outcome.causes and all(c.split(":")[0] in support.CLEAN_CONFLICTS for c in outcome.causes), outcome
        causes += outcome.causes
    support.assert_each_partition_previous_or_new(url, world.previous, world.new)
    for name, outcome in outcomes.items():
        if outcome != "ok":
            runs[name]()
    return causes


def overlapping_runs(url, world, export_dir) -> dict:
    return {
        "January and February": lambda: support.backfill(url, world.csv, export_dir, FIRST, LAST),
        "February": lambda: support.backfill(url, world.csv, export_dir, FEBRUARY, LAST),
        "nightly": lambda: nightly_run(url, world, export_dir),
    }


def test_two_overlapping_backfills_and_a_nightly_run_at_once(world, copy_of_world):
    url, export_dir = copy_of_world
    runs = overlapping_runs(url, world, export_dir)
    outcomes = run_together(runs)
    print("outcomes:", {k: v if v == "ok" else v.causes for k, v in outcomes.items()})  # shown by pytest -rP
    settle(url, world, runs, outcomes)
    assert support.snapshot(url, with_run_times=False) == world.new


@pytest.mark.parametrize("table", ["lpa_lifecycle_events", "completion_rate"])
def test_a_run_that_meets_another_mid_write_waits_or_fails_cleanly(world, copy_of_world, table):
    """The first backfill is held inside its write of TABLE while the second arrives at the same rows."""
    meet_mid_write(world, *copy_of_world, table)


@pytest.mark.soak
@pytest.mark.parametrize("table", ["raw_feedback", "channel_counts", "loaded_days", "user_satisfaction",
                                   "digital_take_up", "published_kpis"])
def test_a_run_that_meets_another_mid_write_of_any_table_waits_or_fails_cleanly(world, copy_of_world, table):
    meet_mid_write(world, *copy_of_world, table)


def meet_mid_write(world, url, export_dir, table) -> None:
    runs = overlapping_runs(url, world, export_dir)
    del runs["nightly"]
    outcomes: dict[str, object] = {}
    with Hold(url, table) as hold:
        first = threading.Thread(target=lambda: outcomes.update(first=_outcome(runs["January and February"])))
        first.start()
        held = support.sleeping_backend(url)  # the first run's write of TABLE is done, uncommitted, held
        second = threading.Thread(target=lambda: outcomes.update(second=_outcome(runs["February"])))
        second.start()
        # The second run waits for the first one's rows, or (rows that do not collide) is held too.
        support.wait_for_second_writer(url, held["pid"])
        hold.release()
        first.join(timeout=240)
        second.join(timeout=240)
    assert not first.is_alive() and not second.is_alive(), outcomes  # nobody stuck
    print("outcomes:", {k: v if v == "ok" else v.causes for k, v in outcomes.items()})  # shown by pytest -rP
    settle(url, world, {"first": runs["January and February"], "second": runs["February"]}, outcomes)
    assert support.snapshot(url, with_run_times=False) == world.new


def _outcome(run) -> object:
    try:
        run()
        return "ok"
    except BaseException as exc:  # noqa: BLE001
        return exc


# --- Real processes -------------------------------------------------------------------------------


def nightly_command(url: str, tick: dt.datetime) -> list[str]:
    """`dagster job execute` of lpa_history_job with the RunRequest an lpa_history_nightly tick makes."""
    with dg.build_schedule_context(scheduled_execution_time=tick, resources={"database": ledger(url)}) as context:
        request = lpa_history_nightly.evaluate_tick(context).run_requests[0]
    return [str(support.BIN / "dagster"), "job", "execute", "-m", "perfdata_assets.definitions",
            "-j", lpa_history_nightly.job_name, "--tags", json.dumps(request.tags)]


CONFLICT = re.compile(r"psycopg\.errors\.(\w+)")


@pytest.mark.soak
@pytest.mark.parametrize("round_", range(6))
def test_two_perfdata_backfill_processes_and_the_nightly_job_at_once(world, copy_of_world, tmp_path, round_):
    """Three processes on one database, windows overlapping differently each round (seeded)."""
    url, export_dir = copy_of_world
    rng = random.Random(round_)
    second_start = FIRST + dt.timedelta(days=rng.randrange(0, 45))
    tick = dt.datetime.combine(dt.date(2024, 1, 5) + dt.timedelta(days=rng.randrange(0, 50)), dt.time(2, 30), LONDON)
    commands = {
        "backfill 1": [str(support.BIN / "perfdata"), "backfill", "--start", str(FIRST), "--end", str(LAST)],
        "backfill 2": [str(support.BIN / "perfdata"), "backfill", "--start", str(second_start), "--end", str(LAST)],
        "nightly": nightly_command(url, tick),
    }
    processes = {}
    for name, command in commands.items():
        home = tmp_path / name.replace(" ", "-")  # each its own Dagster instance, as on two machines
        home.mkdir()
        env = support.cli_env(url, home, SIRIUS_CHANNEL_COUNTS_CSV=str(world.csv), PERFDATA_EXPORT_DIR=str(export_dir))
        processes[name] = (support.start(command, env, home, home / "run.log"), env, home)
    deadline = time.monotonic() + 480
    try:
        for name, (process, _env, _home) in processes.items():
            process.wait(timeout=max(1.0, deadline - time.monotonic()))  # no deadlock, nobody stuck
    finally:  # a stuck one (and all it started) must not run on, loading the machine, into the next tests
        for process, _env, _home in processes.values():
            if process.poll() is None:
                support.kill_group(process)
    for name, (process, env, home) in processes.items():
        if process.returncode == 0:
            continue
        log = (home / "run.log").read_text(errors="replace")
        errors = set(CONFLICT.findall(log))
        print(f"{name} (round {round_}) failed: {sorted(errors)}; re-running")  # shown by pytest -rP
        assert errors and errors <= set(support.CLEAN_CONFLICTS), (name, errors, log[-3000:])
        support.assert_each_partition_previous_or_new(url, world.previous, world.new)
        rerun = subprocess.run(commands[name], env=env, cwd=home, capture_output=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr.decode()[-3000:]
    # Every window was loaded from the same source: the result is one clean backfill's, exactly.
    assert support.snapshot(url, with_run_times=False) == world.new
