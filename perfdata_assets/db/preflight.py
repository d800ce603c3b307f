"""Before a command starts any work: every setting it will use, and both databases.

A data engineer's mistakes (a typo in a variable, a database that refuses, the wrong
database, a schema never created) are each answered here in one line that names the
variable or the table, before a Dagster run is started, instead of deep inside a run,
after the other work, under a stack trace.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from perfdata_assets.config import ConfigError, DatabaseUrls, check_settings, database_urls, masked
from perfdata_assets.db.engines import databases_for
from perfdata_assets.db.grants import SOURCE_TABLES
from perfdata_assets.db.migrate import require_current_schema


def _which(environ_has_perfdata: bool, environ_has_lpa: bool) -> tuple[str, str]:
    lpa = "LPA_DATABASE_URL" if environ_has_lpa else "the embedded SQLite default"
    perfdata = "PERFDATA_DATABASE_URL" if environ_has_perfdata else lpa
    return lpa, perfdata


def _named(variable: str, url: str) -> str:
    if variable.startswith("the embedded"):
        return f"{variable} ({make_url(url).database})"
    return f"{variable}={masked(variable, url)}"


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def check_databases(urls: DatabaseUrls, environ, *, source: bool = True) -> None:
    """The perfdata database answers and its schema is this code's; the service's answers and
    has its tables. Raises ConfigError naming the variable (or the embedded file) and the fix."""
    lpa_name, perfdata_name = _which("PERFDATA_DATABASE_URL" in environ, "LPA_DATABASE_URL" in environ)
    if lpa_name.startswith("the embedded"):
        lpa_file = Path(make_url(urls.lpa).database or "")
        if source and not lpa_file.exists():
            raise ConfigError(
                f"no LPA database: LPA_DATABASE_URL is not set and the embedded default {lpa_file} does not exist; "
                "set LPA_DATABASE_URL to the service's database, or run `perfdata demo` to make a synthetic one"
            )
    dbs = databases_for(urls)
    try:
        try:
            with dbs.perfdata.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as exc:
            what = "" if perfdata_name == lpa_name else " (perfdata's schema)"
            raise ConfigError(f"cannot reach the database {_named(perfdata_name, urls.perfdata)}{what}: {_reason(exc)}") from None
        require_current_schema(dbs.perfdata)
        if not source:
            return
        try:
            with dbs.lpa_source.connect() as conn:
                if dbs.dialect == "postgresql":  # as the runs read them: unqualified, through search_path
                    missing = [t for t in SOURCE_TABLES
                               if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": t}).scalar() is None]
                else:
                    missing = [t for t in SOURCE_TABLES if not sa.inspect(conn).has_table(t)]
        except sa.exc.DBAPIError as exc:
            raise ConfigError(f"cannot reach the database {_named(lpa_name, urls.lpa)} (the service's tables): {_reason(exc)}") from None
        if missing:
            raise ConfigError(
                f"{_named(lpa_name, urls.lpa)} has no {' and no '.join(missing)} table: it is not the Make an LPA "
                "service's database (or the role cannot see its tables: `perfdata db grants`)"
            )
    finally:
        dbs.perfdata.dispose()
        dbs.lpa_source.dispose()


def check_before_work(environ=None, *, source: bool = True) -> DatabaseUrls:
    """Every setting that is set, then the databases; the checked URLs."""
    import os

    env = os.environ if environ is None else environ
    check_settings(environ=env)
    urls = database_urls(dict(env))
    check_databases(urls, env, source=source)
    return urls
