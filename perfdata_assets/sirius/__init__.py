"""Sirius channel counts: the HTTP client (a Dagster resource), the CSV alternative,
and a stub of the endpoint for development and tests (perfdata_assets.sirius.stub)."""

from perfdata_assets.sirius.client import SiriusClient
from perfdata_assets.sirius.counts import (
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
from perfdata_assets.sirius.csv_source import read_channel_counts_csv

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
