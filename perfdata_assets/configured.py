"""Which of perfdata's optional sources and outputs a set of resources has configured.

The LPA database is always there; Sirius, the uptime health check, the service's
costs and OPG's bucket are each optional. An unconfigured one is skipped (with one line saying
why) rather than failing the others: its own KPI is simply not published.
The resources decide, so a deployment's environment and a test's Definitions
are judged the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from perfdata_assets.publishing.delivery import NO_PUBLICATION_BUCKET
from perfdata_assets.sources.costs.assets import NO_SERVICE_COSTS_SOURCE
from perfdata_assets.sources.sirius.assets import NO_CHANNEL_COUNTS_SOURCE
from perfdata_assets.sources.uptime.assets import NO_UPTIME_SOURCE


@dataclass(frozen=True)
class Skipped:
    assets: tuple[str, ...]  # the source's assets and the KPI computed from it alone
    reason: str


def _configured(resources: Mapping[str, object], key: str) -> bool:
    return bool(getattr(resources.get(key), "is_configured", False))


# Each optional resource, the assets that need it (its source's and the KPI made from it
# alone), and why they are skipped without it.
OPTIONAL = (
    ("channel_counts_source", ("sirius_channel_counts", "digital_take_up"), NO_CHANNEL_COUNTS_SOURCE),
    ("uptime_source", ("health_check_uptime", "service_uptime"), NO_UPTIME_SOURCE),
    # Cost per transaction needs the Sirius counts too; without them it waits (never fails).
    ("service_costs_source", ("service_costs", "cost_per_transaction"), NO_SERVICE_COSTS_SOURCE),
    ("publication_bucket", ("opg_publication_delivery",), f"no delivery to OPG: {NO_PUBLICATION_BUCKET}"),
)


def skipped_sources(resources: Mapping[str, object]) -> list[Skipped]:
    return [Skipped(assets, reason) for key, assets, reason in OPTIONAL if not _configured(resources, key)]


def skipped_asset_names(resources: Mapping[str, object]) -> set[str]:
    return {name for s in skipped_sources(resources) for name in s.assets}
