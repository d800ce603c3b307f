"""Per-day uptime from the Route 53 health check's CloudWatch metric (docs/contract/uptime.md).

One GetMetricData query (paginated by NextToken) per run of consecutive days fetched at
the same period: the finest period CloudWatch still holds for the day. Credentials come
only from boto3's default chain, and the endpoint only from boto3's own configuration
(AWS_ENDPOINT_URL_CLOUDWATCH / AWS_ENDPOINT_URL), so nothing here reads a secret.

Retries are botocore's (standard mode, bounded); whatever outlasts them is
UptimeUnavailable, a refusal or a malformed answer is UptimeRefused, and nothing is
returned unless every requested day was fetched whole.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import botocore.config
import botocore.exceptions

from perfdata_assets.calendar import LONDON
from perfdata_assets.db.ledger import describe_days
from perfdata_assets.sources.uptime.figures import (
    UTC,
    UptimeDay,
    UptimeNotFinal,
    UptimeRefused,
    UptimeUnavailable,
    day_bounds,
    days_between,
    final_at,
    is_final,
    require_aware,
)

REGION = "us-east-1"  # Route 53 health-check metrics exist only there
NAMESPACE = "AWS/Route53"
METRIC = "HealthCheckStatus"
DIMENSION = "HealthCheckId"
STATISTIC = "Minimum"  # 1 only when every probe in the period found the service healthy
QUERY_ID = "health"
# CloudWatch's own ceiling for one GetMetricData page.
MAX_DATAPOINTS_PER_PAGE = 100_800

# How long CloudWatch keeps each resolution, finest first (its documented retention).
RETENTION: tuple[tuple[dt.timedelta, int], ...] = (
    (dt.timedelta(days=15), 60),
    (dt.timedelta(days=63), 300),
    (dt.timedelta(days=455), 3600),
)

_HEALTH_CHECK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "LimitExceededException",
})
_TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "ServiceUnavailable",
                              "InternalFailure", "InternalError", "InternalServiceError"})


@dataclass(frozen=True)
class CloudWatchSettings:
    """How hard to try: botocore's standard retry mode with this many attempts in all,
    and timeouts so that a stalled connection fails the run in minutes, not hours."""

    max_attempts: int = 5
    connect_timeout_seconds: float = 5
    read_timeout_seconds: float = 30
    max_datapoints_per_page: int = MAX_DATAPOINTS_PER_PAGE

    def check(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.connect_timeout_seconds <= 0 or self.read_timeout_seconds <= 0:
            raise ValueError("connect_timeout_seconds and read_timeout_seconds must be positive")
        if not 1 <= self.max_datapoints_per_page <= MAX_DATAPOINTS_PER_PAGE:
            raise ValueError(f"max_datapoints_per_page must be between 1 and {MAX_DATAPOINTS_PER_PAGE}")


@dataclass(frozen=True)
class QueryRange:
    """Consecutive London days fetched in one query at one period."""

    days: tuple[dt.date, ...]
    period: int

    @property
    def start(self) -> dt.datetime:
        return day_bounds(self.days[0])[0]

    @property
    def end(self) -> dt.datetime:
        return day_bounds(self.days[-1])[1]

    @property
    def periods(self) -> int:
        return int((self.end - self.start).total_seconds()) // self.period


def period_for(day: dt.date, now: dt.datetime) -> int:
    """The finest period CloudWatch still holds for the whole day at `now`."""
    age = require_aware(now) - day_bounds(day)[0]
    for kept_for, period in RETENTION:
        if age < kept_for:
            return period
    raise UptimeRefused(
        f"CloudWatch keeps health-check data for {RETENTION[-1][0].days} days only, and {day} is older: "
        "supply that history with SERVICE_UPTIME_CSV"
    )


def plan_queries(days: Iterable[dt.date], now: dt.datetime) -> list[QueryRange]:
    """Consecutive days with the same period go into one query."""
    ranges = []
    for period, group in itertools.groupby(days, key=lambda d: period_for(d, now)):
        ranges.append(QueryRange(tuple(group), period))
    return ranges


def check_health_check_id(health_check_id: str) -> None:
    if not _HEALTH_CHECK_ID.fullmatch(health_check_id or ""):
        raise UptimeRefused(
            f"UPTIME_HEALTH_CHECK_ID {health_check_id[:60]!r} is not a Route 53 health check id "
            "(a UUID such as 0a1b2c3d-1111-2222-3333-444455556666)"
        )


def fetch_health_check_days(
    health_check_id: str,
    first: dt.date,
    last: dt.date,
    now: dt.datetime,
    settings: CloudWatchSettings = CloudWatchSettings(),
) -> list[UptimeDay]:
    """Every London day of [first, last], in order, or an UptimeError.

    Every day must be final at `now`: a day asked for too early raises UptimeNotFinal
    naming it, before any request is made.
    """
    settings.check()
    check_health_check_id(health_check_id)
    days = days_between(first, last)
    pending = [d for d in days if not is_final(d, now)]
    if pending:
        raise UptimeNotFinal(
            f"{len(pending)} day(s) not final yet ({describe_days(pending)}): CloudWatch's figures for a day "
            f"are final 15 minutes after it ends, {final_at(pending[0]).astimezone(LONDON):%Y-%m-%d %H:%M} "
            "London time for the first"
        )
    ranges = plan_queries(days, now)
    client = _client(settings)
    figures: list[UptimeDay] = []
    datapoints = 0
    for query_range in ranges:
        points = _fetch_range(client, health_check_id, query_range, settings)
        datapoints += len(points)
        figures.extend(_per_day(query_range, points))
    if datapoints == 0:
        # CloudWatch answers an unknown dimension value with no data, not an error.
        raise UptimeRefused(
            f"CloudWatch holds no {NAMESPACE} {METRIC} data for health check {health_check_id} "
            f"from {first} to {last}: check UPTIME_HEALTH_CHECK_ID (an unknown id gives no data, not an error)"
        )
    return figures


def _client(settings: CloudWatchSettings):  # noqa: ANN202 (boto3 clients are generated classes)
    import boto3  # here, not at the top: loading the definitions (every run) does not need it

    config = botocore.config.Config(
        # total_max_attempts counts the first attempt too (botocore's max_attempts counts retries only).
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )
    try:
        # A fresh session per fetch: boto3's default session resolves credentials once
        # per process, and would not see the environment as it is now.
        return boto3.session.Session().client("cloudwatch", region_name=REGION, config=config)
    except botocore.exceptions.BotoCoreError as exc:
        raise UptimeRefused(f"cannot set up the CloudWatch client: {_one_line(str(exc))}") from None


def _fetch_range(  # noqa: ANN001 (client: a generated boto3 class)
    client, health_check_id: str, query_range: QueryRange, settings: CloudWatchSettings
) -> list[tuple[dt.datetime, float]]:
    """(timestamp, Minimum) for every datapoint CloudWatch has in the range, all pages."""
    query = {
        "Id": QUERY_ID,
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": METRIC,
                "Dimensions": [{"Name": DIMENSION, "Value": health_check_id}],
            },
            "Period": query_range.period,
            "Stat": STATISTIC,
        },
        "ReturnData": True,
    }
    where = f"GetMetricData for {query_range.days[0]} to {query_range.days[-1]} at {query_range.period} s"
    # A well-behaved answer needs ceil(periods / page) pages; a few more are tolerated,
    # an endless NextToken is not.
    max_pages = math.ceil(query_range.periods / settings.max_datapoints_per_page) + 5
    values: list[float] = []
    timestamps: list[dt.datetime] = []
    status = None
    messages: list = []
    token = None
    seen_tokens: set[str] = set()
    for _ in range(max_pages):
        request = {
            "MetricDataQueries": [query],
            "StartTime": query_range.start,
            "EndTime": query_range.end,
            "ScanBy": "TimestampAscending",
            "MaxDatapoints": settings.max_datapoints_per_page,
        }
        if token:
            request["NextToken"] = token
        answer = _call(client, request, where)
        for result in answer.get("MetricDataResults") or []:
            if result.get("Id") != QUERY_ID:
                raise UptimeRefused(
                    f"{where}: malformed answer: a result for query {str(result.get('Id'))[:40]!r}, not {QUERY_ID!r}"
                )
            page_values, page_timestamps = result.get("Values") or [], result.get("Timestamps") or []
            if len(page_values) != len(page_timestamps):
                raise UptimeRefused(
                    f"{where}: malformed answer: {len(page_values)} values for {len(page_timestamps)} timestamps"
                )
            values.extend(page_values)
            timestamps.extend(page_timestamps)
            status = result.get("StatusCode")
            messages = result.get("Messages") or []
        token = answer.get("NextToken")
        if not token:
            break
        if token in seen_tokens:
            raise UptimeRefused(f"{where}: malformed answer: NextToken repeats")
        seen_tokens.add(token)
    else:
        raise UptimeRefused(f"{where}: malformed answer: still paginating after {max_pages} pages")
    if status is None:
        raise UptimeRefused(f"{where}: malformed answer: no result for the query")
    if status != "Complete":
        said = "; ".join(_one_line(str(m.get("Value") or m.get("Code") or "")) for m in messages if isinstance(m, dict))
        raise UptimeRefused(f"{where}: the answer's StatusCode is {str(status)[:40]!r}, not 'Complete'"
                            + (f" ({said[:200]})" if said else ""))
    return _check_points(query_range, values, timestamps, where)


def _check_points(query_range: QueryRange, values: list, timestamps: list, where: str) -> list[tuple[dt.datetime, float]]:
    points = []
    seen = set()
    for value, stamp in zip(values, timestamps):
        if not isinstance(stamp, dt.datetime) or stamp.tzinfo is None:
            raise UptimeRefused(f"{where}: malformed answer: timestamp {str(stamp)[:40]!r} is not an instant")
        stamp = stamp.astimezone(UTC)
        offset = (stamp - query_range.start).total_seconds()
        if not (0 <= offset < (query_range.end - query_range.start).total_seconds()) or offset % query_range.period:
            raise UptimeRefused(
                f"{where}: malformed answer: timestamp {stamp:%Y-%m-%dT%H:%M:%SZ} is not the start of a "
                f"{query_range.period}-second period of the range"
            )
        if stamp in seen:
            raise UptimeRefused(f"{where}: malformed answer: timestamp {stamp:%Y-%m-%dT%H:%M:%SZ} appears twice")
        # Minimum of a 0/1 status is exactly 0 or 1; anything else is not this metric.
        if isinstance(value, bool) or value not in (0, 1):
            raise UptimeRefused(
                f"{where}: malformed answer: value {str(value)[:20]} at {stamp:%Y-%m-%dT%H:%M:%SZ} is not 0 or 1"
            )
        seen.add(stamp)
        points.append((stamp, float(value)))
    return points


def _per_day(query_range: QueryRange, points: list[tuple[dt.datetime, float]]) -> list[UptimeDay]:
    """A datapoint counts for its whole period in the London day its timestamp falls in;
    a period without one was not observed. Periods never straddle two days: London
    days start on whole UTC hours, and the range starts on one."""
    minutes = query_range.period // 60
    observed = dict.fromkeys(query_range.days, 0)
    healthy = dict.fromkeys(query_range.days, 0)
    for stamp, value in points:
        day = stamp.astimezone(LONDON).date()
        observed[day] += minutes
        if value == 1:
            healthy[day] += minutes
    return [UptimeDay(d, observed[d], healthy[d], query_range.period) for d in query_range.days]


def _call(client, request: dict, where: str) -> dict:  # noqa: ANN001
    try:
        return client.get_metric_data(**request)
    except botocore.exceptions.ClientError as exc:
        raise _client_error(exc, where) from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as exc:
        raise UptimeRefused(f"{where}: no usable AWS credentials ({_one_line(str(exc))})") from None
    except botocore.exceptions.CredentialRetrievalError as exc:
        raise UptimeRefused(f"{where}: AWS credentials could not be obtained ({_one_line(str(exc))})") from None
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
        # Timeouts and dropped or refused connections, after botocore's retries.
        raise UptimeUnavailable(f"{where}: CloudWatch could not be reached ({type(exc).__name__})") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise UptimeRefused(f"{where}: {type(exc).__name__}: {_one_line(str(exc))}") from None


def _client_error(exc: botocore.exceptions.ClientError, where: str) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    said = _one_line(str(error.get("Message") or "no message"))
    # The operation: an AssumeRoleWithWebIdentity refusal is about credentials, not CloudWatch.
    operation = getattr(exc, "operation_name", "") or "GetMetricData"
    what = f"{where}: {operation} answered {status or '?'} {code or 'with no error code'}: {said}"
    transient = status == 429 or (isinstance(status, int) and status >= 500)
    if code in _THROTTLING_CODES or code in _TRANSIENT_CODES or transient:
        return UptimeUnavailable(f"{what} (after {_attempts(exc)} attempt(s))")
    return UptimeRefused(what)


def _attempts(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
