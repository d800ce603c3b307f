"""Tests of the service-uptime source: CloudWatch through moto over HTTP, the CSV route,
the daily asset on both databases, and the demo's CloudWatch stub.

Helpers shared by these tests put health-check datapoints straight into moto (not
through a fault proxy, so a proxy counts only the fetcher's requests).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable

import boto3

from perfdata_assets.sources.uptime.cloudwatch import DIMENSION, METRIC, NAMESPACE, REGION
from perfdata_assets.sources.uptime.figures import day_bounds
from perfdata_assets_tests.aws import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, FaultProxy

HEALTH_CHECK_ID = "0a1b2c3d-1111-2222-3333-444455556666"
Point = tuple[dt.datetime, float]
GET_METRIC_DATA = "GraniteServiceVersion20100801.GetMetricData"


def every(
    start: dt.datetime, end: dt.datetime, period: int, value: Callable[[dt.datetime], float | None] = lambda _: 1.0
) -> list[Point]:
    """A datapoint at the start of each period of [start, end); value() None leaves a gap."""
    points, at = [], start
    while at < end:
        v = value(at)
        if v is not None:
            points.append((at, v))
        at += dt.timedelta(seconds=period)
    return points


def days_of(first: dt.date, last: dt.date, period: int, value=lambda _: 1.0) -> list[Point]:
    return every(day_bounds(first)[0], day_bounds(last)[1], period, value)


def put_status(moto_url: str, points: Iterable[Point], health_check_id: str = HEALTH_CHECK_ID) -> None:
    client = boto3.session.Session(aws_access_key_id=DUMMY_ACCESS_KEY, aws_secret_access_key=DUMMY_SECRET_KEY).client(
        "cloudwatch", region_name=REGION, endpoint_url=moto_url
    )
    points = list(points)
    dimensions = [{"Name": DIMENSION, "Value": health_check_id}]
    for i in range(0, len(points), 1000):
        client.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[{"MetricName": METRIC, "Dimensions": dimensions, "Timestamp": at, "Value": value}
                        for at, value in points[i:i + 1000]],
        )


class CloudWatchProxy(FaultProxy):
    """The fault proxy, plus what moto leaves out: GetMetricData pages of at most
    MaxDatapoints with a NextToken (StatusCode PartialData until the last page), as
    CloudWatch answers; and tamper(), to turn a page into a malformed one. moto answers
    the whole query once; the pages are cut from that answer."""

    def __init__(self, upstream: str):
        super().__init__(upstream)
        self.tamper: Callable[[dict], None] | None = None
        self._answers: dict[bytes, tuple[int, dict, dict]] = {}

    def forward(self, method, path, headers, body):  # noqa: ANN001
        if headers.get("X-Amz-Target") != GET_METRIC_DATA:
            return super().forward(method, path, headers, body)
        request = json.loads(body)
        page_size = int(request.pop("MaxDatapoints", 100_800))
        offset = int(request.pop("NextToken", "0"))
        key = json.dumps(request, sort_keys=True).encode()
        if key not in self._answers:  # moto is asked once per query, not once per page
            status, out_headers, answer = super().forward(method, path, headers, key)
            if status != 200:
                return status, out_headers, answer
            self._answers[key] = (status, out_headers, json.loads(answer))
        status, out_headers, whole = self._answers[key]
        page = json.loads(json.dumps(whole))
        for result in page["MetricDataResults"]:
            more = len(result["Values"]) > offset + page_size
            result["Values"] = result["Values"][offset:offset + page_size]
            result["Timestamps"] = result["Timestamps"][offset:offset + page_size]
            result["StatusCode"] = "PartialData" if more else result["StatusCode"]
            if more:
                page["NextToken"] = str(offset + page_size)
        if "NextToken" not in page:
            del self._answers[key]  # the last page: the next query sees moto's data afresh
        if self.tamper:
            self.tamper(page)
        return status, out_headers, json.dumps(page).encode()

    def metric_requests(self) -> int:
        return sum(1 for target in self.targets() if target == GET_METRIC_DATA)


# Ways to spoil a GetMetricData page (CloudWatchProxy.tamper).


def first_value(value):
    def tamper(page):
        page["MetricDataResults"][0]["Values"][0] = value
    return tamper


def shift_first_timestamp(page):
    page["MetricDataResults"][0]["Timestamps"][0] += 30


def duplicate_timestamp(page):
    stamps = page["MetricDataResults"][0]["Timestamps"]
    stamps[1] = stamps[0]


def status_code(code):
    def tamper(page):
        page["MetricDataResults"][0]["StatusCode"] = code
    return tamper


def endless(page):
    page["NextToken"] = "0"


def short_values(page):
    page["MetricDataResults"][0]["Values"].pop()


def other_query(page):
    page["MetricDataResults"][0]["Id"] = "other"
