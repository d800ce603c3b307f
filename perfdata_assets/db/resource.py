"""The database resource every perfdata asset writes through."""

from __future__ import annotations

import os

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from perfdata_assets.config import ConfigError, DatabaseUrls, database_urls, default_sqlite_urls, normalise_url
from perfdata_assets.db.engines import Databases, databases_for
from perfdata_assets.db.migrate import SchemaNotCurrent, require_current_schema


class PerfdataDatabase(dg.ConfigurableResource):
    """The LPA service database (read) and the perfdata schema (write).

    Built from ``dg.EnvVar`` where the variables are set, so the Dagster UI
    shows the variable's name, never a URL with a password in it.
    """

    lpa_database_url: str
    perfdata_database_url: str

    # A run's resource checks the URLs and the schema version once, then hands out the
    # same engines to every asset and check that asks (Dagster builds it anew per run).
    _checked: Databases | None = PrivateAttr(default=None)

    def connect(self) -> Databases:
        """The run's engines: ``perfdata`` (reads and writes the perfdata schema) and
        ``lpa_source`` (reads the service's tables), after checking the schema is the one
        this code expects."""
        if self._checked is None:
            self._checked = self._open()
        return self._checked

    def urls(self) -> DatabaseUrls:
        """The two URLs, checked and normalised (``postgresql://`` means psycopg 3), typed."""
        return DatabaseUrls(
            lpa=normalise_url("LPA_DATABASE_URL", self.lpa_database_url),
            perfdata=normalise_url("PERFDATA_DATABASE_URL", self.perfdata_database_url),
        )

    def _open(self) -> Databases:
        try:
            dbs = databases_for(self.urls())
            require_current_schema(dbs.perfdata)
        except (ConfigError, SchemaNotCurrent) as exc:
            raise dg.Failure(description=str(exc)) from None
        except (sa.exc.OperationalError, sa.exc.ArgumentError, ValueError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise dg.Failure(description=f"cannot open the perfdata database: {reason}") from None
        return dbs


def database_resource_from_env() -> PerfdataDatabase:
    """LPA_DATABASE_URL / PERFDATA_DATABASE_URL, or the embedded SQLite default."""
    database_urls()  # fail while definitions load, with the variable's name, not mid-run
    if "LPA_DATABASE_URL" not in os.environ:
        defaults = default_sqlite_urls()
        return PerfdataDatabase(lpa_database_url=defaults.lpa, perfdata_database_url=defaults.perfdata)
    return PerfdataDatabase(
        lpa_database_url=dg.EnvVar("LPA_DATABASE_URL"),
        perfdata_database_url=dg.EnvVar(
            "PERFDATA_DATABASE_URL" if "PERFDATA_DATABASE_URL" in os.environ else "LPA_DATABASE_URL"
        ),
    )
