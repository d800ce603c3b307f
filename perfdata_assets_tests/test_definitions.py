"""The code location loads, as Dagster's own tools load it."""

import subprocess
import sys

import dagster as dg

from perfdata_assets.definitions import defs

EXPECTED_ASSETS = {
    "raw_feedback",
    "lpa_lifecycle_events",
    "sirius_channel_counts",
    "user_satisfaction",
    "completion_rate",
    "digital_take_up",
    "health_check_uptime",
    "service_uptime",
    "published_kpis",
    "performance_data_exports",
    "opg_publication_delivery",
}


def test_every_expected_asset_is_defined_with_a_single_run_backfill_policy():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert EXPECTED_ASSETS <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert node.backfill_policy == dg.BackfillPolicy.single_run(), key
            assert node.partitions_def is not None, key


def test_dagster_cli_validates_the_definitions(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "perfdata_assets.definitions"],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
