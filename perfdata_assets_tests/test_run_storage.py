"""perfdata_assets/run_storage.py: deploy/dagster.yaml's run and schedule storages hold their connections."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from perfdata_assets.run_storage import PooledPostgresRunStorage, PooledPostgresScheduleStorage
from perfdata_assets_tests.deployment.support import REPO, dagster_pg_env

pytestmark = pytest.mark.postgres


@dg.asset
def pooled_storage_probe() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"ok": True})


def test_deploy_instance_keeps_its_connections_and_records_runs_as_before(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
):
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    for key, value in dagster_pg_env(postgres_url).items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_storage, PooledPostgresRunStorage)
        assert isinstance(instance.schedule_storage, PooledPostgresScheduleStorage)
        # A pool, not a connection per query (dagster-postgres's NullPool outside the webserver).
        assert not isinstance(instance.run_storage._engine.pool, sa.pool.NullPool)
        assert not isinstance(instance.schedule_storage._engine.pool, sa.pool.NullPool)

        result = dg.materialize([pooled_storage_probe], instance=instance, tags={"probe": "yes"})
        assert result.success
        run = instance.get_run_record_by_id(result.run_id)
        assert run.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert run.dagster_run.tags["probe"] == "yes"
        assert instance.get_latest_materialization_event(dg.AssetKey("pooled_storage_probe")) is not None
        connections = instance.run_storage._engine.pool.checkedin()
    # The runs table was written through the pool: it holds what dagster-postgres writes.
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT status FROM runs").scalars().all() == ["SUCCESS"]
    engine.dispose()
    assert connections >= 1  # returned to the pool, kept open, not closed
