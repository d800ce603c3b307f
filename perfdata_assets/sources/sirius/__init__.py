"""Sirius channel counts: the HTTP client (a Dagster resource, signed by botocore), the
CSV alternative, and the daily asset sirius_channel_counts. The endpoint's stub is a dev
tool (perfdata_assets.devtools.sirius_stub).

May import: db, calendar, config.
"""

from perfdata_assets.sources.sirius.client import SiriusClient
from perfdata_assets.sources.sirius.counts import (
    ChannelCount,
    ChannelCounts,
    ChannelCountsCsvError,
    SiriusCredentialsError,
    SiriusCredentialsMissing,
    SiriusCredentialsRefused,
    SiriusEndpointMissing,
    SiriusError,
    SiriusMalformedResponse,
    SiriusRequestRefused,
    SiriusUnavailable,
    SiriusUnexpectedStatus,
    parse_channel_counts_response,
)
from perfdata_assets.sources.sirius.csv_source import read_channel_counts_csv

__all__ = [
    "ChannelCount",
    "ChannelCounts",
    "ChannelCountsCsvError",
    "SiriusClient",
    "SiriusCredentialsError",
    "SiriusCredentialsMissing",
    "SiriusCredentialsRefused",
    "SiriusEndpointMissing",
    "SiriusError",
    "SiriusMalformedResponse",
    "SiriusRequestRefused",
    "SiriusUnavailable",
    "SiriusUnexpectedStatus",
    "parse_channel_counts_response",
    "read_channel_counts_csv",
]
