"""History survives (issue #14): perfdata's own tables are enough to make every published file again.

The service prunes feedback after two years and deletes LPAs, and CloudWatch keeps the
health check's metrics for 15 months, so perfdata's history is then the only copy.
docs/operations.md is the runbook; these tests prove it, with the real commands:

- a `pg_dump --schema=perfdata -Fc` restored with `pg_restore` into a fresh database whose
  service tables are empty, and no source configured: `perfdata rebuild` makes every KPI,
  the publication and the export files again from the history alone, byte for byte;
- every derived table dropped: `perfdata rebuild` brings them back, the same files byte
  for byte, no restatement, the history untouched; on PostgreSQL, and on the SQLite
  default after its perfdata file was lost and copied back from a backup;
- with no history there is nothing to rebuild from: one line, and nothing dropped.
"""

import contextlib
import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from perfdata_assets.calendar import LONDON
from perfdata_assets.config import default_sqlite_urls
from perfdata_assets.db import engines
from perfdata_assets.db.derived import DERIVED_TABLES, HISTORY_TABLES
from perfdata_assets.db.migrate import head_revision
from perfdata_assets.devtools.lpa_seed import seed
from perfdata_assets.devtools.sirius_synthetic import synthetic_channel_counts
from perfdata_assets.publishing import open_data
from perfdata_assets.publishing.published import DATA_TYPES
from perfdata_assets.publishing.sensors import published_kpis_webhook
from perfdata_assets.publishing.webhooks import ANNOUNCE_TAG
from perfdata_assets.sources.lpa.tables import applications, create_source_tables, feedback
from perfdata_assets_tests.conftest import ADMIN_URL, _postgres_admin
from perfdata_assets_tests.reliability.support import export_files
from perfdata_assets_tests.support import create_database, drop_database
from perfdata_assets_tests.test_cli import cli_env, run
from perfdata_assets_tests.webhook_receiver import Receiver, notifier

BIN = Path(sys.executable).parent
PERFDATA = str(BIN / "perfdata")
# Two months, one in GMT and one ending on the day the clocks go forward (a 23-hour day).
FIRST, LAST = dt.date(2024, 2, 1), dt.date(2024, 3, 31)
MONTH_FILES = [f"make_a_lasting_power_of_attorney_24_{m:02d}.json" for m in (2, 3)]
REBUILT_ASSETS = {"user_satisfaction", "completion_rate", "digital_take_up", "service_uptime", "published_kpis",
                  "performance_data_exports"}
# published_at is when a run published the row: a rebuild publishes again (docs/operations.md).
RUN_TIMES = {"published_kpis": "published_at"}


# --- The world: a seeded service, every source, one full backfill ------------------------------------


def seed_service(lpa_url: str) -> None:
    """Two months of the synthetic LPA service (devtools/lpa_seed.py), small."""
    engine = engines.lpa_write_engine(lpa_url)
    seed(engine, FIRST, LAST, seed_value=14, lpas_per_day=5, feedback_per_day=3)
    engine.dispose()


def source_settings(directory: Path) -> dict[str, str]:
    """Sirius's channel counts and the health check's uptime, as the CSV sources, for FIRST..LAST."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = directory / "counts.csv"
    counts.write_text("date,channel,count\n" + "".join(
        f"{c.day},{c.channel},{c.count}\n" for c in synthetic_channel_counts(FIRST, LAST, seed=14)))
    uptime = directory / "uptime.csv"
    lines = ["date,observed_minutes,healthy_minutes"]
    for i in range((LAST - FIRST).days + 1):
        day = FIRST + dt.timedelta(days=i)
        start, end = (dt.datetime.combine(d, dt.time(), LONDON) for d in (day, day + dt.timedelta(days=1)))
        minutes = int((end.astimezone(dt.timezone.utc) - start.astimezone(dt.timezone.utc)).total_seconds() // 60)
        lines.append(f"{day},{minutes},{minutes - (i % 3) * 7}")
    uptime.write_text("\n".join(lines) + "\n")
    return {"SIRIUS_CHANNEL_COUNTS_CSV": str(counts), "SERVICE_UPTIME_CSV": str(uptime)}


def backfill_everything(env: dict[str, str], cwd: Path, settings: dict[str, str]) -> None:
    run([PERFDATA, "db", "upgrade"], env, cwd)
    out = run([PERFDATA, "backfill", "--start", FIRST.isoformat(), "--end", LAST.isoformat()],
              {**env, **settings}, cwd).stdout
    assert "monthly run" in out and "skipping health_check_uptime" not in out and "skipping sirius" not in out


def assert_every_kpi_published(files: dict[str, bytes]) -> None:
    assert sorted(files) == [open_data.CSV_FILE_NAME, open_data.METADATA_FILE_NAME, *MONTH_FILES,
                             "transactions-by-channel.csv"]
    for name in MONTH_FILES:
        for data_type in DATA_TYPES:
            assert f'"dataType": "{data_type}"'.encode() in files[name], (name, data_type)


def same_files(rebuilt: dict[str, bytes], before: dict[str, bytes]) -> bool:
    """Every export file the same, byte for byte, but the open data's ``dc:modified``: it says when the
    publication was last written (the routes' Last-Modified), and a rebuild writes it again."""
    def aside(files: dict[str, bytes]) -> dict[str, object]:
        metadata = json.loads(files[open_data.METADATA_FILE_NAME])
        assert metadata.pop("dc:modified")["@type"] == "xsd:dateTime"
        return {**files, open_data.METADATA_FILE_NAME: metadata}

    return aside(rebuilt) == aside(before)


# --- Reading a perfdata schema -----------------------------------------------------------------------


def perfdata_engine(lpa_url: str, perfdata_url: str | None = None) -> sa.Engine:
    """The engine with schema perfdata, as perfdata makes it (on SQLite, the attached file)."""
    return engines.databases(perfdata_url or lpa_url, lpa_url).perfdata


def rows(engine: sa.Engine, table: str) -> list[tuple]:
    """Every row, every column but a run's time, as text, sorted."""
    with engine.connect() as conn:
        columns = [c["name"] for c in sa.inspect(conn).get_columns(table, schema="perfdata")]
        cast = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns if c != RUN_TIMES.get(table))
        return sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT {cast} FROM perfdata.{table}"))


def tables(engine: sa.Engine, names: tuple[str, ...]) -> dict[str, list[tuple]]:
    return {name: rows(engine, name) for name in names}


def restatements(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM perfdata.published_kpis_restatements").scalar_one()


def empty_the_service(lpa_url: str) -> None:
    """As if the service had pruned every feedback form and deleted every LPA since."""
    engine = engines.lpa_write_engine(lpa_url)
    with engine.begin() as conn:
        conn.execute(feedback.delete())
        conn.execute(applications.delete())
    engine.dispose()


def service_rows(lpa_url: str) -> int:
    engine = engines.lpa_write_engine(lpa_url)
    with engine.connect() as conn:
        count = sum(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in (feedback, applications))
    engine.dispose()
    return count


def assert_one_rebuild_run_of_the_kpis_and_publication_only(dagster_home: Path) -> None:
    """The instance holds the rebuild's run, and it materialised the KPIs and the publication, nothing else."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        [rebuild] = instance.get_runs(filters=dg.RunsFilter(tags={"perfdata/launched_by": "perfdata rebuild"}))
        events = instance.all_logs(rebuild.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert rebuild.status == dg.DagsterRunStatus.SUCCESS
    assert rebuild.tags[ANNOUNCE_TAG] == "no"  # without --announce
    # Never a source asset, never the delivery to OPG.
    assert {e.dagster_event.asset_key.to_user_string() for e in events} == REBUILT_ASSETS


def rebuild_output(out: str) -> None:
    assert "recreated empty: perfdata.user_satisfaction" in out
    assert f"history in perfdata.loaded_days: {FIRST} .. {LAST}" in out
    assert "perfdata.service_uptime 2 months" in out and "perfdata.digital_take_up 2 months" in out
    assert "no restatement recorded" in out and "nothing delivered to OPG" in out


# --- PostgreSQL: one backfilled database the tests copy ------------------------------------------------


@dataclass(frozen=True)
class Backfilled:
    url: str  # the template: never changed by a test
    files: dict[str, bytes]  # the export files its backfill wrote
    history: dict[str, list[tuple]]
    derived: dict[str, list[tuple]]


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory) -> Backfilled:
    """A PostgreSQL database with the service seeded for FIRST..LAST and every asset backfilled."""
    _postgres_admin().dispose()  # skips, or fails under PERFDATA_REQUIRE_POSTGRES=1, like every PostgreSQL test
    url = create_database(ADMIN_URL)
    try:
        cwd = tmp_path_factory.mktemp("source")
        seed_service(url)
        env = cli_env(url, cwd, PERFDATA_EXPORT_DIR=str(cwd / "exports"))
        backfill_everything(env, cwd, source_settings(cwd / "inputs"))
        files = export_files(cwd / "exports")
        assert_every_kpi_published(files)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        world = Backfilled(url, files, tables(engine, HISTORY_TABLES), tables(engine, DERIVED_TABLES))
        engine.dispose()
        # Two months hold no quarter's twelve: cost per transaction is tested in kpis/test_cost_per_transaction.py.
        assert all(world.derived[t] for t in DERIVED_TABLES if t != "cost_per_transaction")
        assert world.history["uptime_days"]
        yield world
    finally:
        engines.databases.cache_clear()
        drop_database(ADMIN_URL, url)


def libpq(url: str) -> str:
    """A SQLAlchemy URL as the libpq URI pg_dump and pg_restore take."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is not on PATH: install PostgreSQL's client tools (Debian: postgresql-client-15)")
    return path


def tool(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{Path(args[0]).name} failed: {result.stderr[-2000:]}"


def reader_may_select(url: str, table: str) -> bool:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        allowed = conn.exec_driver_sql(f"SELECT has_table_privilege('perfdata_reader', 'perfdata.{table}', 'SELECT')")
        result = allowed.scalar_one()
    engine.dispose()
    return result


@pytest.mark.postgres
def test_a_pg_dump_restored_beside_an_empty_source_makes_the_same_files_from_the_history_alone(backfilled, tmp_path):
    pg_dump, pg_restore = postgres_tool("pg_dump"), postgres_tool("pg_restore")
    dump = tmp_path / "perfdata.dump"
    tool([pg_dump, "--schema=perfdata", "--format=custom", f"--file={dump}", libpq(backfilled.url)])

    restored = create_database(ADMIN_URL)
    try:
        # A fresh database: the service's tables there but empty (pruned, or never copied);
        # perfdata's schema from the dump; a new Dagster instance; no source configured.
        engine = engines.lpa_write_engine(restored)
        create_source_tables(engine)
        engine.dispose()
        tool([pg_restore, "--exit-on-error", "--single-transaction", f"--dbname={libpq(restored)}", str(dump)])
        env = cli_env(restored, tmp_path, PERFDATA_EXPORT_DIR=str(tmp_path / "exports"))
        assert f"{head_revision()} -> {head_revision()}" in run([PERFDATA, "db", "upgrade"], env, tmp_path).stdout

        rebuild_output(run([PERFDATA, "rebuild"], env, tmp_path).stdout)

        assert same_files(export_files(tmp_path / "exports"), backfilled.files)
        engine = sa.create_engine(restored, poolclass=sa.pool.NullPool)
        assert tables(engine, DERIVED_TABLES) == backfilled.derived
        assert tables(engine, HISTORY_TABLES) == backfilled.history
        assert restatements(engine) == 0
        engine.dispose()
        assert service_rows(restored) == 0  # read nothing, wrote nothing there
        # The grants came with the dump, and the rebuilt KPI tables have theirs back.
        assert reader_may_select(restored, "published_kpis") and reader_may_select(restored, "service_uptime")
        assert_one_rebuild_run_of_the_kpis_and_publication_only(tmp_path / "dagster_home")
    finally:
        drop_database(ADMIN_URL, restored)


# --- perfdata rebuild after every derived table is dropped --------------------------------------------


def drop_derived_tables(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in DERIVED_TABLES:
            conn.exec_driver_sql(f"DROP TABLE perfdata.{table}")
    with engine.connect() as conn:
        assert not set(DERIVED_TABLES) & set(sa.inspect(conn).get_table_names(schema="perfdata"))


def assert_rebuilt(engine: sa.Engine, files: dict[str, bytes], exports: Path, history: dict, derived: dict,
                   dagster_home: Path) -> None:
    assert same_files(export_files(exports), files)
    assert tables(engine, DERIVED_TABLES) == derived
    assert tables(engine, HISTORY_TABLES) == history  # published_kpis: its values; published_at is the rebuild's
    assert restatements(engine) == 0
    assert_one_rebuild_run_of_the_kpis_and_publication_only(dagster_home)


@pytest.mark.postgres
def test_perfdata_rebuild_on_postgres_brings_back_every_dropped_derived_table(backfilled, tmp_path):
    url = create_database(ADMIN_URL, template=sa.engine.make_url(backfilled.url).database)
    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        drop_derived_tables(engine)
        empty_the_service(url)
        with Receiver() as receiver:
            # Rebuilt into a new export directory: every file is made again, none left over.
            env = cli_env(url, tmp_path, PERFDATA_EXPORT_DIR=str(tmp_path / "exports"),
                          PERFDATA_WEBHOOK_URLS=receiver.url)

            out = run([PERFDATA, "rebuild"], env, tmp_path).stdout
            rebuild_output(out)
            assert "nothing announced" in out
            # Nothing sent by the run (its plausibility check) nor by the publication sensor after it.
            with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
                context = dg.build_sensor_context(instance=instance, resources={"webhooks": notifier(receiver.url)})
                assert published_kpis_webhook(context).skip_message == "nothing newly written to announce"
            assert receiver.bodies == []

        assert_rebuilt(engine, backfilled.files, tmp_path / "exports", backfilled.history, backfilled.derived,
                       tmp_path / "dagster_home")
        assert reader_may_select(url, "service_uptime") and reader_may_select(url, "user_satisfaction")
        engine.dispose()
    finally:
        drop_database(ADMIN_URL, url)


def sqlite_default_env(tmp_path: Path) -> dict[str, str]:
    """No database URL at all: the embedded SQLite default under PERFDATA_HOME."""
    env = cli_env("unused", tmp_path)
    del env["LPA_DATABASE_URL"]
    return env


def sqlite_backup(source: Path, target: Path) -> None:
    """SQLite's online backup, as `sqlite3 perfdata.sqlite ".backup TARGET"` makes it (docs/operations.md)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def test_perfdata_rebuild_on_the_sqlite_default_from_a_backup_of_the_perfdata_file(tmp_path):
    env = sqlite_default_env(tmp_path)
    urls = default_sqlite_urls(tmp_path / "home")
    seed_service(urls.lpa)
    backfill_everything(env, tmp_path, source_settings(tmp_path / "inputs"))
    exports = tmp_path / "home" / "exports"  # the default PERFDATA_EXPORT_DIR
    files = export_files(exports)
    assert_every_kpi_published(files)
    perfdata_file = tmp_path / "home" / "perfdata.sqlite"
    engine = perfdata_engine(urls.lpa, urls.perfdata)
    try:
        history, derived = tables(engine, HISTORY_TABLES), tables(engine, DERIVED_TABLES)
        sqlite_backup(perfdata_file, tmp_path / "backups" / "perfdata.sqlite")
        # The file is lost and the backup copied back; the service has pruned everything since;
        # the derived tables are dropped and the export files gone.
        perfdata_file.unlink()
        shutil.copyfile(tmp_path / "backups" / "perfdata.sqlite", perfdata_file)
        drop_derived_tables(engine)
        empty_the_service(urls.lpa)
        shutil.rmtree(exports)

        rebuild_output(run([PERFDATA, "rebuild"], env, tmp_path).stdout)

        assert_rebuilt(engine, files, exports, history, derived, tmp_path / "dagster_home")
    finally:
        engines.databases.cache_clear()


def test_with_no_history_perfdata_rebuild_says_so_in_one_line_and_drops_nothing(tmp_path):
    env = sqlite_default_env(tmp_path)
    run([PERFDATA, "db", "upgrade"], env, tmp_path)
    urls = default_sqlite_urls(tmp_path / "home")
    engine = perfdata_engine(urls.lpa, urls.perfdata)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO perfdata.completion_rate VALUES ('2024-01-01', 3, 2, 1, 66.67)")

        refused = run([PERFDATA, "rebuild"], env, tmp_path, ok=False)

        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines()[-1] == (
            "perfdata: error: no history loaded yet: perfdata.loaded_days is empty, so there is nothing to rebuild "
            "from (run `perfdata backfill` to load it)")
        assert rows(engine, "completion_rate") == [("2024-01-01", "3", "2", "1", "66.67")]
    finally:
        engines.databases.cache_clear()
