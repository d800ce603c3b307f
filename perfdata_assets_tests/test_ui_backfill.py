"""What a backfill launched from the Dagster UI relies on (issue #23, bench/RESULTS.md "Where A_ui's time goes").

The whole path (GraphQL, the daemon, two runs, each partition once, a step's
materialisations in one INSERT) runs in deployment/test_up.py on deploy/up.sh;
these pin the three settings it depends on.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import dagster as dg
import pytest

from perfdata_assets import daemon, instance


def test_every_perfdata_job_runs_its_steps_in_the_run_process():
    from perfdata_assets.definitions import defs

    jobs = [defs.resolve_implicit_global_asset_job_def(), *(defs.resolve_job_def(job.name) for job in defs.jobs)]
    assert {job.name: job.executor_def.name for job in jobs} == {job.name: "in_process" for job in jobs}


def test_a_steps_materialisations_fit_one_batch():
    # Five years of days is 1,826; the batch must hold any step's partitions for a century.
    assert int(instance.EVENT_BATCH_SIZE) >= 100 * 366


def test_the_backfill_loop_takes_perfdata_daemons_interval(monkeypatch: pytest.MonkeyPatch):
    """perfdata-daemon sets a constant of Dagster's; this fails if Dagster's backfill loop stops reading it."""
    import dagster._daemon.controller as controller
    from dagster._daemon import backfill

    assert dg.__version__ == "1.13.27", "perfdata_assets/daemon.py was written against Dagster 1.13.27: check it"
    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", controller.DEFAULT_DAEMON_INTERVAL_SECONDS)
    passes: list[float] = []

    def one_pass(*args, **kwargs):
        passes.append(time.monotonic())
        return iter(())

    monkeypatch.setattr(backfill, "execute_backfill_iteration", one_pass)
    daemon.use_backfill_interval(0.2)
    for _ in backfill.execute_backfill_iteration_loop(
        None, logging.getLogger("test"), threading.Event(), until=time.time() + 1.5
    ):
        pass
    # Dagster's own 30 s would make one pass in 1.5 s.
    assert len(passes) >= 4, passes
    assert daemon.BACKFILL_LOOP_SECONDS == 5


def test_perfdata_daemon_is_dagster_daemons_command_line():
    done = subprocess.run([sys.executable, "-m", "perfdata_assets.daemon", "run", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Usage: perfdata-daemon run" in done.stdout and "--workspace" in done.stdout
