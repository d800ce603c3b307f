"""Which of perfdata's optional sources and outputs a set of resources has configured.

The LPA database is always there; Sirius, the uptime health check and OPG's
bucket are each optional. An unconfigured one is skipped (with one line saying
why) rather than failing the others: its own KPI is simply not published.
The resources decide, so a deployment's environment and a test's Definitions
are judged the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Skipped:
    assets: tuple[str, ...]  # the source's assets and the KPI computed from it alone
    reason: str


def _configured(resources: Mapping[str, object], key: str) -> bool:
    return bool(getattr(resources.get(key), "is_configured", False))


def skipped_sources(resources: Mapping[str, object]) -> list[Skipped]:
    skipped = []
    if not _configured(resources, "channel_counts_source"):
        skipped.append(Skipped(
            ("sirius_channel_counts", "digital_take_up"),
            "no channel counts source: set SIRIUS_BASE_URL (the Sirius API) or SIRIUS_CHANNEL_COUNTS_CSV (a CSV file)",
        ))
    if not _configured(resources, "uptime_source"):
        skipped.append(Skipped(
            ("health_check_uptime", "service_uptime"),
            "no uptime source: set UPTIME_HEALTH_CHECK_ID (the Route 53 health check in CloudWatch) "
            "or SERVICE_UPTIME_CSV (a CSV file)",
        ))
    if not _configured(resources, "publication_bucket"):
        skipped.append(Skipped(
            ("opg_publication_delivery",),
            "no delivery to OPG: PERFDATA_PUBLICATION_BUCKET is not set",
        ))
    return skipped


def skipped_asset_names(resources: Mapping[str, object]) -> set[str]:
    return {name for s in skipped_sources(resources) for name in s.assets}
