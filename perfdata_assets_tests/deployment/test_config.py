"""The deployment's configuration files: valid, consistent with each other, and with the code.

Fast (no server), except the two `dagster definitions validate` runs (a few
seconds each).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from perfdata_assets_tests.deployment.support import REPO, VENV_BIN, clean_env

INSTANCE_YAML = REPO / "deploy" / "dagster.yaml"
HELM_VALUES = REPO / "deploy" / "helm" / "values.yaml"
PG_VARIABLES = {
    "hostname": "DAGSTER_PG_HOST",
    "port": "DAGSTER_PG_PORT",
    "username": "DAGSTER_PG_USER",
    "password": "DAGSTER_PG_PASSWORD",
    "db_name": "DAGSTER_PG_DB",
}


def instance_config() -> dict:
    return yaml.safe_load(INSTANCE_YAML.read_text())


def helm_values() -> dict:
    return yaml.safe_load(HELM_VALUES.read_text())


def _validate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # From the repository root with no DAGSTER_HOME, as a developer types it: a
    # dagster.yaml there would become the instance of this command (and demand
    # PostgreSQL), which is why the production one lives in deploy/.
    return subprocess.run(
        [str(VENV_BIN / "dagster"), "definitions", "validate", *args],
        cwd=REPO,
        env=clean_env(PERFDATA_HOME=str(tmp_path / "perfdata_home")),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_definitions_validate(tmp_path: Path):
    result = _validate(tmp_path, "-m", "perfdata_assets.definitions")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


def test_workspace_yaml_loads_the_perfdata_location(tmp_path: Path):
    result = _validate(tmp_path, "-w", str(REPO / "workspace.yaml"))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Validation successful for code location perfdata." in result.stderr + result.stdout


def test_the_root_dagster_yaml_is_the_local_instance_and_needs_no_server():
    # Every dagster command run here without DAGSTER_HOME (dagster dev, definitions
    # validate) takes the root dagster.yaml as its instance: it must not demand
    # PostgreSQL or any setting; production's lives in deploy/dagster.yaml.
    text = (REPO / "dagster.yaml").read_text()
    config = yaml.safe_load(text)
    assert config == {"telemetry": {"enabled": False}}
    assert "deploy/dagster.yaml" in text


def test_production_instance_config_is_valid_and_reads_postgres_settings_from_the_environment(monkeypatch, tmp_path: Path):
    from dagster._core.instance.config import dagster_instance_config

    for variable in PG_VARIABLES.values():
        monkeypatch.setenv(variable, "5432" if variable.endswith("PORT") else "x")
    (tmp_path / "dagster.yaml").write_text(INSTANCE_YAML.read_text())
    config, _ = dagster_instance_config(str(tmp_path))  # raises on any invalid key
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"

    raw = instance_config()
    pg = raw["run_storage"]["config"]["postgres_db"]
    # One database for the three storages; the event log is perfdata's batched subclass (event_log.py).
    assert raw["event_log_storage"]["config"]["postgres_db"] == pg == raw["schedule_storage"]["config"]["postgres_db"]
    assert (raw["event_log_storage"]["module"], raw["event_log_storage"]["class"]) == (
        "perfdata_assets.event_log", "BatchedPostgresEventLogStorage")
    # The run and schedule storages are dagster-postgres's, pooled in every process (run_storage.py).
    assert [(raw[s]["module"], raw[s]["class"]) for s in ("run_storage", "schedule_storage")] == [
        ("perfdata_assets.run_storage", "PooledPostgresRunStorage"),
        ("perfdata_assets.run_storage", "PooledPostgresScheduleStorage")]
    assert {key: pg[key] for key in PG_VARIABLES} == {key: {"env": var} for key, var in PG_VARIABLES.items()}
    assert pg["scheme"] == "postgresql+psycopg2"
    assert raw["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert raw["concurrency"]["runs"]["max_concurrent_runs"] >= 1
    assert raw["run_retries"]["enabled"] is True and raw["run_retries"]["max_retries"] >= 1
    assert raw["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert raw["telemetry"] == {"enabled": False}


def test_helm_values_match_the_instance_config():
    raw, values = instance_config(), helm_values()
    pools, runs = raw["concurrency"]["pools"], raw["concurrency"]["runs"]
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    assert concurrency["pools"] == {"defaultLimit": pools["default_limit"], "granularity": pools["granularity"]}
    assert concurrency["runs"] == {
        "maxConcurrentRuns": runs["max_concurrent_runs"],
        "tagConcurrencyLimits": runs["tag_concurrency_limits"],
    }
    daemon = values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    # The chart refuses a run coordinator limit next to concurrency.runs.
    queue = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert "maxConcurrentRuns" not in queue
    assert queue["dequeueIntervalSeconds"] == raw["run_coordinator"]["config"]["dequeue_interval_seconds"]
    assert daemon["runRetries"] == {"enabled": True, "maxRetries": raw["run_retries"]["max_retries"]}
    monitoring = daemon["runMonitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["startTimeoutSeconds"] == raw["run_monitoring"]["start_timeout_seconds"]
    assert monitoring["freeSlotsAfterRunEndSeconds"] == raw["run_monitoring"]["free_slots_after_run_end_seconds"]
    assert values["telemetry"] == {"enabled": False}
    assert values["computeLogManager"]["type"] == "NoOpComputeLogManager"
    assert values["postgresql"]["postgresqlScheme"] == raw["run_storage"]["config"]["postgres_db"]["scheme"]
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False


def test_helm_values_run_this_image_with_secrets_from_kubernetes():
    values = helm_values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["codeServerArgs"][:2] == ["-m", "perfdata_assets.definitions"]
    assert deployment["port"] == 4000
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    secrets = {s["name"] for s in deployment["envSecrets"]}
    assert secrets and secrets <= {s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    # Database URLs and passwords come from secrets, never from this file.
    env = deployment["env"]
    assert not {"LPA_DATABASE_URL", "PERFDATA_DATABASE_URL", "DAGSTER_PG_PASSWORD"} & set(env)
    # The image's own dagster.yaml (used by the code server) finds the same database as the chart's.
    assert env["DAGSTER_PG_USER"] == values["postgresql"]["postgresqlUsername"]
    assert env["DAGSTER_PG_DB"] == values["postgresql"]["postgresqlDatabase"]
    assert env["DAGSTER_PG_HOST"] == values["postgresql"]["postgresqlHost"]
    assert int(env["DAGSTER_PG_PORT"]) == values["postgresql"]["service"]["port"]
    assert deployment["podSecurityContext"]["runAsUser"] != 0


def test_every_perfdata_asset_declares_a_pool():
    """Two runs must never write one asset at once: each asset claims its pool's slot (limit 1).

    Each perfdata asset needs `pool=f"perfdata/{name}"` in its decorator (see
    docs/deployment.md, "Concurrency"). An asset without a pool is unlimited.
    """
    from perfdata_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    missing = sorted(
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and graph.assets_def_for_key(key).op.pool is None
    )
    assert not missing, f"assets without a concurrency pool: {missing}"


@pytest.mark.parametrize("script", ["image-steps.sh", "up.sh"])
def test_scripts_are_valid_bash(script: str):
    path = REPO / "deploy" / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
