"""The CloudWatch fetcher against moto over HTTP, through a fault proxy: London days, periods,
pagination, finality, retries, refusals, malformed answers and web identity."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time

import pytest

from perfdata_assets.devtools import cloudwatch_stub as uptime_stub
from perfdata_assets.sources.uptime.cloudwatch import (
    CloudWatchSettings,
    QueryRange,
    fetch_health_check_days,
    period_for,
    plan_queries,
)
from perfdata_assets.sources.uptime.figures import (
    UTC,
    UptimeDay,
    UptimeNotFinal,
    UptimeRefused,
    UptimeUnavailable,
    day_bounds,
    day_minutes,
)
from perfdata_assets_tests.aws import DUMMY_SECRET_KEY, aws_env, free_port, web_identity_env
from perfdata_assets_tests.sources.uptime import (
    GET_METRIC_DATA,
    HEALTH_CHECK_ID,
    CloudWatchProxy,
    days_of,
    duplicate_timestamp,
    endless,
    first_value,
    other_query,
    put_status,
    shift_first_timestamp,
    short_values,
    status_code,
)
from perfdata_assets_tests.support import london

FAST = CloudWatchSettings(max_attempts=3, connect_timeout_seconds=2, read_timeout_seconds=10)


@pytest.fixture
def cloudwatch(moto_server, monkeypatch):
    """A proxy in front of moto, and the environment pointing boto3's CloudWatch (and STS) at it."""
    with CloudWatchProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "cloudwatch", "sts")
        yield proxy


def fetch(first: dt.date, last: dt.date | None = None, *, now: dt.datetime, settings=FAST, hc=HEALTH_CHECK_ID):
    return fetch_health_check_days(hc, first, last or first, now, settings)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# --- periods and plans (no server needed) -------------------------------------------------


def test_the_period_is_the_finest_cloudwatch_still_holds_for_the_whole_day():
    day = d("2024-06-01")
    start = day_bounds(day)[0]
    at = lambda age: start + age  # noqa: E731
    assert period_for(day, at(dt.timedelta(days=15) - dt.timedelta(seconds=1))) == 60
    assert period_for(day, at(dt.timedelta(days=15))) == 300
    assert period_for(day, at(dt.timedelta(days=63) - dt.timedelta(seconds=1))) == 300
    assert period_for(day, at(dt.timedelta(days=63))) == 3600
    assert period_for(day, at(dt.timedelta(days=455) - dt.timedelta(seconds=1))) == 3600
    with pytest.raises(UptimeRefused, match=r"455 days only, and 2024-06-01 is older: .*SERVICE_UPTIME_CSV"):
        period_for(day, at(dt.timedelta(days=455)))


def test_consecutive_days_with_one_period_share_one_query():
    now = london("2024-07-01 12:00")
    days = [d("2024-04-01") + dt.timedelta(days=i) for i in range(91)]  # 2024-04-01 .. 2024-06-30
    plan = plan_queries(days, now)
    assert [(q.days[0].isoformat(), q.days[-1].isoformat(), q.period) for q in plan] == [
        ("2024-04-01", "2024-04-29", 3600),
        ("2024-04-30", "2024-06-16", 300),
        ("2024-06-17", "2024-06-30", 60),
    ]
    # Bounds are the London days' in UTC: BST, so 23:00 the evening before.
    assert plan[2].start == dt.datetime(2024, 6, 16, 23, tzinfo=UTC)
    assert plan[2].end == dt.datetime(2024, 6, 30, 23, tzinfo=UTC)
    assert QueryRange((d("2024-10-27"),), 60).periods == 1500


# --- days and minutes ---------------------------------------------------------------------


def test_minutes_per_london_day_across_the_clocks_going_forward(cloudwatch, moto_server):
    first, last = d("2024-03-30"), d("2024-03-31")  # 24 h, then 23 h (01:00 GMT -> 02:00 BST)
    unhealthy = {london("2024-03-30 23:59"), london("2024-03-31 00:00"), london("2024-03-31 03:10")}
    put_status(moto_server.url, days_of(first, last, 60, lambda t: 0.0 if t in unhealthy else 1.0))
    got = fetch(first, last, now=london("2024-04-01 09:00"))
    assert got == [UptimeDay(first, 1440, 1439, 60), UptimeDay(last, 1380, 1378, 60)]
    assert [day_minutes(x) for x in (first, last)] == [1440, 1380]
    assert cloudwatch.metric_requests() == 1  # two days, one period: one query


def test_minutes_per_london_day_across_the_clocks_going_back(cloudwatch, moto_server):
    day = d("2024-10-27")  # 25 h: 00:00 BST is 23:00 UTC the day before
    late = dt.datetime(2024, 10, 26, 23, 30, tzinfo=UTC)  # 00:30 BST on the 27th
    points = days_of(d("2024-10-26"), d("2024-10-28"), 60, lambda t: 0.0 if t == late else 1.0)
    put_status(moto_server.url, points)
    got = fetch(d("2024-10-26"), d("2024-10-28"), now=london("2024-10-29 00:15"))
    assert got == [UptimeDay(d("2024-10-26"), 1440, 1440, 60), UptimeDay(day, 1500, 1499, 60),
                   UptimeDay(d("2024-10-28"), 1440, 1440, 60)]


@pytest.mark.parametrize("period, age_days", [(3600, 100), (300, 30)])
def test_healthy_unhealthy_and_unreported_periods(cloudwatch, moto_server, period, age_days):
    day = d("2024-01-10")
    start = day_bounds(day)[0]
    slot = lambda t: int((t - start).total_seconds()) // period  # noqa: E731
    # Periods 2 and 5 unhealthy; 3, 7 and 8 not reported at all (neither healthy nor unhealthy).
    value = lambda t: None if slot(t) in (3, 7, 8) else 0.0 if slot(t) in (2, 5) else 1.0  # noqa: E731
    put_status(moto_server.url, days_of(day, day, period, value))
    slots = 86400 // period
    got = fetch(day, now=day_bounds(day)[0] + dt.timedelta(days=age_days))
    assert got == [UptimeDay(day, (slots - 3) * period // 60, (slots - 5) * period // 60, period)]


def test_each_day_is_fetched_at_its_own_period_one_query_per_run_of_days(cloudwatch, moto_server):
    now = london("2024-06-16 12:00")
    first, last = d("2024-04-13"), d("2024-04-16")  # 3600 s to 04-14, 300 s from 04-15 (under 63 days old)
    assert [period_for(x, now) for x in (first, d("2024-04-14"), d("2024-04-15"), last)] == [3600, 3600, 300, 300]
    # Minute datapoints throughout: CloudWatch (and moto) take the Minimum over each period.
    bad = {london("2024-04-14 10:07"), london("2024-04-15 10:07")}
    put_status(moto_server.url, days_of(first, last, 60, lambda t: 0.0 if t in bad else 1.0))
    got = fetch(first, last, now=now)
    assert got == [UptimeDay(first, 1440, 1440, 3600), UptimeDay(d("2024-04-14"), 1440, 1380, 3600),
                   UptimeDay(d("2024-04-15"), 1440, 1435, 300), UptimeDay(last, 1440, 1440, 300)]
    assert cloudwatch.metric_requests() == 2


def test_many_datapoints_come_in_pages(cloudwatch, moto_server):
    first, last = d("2024-05-01"), d("2024-05-07")  # 7 days at 300 s: 2016 datapoints
    bad = london("2024-05-06 12:00")
    put_status(moto_server.url, days_of(first, last, 300, lambda t: 0.0 if t == bad else 1.0))
    settings = CloudWatchSettings(max_attempts=2, max_datapoints_per_page=500)
    got = fetch(first, last, now=london("2024-06-01 12:00"), settings=settings)
    assert cloudwatch.metric_requests() == 5  # 500 + 500 + 500 + 500 + 16
    assert [x.observed_minutes for x in got] == [1440] * 7
    assert [x.healthy_minutes for x in got] == [1440] * 5 + [1435, 1440]


# --- finality ---------------------------------------------------------------------------


def test_a_day_is_final_only_fifteen_minutes_after_it_ends(cloudwatch, moto_server):
    day = d("2024-03-31")
    put_status(moto_server.url, days_of(day, day, 60))
    with pytest.raises(UptimeNotFinal, match=r"1 day\(s\) not final yet \(2024-03-31\).*2024-04-01 00:15 London"):
        fetch(d("2024-03-30"), day, now=london("2024-04-01 00:14:59"))
    assert cloudwatch.request_count == 0  # refused before asking
    assert fetch(day, now=london("2024-04-01 00:15")) == [UptimeDay(day, 1380, 1380, 60)]


def test_days_older_than_cloudwatch_keeps_point_to_the_csv(cloudwatch):
    with pytest.raises(UptimeRefused, match="SERVICE_UPTIME_CSV"):
        fetch(d("2023-01-01"), d("2023-01-02"), now=london("2024-06-01 12:00"))
    assert cloudwatch.request_count == 0


# --- retries and refusals ---------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 429])
def test_throttling_is_retried_then_succeeds(cloudwatch, moto_server, status):
    day = d("2024-02-01")
    put_status(moto_server.url, days_of(day, day, 3600))
    cloudwatch.throttle_next(1, status)
    got = fetch(day, now=london("2024-05-01 12:00"))
    assert got == [UptimeDay(day, 1440, 1440, 3600)]
    assert cloudwatch.metric_requests() == 2
    assert [r.answered for r in cloudwatch.requests] == [status, 200]


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_outlasting_the_retries_is_unavailable(cloudwatch, moto_server, status):
    day = d("2024-02-01")
    put_status(moto_server.url, days_of(day, day, 3600))
    cloudwatch.fail_next(10, status)
    with pytest.raises(UptimeUnavailable, match=rf"answered {status} .*after 3 attempt\(s\)"):
        fetch(day, now=london("2024-05-01 12:00"))
    assert cloudwatch.request_count == 3  # FAST.max_attempts, the first included


def test_access_denied_is_refused_at_once_with_what_aws_said(cloudwatch, moto_server):
    day = d("2024-02-01")
    put_status(moto_server.url, days_of(day, day, 3600))
    cloudwatch.deny_next(5)
    with pytest.raises(UptimeRefused) as refused:
        fetch(day, now=london("2024-05-01 12:00"), settings=CloudWatchSettings(max_attempts=5))
    assert cloudwatch.request_count == 1  # no retries
    message = str(refused.value)
    assert "answered 403 AccessDenied" in message and "not authorized to perform: cloudwatch:GetMetricData" in message
    assert DUMMY_SECRET_KEY not in message and "\n" not in message


def test_no_credentials_is_refused_without_a_request(cloudwatch, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(UptimeRefused, match="no usable AWS credentials"):
        fetch(d("2024-02-01"), now=london("2024-05-01 12:00"))
    assert cloudwatch.request_count == 0


def test_an_unreachable_endpoint_is_unavailable(cloudwatch, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(UptimeUnavailable, match="could not be reached"):
        fetch(d("2024-02-01"), now=london("2024-05-01 12:00"))
    assert time.monotonic() - started < 10


def test_a_stalled_answer_times_out_as_unavailable(cloudwatch, moto_server):
    day = d("2024-02-01")
    put_status(moto_server.url, days_of(day, day, 3600))
    cloudwatch.stall_next(2, 1.5)
    settings = CloudWatchSettings(max_attempts=2, connect_timeout_seconds=1, read_timeout_seconds=0.5)
    with pytest.raises(UptimeUnavailable, match="ReadTimeoutError"):
        fetch(day, now=london("2024-05-01 12:00"), settings=settings)


def test_credentials_by_web_identity_through_sts(cloudwatch, moto_server, monkeypatch, tmp_path):
    day = d("2024-02-01")
    put_status(moto_server.url, days_of(day, day, 3600))
    web_identity_env(monkeypatch, tmp_path, cloudwatch.url)
    assert fetch(day, now=london("2024-05-01 12:00")) == [UptimeDay(day, 1440, 1440, 3600)]
    assert cloudwatch.targets() == ["AssumeRoleWithWebIdentity", GET_METRIC_DATA]


def test_a_refused_web_identity_is_refused(cloudwatch, moto_server, monkeypatch, tmp_path):
    web_identity_env(monkeypatch, tmp_path, cloudwatch.url)
    cloudwatch.deny_next(5)
    with pytest.raises(UptimeRefused, match="AssumeRoleWithWebIdentity|credentials"):
        fetch(d("2024-02-01"), now=london("2024-05-01 12:00"))
    assert cloudwatch.metric_requests() == 0


# --- what CloudWatch answers -------------------------------------------------------------


def test_an_unknown_health_check_gives_no_data_and_is_refused(cloudwatch, moto_server):
    day = d("2024-02-01")
    put_status(moto_server.url, days_of(day, day, 3600))
    other = "99999999-1111-2222-3333-444455556666"
    with pytest.raises(UptimeRefused, match=f"no AWS/Route53 HealthCheckStatus data for health check {other}"):
        fetch(day, now=london("2024-05-01 12:00"), hc=other)


def test_a_malformed_health_check_id_is_refused_without_a_request(cloudwatch):
    with pytest.raises(UptimeRefused, match="UPTIME_HEALTH_CHECK_ID 'my-check' is not a Route 53 health check id"):
        fetch(d("2024-02-01"), now=london("2024-05-01 12:00"), hc="my-check")
    assert cloudwatch.request_count == 0


@pytest.mark.parametrize("tamper, said", [
    (first_value(0.5), "value 0.5 .* is not 0 or 1"),
    (first_value(2.0), "value 2.0 .* is not 0 or 1"),
    (shift_first_timestamp, "is not the start of a 3600-second period"),
    (duplicate_timestamp, "appears twice"),
    (status_code("PartialData"), "StatusCode is 'PartialData', not 'Complete'"),
    (status_code("InternalError"), "StatusCode is 'InternalError', not 'Complete'"),
    (endless, "NextToken repeats"),
    (short_values, "23 values for 24 timestamps"),
    (other_query, "a result for query 'other'"),
], ids=["half", "two", "shifted", "duplicated", "partial-data", "internal-error", "endless", "short", "other-query"])
def test_a_malformed_answer_is_refused(cloudwatch, moto_server, tamper, said):
    day = d("2024-02-01")
    put_status(moto_server.url, days_of(day, day, 3600))
    cloudwatch.tamper = tamper
    with pytest.raises(UptimeRefused, match=said):
        fetch(day, now=london("2024-05-01 12:00"))


# --- the demo's stub ---------------------------------------------------------------------


@contextlib.contextmanager
def _moto_as_is():
    yield False


def test_the_demo_stub_serves_what_it_promises_and_restores_the_environment(moto_server, monkeypatch):
    aws_env(monkeypatch, "http://127.0.0.1:9", "sts")  # no CloudWatch endpoint before the stub
    monkeypatch.setenv("SERVICE_UPTIME_CSV", "/somewhere/uptime.csv")
    # The stub's speed-up is compared with moto's own GetMetricData: the stub starts
    # without it, and the test turns it on around one fetch.
    linear = uptime_stub._linear_get_metric_data
    monkeypatch.setattr(uptime_stub, "_linear_get_metric_data", _moto_as_is)
    now = london("2024-06-16 12:00")
    first, last = d("2024-04-12"), d("2024-06-03")  # hours to 04-14, 5 minutes to 06-01, then minutes
    with uptime_stub.cloudwatch_stub_for_this_process(HEALTH_CHECK_ID, first, last, seed=11, now=now) as stub:
        assert os.environ["UPTIME_HEALTH_CHECK_ID"] == HEALTH_CHECK_ID and "SERVICE_UPTIME_CSV" not in os.environ
        assert os.environ["AWS_ENDPOINT_URL_CLOUDWATCH"] == stub.url
        with linear() as fast:
            assert fast
            quick = fetch(first, last, now=now)
        # moto's own code is quadratic in a query's datapoints: two short ranges are enough.
        with_moto = fetch(first, d("2024-04-16"), now=now) + fetch(d("2024-05-31"), last, now=now)
    expected = stub.expected()
    assert quick == expected
    assert with_moto == expected[:5] + expected[-4:]
    assert [x.resolution_seconds for x in expected[2:4] + expected[-3:-1]] == [3600, 300, 300, 60]
    assert any(x.healthy_minutes < x.observed_minutes for x in expected)
    assert os.environ["AWS_ENDPOINT_URL_STS"] == "http://127.0.0.1:9"
    assert "AWS_ENDPOINT_URL_CLOUDWATCH" not in os.environ and "UPTIME_HEALTH_CHECK_ID" not in os.environ
    assert os.environ["SERVICE_UPTIME_CSV"] == "/somewhere/uptime.csv"
