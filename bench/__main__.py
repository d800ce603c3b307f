"""`python -m bench`: what perfdata costs on five years of production-sized history.

    .venv/bin/python -m bench                                   # the full benchmark (make bench)
    .venv/bin/python -m bench --years 1 --lpas-per-month 10000  # a quick check that it works

Steps (each in its own subprocess, see bench/measure.py for what is measured):

  demo  `perfdata demo` (what `make demo` runs) into a scratch PERFDATA_HOME, first, on a quiet machine
  B  the floor: hand-written SQL doing the same work (history copies + keys, the figures);
     then, apart from B's time, PostgreSQL's own COPY out / COPY in / CREATE TABLE AS of B's events
  C  the naive Dagster way: one run per daily partition, measured on one month, scaled
  A  `perfdata backfill` of the whole history into an empty perfdata schema (and of
     a shorter window first, for the cost growth; that one again with Dagster's
     event-log settings changed, to show where A's time goes)
  A_ui  the same backfill launched as the Dagster UI launches it (webserver GraphQL), run by the
     daemon on deploy/dagster.yaml's instance (bench/ui_backfill.py)
  E  the nightly runs after A: the two nightly jobs over 3 days, the monthly job
     (after the shorter backfill too: E must not grow with the history)
  D  the naive Python way: source rows into pandas, aggregated there
  F  GET /v1/kpis/latest and the open-data CSV under load from a second process, on loopback
  scale  B and A (the whole history) again on a second database with twice the LPAs
     and feedback a month (generated once, reused while its marker matches)

A's figures must equal B's (and C's, D's and E's must too, and A's at twice the
size B's at twice the size), month by month and column by column, or the
benchmark exits non-zero. Results go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from bench import generate
from bench.measure import DATA_DIR, REPO, Measurement, StepFailed, run_command, run_step
from bench.report import OPEN_DATA_CSV
from perfdata_assets.devtools.loopback import free_port, restored_environment

KPIS = {
    "user_satisfaction": ("responses", "very_dissatisfied", "dissatisfied", "neither", "satisfied", "very_satisfied",
                          "satisfied_percent", "score_percent"),
    "completion_rate": ("started", "created", "completed", "completion_rate_percent"),
    "digital_take_up": ("digital", "total", "take_up_percent"),
}
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PANDAS_DIR = DATA_DIR / "pydeps"
DEFAULT_PARAMS = generate.Params(5, 100_000, 5_000)
# The scale step: the same history with this many times the LPAs and feedback a month.
SCALE = 2


# What the image and the Helm values set for every run (the scheduled runs of E, the runs of C).
IMAGE_ENV = {"DAGSTER_EVENT_BATCH_SIZE": "100000"}

# What the Dagster event log costs A: variants of the shorter backfill, each into an empty schema.
EXPERIMENTS = [
    ("Dagster's defaults: dagster-postgres's own event log, each event written alone, on a new connection "
     "(A before `perfdata backfill` tuned them)",
     {"DAGSTER_EVENT_BATCH_SIZE": "0"}, {"without_connection_pool": True, "event_log": "dagster-postgres"}),
    ("dagster-postgres's own event log (planned events written one at a time), with the batching and pooled "
     "connections `perfdata backfill` sets", {}, {"event_log": "dagster-postgres"}),
    ("without the per-partition metadata", {}, {"without_partition_metadata": True}),
    ("with DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1 (not adopted: a failed run's partitions would not "
     "show as failed)", {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"}, {}),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=5, help="years of history (default 5)")
    parser.add_argument("--lpas-per-month", type=int, default=100_000, help="LPAs started per month (default 100,000)")
    parser.add_argument("--feedback-per-month", type=int, default=5_000, help="feedback forms per month (default 5,000)")
    parser.add_argument("--admin-url", default=os.environ.get("PERFDATA_BENCH_ADMIN_URL", DEFAULT_ADMIN_URL),
                        help="a PostgreSQL URL allowed to create databases")
    parser.add_argument("--database", help="database for the LPA tables (default perfdata_bench, or one named "
                        "after the parameters when they are not the defaults)")
    parser.add_argument("--regenerate", action="store_true", help="regenerate the data even if the marker matches")
    parser.add_argument("--dagster-storage", choices=("postgres", "sqlite"), default="postgres",
                        help="the Dagster instance's storage (default postgres, as in production)")
    parser.add_argument("--load-requests", type=int, default=4000, help="F: requests under load (default 4000)")
    parser.add_argument("--load-seconds", type=float, default=30.0, help="F: time bound of the loaded phase")
    parser.add_argument("--load-concurrency", type=int, default=4, help="F: concurrent clients (default 4)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["C", "D", "E", "F", "growth", "experiments", "scale", "demo", "ui"],
                        help="leave a step out (repeatable)")
    parser.add_argument("--output", type=Path, help="where the report goes (default bench/RESULTS.md for the "
                        "default sizes, bench/data/RESULTS-<database>.md for others, so a quick run never "
                        "overwrites the real figures)")
    return parser.parse_args(argv)


# --- set-up -------------------------------------------------------------------------


def database_name(params: generate.Params) -> str:
    """perfdata_bench for the default sizes, else a name saying the sizes (so each size keeps its data)."""
    if params == DEFAULT_PARAMS:
        return "perfdata_bench"
    return f"perfdata_bench_{params.years}y_{params.lpas_per_month}pm_{params.feedback_per_month}fb"


def prepare_dataset(admin_url: str, database: str, params: generate.Params, today: dt.date, echo,
                    force: bool) -> tuple[str, generate.Dataset]:
    """The LPA database at these sizes (generated or reused), its writes flushed before anything is measured."""
    url = generate.ensure_database(admin_url, database)
    dataset = generate.ensure_dataset(url, params, today, echo=echo, force=force)
    if not dataset.reused:
        checkpoint(admin_url)
    return url, dataset


def checkpoint(admin_url: str) -> None:
    """CHECKPOINT after generating: the generator's dirty pages are written now, not during a measured step."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
    except sa.exc.DBAPIError:
        pass  # not a superuser (or pg_checkpoint): the background writer flushes them in its own time
    finally:
        admin.dispose()


def machine_description(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar()
        settings = {name: conn.execute(sa.text(f"SHOW {name}")).scalar()
                    for name in ("shared_buffers", "work_mem", "maintenance_work_mem", "max_wal_size",
                                 "max_parallel_workers_per_gather")}
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": mem_kb / 2**20, "postgres": version,
            "pg_settings": settings, "python": platform.python_version(), "kernel": platform.release()}


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        # The report the previous run wrote is not a change to the code measured.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)bench/RESULTS.md"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def reset_perfdata_schema(url: str) -> None:
    """An empty perfdata schema at the current revision (`perfdata db upgrade` on a clean slate)."""
    from perfdata_assets.db.migrate import upgrade

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS perfdata CASCADE")
    upgrade(engine)
    engine.dispose()


def fresh_dagster_instance(storage: str, admin_url: str, database: str, home: Path,
                           event_log: str = "perfdata") -> None:
    """A new, empty Dagster instance: its own PostgreSQL database (as production) or SQLite files.

    On PostgreSQL its dagster.yaml is deploy/dagster.yaml itself (perfdata's storages, the run
    queue, the pools), reading the database from DAGSTER_PG_* (``dagster_pg_environment``);
    with ``event_log="dagster-postgres"``, for the experiments, dagster-postgres's own storages.
    """
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    config = "telemetry:\n  enabled: false\n"
    if storage == "postgres":
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        admin.dispose()
        url = sa.engine.make_url(admin_url)
        db = (f"{{postgres_db: {{scheme: postgresql+psycopg2, hostname: {url.host}, port: {url.port or 5432}, "
              f"username: {url.username}, password: '{url.password or ''}', db_name: {database}}}}}")
        # Only the experiments' instance: dagster-postgres's own storages.
        config += (
            f"run_storage: {{module: dagster_postgres.run_storage, class: PostgresRunStorage, config: {db}}}\n"
            f"event_log_storage: {{module: dagster_postgres.event_log, class: PostgresEventLogStorage, "
            f"config: {db}}}\n"
            f"schedule_storage: {{module: dagster_postgres.schedule_storage, class: PostgresScheduleStorage, "
            f"config: {db}}}\n"
        )
    if storage == "postgres" and event_log == "perfdata":
        # The production instance config, as it is.
        shutil.copyfile(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text(config)
    # Dagster creates its tables on first use (0.7 s on PostgreSQL): a production instance has
    # them already, so they are made here, before any measured step.
    import dagster as dg

    pg_environment = dagster_pg_environment(admin_url, database)
    with restored_environment(*pg_environment):
        if storage == "postgres":
            os.environ.update(pg_environment)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.get_runs(limit=1)


def dagster_pg_environment(admin_url: str, database: str) -> dict[str, str]:
    """The variables deploy/dagster.yaml reads its database from."""
    url = sa.engine.make_url(admin_url)
    return {"DAGSTER_PG_HOST": url.host or "127.0.0.1", "DAGSTER_PG_PORT": str(url.port or 5432),
            "DAGSTER_PG_USER": url.username or "postgres", "DAGSTER_PG_PASSWORD": url.password or "",
            "DAGSTER_PG_DB": database}


@contextlib.contextmanager
def sirius_stub_environment(last_day: dt.date):
    """The signing Sirius stub in this process; the variables a step needs to reach it (this process's left as they were)."""
    from bench.steps import STUB_AWS
    from perfdata_assets.devtools.sirius_stub import signing_stub_for_this_process

    saved = dict(os.environ)
    try:
        with signing_stub_for_this_process(STUB_AWS, complete_through=last_day):
            yield {name: os.environ[name] for name in (*STUB_AWS, "SIRIUS_BASE_URL")}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def backfill_timeline(admin_url: str, dagster_db: str) -> list[tuple[str, float]]:
    """Where a backfill's runs spent their time, from its Dagster instance: creating each run
    (its planned events), then each step, from its start to its success (one after another)."""
    engine = sa.create_engine(sa.engine.make_url(admin_url).set(database=dagster_db), poolclass=sa.pool.NullPool)
    parts: list[tuple[str, float]] = []
    with engine.connect() as conn:
        runs = conn.exec_driver_sql(
            "SELECT run_id, extract(epoch FROM create_timestamp) AS created, start_time, end_time "
            "FROM runs ORDER BY create_timestamp").all()
        for number, run in enumerate(runs, 1):
            what = "daily" if number == 1 else "monthly"
            parts.append((f"{what} run: created (its planned events written)", run.start_time - float(run.created)))
            steps = conn.exec_driver_sql(
                "SELECT step_key, extract(epoch FROM max(timestamp) - min(timestamp)) AS seconds FROM event_logs "
                "WHERE run_id = %(run)s AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') "
                "GROUP BY step_key ORDER BY min(timestamp)",
                {"run": run.run_id}).all()
            for step_row in steps:
                parts.append((f"{what} run: step `{step_row.step_key}`", float(step_row.seconds)))
            between = (run.end_time - run.start_time) - sum(float(r.seconds) for r in steps)
            parts.append((f"{what} run: between and around its steps", between))
    engine.dispose()
    return parts


def warm_cache(url: str) -> float:
    """Read the source tables once, so that no measured step pays for the first read from disk."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT count(*), count(document) FROM applications").all()
        conn.exec_driver_sql("SELECT count(*), count(message) FROM feedback").all()
        for column in ("startedAt", "createdAt", "completedAt"):
            conn.exec_driver_sql(f'SELECT count(*) FROM applications WHERE "{column}" >= now() - interval \'45 days\'').all()
    engine.dispose()
    return time.perf_counter() - started


def ensure_pandas() -> dict[str, str]:
    """pandas for D: the project's own if installed (the `bench` extra), else a copy under bench/data/pydeps."""
    probe = subprocess.run([sys.executable, "-c", "import pandas"], capture_output=True)
    if probe.returncode == 0:
        return {}
    env = {"PYTHONPATH": os.pathsep.join([str(PANDAS_DIR), str(REPO)])}
    probe = subprocess.run([sys.executable, "-c", "import pandas"], capture_output=True, env={**os.environ, **env})
    if probe.returncode != 0:
        print(f"  pandas is not installed: installing it for the benchmark only, into {PANDAS_DIR}")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(PANDAS_DIR), "pandas>=2.2"],
                       check=True)
    return env


# --- figures ---------------------------------------------------------------------------


def _norm(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, (Decimal, float, str)) and not isinstance(value, bool):
        try:
            return str(Decimal(str(value)).quantize(Decimal("0.01")))
        except ArithmeticError:
            return value
    return int(value)


def read_figures(url: str, schema: str, months: list[dt.date]) -> dict[str, dict[str, dict]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    figures: dict[str, dict[str, dict]] = {}
    with engine.connect() as conn:
        for kpi, columns in KPIS.items():
            rows = conn.execute(
                sa.text(f"SELECT month, {', '.join(columns)} FROM {schema}.{kpi} WHERE month >= :first AND month <= :last"),
                {"first": months[0], "last": months[-1]},
            ).mappings()
            figures[kpi] = {row["month"].isoformat(): {c: row[c] for c in columns} for row in rows}
    engine.dispose()
    return figures


def compare(name: str, got: dict, expected: dict, months: list[dt.date]) -> list[str]:
    """Every KPI column of every month: the differences, as lines."""
    problems = []
    for kpi, columns in KPIS.items():
        for month in (m.isoformat() for m in months):
            mine, theirs = got.get(kpi, {}).get(month), expected.get(kpi, {}).get(month)
            if mine is None or theirs is None:
                problems.append(f"{name}: {kpi} {month}: {'missing' if mine is None else 'not in the floor'}")
                continue
            for column in columns:
                if _norm(mine[column]) != _norm(theirs[column]):
                    problems.append(f"{name}: {kpi} {month} {column}: {mine[column]} != floor's {theirs[column]}")
    return problems


def month_list(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


# --- demo ------------------------------------------------------------------------------------


def demo_command() -> list[str]:
    """What `make demo` runs: the installed `perfdata` script next to this Python, else the module."""
    script = Path(sys.executable).parent / "perfdata"
    if script.exists():
        return [str(script), "demo"]
    return [sys.executable, "-m", "perfdata_assets.cli", "demo"]


def demo_environment(home: Path) -> dict[str, str]:
    """A user's environment for `make demo`: none of perfdata's, Sirius's or DAGSTER_HOME, and a scratch home.

    PERFDATA_HOME moves .perfdata/ (the SQLite files, the local Dagster instance,
    the exports) so the user's own demo is not clobbered; without DAGSTER_HOME
    the demo makes its instance there, as on a first `make demo`.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PERFDATA_", "LPA_DATABASE_", "SIRIUS_")) and k != "DAGSTER_HOME"}
    return {**env, "PERFDATA_HOME": str(home)}


def measure_demo(admin_url: str, databases: list[str], echo) -> Measurement:
    home = DATA_DIR / "demo_home"
    shutil.rmtree(home, ignore_errors=True)  # a first run, as for a new user
    home.mkdir(parents=True)
    load = os.getloadavg()[0]  # the demo's target needs a quiet machine: the report says how quiet it was
    measurement = run_command("demo", demo_command(), demo_environment(home), admin_url, databases, echo)
    measurement.result = {"load_average_before": load}
    return measurement


# --- F -------------------------------------------------------------------------------------


def ensure_published(url: str, months: list[dt.date]) -> str:
    """The publication F reads: written by A when the definitions hold it, else by the asset's own code here."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        present = conn.execute(sa.text("SELECT count(*) FROM perfdata.published_kpis")).scalar()
    if present:
        engine.dispose()
        return f"{present} rows written by A's backfill"
    from perfdata_assets.publishing.assets import publish

    with engine.begin() as conn:
        publish(conn, months, dt.datetime.now(dt.timezone.utc))
    with engine.connect() as conn:
        present = conn.execute(sa.text("SELECT count(*) FROM perfdata.published_kpis")).scalar()
    engine.dispose()
    return (f"{present} rows written by the bench with perfdata_assets.publishing.assets.publish "
            "(the publication asset is not in the definitions yet, so A did not write them)")


def serve_command(port: int) -> list[str]:
    """`perfdata serve` on loopback."""
    from perfdata_assets.cli import main

    if "serve" in main.commands:
        return [sys.executable, "-m", "perfdata_assets.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, "-m", "perfdata_assets.web.server", "--host", "127.0.0.1", "--port", str(port)]


def measure_api(args, env: dict, admin_url: str, databases: list[str], echo) -> tuple[Measurement, dict, str]:
    port = free_port()
    token = "perfdata-bench-token"
    command = serve_command(port)
    log_path = DATA_DIR / "logs" / "F_server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env, "PERFDATA_API_TOKEN": token},
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/healthcheck", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise StepFailed(f"the API server did not start ({' '.join(command[1:])}); see {log_path}")
            time.sleep(0.2)
        load = run_step(
            "F_load", "load",
            {"urls": [f"http://127.0.0.1:{port}/v1/kpis/latest", f"http://127.0.0.1:{port}{OPEN_DATA_CSV}"],
             "token": token, "requests": args.load_requests,
             "seconds": args.load_seconds, "concurrency": args.load_concurrency},
            env, admin_url, databases, echo,
        )
    finally:
        server.terminate()
        try:
            _, _, usage = os.wait4(server.pid, 0)
            server.returncode = 0
            server_rss = usage.ru_maxrss / 1024
        except ChildProcessError:
            server_rss = float("nan")
    return load, {"server_max_rss_mb": server_rss}, " ".join(["python", *command[1:4]])


# --- A_ui ------------------------------------------------------------------------------------


def measure_ui_backfill(args, env: dict, first: dt.date, last: dt.date, dagster_db: str, url: str,
                        echo) -> tuple[Measurement, dict]:
    """A's assets and days, launched through the webserver as the UI does, run by the daemon."""
    from bench import ui_backfill

    assets = ui_backfill.materialised_assets(args.admin_url, dagster_db)
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    ui_db = f"{dagster_db}_ui"
    home = DATA_DIR / "dagster_home_ui"
    reset_perfdata_schema(url)
    fresh_dagster_instance("postgres", args.admin_url, ui_db, home)
    services_env = {**env, **IMAGE_ENV, **dagster_pg_environment(args.admin_url, ui_db),
                    "DAGSTER_HOME": str(home)}
    echo(f"A_ui: {len(assets)} assets ({', '.join(assets)}) over {len(days):,} days, launched through the "
         "webserver, run by the daemon")
    with sirius_stub_environment(last) as stub_env, \
            ui_backfill.dagster_services(home, {**services_env, **stub_env}, args.admin_url, ui_db) as graphql_url:
        measurement = run_step("A_ui", "ui_backfill", {"graphql": graphql_url, "assets": assets, "partitions": days},
                               services_env, args.admin_url, [sa.engine.make_url(url).database, ui_db], echo)
    detail = ui_backfill.where_the_time_went(args.admin_url, ui_db, measurement.result["launched_at"],
                                             measurement.result["finished_at"])
    detail["assets"] = assets
    echo(f"  A_ui: {detail['runs']} run(s), backfill {measurement.result['status']}, "
         f"{detail['repeated_partitions']} partition(s) materialised more than once")
    return measurement, detail


# --- scale ---------------------------------------------------------------------------------


def scale_step(args, params: generate.Params, env: dict, today: dt.date, echo) -> tuple[dict, list[str]]:
    """B and A (the whole history) again on a second database with SCALE times the LPAs and feedback a month.

    After every step at 1×, so that none of them runs with the bigger data in
    the page cache; A's figures are compared with B's there too.
    """
    bigger = generate.Params(params.years, params.lpas_per_month * SCALE, params.feedback_per_month * SCALE)
    database = f"{args.database}_{SCALE}x" if args.database else database_name(bigger)
    dagster_db = f"{database}_dagster"
    echo(f"scale: {SCALE}× the LPAs and feedback a month, database {database}")
    url, dataset = prepare_dataset(args.admin_url, database, bigger, today, echo, args.regenerate)
    first, last = dataset.first_day, dataset.last_day
    months = month_list(first, last)
    env = {**env, "LPA_DATABASE_URL": url, "PERFDATA_DATABASE_URL": url, "PERFDATA_START_DATE": first.isoformat(),
           **dagster_pg_environment(args.admin_url, dagster_db)}
    watched = [database, dagster_db]
    echo(f"history {first} .. {last}: {dataset.applications:,} LPAs ({dataset.events:,} lifecycle events), "
         f"{dataset.feedback:,} feedback forms")
    echo(f"warming the page cache: {warm_cache(url):.0f} s")

    echo(f"B ({SCALE}×): the floor (hand-written SQL)")
    window = {"start": first.isoformat(), "end": last.isoformat()}
    b = run_step(f"B_{SCALE}x", "floor", {"url": url, **window}, env, args.admin_url, watched, echo)
    floor_figures = read_figures(url, "bench_floor", months)

    echo(f"A ({SCALE}×): perfdata backfill {first} .. {last} ({len(months)} months) into an empty schema")
    reset_perfdata_schema(url)
    fresh_dagster_instance(args.dagster_storage, args.admin_url, dagster_db, Path(env["DAGSTER_HOME"]))
    a = run_step(f"A_{SCALE}x", "backfill", window, env, args.admin_url, watched, echo)
    problems = compare(f"A ({SCALE}×)", read_figures(url, "perfdata", months), floor_figures, months)
    return {"factor": SCALE, "database": database, "dataset": dataset, "A": a, "B": b}, problems


# --- the run ---------------------------------------------------------------------------------


def record_run(output: Path, results: dict[str, Measurement], api: dict | None, revision: str,
               problems: list[str]) -> list[dict]:
    """This run's headline figures appended to bench/data/history-<report>.jsonl; the last three runs'.

    The targets on A / B are judged over consecutive runs of `make bench` in one checkout
    (the machine is shared and one run can be lucky), so each run keeps its figures
    beside the generated data (never committed) and the report shows the last three.
    """
    path = DATA_DIR / f"history-{output.stem}.jsonl"
    entry = {"when": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "revision": revision,
             "figures_right": not problems,
             **{key: round(results[key].seconds, 2) for key in ("A", "B", "A_ui", "E") if key in results}}
    if api:
        entry["F_p99_ms"] = round(api["loaded"]["p99_ms"], 1)
    with path.open("a") as history:
        history.write(json.dumps(entry) + "\n")
    return [json.loads(line) for line in path.read_text().splitlines()[-3:]]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    echo = lambda text="": print(text, flush=True)  # noqa: E731
    params = generate.Params(args.years, args.lpas_per_month, args.feedback_per_month)
    database = args.database or database_name(params)
    dagster_db = f"{database}_dagster"
    if args.output is None:
        args.output = REPO / "bench" / "RESULTS.md" if params == DEFAULT_PARAMS else DATA_DIR / f"RESULTS-{database}.md"
        args.output.parent.mkdir(parents=True, exist_ok=True)
    today = dt.date.today()
    load_before = os.getloadavg()

    url, dataset = prepare_dataset(args.admin_url, database, params, today, echo, args.regenerate)
    first, last = dataset.first_day, dataset.last_day
    months = month_list(first, last)
    machine = machine_description(sa.create_engine(args.admin_url, poolclass=sa.pool.NullPool))
    echo(f"history {first} .. {last}: {dataset.applications:,} LPAs ({dataset.deleted:,} deleted, "
         f"{dataset.events:,} lifecycle events), {dataset.feedback:,} feedback forms")

    dagster_home = DATA_DIR / "dagster_home"
    env = {
        "LPA_DATABASE_URL": url,
        "PERFDATA_DATABASE_URL": url,  # the embedded architecture
        "PERFDATA_START_DATE": first.isoformat(),
        "DAGSTER_HOME": str(dagster_home),
        "PERFDATA_EXPORT_DIR": str(DATA_DIR / "exports"),  # the publication's export files, not .perfdata/
        "PYTHONPATH": str(REPO),
        **dagster_pg_environment(args.admin_url, dagster_db),  # deploy/dagster.yaml's database
    }
    for name in ("SIRIUS_BASE_URL", "SIRIUS_CHANNEL_COUNTS_CSV"):
        os.environ.pop(name, None)
    watched = [database, dagster_db]
    results: dict[str, Measurement] = {}
    notes: list[str] = []
    problems: list[str] = []

    def step(label: str, name: str, step_args: dict, extra_env: dict | None = None) -> Measurement:
        results[label] = run_step(label, name, step_args, {**env, **(extra_env or {})}, args.admin_url, watched, echo)
        return results[label]

    def nightly_step(label: str, span: list[dt.date]) -> None:
        nightly_first = last - dt.timedelta(days=2)
        echo(f"{label}: the nightly runs ({nightly_first} .. {last}) and the monthly run ({span[-1]:%B %Y}) "
             f"after {len(span)} months of history")
        # Sirius is another service: its stand-in runs here, not in the measured process (as A's and B's
        # does, alike), so E is what a scheduled run costs perfdata.
        with sirius_stub_environment(last) as stub_env:
            step(label, "nightly", {"first": nightly_first.isoformat(), "last": last.isoformat(),
                                    "month": span[-1].isoformat(), "stub_outside": True}, {**IMAGE_ENV, **stub_env})
        problems.extend(compare(label, read_figures(url, "perfdata", span), floor_figures, span))

    if "demo" not in args.skip:
        # First, while nothing else of the benchmark runs: the demo is judged on its own wall time.
        echo("demo: perfdata demo (make demo) into a scratch PERFDATA_HOME")
        results["demo"] = measure_demo(args.admin_url, watched, echo)

    echo(f"warming the page cache: {warm_cache(url):.0f} s")

    echo("B: the floor (hand-written SQL)")
    step("B", "floor", {"url": url, "start": first.isoformat(), "end": last.isoformat()})
    floor_figures = read_figures(url, "bench_floor", months)
    # PostgreSQL's own rate for B's event rows, in a step of its own so that B's time does not include it.
    echo("B: PostgreSQL's COPY out, COPY in and CREATE TABLE AS of the floor's lifecycle events")
    step("B_copy", "copy_rate", {"url": url, "dir": str(DATA_DIR)})

    if "C" not in args.skip:
        month = months[-1]
        days = [month + dt.timedelta(days=i) for i in range((last - month).days + 1)]
        echo(f"C: one run per partition, {len(days)} days of {month:%B %Y} and the month")
        reset_perfdata_schema(url)
        fresh_dagster_instance(args.dagster_storage, args.admin_url, dagster_db, dagster_home)
        step("C", "naive_dagster", {"days": [d.isoformat() for d in days], "month": month.isoformat()}, IMAGE_ENV)
        problems += compare("C", read_figures(url, "perfdata", [month]), floor_figures, [month])

    windows = [(first, last)]
    if "growth" not in args.skip:
        short = 12 if args.years > 1 else 3
        windows.insert(0, (months[-short], last))
    experiments: list[tuple[str, Measurement]] = []
    for window_first, window_last in windows:
        span = month_list(window_first, window_last)
        label = f"A_{len(span)}m"
        echo(f"A: perfdata backfill {window_first} .. {window_last} ({len(span)} months) into an empty schema")
        reset_perfdata_schema(url)
        fresh_dagster_instance(args.dagster_storage, args.admin_url, dagster_db, dagster_home)
        step(label, "backfill", {"start": window_first.isoformat(), "end": window_last.isoformat()})
        problems += compare(label, read_figures(url, "perfdata", span), floor_figures, span)
        if args.dagster_storage == "postgres":
            results[label].result["timeline"] = backfill_timeline(args.admin_url, dagster_db)
        if len(windows) > 1 and (window_first, window_last) == windows[0] and "E" not in args.skip:
            # E on the shorter history as well: the nightly runs must not grow with it.
            nightly_step(f"E_{len(span)}m", span)
        if len(windows) > 1 and (window_first, window_last) == windows[0] and "experiments" not in args.skip:
            # What the Dagster event log costs: the shorter backfill again, with one thing changed each time.
            experiments.append(("as shipped", results[label]))
            for what, extra_env, options in EXPERIMENTS:
                echo(f"A experiment, {len(span)} months: {what}")
                reset_perfdata_schema(url)
                options = dict(options)
                fresh_dagster_instance(args.dagster_storage, args.admin_url, dagster_db, dagster_home,
                                       event_log=options.pop("event_log", "perfdata"))
                measurement = run_step(f"{label} {what}", "backfill",
                                       {"start": window_first.isoformat(), "end": window_last.isoformat(), **options},
                                       {**env, **extra_env}, args.admin_url, watched, echo)
                problems += compare(f"{label} ({what})", read_figures(url, "perfdata", span), floor_figures, span)
                experiments.append((what, measurement))
    results["A"] = results[f"A_{len(months)}m"]

    ui = None
    if "ui" not in args.skip and args.dagster_storage == "postgres":
        results["A_ui"], ui = measure_ui_backfill(args, env, first, last, dagster_db, url, echo)
        if results["A_ui"].result["status"] != "COMPLETED_SUCCESS":
            problems.append(f"A_ui: the backfill ended {results['A_ui'].result['status']}")
        if ui["repeated_partitions"]:
            problems.append(f"A_ui: {ui['repeated_partitions']} partition(s) materialised more than once: "
                            + "; ".join(ui["repeats_example"]))
        problems += compare("A_ui", read_figures(url, "perfdata", months), floor_figures, months)

    if "E" not in args.skip:
        nightly_step("E", months)

    if "D" not in args.skip:
        echo("D: the naive Python way (pandas)")
        pandas_env = ensure_pandas()
        if pandas_env:
            notes.append(f"pandas for D was installed under {PANDAS_DIR.relative_to(REPO)} (not in the project's .venv)")
        measurement = step("D", "naive_pandas", {"url": url, "start": first.isoformat(), "end": last.isoformat()},
                           pandas_env)
        problems += compare("D", measurement.result.pop("figures"), floor_figures, months)

    api = None
    if "F" not in args.skip:
        echo("F: GET /v1/kpis/latest and the open-data CSV under load")
        try:
            notes.append("F's publication: " + ensure_published(url, months))
            load, server, how = measure_api(args, env, args.admin_url, watched, echo)
            results["F"] = load
            api = {**load.result, **server, "command": how}
        except (ImportError, StepFailed) as exc:
            notes.append(f"F pending: {exc}")
            echo(f"  F pending: {exc}")

    scale = None
    if "scale" not in args.skip:
        scale, wrong = scale_step(args, params, env, today, echo)
        problems += wrong

    from bench.report import render

    revision = git_revision()
    history = record_run(args.output, results, api, revision, problems)
    text = render(
        dataset=dataset, machine=machine, results=results, api=api, notes=notes, problems=problems,
        args=args, database=database, revision=revision, load=(load_before, os.getloadavg()),
        experiments=experiments, scale=scale, ui=ui, history=history,
        total_seconds=time.monotonic() - started,
    )
    args.output.write_text(text)
    echo()
    echo(text)
    echo(f"written to {args.output}")
    if problems:
        echo(f"WRONG FIGURES: {len(problems)} difference(s) from the floor")
        for line in problems[:20]:
            echo("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
