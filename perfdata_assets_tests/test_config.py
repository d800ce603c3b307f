"""Configuration from the environment: defaults, and one clear line when it is wrong."""

import datetime as dt
import os
import subprocess
import sys

import pytest

from perfdata_assets.config import ConfigError, database_urls, start_date


def test_neither_url_means_the_embedded_sqlite_default(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFDATA_HOME", str(tmp_path))
    urls = database_urls({})
    assert urls.lpa == f"sqlite:///{tmp_path / 'lpa.sqlite'}"
    assert urls.perfdata == f"sqlite:///{tmp_path / 'perfdata.sqlite'}"


def test_perfdata_url_defaults_to_the_lpa_url_and_plain_postgresql_means_psycopg3():
    urls = database_urls({"LPA_DATABASE_URL": "postgresql://lpa@db.internal/opglpa"})
    assert urls.lpa == urls.perfdata == "postgresql+psycopg://lpa@db.internal/opglpa"


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"PERFDATA_DATABASE_URL": "sqlite:///x"}, "LPA_DATABASE_URL is not"),
        ({"LPA_DATABASE_URL": "not a url"}, "LPA_DATABASE_URL is not a database URL"),
        ({"LPA_DATABASE_URL": "mysql://u@h/db"}, "LPA_DATABASE_URL uses 'mysql'"),
        ({"LPA_DATABASE_URL": "  "}, "LPA_DATABASE_URL is set but empty"),
        ({"LPA_DATABASE_URL": "sqlite:///a", "PERFDATA_DATABASE_URL": "oracle://x"}, "PERFDATA_DATABASE_URL uses"),
    ],
)
def test_bad_database_settings_name_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        database_urls(environ)


def test_start_date_default_and_errors():
    assert start_date({}) == dt.date(2019, 4, 1)
    assert start_date({"PERFDATA_START_DATE": "2023-01-15"}) == dt.date(2023, 1, 15)
    with pytest.raises(ConfigError, match="PERFDATA_START_DATE '2023-13-01' is not a date"):
        start_date({"PERFDATA_START_DATE": "2023-13-01"})
    with pytest.raises(ConfigError, match="outside"):
        start_date({"PERFDATA_START_DATE": "1999-12-31"})


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"LPA_DATABASE_URL": "mysql://u@h/db"}, "perfdata: error: LPA_DATABASE_URL uses 'mysql'"),
        ({"LPA_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}, "perfdata: error: cannot reach the database"),
    ],
)
def test_the_cli_reports_configuration_errors_in_one_line(environ, message, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LPA_", "PERFDATA_"))}
    result = subprocess.run(
        [sys.executable, "-m", "perfdata_assets.cli", "kpis"], env={**env, **environ},
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
