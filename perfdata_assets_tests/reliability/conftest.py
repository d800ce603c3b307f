"""Fixtures of the reliability tests, and the ``soak`` marker.

``soak``: long tests, run by ``make soak`` (``pytest -m soak``); deselected (not
skipped: CI counts skips as failures) unless the ``-m`` expression names them.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from perfdata_assets.db import engines
from perfdata_assets_tests.conftest import ADMIN_URL, _make_backend, _postgres_admin
from perfdata_assets_tests.reliability import support

OPT_IN_MARKERS = ("soak",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long reliability test; `make soak` (-m soak) runs them")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expression = config.option.markexpr or ""
    hidden = [m for m in OPT_IN_MARKERS if m not in expression]
    deselected = [item for item in items if any(item.get_closest_marker(m) for m in hidden)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


# --- The world the fault and concurrency tests start from -----------------------------------

@dataclass
class World:
    """A database where a backfill of FIRST..LAST has run (the previous rows) and the source has since changed.

    ``previous`` is every perfdata table as that backfill left it, run times
    included; ``new`` is every table after one clean backfill of the changed
    source on a copy (run times left out); ``csv`` the Sirius counts now.
    """

    template: str
    csv: Path
    exports: Path
    previous: dict
    new: dict

    def copy(self, tmp_path: Path) -> tuple[str, Path]:
        """A fresh database in the previous state, and its export directory with the previous files."""
        url = support.create_database(ADMIN_URL, template=sa.engine.make_url(self.template).database)
        export_dir = tmp_path / f"exports-{uuid.uuid4().hex[:6]}"
        shutil.copytree(self.exports, export_dir)
        return url, export_dir


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    _postgres_admin().dispose()  # skips, or fails under PERFDATA_REQUIRE_POSTGRES=1, without a server
    tmp = tmp_path_factory.mktemp("world")
    template = support.create_database(ADMIN_URL)
    name = sa.engine.make_url(template).database
    made = []
    try:
        backend = _make_backend("postgres", template, template)
        backend.source.engine.dispose()
        support.seed_source(template, seed=1, first=support.FIRST, days=support.DAYS)
        csv_before = support.channel_counts_csv(tmp / "counts-before.csv", support.FIRST, support.DAYS, seed=1)
        support.backfill(template, csv_before, tmp / "exports")
        support.change_source(template, seed=1, first=support.FIRST, days=support.DAYS)
        csv = support.channel_counts_csv(tmp / "counts.csv", support.FIRST, support.DAYS, seed=2)
        support.release_connections(template)
        previous = support.snapshot(template)

        reference = support.create_database(ADMIN_URL, template=name)
        made.append(reference)
        support.backfill(reference, csv, tmp / "reference-exports")
        new = support.snapshot(reference, with_run_times=False)
        support.release_connections(reference)
        support.release_connections(template)
        for table in support.TABLES:  # the change reaches every table, so "previous" and "new" differ
            if table != "loaded_days":
                assert [r[: len(new[table][0])] for r in previous[table]] != new[table], table
        yield World(template, csv, tmp / "exports", previous, new)
    finally:
        engines.databases.cache_clear()
        for url in [*made, template]:
            support.drop_database(ADMIN_URL, url)


@pytest.fixture
def copy_of_world(world, tmp_path):
    """(url, export_dir) of a fresh copy of the world, dropped after the test."""
    url, export_dir = world.copy(tmp_path)
    yield url, export_dir
    engines.databases.cache_clear()
    support.drop_database(ADMIN_URL, url)
