"""Which of perfdata's optional sources and outputs this deployment has configured.

The LPA database is always there; Sirius, the uptime health check and OPG's
bucket are each optional. An unconfigured one is skipped (with one line saying
why) rather than failing the others: its own KPI is simply not published.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Skipped:
    assets: tuple[str, ...]  # the source's assets and the KPI computed from it alone
    reason: str


def skipped_sources(environ: dict[str, str] | None = None) -> list[Skipped]:
    env = os.environ if environ is None else environ
    skipped = []
    if not (env.get("SIRIUS_CHANNEL_COUNTS_CSV") or env.get("SIRIUS_BASE_URL")):
        skipped.append(Skipped(
            ("sirius_channel_counts", "digital_take_up"),
            "no channel counts source: set SIRIUS_BASE_URL (the Sirius API) or SIRIUS_CHANNEL_COUNTS_CSV (a CSV file)",
        ))
    if not (env.get("SERVICE_UPTIME_CSV") or env.get("UPTIME_HEALTH_CHECK_ID")):
        skipped.append(Skipped(
            ("health_check_uptime", "service_uptime"),
            "no uptime source: set UPTIME_HEALTH_CHECK_ID (the Route 53 health check in CloudWatch) "
            "or SERVICE_UPTIME_CSV (a CSV file)",
        ))
    if not env.get("PERFDATA_PUBLICATION_BUCKET"):
        skipped.append(Skipped(
            ("opg_publication_delivery",),
            "no delivery to OPG: PERFDATA_PUBLICATION_BUCKET is not set",
        ))
    return skipped


def skipped_asset_names(environ: dict[str, str] | None = None) -> set[str]:
    return {name for s in skipped_sources(environ) for name in s.assets}
