"""Resources for reading the publication and for where its export files go.

``PerformanceData`` is a Dagster resource and an ordinary class at once: the
HTTP API, a notebook or another service's code can build one from a URL and
read typed published values, without Dagster running::

    kpis = PerformanceData(perfdata_database_url="postgresql+psycopg://reader@db/lpa")
    kpis.latest("completion-rate-percent")

The data types are those of ``published.ALL_DATA_TYPES`` (kpis.md sections 5 and 6). Each
KPI is published on its own, so a month may hold some data types and not others.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from perfdata_assets.config import check_setting, normalise_url, perfdata_home
from perfdata_assets.db import engines
from perfdata_assets.publishing import atomic, published
from perfdata_assets.publishing.published import ALL_DATA_TYPES, PublishedValue, check_data_type


@functools.lru_cache(maxsize=8)
def _perfdata_file_engine(path: str) -> sa.Engine:
    """A SQLite perfdata file on its own, attached as ``perfdata`` to an in-memory connection.

    The same arrangement ``engines.databases`` makes when the LPA database is
    elsewhere; a reader that knows only the perfdata file needs nothing else.
    """
    return engines._make_engine(make_url("sqlite://"), attach=Path(path))


def perfdata_read_engine(perfdata_url: str, lpa_url: str | None = None) -> sa.Engine:
    """The engine holding schema ``perfdata``.

    The LPA URL matters only on SQLite when both URLs name one file (the
    perfdata tables then live in a sibling file, see ``engines``). Without it,
    the perfdata URL names the database, or SQLite file, holding the tables.
    """
    perfdata_url = normalise_url("PERFDATA_DATABASE_URL", perfdata_url)
    if lpa_url is not None:
        return engines.databases(perfdata_url, normalise_url("LPA_DATABASE_URL", lpa_url)).perfdata
    url = make_url(perfdata_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("the perfdata SQLite database must be a file")
        return _perfdata_file_engine(str(Path(url.database).resolve()))
    return engines.databases(perfdata_url, perfdata_url).perfdata


class PerformanceData(dg.ConfigurableResource):
    """Typed reads of the published KPIs.

    Only perfdata.published_kpis, latest_kpis, published_kpis_restatements and
    published_channel_totals are read, so a login granted nothing but
    ``perfdata_reader`` can use it. Every reader of the publication (the HTTP API,
    the dashboard, another service's code) reads through it.
    """

    perfdata_database_url: str
    # Only needed on SQLite when the LPA and perfdata URLs name the same file.
    lpa_database_url: str | None = None

    def _engine(self) -> sa.Engine:
        return perfdata_read_engine(self.perfdata_database_url, self.lpa_database_url)

    def latest(self, data_type: str) -> PublishedValue | None:
        """The most recent published month of one data type, or None before the first publication."""
        check_data_type(data_type)
        with self._engine().connect() as conn:
            values = published.latest_values(conn, [data_type])
        return values[0] if values else None

    def latest_all(self) -> list[PublishedValue]:
        """Each data type's most recent published month (never-published data types are absent).

        Oldest month first, then in the order of ``DATA_TYPES``: a KPI whose
        latest month is not yet published comes before the others with its
        own latest month.
        """
        with self._engine().connect() as conn:
            return published.latest_values(conn, ALL_DATA_TYPES)

    def history(self, data_type: str | None, start: dt.date, end: dt.date) -> list[PublishedValue]:
        """Published values with period_start in [start, end] (both inclusive), oldest first.

        ``data_type=None`` means every data type.
        """
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        data_types = ALL_DATA_TYPES if data_type is None else [check_data_type(data_type)]
        with self._engine().connect() as conn:
            return published.values_between(conn, start, end, data_types)

    def published_months(self, data_type: str | None = None) -> list[dt.date]:
        """Months with anything published, oldest first; or with ``data_type`` published."""
        if data_type is not None:
            check_data_type(data_type)
        with self._engine().connect() as conn:
            return published.published_months(conn, data_type)

    def restatements(self, since: dt.datetime | None = None) -> list[published.Restatement]:
        """Published values replaced by different ones (all, or those restated at or after ``since``)."""
        with self._engine().connect() as conn:
            return published.restatements(conn, since)

    def channel_totals(self, month: dt.date | None = None) -> list[published.ChannelTotal]:
        """LPAs received per source channel, in every month whose digital take-up is published
        (or in that one month): the figures of the GOV.UK transactions-by-channel CSV."""
        with self._engine().connect() as conn:
            return published.channel_totals(conn, month)

    def open_data_rows_unless(
        self, fingerprint: str | None
    ) -> tuple[str | None, list[published.OpenDataRow] | None]:
        """The publication's fingerprint (``published.open_data_fingerprint``) and its open-data rows,
        or None for the rows when the fingerprint equals the given one (the caller's files are current).

        Both are read in one snapshot (REPEATABLE READ), so the rows are those the fingerprint is of:
        a publication committed between the two reads cannot be kept under the older fingerprint.
        """
        with self._engine().connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            current = published.open_data_fingerprint(conn)
            if current is not None and current == fingerprint:
                return current, None
            return current, published.open_data_rows(conn)

    def ping(self) -> None:
        """Raise if the perfdata database cannot answer ``SELECT 1``."""
        with self._engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))


class ExportDirectory(dg.ConfigurableResource):
    """Where the export files are written (PERFDATA_EXPORT_DIR)."""

    path: str

    def write(self, files: dict[str, bytes]) -> list[Path]:
        """Replace the named files all together, or leave every previous file as it was."""
        return atomic.write_files(Path(check_setting("PERFDATA_EXPORT_DIR", self.path)), files)


def export_directory_from_env() -> ExportDirectory:
    """PERFDATA_EXPORT_DIR, or ``exports`` under PERFDATA_HOME (default ``.perfdata/exports``)."""
    if os.environ.get("PERFDATA_EXPORT_DIR", "").strip():
        return ExportDirectory(path=dg.EnvVar("PERFDATA_EXPORT_DIR"))
    return ExportDirectory(path=str(perfdata_home() / "exports"))
