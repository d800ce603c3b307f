"""A_ui: the backfill a data engineer launches in the Dagster UI, run by the daemon.

The bench starts what production runs (deploy/image-steps.sh, deploy/up.sh): the
perfdata code location served over gRPC by `dagster code-server start`, the
webserver and the daemon, all on an instance made from deploy/dagster.yaml itself
(PostgreSQL storages, perfdata's event log, the run queue and its limits, run
retries and monitoring). The measured step (bench/steps.py `ui_backfill`) then
does what the UI's "Materialize" dialog does for a range of partitions: one
`launchPartitionBackfill` GraphQL mutation naming the assets and the daily
partitions, the monthly assets downstream following through their partition
mapping; it polls the backfill's status, as the UI's backfill page does, until
the daemon has finished it.

Afterwards the instance's own records say where the time went: when the daemon
created each run, when the queue launched it, how long its worker took, how long
the daemon took to see the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from bench.measure import LOG_DIR, REPO
from perfdata_assets.devtools.loopback import free_port

LOCATION = "perfdata"


def materialised_assets(admin_url: str, dagster_db: str) -> list[str]:
    """The assets a backfill's instance holds materialisations of (what A materialised), by name."""
    engine = sa.create_engine(sa.engine.make_url(admin_url).set(database=dagster_db), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        keys = conn.exec_driver_sql(
            "SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).scalars().all()
    engine.dispose()
    return sorted("/".join(json.loads(key)) for key in keys)


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _wait_for(what: str, ready, processes: dict[str, subprocess.Popen], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"the {name} exited ({process.returncode}) before {what}: see {LOG_DIR}/A_ui_{name}.log")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {seconds:.0f} s: see {LOG_DIR}/A_ui_*.log")
        time.sleep(0.5)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL error: {answer['errors'][0].get('message')}")
    return answer["data"]


LOCATION_LOADED = """{ workspaceOrError { ... on Workspace { locationEntries {
  name locationOrLoadError { __typename } } } } }"""


def _location_loaded(graphql_url: str) -> bool:
    try:
        entries = graphql(graphql_url, LOCATION_LOADED)["workspaceOrError"]["locationEntries"]
    except (OSError, RuntimeError, KeyError, TypeError):
        return False
    return any(e["name"] == LOCATION and (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
               for e in entries)


def _daemons_running(admin_url: str, dagster_db: str, since: float) -> bool:
    """The daemon's backfill and run-queue loops have each written a heartbeat since it started."""
    engine = sa.create_engine(sa.engine.make_url(admin_url).set(database=dagster_db), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            beats = set(conn.exec_driver_sql(
                "SELECT daemon_type FROM daemon_heartbeats WHERE extract(epoch FROM timestamp) >= %(since)s",
                {"since": since}).scalars())
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()
    return {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= beats


@contextlib.contextmanager
def dagster_services(home: Path, env: dict[str, str], admin_url: str, dagster_db: str) -> Iterator[str]:
    """The code server, the webserver and the daemon, ready; yields the webserver's GraphQL URL."""
    code_port, web_port = free_port(), free_port()
    workspace = home / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {code_port}\n"
        f"      location_name: {LOCATION}\n"
    )
    env = {**os.environ, **env, "DAGSTER_HOME": str(home)}
    commands = {
        "code_server": [_bin("dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(code_port),
                        "-m", "perfdata_assets.definitions", "--location-name", LOCATION],
        "webserver": [_bin("dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", str(workspace)],
        "daemon": [*daemon_command(), "-w", str(workspace)],
    }
    processes: dict[str, subprocess.Popen] = {}
    started = time.time()
    try:
        for name, command in commands.items():
            with open(LOG_DIR / f"A_ui_{name}.log", "w") as log:
                processes[name] = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            if name == "code_server":
                _wait_for("the code server answered", lambda: _grpc_ready(code_port, env), processes)
        graphql_url = f"http://127.0.0.1:{web_port}/graphql"
        _wait_for("the webserver answered", lambda: _answers(f"http://127.0.0.1:{web_port}/server_info"), processes)
        _wait_for("the webserver loaded the code location", lambda: _location_loaded(graphql_url), processes)
        _wait_for("the daemon's loops started", lambda: _daemons_running(admin_url, dagster_db, started), processes)
        yield graphql_url
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def daemon_command() -> list[str]:
    """How production starts the daemon (deploy/image-steps.sh `daemon`, deploy/up.sh)."""
    return [_bin("perfdata-daemon"), "run"]


def _grpc_ready(port: int, env: dict) -> bool:
    return subprocess.run([_bin("dagster"), "api", "grpc-health-check", "-p", str(port)], env=env,
                          capture_output=True).returncode == 0


def where_the_time_went(admin_url: str, dagster_db: str, launched_at: float, finished_at: float) -> dict:
    """From the instance: the backfill's runs, each one's wait, launch and work; repeated partitions."""
    engine = sa.create_engine(sa.engine.make_url(admin_url).set(database=dagster_db), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        runs = conn.exec_driver_sql(
            "SELECT r.run_id, extract(epoch FROM r.create_timestamp) AS created, r.start_time, r.end_time, r.status, "
            "(SELECT string_agg(DISTINCT replace(replace(e.asset_key, '[\"', ''), '\"]', ''), ', ') "
            " FROM event_logs e WHERE e.run_id = r.run_id AND e.dagster_event_type = 'ASSET_MATERIALIZATION') AS assets,"
            "(SELECT count(*) FROM event_logs e WHERE e.run_id = r.run_id "
            " AND e.dagster_event_type = 'ASSET_MATERIALIZATION') AS materialisations "
            "FROM runs r ORDER BY r.create_timestamp").all()
        repeats = conn.exec_driver_sql(
            "SELECT asset_key, partition, count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
            "GROUP BY asset_key, partition HAVING count(*) > 1").all()
    engine.dispose()
    # Seconds after the launch: when the daemon created each run, when its worker started it, when it ended.
    timeline = []
    for run in runs:
        created = float(run.created)
        start, end = run.start_time or created, run.end_time or created
        timeline.append({"assets": run.assets or "nothing materialised", "materialisations": run.materialisations,
                         "created": created - launched_at, "started": start - launched_at,
                         "ended": end - launched_at})
    return {
        "runs": len(runs),
        "statuses": sorted({run.status for run in runs}),
        "timeline": timeline,
        "done": finished_at - launched_at,
        "repeated_partitions": len(repeats),
        "repeats_example": [f"{r.asset_key} {r.partition} ×{r[2]}" for r in repeats[:5]],
    }
