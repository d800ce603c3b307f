"""Helpers for the reliability tests: seeded sources, table snapshots, slowed writes, processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from perfdata_assets.sources.lpa.sql import VALID_RATINGS
from perfdata_assets.sources.lpa.tables import applications, feedback
# The scratch databases' helpers, shared with the other PostgreSQL tests.
from perfdata_assets_tests.support import admin_engine, create_database, drop_database, wait_for_activity  # noqa: F401

BIN = Path(sys.executable).parent
UTC = dt.timezone.utc

# Every perfdata table, with the columns that identify a row and what a run writes.
# published_at / loaded_at are when a run wrote the row: the same rows written by
# another run differ only there.
TABLES = {
    "raw_feedback": "feedback_id, received_at, day, rating, from_page",
    "lpa_lifecycle_events": "lpa_id, event, occurred_at, day, lpa_type",
    "channel_counts": 'day, channel, "count"',
    "loaded_days": "asset, day",
    "user_satisfaction": "month, responses, very_dissatisfied, dissatisfied, neither, satisfied, very_satisfied, "
                         "satisfied_percent, score_percent",
    "completion_rate": "month, started, created, completed, completion_rate_percent",
    "digital_take_up": "month, digital, total, take_up_percent",
    "published_kpis": "period_start, period, service, data_type, value, numerator, denominator",
}
RUN_TIMES = {"loaded_days": "loaded_at", "published_kpis": "published_at"}


def snapshot(url: str, with_run_times: bool = True) -> dict[str, list[tuple]]:
    """Every row of every perfdata table, as text, sorted: equal snapshots are equal tables.

    All tables are read in one REPEATABLE READ transaction, so the snapshot is one moment: a run
    still going (its next step committing a table and its ledger days between two of these SELECTs)
    cannot make a step's writes look half old, half new when they are not.
    """
    engine = admin_engine(url)
    out = {}
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        for table, columns in TABLES.items():
            if with_run_times and table in RUN_TIMES:
                columns += f", {RUN_TIMES[table]}"
            cast = ", ".join(f"CAST({c.strip()} AS text)" for c in columns.split(","))
            out[table] = sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT {cast} FROM perfdata.{table}"))
    engine.dispose()
    return out


def published(url: str) -> list[tuple]:
    return snapshot(url)["published_kpis"]


# --- A realistic source, generated from a seed ---------------------------------


def seed_source(url: str, seed: int, first: dt.date, days: int, per_day: int = 6) -> None:
    """Feedback and LPAs on each day of [first, first + days), some rejected ratings, some late events."""
    rng = random.Random(seed)
    feedback_rows, lpa_rows = [], []
    lpa_id = 20_000_000_000 + seed * 1_000_000
    for i in range(days):
        day = dt.datetime.combine(first + dt.timedelta(days=i), dt.time(), UTC)
        for _ in range(per_day):
            at = day + dt.timedelta(minutes=rng.randrange(24 * 60))
            rating = rng.choice(VALID_RATINGS + ("Satisfied", None))
            message = {"details": "PLANTED details", "email": "x@example.org", "phone": "", "agent": "UA",
                       "fromPage": rng.choice(["/home", "/user/dashboard?lpa=A1", "/lpa/type"])}
            if rating is not None:
                message["rating"] = rating
            feedback_rows.append({"received": at, "message": message})
            lpa_id += 1
            started = at - dt.timedelta(hours=rng.randrange(1, 24 * 20))
            created = started + dt.timedelta(hours=rng.randrange(1, 24 * 25)) if rng.random() < 0.7 else None
            completed = created + dt.timedelta(hours=rng.randrange(1, 72)) if created and rng.random() < 0.8 else None
            lpa_rows.append({
                "id": lpa_id, "user": f"acct-{lpa_id}", "updatedAt": max(t for t in (started, created, completed) if t),
                "startedAt": started, "createdAt": created, "completedAt": completed, "locked": completed is not None,
                "document": {"type": rng.choice(["health-and-welfare", "property-and-finance"])}, "search": "Donor",
            })
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(feedback.insert(), feedback_rows)
        conn.execute(applications.insert(), lpa_rows)
    engine.dispose()


def change_source(url: str, seed: int, first: dt.date, days: int) -> None:
    """A later state of the source: new rows, changed ratings, an LPA un-created, one deleted."""
    seed_source(url, seed + 1000, first, days, per_day=3)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            """UPDATE feedback SET message = jsonb_set(message, '{rating}', '"very-satisfied"')
                WHERE id IN (SELECT id FROM feedback ORDER BY id LIMIT 5)""")
        conn.exec_driver_sql(
            """UPDATE applications SET "createdAt" = NULL, "completedAt" = NULL
                WHERE id IN (SELECT id FROM applications WHERE "createdAt" IS NOT NULL ORDER BY id LIMIT 3)""")
        conn.exec_driver_sql(
            """UPDATE applications SET "user" = NULL, "startedAt" = NULL, "createdAt" = NULL, "completedAt" = NULL,
                      document = NULL, search = NULL
                WHERE id = (SELECT min(id) FROM applications)""")
    engine.dispose()


def channel_counts_csv(path: Path, first: dt.date, days: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = ["date,channel,count"]
    for i in range(days):
        day = (first + dt.timedelta(days=i)).isoformat()
        lines += [f"{day},online,{rng.randrange(50, 90)}", f"{day},paper,{rng.randrange(10, 40)}",
                  f"{day},phone,{rng.randrange(0, 5)}"]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- Watching a run's backend ------------------------------------------------------


def _perfdata_activity(url: str, condition: str, columns: str = "pid") -> str:
    name = sa.engine.make_url(url).database
    return (f"SELECT {columns} FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND application_name = 'perfdata' AND {condition}")


def sleeping_backend(url: str, timeout: float = 120) -> dict:
    """Waits for a perfdata connection of this database to sit in the test trigger's pg_sleep."""
    return wait_for_activity(
        url, _perfdata_activity(url, "wait_event = 'PgSleep' AND xact_start IS NOT NULL",
                                "pid, backend_xid IS NOT NULL AS writing, query"),
        until=lambda row: row is not None, failure="no perfdata write reached the slowed table", timeout=timeout)


def wait_for_second_writer(url: str, first_pid: int, timeout: float = 120) -> dict:
    """Waits for another perfdata connection to be inside a write transaction of its own, alongside
    the held one: waiting for a lock the first one holds, or held by the trigger itself (its rows did
    not collide with the first one's)."""
    return wait_for_activity(
        url, _perfdata_activity(url, f"""pid <> {int(first_pid)}
            AND (wait_event_type = 'Lock' OR (wait_event = 'PgSleep' AND backend_xid IS NOT NULL))""",
                                "pid, wait_event_type, wait_event"),
        until=lambda row: row is not None, failure="no second run came to write alongside the first", timeout=timeout)


def terminate(url: str, pid: int) -> None:
    engine = admin_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar()
    engine.dispose()


def wait_for_backend_gone(url: str, pid: int, timeout: float = 30) -> None:
    wait_for_activity(url, f"SELECT count(*) AS n FROM pg_stat_activity WHERE pid = {int(pid)}",
                      until=lambda row: row["n"] == 0, failure=f"backend {pid} is still there", timeout=timeout)


def wait_for_no_open_transaction(url: str, timeout: float = 120) -> None:
    """Until no perfdata connection of this database has a transaction open (a killed run's orphan ends)."""
    wait_for_activity(url, _perfdata_activity(url, "xact_start IS NOT NULL", "count(*) AS n"),
                      until=lambda row: row["n"] == 0, failure="a killed run's transaction is still open",
                      timeout=timeout, interval=0.1)


def cli_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LPA_", "PERFDATA_", "SIRIUS_", "DAGSTER_"))}
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return {**env, "LPA_DATABASE_URL": url, "DAGSTER_HOME": str(home), "PERFDATA_HOME": str(tmp_path / "home"),
            "PERFDATA_START_DATE": "2023-12-01", "NO_PROXY": "127.0.0.1,localhost", **extra}


def start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """A process in its own session, so that the test can kill it and all it started."""
    out = log.open("wb")
    try:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


# --- Held writes: a test-controlled pause inside a run's write -----------------------------


class Hold:
    """A statement-level trigger after each INSERT into perfdata.TABLE that waits while held.

    The run's INSERT (a merge's ``INSERT … ON CONFLICT``, a KPI's INSERT after its
    DELETE, a ledger row) has then happened inside its still-open transaction,
    after whatever the transaction wrote before it, and its backend sits in
    ``pg_sleep``, where the test can terminate it or kill the run. ``release()``
    lets every waiting statement go on at once. Production code is untouched: the
    trigger, its function and its flag table exist only in the test's database,
    and ``drop()`` removes the trigger.
    """

    def __init__(self, url: str, table: str):
        self.url, self.table = url, table
        self.engine = admin_engine(url)
        with self.engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS public.perfdata_test_hold (held boolean)")
            conn.exec_driver_sql(
                """CREATE OR REPLACE FUNCTION public.perfdata_test_wait() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN
                     WHILE EXISTS (SELECT 1 FROM public.perfdata_test_hold) LOOP PERFORM pg_sleep(0.05); END LOOP;
                     RETURN NULL;
                   END $$""")
            conn.exec_driver_sql("INSERT INTO public.perfdata_test_hold VALUES (true)")
            conn.exec_driver_sql(
                f"""CREATE TRIGGER perfdata_test_wait AFTER INSERT ON perfdata.{table}
                    FOR EACH STATEMENT EXECUTE FUNCTION public.perfdata_test_wait()""")

    def release(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("DELETE FROM public.perfdata_test_hold")

    def drop(self) -> None:
        self.release()
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS perfdata_test_wait ON perfdata.{self.table}")
        self.engine.dispose()

    def __enter__(self) -> "Hold":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.drop()


# --- The world the fault and concurrency tests start from ----------------------------------

FIRST, LAST = dt.date(2024, 1, 1), dt.date(2024, 2, 29)
DAYS = (LAST - FIRST).days + 1


def definitions(url: str, csv: Path, export_dir: Path):
    """perfdata's assets and checks over one PostgreSQL database, Sirius counts from a CSV."""
    import dagster as dg

    from perfdata_assets.db.resource import PerfdataDatabase
    from perfdata_assets.kpis.assets import completion_rate, digital_take_up, user_satisfaction
    from perfdata_assets.kpis.checks import kpi_checks
    from perfdata_assets.publishing.assets import performance_data_exports, published_kpis
    from perfdata_assets.publishing.resource import ExportDirectory
    from perfdata_assets.schedules import jobs
    from perfdata_assets.sources.lpa.assets import lpa_lifecycle_events, raw_feedback
    from perfdata_assets.sources.sirius.assets import ChannelCountsSource, sirius_channel_counts

    return dg.Definitions(
        assets=[raw_feedback, lpa_lifecycle_events, sirius_channel_counts, user_satisfaction, completion_rate,
                digital_take_up, published_kpis, performance_data_exports],
        asset_checks=kpi_checks,
        jobs=jobs,
        resources={
            "database": PerfdataDatabase(lpa_database_url=url, perfdata_database_url=url),
            "channel_counts_source": ChannelCountsSource(csv_path=str(csv)),
            "export_directory": ExportDirectory(path=str(export_dir)),
        },
    )


class RunFailed(Exception):
    """A run failed: ``steps`` that failed, and ``causes``, their root errors (class: message)."""

    def __init__(self, message: str, steps: list[str], causes: list[str]):
        super().__init__(message + " | " + " | ".join(causes))
        self.steps, self.causes = steps, causes


# The clean ways for a run to lose to another writing the same rows at the same moment:
# the transaction is rolled back whole, and re-running it completes.
CLEAN_CONFLICTS = ("UniqueViolation", "LockNotAvailable", "SerializationFailure")


def root_causes(failure_events) -> tuple[list[str], list[str]]:
    """The failed steps' keys and root errors, from their STEP_FAILURE events."""
    steps, causes = [], []
    for event in failure_events:
        error = event.step_failure_data.error
        while error.cause is not None:
            error = error.cause
        steps.append(event.step_key)
        causes.append(f"{error.cls_name}: {error.message.strip().splitlines()[0] if error.message else ''}")
    return steps, causes


def backfill(url: str, csv: Path, export_dir: Path, first: dt.date = FIRST, last: dt.date = LAST):
    """`perfdata backfill`'s own code (two single-run backfills), in this process, on an ephemeral instance.

    Raises RunFailed naming the root cause of each failed step (the database's error class).
    """
    import dagster as dg

    from perfdata_assets.backfill import BackfillError
    from perfdata_assets.backfill import backfill as run_backfill

    with dg.DagsterInstance.ephemeral() as instance:
        try:
            return run_backfill(definitions(url, csv, export_dir), first, last, instance, echo=lambda _: None)
        except BackfillError as exc:
            run_id = str(exc).split()[2]  # "<daily|monthly> run <run id> failed: ..."
            records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
            raise RunFailed(str(exc), *root_causes(r.event_log_entry.dagster_event for r in records)) from None


def export_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*")) if p.is_file()} if directory.exists() else {}


def release_connections(url: str) -> None:
    """Closes this process's pooled connections to a database (a template must have none)."""
    from perfdata_assets.db import engines

    for dbs in [engines.databases(url, url)]:
        dbs.perfdata.dispose()
    engines.databases.cache_clear()
    name = sa.engine.make_url(url).database
    engine = admin_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()")
    engine.dispose()


# Where a run's window shows in each table: the position of the day or month column.
PARTITION_COLUMN = {"raw_feedback": 2, "lpa_lifecycle_events": 3, "channel_counts": 0, "loaded_days": 1,
                    "user_satisfaction": 0, "completion_rate": 0, "digital_take_up": 0, "published_kpis": 0}


def assert_each_partition_previous_or_new(url: str, previous: dict, new: dict) -> None:
    """Every day or month of every table holds exactly its previous rows or exactly the new ones.

    Runs over different windows that succeed and fail side by side leave a table
    part previous, part new; each run's own days and months are never a mix.
    """
    now_with, now_without = snapshot(url, with_run_times=True), snapshot(url, with_run_times=False)

    def by_partition(rows: list[tuple], table: str) -> dict:
        groups: dict = {}
        for row in rows:
            key = (row[0], row[1]) if table == "loaded_days" else row[PARTITION_COLUMN[table]]
            groups.setdefault(key, []).append(row)
        return groups

    for table in TABLES:
        was, is_, want = (by_partition(now_with[table], table), by_partition(now_without[table], table),
                          by_partition(new[table], table))
        before = by_partition(previous[table], table)
        for key in set(was) | set(before) | set(want):
            assert was.get(key) == before.get(key) or is_.get(key) == want.get(key), (
                f"{table} {key} is neither the previous rows nor the new ones")


# What each step writes, in one transaction: its table(s), and its days in the ledger.
STEP_WRITES = {
    "raw_feedback": ("raw_feedback",), "lpa_lifecycle_events": ("lpa_lifecycle_events",),
    "sirius_channel_counts": ("channel_counts",), "user_satisfaction": ("user_satisfaction",),
    "completion_rate": ("completion_rate",), "digital_take_up": ("digital_take_up",),
    "published_kpis": ("published_kpis",),
}
TABLE_STEP = {tables[0]: step for step, tables in STEP_WRITES.items()}
DAILY_STEPS = ("raw_feedback", "lpa_lifecycle_events", "sirius_channel_counts")


def _step_rows(snap: dict, step: str, width: dict | None = None) -> list:
    rows = [snap[table] for table in STEP_WRITES[step]] + [[r for r in snap["loaded_days"] if r[0] == step]]
    if width:  # cut the run times off, to compare with a snapshot taken without them
        rows = [[r[: width[t]] for r in part] for t, part in zip([*STEP_WRITES[step], "loaded_days"], rows)]
    return rows


def assert_steps_atomic(url: str, previous: dict, new: dict) -> set[str]:
    """Every step's writes (its table and its ledger days) are all previous or all new; returns the
    steps whose writes are exactly the previous rows, run times included."""
    now = snapshot(url)
    width = {t: len(TABLES[t].split(",")) for t in TABLES}
    unchanged = set()
    for step in STEP_WRITES:
        if _step_rows(now, step) == _step_rows(previous, step):
            unchanged.add(step)
        else:
            assert _step_rows(now, step, width) == _step_rows(new, step), f"{step}'s writes are half old, half new"
    return unchanged


def assert_step_rolled_back(url: str, previous: dict, new: dict, step: str) -> None:
    """An interrupted step left every row it writes exactly as it was, run times included."""
    assert step in assert_steps_atomic(url, previous, new), f"{step} was interrupted but its rows changed"


# --- `perfdata serve` in a real process -------------------------------------------------------

TOKEN = "reliability-token-5e7d1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def reserved_port() -> int:
    """A loopback port kept from everyone but a server that binds it with SO_REUSEADDR (uvicorn does).

    ``free_port()`` closes its socket at once: until `perfdata serve` has started (seconds, on a loaded
    machine) the port is anyone's, and any outgoing connection of another process may take it as its
    local port, so the server fails to bind, or another server answers in its place. Here the port is
    left in TIME_WAIT (the accepting side closes first): for a minute the kernel hands it neither to
    ``bind(0)`` nor to ``connect()``, while an explicit bind with SO_REUSEADDR still succeeds.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # before the client's end: the TIME_WAIT is on this side, on `port`
            client.recv(1)  # the FIN has arrived: the close above is complete
    return port


@contextlib.contextmanager
def perfdata_serve(url: str, tmp_path: Path, burst: int, per_minute: float):
    """`perfdata serve` on a reserved loopback port over ``url``; yields (base URL, process, log)."""
    import httpx

    port = reserved_port()
    env = cli_env(url, tmp_path, PERFDATA_API_TOKEN=TOKEN)
    args = [str(BIN / "perfdata"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--feedback-burst", str(burst), "--feedback-per-minute", str(per_minute)]
    log = tmp_path / f"serve-{port}.log"
    process = start(args, env, tmp_path, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/v1/healthcheck", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "perfdata serve did not start"
            time.sleep(0.2)
        # The answer came from this process (uvicorn says so before it serves), not from another on the port.
        assert process.poll() is None and f"running on {base}" in log.read_text(errors="replace"), \
            log.read_text(errors="replace")[-3000:]
        yield base, process, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_group(process)
