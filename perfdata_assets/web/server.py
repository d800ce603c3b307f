"""Running the HTTP API: ``serve()`` and the ``perfdata serve`` command."""

from __future__ import annotations

import os
from collections.abc import Collection

import click
import uvicorn

from perfdata_assets.config import ConfigError, check_settings, database_urls
from perfdata_assets.publishing.staleness import DATASETS
from perfdata_assets.sources.costs.assets import service_costs_source_from_env
from perfdata_assets.sources.sirius.assets import channel_counts_source_from_env
from perfdata_assets.sources.uptime.assets import uptime_source_from_env
from perfdata_assets.web.api import create_app
from perfdata_assets.web.ratelimit import RateLimit


def configured_datasets() -> list[str]:
    """The KPIs this deployment publishes, judged from the same environment as the code location's
    resources: without Sirius or the uptime source, their KPI is never published, so never late; cost per
    transaction needs the service's costs and Sirius's counts both."""
    counts = channel_counts_source_from_env()
    optional = {"digital-take-up": [counts], "uptime-percent": [uptime_source_from_env()],
                "cost-per-transaction": [service_costs_source_from_env(), counts]}
    return [d for d in DATASETS if all(source.is_configured for source in optional.get(d, []))]


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    perfdata_database_url: str,
    lpa_database_url: str,
    api_token: str | None,
    feedback_rate_limit: RateLimit = RateLimit(),
    expected_datasets: Collection[str] = DATASETS,
    log_level: str = "info",
) -> None:
    """Serve the API until interrupted. One process: the feedback rate limit lives in it."""
    app = create_app(perfdata_database_url, lpa_database_url, api_token, feedback_rate_limit=feedback_rate_limit,
                     expected_datasets=expected_datasets)
    # proxy_headers: behind a load balancer listed in FORWARDED_ALLOW_IPS the
    # client address (which the rate limit keys on) comes from X-Forwarded-For.
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level=log_level, server_header=False)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--feedback-burst", default=RateLimit.burst, show_default=True, type=click.IntRange(min=1),
              help="Feedback submissions a client may send at once.")
@click.option("--feedback-per-minute", default=RateLimit.per_minute, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Then this many a minute per client.")
def serve_command(host: str, port: int, feedback_burst: int, feedback_per_minute: float) -> None:
    """Serve the HTTP API: published KPIs, exports and the feedback form.

    Reads LPA_DATABASE_URL / PERFDATA_DATABASE_URL (default: the embedded SQLite
    files) and PERFDATA_API_TOKEN (without it the KPI and export routes answer 503). The healthcheck
    expects digital take-up and uptime only when their sources are configured here (SIRIUS_BASE_URL or
    SIRIUS_CHANNEL_COUNTS_CSV; UPTIME_HEALTH_CHECK_ID or SERVICE_UPTIME_CSV), as for the code location.
    """
    try:
        check_settings()
        urls = database_urls()
    except ConfigError as exc:
        click.echo(f"perfdata: error: {exc}", err=True)  # the same one line as the other commands
        raise SystemExit(2) from None
    token = os.environ.get("PERFDATA_API_TOKEN", "").strip() or None
    if token is None:
        click.echo("perfdata: warning: PERFDATA_API_TOKEN is not set: the KPI and export routes will answer 503",
                   err=True)
    serve(
        host,
        port,
        perfdata_database_url=urls.perfdata,
        lpa_database_url=urls.lpa,
        api_token=token,
        feedback_rate_limit=RateLimit(burst=feedback_burst, per_minute=feedback_per_minute),
        expected_datasets=configured_datasets(),
    )


if __name__ == "__main__":
    serve_command()
