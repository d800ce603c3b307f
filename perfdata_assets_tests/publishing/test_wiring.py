"""The publishing pieces load together in one code location, wired as definitions.py should wire them."""

import dagster as dg

from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.kpis.assets import completion_rate, digital_take_up, service_uptime, user_satisfaction
from perfdata_assets.kpis.cost_per_transaction import cost_per_transaction
from perfdata_assets.publishing.assets import performance_data_exports, published_kpis
from perfdata_assets.publishing.resource import ExportDirectory, PerformanceData
from perfdata_assets.publishing.sensors import perfdata_run_failure_webhook, published_kpis_webhook
from perfdata_assets.publishing.webhooks import WebhookNotifier


def test_the_publishing_definitions_load(tmp_path):
    urls = {"lpa_database_url": f"sqlite:///{tmp_path}/lpa.sqlite",
            "perfdata_database_url": f"sqlite:///{tmp_path}/perfdata.sqlite"}
    defs = dg.Definitions(
        assets=[user_satisfaction, completion_rate, digital_take_up, service_uptime, cost_per_transaction,
                published_kpis, performance_data_exports],
        sensors=[published_kpis_webhook, perfdata_run_failure_webhook],
        resources={
            "database": PerfdataDatabase(**urls),
            "performance_data": PerformanceData(**urls),
            "export_directory": ExportDirectory(path=str(tmp_path / "exports")),
            "webhooks": WebhookNotifier(),
        },
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("published_kpis")).parent_keys == {
        dg.AssetKey("user_satisfaction"), dg.AssetKey("completion_rate"), dg.AssetKey("digital_take_up"),
        dg.AssetKey("service_uptime"), dg.AssetKey("cost_per_transaction"),
    }
    assert graph.get(dg.AssetKey("performance_data_exports")).parent_keys == {dg.AssetKey("published_kpis")}
    assert {s.name for s in defs.sensors} == {"published_kpis_webhook", "perfdata_run_failure_webhook"}


def test_each_publishing_asset_claims_its_own_concurrency_pool():
    for asset in (published_kpis, performance_data_exports):
        assert asset.op.pool == f"perfdata/{asset.key.to_user_string()}"
