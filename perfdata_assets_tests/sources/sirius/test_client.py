"""The client against the real stub over HTTP on 127.0.0.1: no mocked requests."""

import datetime as dt
import logging
import re
import time
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest

from perfdata_assets.devtools.sirius_stub import MALFORMED_MODES, SiriusStub, synthetic_channel_counts
from perfdata_assets.sources.sirius.client import SiriusClient, date_chunks
from perfdata_assets.sources.sirius.counts import (
    ChannelCount,
    SiriusCredentialsRefused,
    SiriusEndpointMissing,
    SiriusMalformedResponse,
    SiriusRequestRefused,
    SiriusUnavailable,
    SiriusUnexpectedStatus,
)

from .conftest import ACCESS_KEY, SECRET_KEY

D = dt.date
JAN1, JAN31 = D(2024, 1, 1), D(2024, 1, 31)
TODAY = D(2025, 6, 15)


def stub(**options):
    return SiriusStub(today=TODAY, **options)


def requested_ranges(s):
    ranges = []
    for request in s.requests:
        query = parse_qs(urlsplit(request.target).query)
        ranges.append((D.fromisoformat(query["from"][0]), D.fromisoformat(query["to"][0])))
    return ranges


def test_happy_path_returns_exactly_the_stub_figures(make_client):
    with stub(seed=7) as s:
        result = make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 1
    assert (result.start, result.end) == (JAN1, JAN31)
    assert result.complete_through == TODAY - dt.timedelta(days=1)
    assert list(result.counts) == synthetic_channel_counts(JAN1, JAN31, seed=7)
    assert {c.channel for c in result.counts} == {"online", "paper", "phone"}


def test_long_range_is_split_into_requests_of_at_most_92_days(make_client):
    start, end = D(2024, 1, 1), D(2024, 12, 31)  # 366 days
    with stub() as s:
        result = make_client(s.base_url).fetch_channel_counts(start, end)
        ranges = requested_ranges(s)
        assert s.request_count == 4
    # The stub answers 400 to anything over 92 days, so success alone proves the split;
    # the ranges must also tile the whole year without gaps or overlap.
    assert ranges == [
        (D(2024, 1, 1), D(2024, 4, 1)),
        (D(2024, 4, 2), D(2024, 7, 2)),
        (D(2024, 7, 3), D(2024, 10, 2)),
        (D(2024, 10, 3), D(2024, 12, 31)),
    ]
    assert list(result.counts) == synthetic_channel_counts(start, end)
    assert (result.start, result.end) == (start, end)


def test_exactly_92_days_is_one_request(make_client):
    with stub() as s:
        make_client(s.base_url).fetch_channel_counts(D(2024, 1, 1), D(2024, 4, 1))
        assert s.request_count == 1


def test_date_chunks_edges():
    assert date_chunks(JAN1, JAN1, 92) == [(JAN1, JAN1)]
    assert date_chunks(JAN1, D(2024, 1, 5), 2) == [(JAN1, D(2024, 1, 2)), (D(2024, 1, 3), D(2024, 1, 4)), (D(2024, 1, 5), D(2024, 1, 5))]


def test_merged_complete_through_follows_the_chunks(make_client):
    # Chunk 1 (Jan 1 - Apr 1) is final through its end; chunk 2 says May 15.
    with stub(complete_through=D(2024, 5, 15)) as s:
        result = make_client(s.base_url).fetch_channel_counts(D(2024, 1, 1), D(2024, 12, 31))
    assert result.complete_through == D(2024, 5, 15)
    assert result.is_final(D(2024, 5, 15)) and not result.is_final(D(2024, 5, 16))


def test_no_counts_after_the_stubs_today(make_client):
    with SiriusStub(today=D(2024, 3, 10)) as s:
        result = make_client(s.base_url).fetch_channel_counts(D(2024, 3, 1), D(2024, 3, 31))
    assert max(c.day for c in result.counts) == D(2024, 3, 10)
    assert result.complete_through == D(2024, 3, 9)


def test_unknown_channel_is_kept_and_counted(make_client):
    with stub(extra_channel="assisted-digital") as s:
        result = make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
    extra = [c for c in result.counts if c.channel == "assisted-digital"]
    assert extra and all(0 < c.count <= 40 for c in extra)
    assert list(result.counts) == synthetic_channel_counts(JAN1, JAN31, extra_channel="assisted-digital")


def test_400_fails_at_once_showing_the_detail(make_client, sleeps):
    with stub(status=400) as s:
        with pytest.raises(SiriusRequestRefused) as info:
            make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 1
    assert str(info.value) == (
        "Sirius refused the request for 2024-01-01..2024-01-31 (HTTP 400): the stub is set to answer 400"
    )
    assert sleeps == []


def test_403_wrong_secret_fails_at_once_saying_credentials_were_refused(make_client, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with stub(require_signature=True, access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        with pytest.raises(SiriusCredentialsRefused, match=r"Sirius refused the AWS credentials \(HTTP 403\)") as info:
            make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 1
        assert s.requests[0].status == 403
    assert "not-the-secret" not in str(info.value)
    assert "AWS_SECRET_ACCESS_KEY" in str(info.value)


def test_right_secret_is_verified_by_the_stub(make_client):
    with stub(require_signature=True, access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        result = make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert [r.status for r in s.requests] == [200]
    assert len(result.counts) > 0


def test_session_token_is_sent_signed(make_client, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE")
    with stub(require_signature=True, access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        make_client(s.base_url).fetch_channel_counts(JAN1, JAN1)
        assert [r.status for r in s.requests] == [200]


def test_wrong_region_is_refused(make_client):
    with stub(require_signature=True, access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        with pytest.raises(SiriusCredentialsRefused, match=r"region \(us-east-1\)"):
            make_client(s.base_url, region="us-east-1").fetch_channel_counts(JAN1, JAN31)


def test_404_says_the_endpoint_is_not_deployed(make_client):
    with stub(status=404) as s:
        with pytest.raises(SiriusEndpointMissing, match="the channel-counts endpoint is not deployed there"):
            make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 1
    # A base_url with a path the stub does not serve is a genuine route miss.
    with stub() as s:
        with pytest.raises(SiriusEndpointMissing, match=re.escape(f"{s.base_url}/prod/v1/lpa-online-tool/channel-counts")):
            make_client(s.base_url + "/prod/").fetch_channel_counts(JAN1, JAN31)


@pytest.mark.parametrize("status", [301, 401, 418])
def test_undefined_statuses_fail_at_once(make_client, status):
    with stub(status=status) as s:
        with pytest.raises(SiriusUnexpectedStatus, match=f"Sirius answered HTTP {status} for 2024-01-01..2024-01-31"):
            make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 1


def test_429_waits_retry_after_then_succeeds(make_client, sleeps):
    with stub(throttle_first=2, retry_after=7) as s:
        result = make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert [r.status for r in s.requests] == [429, 429, 200]
    assert sleeps == [7.0, 7.0]
    assert len(result.counts) > 0


def test_429_without_retry_after_backs_off(make_client, sleeps):
    with stub(throttle_first=1, retry_after=None) as s:
        make_client(s.base_url, backoff_seconds=2).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 2
    assert sleeps == [2.0]


def test_429_asking_too_long_a_wait_fails_without_sleeping(make_client, sleeps):
    with stub(throttle_first=1, retry_after=3600) as s:
        with pytest.raises(SiriusUnavailable, match=r"asked to wait 3600 s, more than max_retry_after_seconds \(60 s\)"):
            make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 1
    assert sleeps == []


def test_429_retries_are_bounded(make_client, sleeps):
    with stub(status=429, retry_after=1) as s:
        with pytest.raises(SiriusUnavailable, match=r"failed after 3 attempts; the last was HTTP 429 \(throttled\)"):
            make_client(s.base_url, max_attempts=3).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 3
    assert sleeps == [1.0, 1.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff_then_succeeds(make_client, sleeps, status):
    with stub(fail_first=2, fail_status=status) as s:
        result = make_client(s.base_url, backoff_seconds=0.5).fetch_channel_counts(JAN1, JAN31)
        assert [r.status for r in s.requests] == [status, status, 200]
    assert sleeps == [0.5, 1.0]
    assert list(result.counts) == synthetic_channel_counts(JAN1, JAN31)


def test_retries_are_bounded_and_backoff_is_capped(make_client, sleeps):
    with stub(status=503) as s:
        with pytest.raises(SiriusUnavailable) as info:
            make_client(s.base_url, max_attempts=5, backoff_seconds=10).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 5
    assert str(info.value) == (
        "Sirius channel counts for 2024-01-01..2024-01-31 failed after 5 attempts; the last was HTTP 503"
    )
    assert sleeps == [10, 20, 30, 30]


def test_single_attempt_means_no_retry(make_client, sleeps):
    with stub(status=502) as s:
        with pytest.raises(SiriusUnavailable, match="failed after 1 attempt; the last was HTTP 502"):
            make_client(s.base_url, max_attempts=1).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 1
    assert sleeps == []


def test_retries_are_logged_with_status_and_wait_but_no_credentials(make_client, caplog):
    caplog.set_level(logging.INFO, logger="perfdata_assets.sources.sirius.client")
    with stub(fail_first=1, fail_status=500) as s:
        make_client(s.base_url, backoff_seconds=0.25).fetch_channel_counts(JAN1, JAN31)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Sirius channel counts 2024-01-01..2024-01-31: HTTP 500 on attempt 1 of 5, retrying in 0.25 s"]
    assert SECRET_KEY not in caplog.text and ACCESS_KEY not in caplog.text


def test_timeout_is_retried_then_succeeds(make_client, sleeps):
    with stub(delay_seconds=1.0, delay_first=1) as s:
        started = time.monotonic()
        result = make_client(s.base_url, read_timeout_seconds=0.2).fetch_channel_counts(JAN1, JAN31)
        assert time.monotonic() - started < 1.0  # gave up on the slow answer, did not wait for it
        assert s.request_count == 2
    assert sleeps == [0.5]
    assert len(result.counts) > 0


def test_timeouts_exhaust_the_attempts(make_client):
    with stub(delay_seconds=1.0) as s:
        with pytest.raises(SiriusUnavailable, match="failed after 3 attempts; the last was a timeout"):
            make_client(s.base_url, read_timeout_seconds=0.2, max_attempts=3).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 3


def test_dropped_connections_are_retried_then_succeed(make_client, sleeps):
    with stub(drop_first=2) as s:
        result = make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert [r.status for r in s.requests] == [None, None, 200]
    assert sleeps == [0.5, 1.0]
    assert len(result.counts) > 0


def test_dropped_connections_exhaust_the_attempts(make_client):
    with stub(drop_first=10) as s:
        with pytest.raises(SiriusUnavailable, match="failed after 2 attempts; the last was a failed or dropped connection"):
            make_client(s.base_url, max_attempts=2).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 2


def test_nothing_listening_is_unavailable(make_client):
    with stub() as s:
        base_url = s.base_url
    with pytest.raises(SiriusUnavailable, match="failed after 2 attempts; the last was a failed or dropped connection"):
        make_client(base_url, max_attempts=2).fetch_channel_counts(JAN1, JAN31)


MALFORMED_CASES = [
    ("negative-count", r"counts\[0\]\.count: -\d+ is negative"),
    ("fractional-count", r"counts\[0\]\.count: \d+\.5 is a fractional number"),
    ("string-count", r"counts\[0\]\.count: '\d+' is a string"),
    ("date-outside-range", r"counts\[\d+\]\.date: 2024-02-01 is outside the requested range 2024-01-01\.\.2024-01-31"),
    ("duplicate-pair", r"counts\[\d+\]: \(2024-01-01, online\) duplicates counts\[0\]"),
    ("not-json", r"HTTP 200 but the body is not JSON"),
]


@pytest.mark.parametrize(("mode", "message"), MALFORMED_CASES)
def test_malformed_bodies_fail_at_once_naming_the_field(make_client, mode, message):
    with stub(malformed=mode) as s:
        with pytest.raises(SiriusMalformedResponse, match=r"^malformed Sirius response for 2024-01-01\.\.2024-01-31: " + message):
            make_client(s.base_url).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 1


def test_every_malformed_mode_is_tested():
    assert {mode for mode, _ in MALFORMED_CASES} == set(MALFORMED_MODES)


class _LaterChunkBroken(SiriusStub):
    """Answers the first chunk well and breaks every later one."""

    def _body(self, start, end):
        body = super()._body(start, end)
        if start != JAN1:
            body["counts"][0]["count"] = -1
        return body


def test_a_malformed_later_chunk_fails_the_whole_fetch(make_client):
    with _LaterChunkBroken(today=TODAY) as s:
        with pytest.raises(SiriusMalformedResponse, match=r"for 2024-04-02\.\.2024-07-02: counts\[0\]\.count: -1 is negative"):
            make_client(s.base_url).fetch_channel_counts(JAN1, D(2024, 12, 31))
        assert [r.status for r in s.requests] == [200, 200]


def test_bad_arguments_and_settings_fail_before_any_request(make_client):
    with stub() as s:
        with pytest.raises(ValueError, match="start 2024-01-31 is after end 2024-01-01"):
            make_client(s.base_url).fetch_channel_counts(JAN31, JAN1)
        with pytest.raises(TypeError, match="start must be a datetime.date, not datetime"):
            make_client(s.base_url).fetch_channel_counts(dt.datetime(2024, 1, 1), JAN31)
        with pytest.raises(ValueError, match="max_days_per_request must be between 1 and 92"):
            make_client(s.base_url, max_days_per_request=93).fetch_channel_counts(JAN1, JAN31)
        with pytest.raises(ValueError, match="SIRIUS_BASE_URL='localhost:8088': expected an http:// or https:// URL"):
            make_client("localhost:8088").fetch_channel_counts(JAN1, JAN31)
        with pytest.raises(ValueError, match="max_attempts must be at least 1"):
            make_client(s.base_url, max_attempts=0).fetch_channel_counts(JAN1, JAN31)
        assert s.request_count == 0


def test_works_as_a_dagster_resource(aws_env):
    with stub(seed=3) as s:

        @dg.asset
        def channel_counts(sirius: SiriusClient) -> int:
            return sum(c.count for c in sirius.fetch_channel_counts(JAN1, JAN31).counts)

        result = dg.materialize([channel_counts], resources={"sirius": SiriusClient(base_url=s.base_url)})
    assert result.success
    assert result.output_for_node("channel_counts") == sum(c.count for c in synthetic_channel_counts(JAN1, JAN31, seed=3))


def test_fetched_counts_are_channel_count_objects(make_client):
    with stub() as s:
        result = make_client(s.base_url).fetch_channel_counts(JAN1, JAN1)
    assert all(isinstance(c, ChannelCount) for c in result.counts)
