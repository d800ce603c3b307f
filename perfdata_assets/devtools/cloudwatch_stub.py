"""A CloudWatch stand-in for the demo: moto in server mode on loopback, holding synthetic
Route 53 health-check data, with this process's environment pointed at it as a
deployment's is at CloudWatch (UPTIME_HEALTH_CHECK_ID, AWS_ENDPOINT_URL_CLOUDWATCH).

The data sits at the period the fetcher will ask for each day (minutes for the last 15
days, 5 minutes up to 63 days, hours beyond), so a year of it is about 40,000
datapoints, not half a million. moto needs the `moto[server]` extra (installed by
`make install` with the test extra).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from perfdata_assets.devtools.loopback import free_port as _free_port
from perfdata_assets.devtools.loopback import restored_environment
from perfdata_assets.devtools.loopback import wait_for_port as _wait_for_port
from perfdata_assets.sources.uptime.cloudwatch import DIMENSION, METRIC, NAMESPACE, REGION, period_for
from perfdata_assets.sources.uptime.figures import UTC, UptimeDay, UptimeRefused, day_bounds, days_between

# PutMetricData takes at most 1,000 datapoints per call.
PUT_BATCH = 1000
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAPERFDATADEMOSTUB", "AWS_SECRET_ACCESS_KEY": "perfdata-demo-not-a-secret"}
_ENV_SET = ("AWS_ENDPOINT_URL_CLOUDWATCH", "UPTIME_HEALTH_CHECK_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# Removed while the stub runs: each would send the fetcher elsewhere.
_ENV_REMOVED = ("SERVICE_UPTIME_CSV", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Minutes:
    """One synthetic day minute by minute: which minutes the health check failed, and
    which it did not report at all."""

    unhealthy: frozenset[int]
    silent: frozenset[int]


def _day_minutes(day: dt.date, seed: int) -> _Minutes:
    start, end = day_bounds(day)
    length = int((end - start).total_seconds()) // 60
    rng = random.Random(f"perfdata-uptime-{seed}-{day.isoformat()}")
    unhealthy: set[int] = set()
    for _ in range(rng.choices((0, 1, 2), weights=(70, 22, 8))[0]):
        first = rng.randrange(length)
        unhealthy.update(range(first, min(length, first + rng.randint(1, 12))))
    silent: set[int] = set()
    if rng.random() < 0.04:  # now and then the health check stops reporting for a while
        first = rng.randrange(length)
        silent.update(range(first, min(length, first + rng.randint(5, 40))))
    return _Minutes(frozenset(unhealthy), frozenset(silent))


def _datapoints(day: dt.date, period: int, seed: int, now: dt.datetime) -> list[tuple[dt.datetime, float]]:
    """(period start, Minimum) for each period of the day that has a reported minute and has
    ended by `now`: 0 when any reported minute in it was unhealthy, as CloudWatch's Minimum."""
    start, end = day_bounds(day)
    minutes = _day_minutes(day, seed)
    step = period // 60
    points = []
    for first in range(0, int((end - start).total_seconds()) // 60, step):
        at = start + dt.timedelta(minutes=first)
        if at + dt.timedelta(seconds=period) > now:
            break
        reported = [m for m in range(first, first + step) if m not in minutes.silent]
        if reported:
            points.append((at, 0.0 if any(m in minutes.unhealthy for m in reported) else 1.0))
    return points


def synthetic_uptime(first: dt.date, last: dt.date, seed: int, now: dt.datetime) -> list[UptimeDay]:
    """The figures the fetcher should compute from the stub's data, day by day."""
    figures = []
    for day in days_between(first, last):
        period = period_for(day, now)
        points = _datapoints(day, period, seed, now)
        observed = len(points) * period // 60
        healthy = sum(1 for _, value in points if value == 1) * period // 60
        figures.append(UptimeDay(day, observed, healthy, period))
    return figures


@dataclass(frozen=True)
class CloudWatchStub:
    url: str
    health_check_id: str
    first: dt.date
    last: dt.date
    seed: int
    now: dt.datetime
    datapoints: int
    load_seconds: float

    def expected(self) -> list[UptimeDay]:
        return synthetic_uptime(self.first, self.last, self.seed, self.now)


def _load_in_process(health_check_id: str, points: list[tuple[dt.datetime, float]]) -> bool:
    """Hand the datapoints to the stub's moto backend directly (moto's server runs in this
    process), as its PutMetricData handler does once it has parsed a request: a year of
    them through HTTP took about two seconds, mostly moto parsing each timestamp. Returns
    False (nothing loaded) if moto's internals are not the ones this was written for."""
    try:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core import DEFAULT_ACCOUNT_ID

        put_metric_data = cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION].put_metric_data
    except (ImportError, AttributeError, KeyError) as exc:  # pragma: no cover (another moto)
        logger.warning("CloudWatch stub: datapoints go through PutMetricData (%s)", exc)
        return False
    dimensions = [{"Name": DIMENSION, "Value": health_check_id}]
    # moto's request parser hands the backend naive UTC timestamps.
    put_metric_data(NAMESPACE, [
        {"MetricName": METRIC, "Dimensions": dimensions, "Timestamp": at.astimezone(UTC).replace(tzinfo=None),
         "Value": value}
        for at, value in points
    ])
    return True


def _put(url: str, health_check_id: str, points: list[tuple[dt.datetime, float]]) -> None:
    import boto3

    client = boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).client("cloudwatch", region_name=REGION, endpoint_url=url)
    dimensions = [{"Name": DIMENSION, "Value": health_check_id}]
    for i in range(0, len(points), PUT_BATCH):
        client.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[{"MetricName": METRIC, "Dimensions": dimensions, "Timestamp": at, "Value": value}
                        for at, value in points[i:i + PUT_BATCH]],
        )


@contextlib.contextmanager
def _linear_get_metric_data() -> Iterator[bool]:
    """moto's GetMetricData scans every datapoint of the range once per period: fifteen
    days at one minute in one query (as the fetcher asks) take it about 20 seconds. While
    the stub runs, its us-east-1 backend answers plain MetricStat queries by putting each
    datapoint in its period's bucket once instead (same answers, checked by
    perfdata_assets_tests/sources/uptime/test_cloudwatch.py); anything else goes to moto's own
    code. Yields whether the speed-up is in place (it is skipped if moto's internals
    are not the ones it was written for)."""
    try:
        from moto.cloudwatch.models import Statistics, cloudwatch_backends
        from moto.core import DEFAULT_ACCOUNT_ID

        backend = cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION]
        original = backend.get_metric_data
        all_metrics = backend.get_all_metrics
    except (ImportError, AttributeError, KeyError) as exc:  # pragma: no cover (another moto)
        logger.warning("CloudWatch stub: moto's GetMetricData stays quadratic (%s)", exc)
        yield False
        return

    def get_metric_data(queries, start_time, end_time, scan_by="TimestampAscending"):  # noqa: ANN001, ANN202
        simple = queries and all("MetricStat" in q and "Unit" not in q["MetricStat"] for q in queries)
        if not simple or start_time.replace(microsecond=0) >= end_time.replace(microsecond=0):
            return original(queries, start_time, end_time, scan_by)
        start_time, end_time = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
        results = []
        for query in queries:
            stat, metric = query["MetricStat"]["Stat"], query["MetricStat"]["Metric"]
            period = int(query["MetricStat"]["Period"])
            wanted = sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
            buckets: dict[int, list] = {}
            for datum in all_metrics():
                if (datum.name == metric["MetricName"] and datum.namespace == metric["Namespace"]
                        and start_time <= datum.timestamp < end_time
                        and sorted((d.name, d.value) for d in datum.dimensions) == wanted):
                    index = int((datum.timestamp - start_time).total_seconds()) // period
                    buckets.setdefault(index, []).append(datum)
            values, timestamps = [], []
            for index in sorted(buckets, reverse=scan_by == "TimestampDescending"):
                stats = Statistics([stat], start_time + dt.timedelta(seconds=index * period))
                stats.metric_data = buckets[index]
                values.append(stats.get_statistics_for_type(stat))
                timestamps.append(stats.timestamp)
            if query.get("ReturnData", True):
                results.append({"id": query["Id"], "label": query.get("Label") or f"{metric['MetricName']} {stat}",
                                "values": values, "timestamps": timestamps, "status_code": "Complete"})
        return results

    backend.get_metric_data = get_metric_data
    try:
        yield True
    finally:
        if backend.__dict__.get("get_metric_data") is get_metric_data:
            del backend.get_metric_data


@contextlib.contextmanager
def cloudwatch_stub_for_this_process(
    health_check_id: str, first: dt.date, last: dt.date, seed: int, now: dt.datetime | None = None
) -> Iterator[CloudWatchStub]:
    """moto on a free loopback port holding synthetic HealthCheckStatus data for the days
    first..last (mostly healthy, a few unhealthy minutes, now and then a silent stretch,
    all from the seed), and os.environ pointed at it; the environment is restored on exit.

    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY already set (the demo's Sirius stub checks
    signatures with its own) are kept, since moto accepts any; otherwise dummy ones are
    set. moto's state is per process: use a health check id no one else in the process
    uses. Days older than CloudWatch keeps (455 days) are refused with ValueError.
    """
    from moto.server import ThreadedMotoServer

    now = (now or dt.datetime.now(UTC)).astimezone(UTC)
    days = days_between(first, last)
    try:
        periods = {day: period_for(day, now) for day in days}
    except UptimeRefused as exc:  # a day older than CloudWatch keeps
        raise ValueError(f"the CloudWatch stub cannot hold {first} to {last}: {exc}") from None

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        with _linear_get_metric_data(), restored_environment(*_ENV_SET, *_ENV_REMOVED):
            started = time.monotonic()
            points = [p for day in days for p in _datapoints(day, periods[day], seed, now)]
            if not _load_in_process(health_check_id, points):
                _put(url, health_check_id, points)
            stub = CloudWatchStub(url, health_check_id, first, last, seed, now, len(points),
                                  round(time.monotonic() - started, 2))
            for name in _ENV_REMOVED:
                os.environ.pop(name, None)
            os.environ["AWS_ENDPOINT_URL_CLOUDWATCH"] = url
            os.environ["UPTIME_HEALTH_CHECK_ID"] = health_check_id
            if not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
                os.environ.update(DUMMY_CREDENTIALS)
            yield stub
    finally:
        server.stop()
