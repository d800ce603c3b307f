"""Settings read from the environment, validated once, with one-line errors.

Every setting perfdata reads from the environment is resolved here so that a
wrong value fails early with a message naming the variable, never deep inside a
run with a traceback.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_START_DATE = dt.date(2019, 4, 1)
# The embedded SQLite default lives in the working directory, so the demo needs
# no server and `rm -r .perfdata` resets it.
DEFAULT_HOME = Path(".perfdata")
SUPPORTED_DIALECTS = ("postgresql", "sqlite")


class ConfigError(Exception):
    """A setting is missing or wrong. The message is one line naming the variable."""


@dataclass(frozen=True)
class DatabaseUrls:
    lpa: str
    perfdata: str


def perfdata_home() -> Path:
    return Path(os.environ.get("PERFDATA_HOME", DEFAULT_HOME))


def default_sqlite_urls(home: Path | None = None) -> DatabaseUrls:
    home = (home or perfdata_home()).resolve()
    return DatabaseUrls(
        lpa=f"sqlite:///{home / 'lpa.sqlite'}",
        perfdata=f"sqlite:///{home / 'perfdata.sqlite'}",
    )


def normalise_url(variable: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise ConfigError(f"{variable} is set but empty: unset it or give a SQLAlchemy URL")
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError(
            f"{variable} is not a database URL (expected e.g. postgresql+psycopg://user@host/db)"
        ) from None
    if url.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ConfigError(
            f"{variable} uses '{url.get_backend_name()}': perfdata supports "
            f"{' and '.join(SUPPORTED_DIALECTS)} only"
        )
    if url.drivername == "postgresql":
        # Plain postgresql:// means psycopg2 to SQLAlchemy; we ship psycopg 3.
        value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return value


def database_urls(environ: dict[str, str] | None = None) -> DatabaseUrls:
    """LPA_DATABASE_URL (read only) and PERFDATA_DATABASE_URL (defaults to it)."""
    env = os.environ if environ is None else environ
    lpa = env.get("LPA_DATABASE_URL")
    perf = env.get("PERFDATA_DATABASE_URL")
    if lpa is None and perf is None:
        return default_sqlite_urls()
    if lpa is None:
        raise ConfigError(
            "PERFDATA_DATABASE_URL is set but LPA_DATABASE_URL is not: "
            "perfdata needs the LPA service database to read from"
        )
    lpa = normalise_url("LPA_DATABASE_URL", lpa)
    perf = lpa if perf is None else normalise_url("PERFDATA_DATABASE_URL", perf)
    return DatabaseUrls(lpa=lpa, perfdata=perf)


def start_date(environ: dict[str, str] | None = None) -> dt.date:
    """First day of the daily partitions (PERFDATA_START_DATE, default 2019-04-01)."""
    env = os.environ if environ is None else environ
    raw = env.get("PERFDATA_START_DATE")
    if raw is None or raw.strip() == "":
        return DEFAULT_START_DATE
    try:
        value = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ConfigError(f"PERFDATA_START_DATE '{raw}' is not a date in YYYY-MM-DD form") from None
    if value < dt.date(2000, 1, 1) or value > dt.date.today():
        raise ConfigError(f"PERFDATA_START_DATE {value} is outside 2000-01-01 to today")
    return value
