"""`perfdata demo --database-url`: the demo on a PostgreSQL database, as a new user runs it.

Through the real CLI in a subprocess, on a scratch database the fixture creates and
drops: the KPIs the demo prints are what `perfdata kpis` reads from that database; a
second run replaces its own data and prints the same; a database holding the service's
or perfdata's tables is refused and left as it was; a bad URL is one line, exit 2.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from perfdata_assets.db.migrate import upgrade
from perfdata_assets.sources.lpa.tables import create_source_tables

BIN = Path(sys.executable).parent
MONTHS = 2


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A new user's environment: nothing of perfdata's, Dagster's or AWS's set, a home of its own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LPA_", "PERFDATA_", "SIRIUS_", "DAGSTER_", "UPTIME_", "SERVICE_UPTIME", "AWS_"))}
    env.update(PERFDATA_HOME=str(tmp_path / "home"), NO_PROXY="127.0.0.1,localhost", AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


def perfdata(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run([str(BIN / "perfdata"), *args], env=env or clean_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)


def kpi_table(stdout: str) -> list[str]:
    """The table `render_table` printed: its header line to the first blank line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["month", "responses"])
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def assert_one_line_error(result, *named: str) -> None:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("perfdata: error: --database-url"), lines[0]
    for text in named:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_demo_seeds_a_postgres_database_and_prints_what_perfdata_kpis_reads_there(postgres_url, tmp_path):
    # The variables point elsewhere: --database-url wins, and nothing is written there.
    elsewhere = tmp_path / "elsewhere.sqlite"
    env = clean_env(tmp_path, LPA_DATABASE_URL=f"sqlite:///{elsewhere}", PERFDATA_DATABASE_URL=f"sqlite:///{elsewhere}")
    first = perfdata(tmp_path, "demo", "--months", str(MONTHS), "--database-url", postgres_url, env=env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    printed = kpi_table(first.stdout)
    assert len(printed) == 2 + MONTHS  # header, rule, one row a month
    assert "skipping" not in first.stdout  # every source runs, as in the SQLite demo
    assert f"({MONTHS} delivered to the demo bucket)" in first.stdout
    assert not elsewhere.exists()

    read = perfdata(tmp_path, "kpis", "--months", str(MONTHS), env=clean_env(tmp_path, LPA_DATABASE_URL=postgres_url))
    assert read.returncode == 0, read.stderr
    assert kpi_table(read.stdout) == printed

    # The runs are recorded in the local Dagster instance under PERFDATA_HOME.
    instance = tmp_path / "home" / "dagster_home"
    assert (instance / "dagster.yaml").exists() and (instance / "history" / "runs.db").exists()
    # Nothing went in the embedded SQLite files.
    assert not (tmp_path / "home" / "lpa.sqlite").exists()

    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        seeded = conn.exec_driver_sql("SELECT count(*) FROM feedback").scalar_one()
    # Run again: the demo replaces what it made, so the history is not doubled and the figures are the same.
    second = perfdata(tmp_path, "demo", "--months", str(MONTHS), "--database-url", postgres_url, env=env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert kpi_table(second.stdout) == printed
    assert "perfdata schema: empty -> " in second.stdout  # started from nothing, as the SQLite demo does
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM feedback").scalar_one() == seeded
        # The first run's history went with its tables: the new feedback ids are not added to the old.
        assert conn.exec_driver_sql("SELECT count(*) FROM perfdata.raw_feedback").scalar_one() == seeded
    engine.dispose()


def _service_tables_with_a_row(engine: sa.Engine) -> None:
    create_source_tables(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("""INSERT INTO feedback (received, message) VALUES (now(), '{"rating": "satisfied"}')""")


def _perfdata_schema(engine: sa.Engine) -> None:
    upgrade(engine)


@pytest.mark.parametrize(("make", "named"), [
    (_service_tables_with_a_row, "table applications, table feedback"),
    (_perfdata_schema, "schema perfdata"),
], ids=["service-tables", "perfdata-schema"])
def test_demo_refuses_a_postgres_database_holding_tables_it_did_not_make(postgres_url, tmp_path, make, named):
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    make(engine)
    before = _snapshot(engine)

    result = perfdata(tmp_path, "demo", "--months", str(MONTHS), "--database-url", postgres_url, timeout=60)
    assert_one_line_error(result, named, "did not make")
    assert _snapshot(engine) == before
    assert "seeding" not in result.stdout
    engine.dispose()


def _snapshot(engine: sa.Engine) -> list[tuple]:
    """Every table outside the system schemas, with its row count and comment."""
    with engine.connect() as conn:
        tables = conn.exec_driver_sql(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2").all()
        return [
            (schema, table,
             conn.exec_driver_sql(f'SELECT count(*) FROM "{schema}"."{table}"').scalar_one(),
             conn.exec_driver_sql(f"SELECT obj_description('\"{schema}\".\"{table}\"'::regclass, 'pg_class')").scalar_one())
            for schema, table in tables
        ]


@pytest.mark.parametrize(("url", "named"), [
    ("not a url", "is not a database URL"),
    ("", "is empty"),
    ("mysql://someone@127.0.0.1/lpa", "uses 'mysql'"),
    ("sqlite:///demo.sqlite", "uses 'sqlite'"),
    ("postgresql://postgres@127.0.0.1", "names no database"),
    # Port 1: nothing listens there, so the connection is refused at once.
    ("postgresql://postgres@127.0.0.1:1/perfdata_demo", "cannot connect to postgresql+psycopg://postgres@127.0.0.1:1/"),
])
def test_demo_rejects_a_bad_database_url_in_one_line(tmp_path, url, named):
    started = time.monotonic()
    result = perfdata(tmp_path, "demo", "--database-url", url, timeout=60)
    assert time.monotonic() - started < 15
    assert_one_line_error(result, named)
    assert not (tmp_path / "home").exists()  # nothing started: not even the local instance


def test_demo_names_a_postgres_database_that_does_not_exist_and_hides_the_password(postgres_url, tmp_path):
    missing = sa.engine.make_url(postgres_url).set(database="perfdata_demo_missing", password="s3cret")
    result = perfdata(tmp_path, "demo", "--database-url", missing.render_as_string(hide_password=False), timeout=60)
    assert_one_line_error(result, '"perfdata_demo_missing" does not exist', "createdb perfdata_demo_missing")
    assert "s3cret" not in result.stderr
