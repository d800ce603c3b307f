"""The service's AWS bill per month from Cost Explorer (service-costs.md section 2).

One GetCostAndUsage request for the months wanted (paginated by NextPageToken), monthly,
UnblendedCost, filtered to the service's linked accounts. Credentials come only from
boto3's default chain and the endpoint only from boto3's own configuration
(AWS_ENDPOINT_URL_CE / AWS_ENDPOINT_URL), so nothing here reads a secret.

Retries are botocore's (standard mode, bounded: throttling and 5xx); whatever outlasts
them is CostUnavailable. Access denied, a malformed answer or a currency other than USD
is CostRefused at once, and nothing is returned unless every month was read whole.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import botocore.config
import botocore.exceptions

from perfdata_assets.calendar import add_months, next_month
from perfdata_assets.sources.costs.figures import CostRefused, CostSettingsError, CostUnavailable

REGION = "us-east-1"  # Cost Explorer's only endpoint
METRIC = "UnblendedCost"
UNIT = "USD"
# A well-behaved answer for a year of months is one page; an endless NextPageToken is not.
MAX_PAGES = 50

_ACCOUNT = re.compile(r"[0-9]{12}")
_AMOUNT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,20})?")
_THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
    "LimitExceededException",
})
_TRANSIENT_CODES = frozenset({"ServiceUnavailable", "InternalFailure", "InternalError", "InternalServerException"})


@dataclass(frozen=True)
class AwsMonth:
    """One month of the bill as Cost Explorer gave it: dollars, and whether still an estimate."""

    month: dt.date
    usd: Decimal
    estimated: bool


@dataclass(frozen=True)
class CostExplorerSettings:
    max_attempts: int = 5
    connect_timeout_seconds: float = 5
    read_timeout_seconds: float = 30

    def check(self) -> None:
        if self.max_attempts < 1:
            raise CostSettingsError("service costs source: max_attempts must be at least 1")
        if self.connect_timeout_seconds <= 0 or self.read_timeout_seconds <= 0:
            raise CostSettingsError("service costs source: the timeouts must be positive")


def parse_accounts(raw: str) -> tuple[str, ...]:
    """SERVICE_COST_AWS_ACCOUNTS: comma-separated 12-digit account ids (never echoed back whole)."""
    accounts = tuple(part.strip() for part in raw.split(","))
    for position, account in enumerate(accounts, start=1):
        if not _ACCOUNT.fullmatch(account):
            raise CostSettingsError(
                f"SERVICE_COST_AWS_ACCOUNTS: item {position} of {len(accounts)} is not a 12-digit AWS account id"
            )
    if len(set(accounts)) != len(accounts):
        raise CostSettingsError("SERVICE_COST_AWS_ACCOUNTS: the same account id appears twice")
    return accounts


def fetch_aws_months(
    accounts: tuple[str, ...], months: list[dt.date], settings: CostExplorerSettings = CostExplorerSettings()
) -> dict[dt.date, AwsMonth]:
    """Every month of ``months`` (consecutive first days) from one GetCostAndUsage, all pages."""
    settings.check()
    first, end = months[0], next_month(months[-1])
    if months != [add_months(first, i) for i in range(len(months))]:
        raise ValueError("months must be consecutive")
    where = f"GetCostAndUsage for {first:%Y-%m} to {months[-1]:%Y-%m}"
    client = _client(settings)
    request = {
        "TimePeriod": {"Start": first.isoformat(), "End": end.isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": [METRIC],
        "Filter": {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": list(accounts)}},
    }
    found: dict[dt.date, AwsMonth] = {}
    seen_tokens: set[str] = set()
    token = None
    for _ in range(MAX_PAGES):
        answer = _call(client, {**request, **({"NextPageToken": token} if token else {})}, where)
        results = answer.get("ResultsByTime")
        if not isinstance(results, list):
            raise CostRefused(f"{where}: malformed answer: no ResultsByTime list")
        for result in results:
            item = _month_result(result, first, end, where)
            if item.month in found:
                raise CostRefused(f"{where}: malformed answer: {item.month:%Y-%m} appears twice")
            found[item.month] = item
        token = answer.get("NextPageToken")
        if not token:
            break
        if not isinstance(token, str) or token in seen_tokens:
            raise CostRefused(f"{where}: malformed answer: NextPageToken repeats")
        seen_tokens.add(token)
    else:
        raise CostRefused(f"{where}: malformed answer: still paginating after {MAX_PAGES} pages")
    missing = [m for m in months if m not in found]
    if missing:
        raise CostRefused(
            f"{where}: malformed answer: no result for {', '.join(f'{m:%Y-%m}' for m in missing[:6])}"
        )
    return found


def _month_result(result: object, first: dt.date, end: dt.date, where: str) -> AwsMonth:
    if not isinstance(result, dict):
        raise CostRefused(f"{where}: malformed answer: a result that is not an object")
    period = result.get("TimePeriod") or {}
    try:
        start = dt.date.fromisoformat(str(period.get("Start")))
        stop = dt.date.fromisoformat(str(period.get("End")))
    except ValueError:
        raise CostRefused(f"{where}: malformed answer: TimePeriod {str(period)[:80]} is not two dates") from None
    if start.day != 1 or stop != next_month(start) or not first <= start < end:
        raise CostRefused(f"{where}: malformed answer: TimePeriod {start} to {stop} is not one month of the request")
    metric = (result.get("Total") or {}).get(METRIC)
    if not isinstance(metric, dict):
        raise CostRefused(f"{where}: malformed answer: {start:%Y-%m} has no {METRIC} total")
    unit, raw = metric.get("Unit"), metric.get("Amount")
    if unit != UNIT:
        raise CostRefused(f"{where}: {start:%Y-%m} is in {str(unit)[:10]!r}, not USD: perfdata converts dollars only")
    if not isinstance(raw, str) or not _AMOUNT.fullmatch(raw):
        raise CostRefused(f"{where}: malformed answer: {start:%Y-%m} amount {str(raw)[:40]!r} is not a number")
    try:
        usd = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise CostRefused(f"{where}: malformed answer: {start:%Y-%m} amount is not a number") from None
    if usd < 0:
        raise CostRefused(
            f"{where}: {start:%Y-%m} is {raw} USD, negative (credits beyond usage): put that month's AWS cost in "
            "the finance CSV and leave the account out of SERVICE_COST_AWS_ACCOUNTS"
        )
    estimated = result.get("Estimated")
    if not isinstance(estimated, bool):
        raise CostRefused(f"{where}: malformed answer: {start:%Y-%m} has no Estimated true/false")
    return AwsMonth(start, usd, estimated)


def _client(settings: CostExplorerSettings):  # noqa: ANN202 (boto3 clients are generated classes)
    import boto3  # here, not at the top: loading the definitions (every run) does not need it

    config = botocore.config.Config(
        # total_max_attempts counts the first attempt too; standard mode retries throttling and 5xx.
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )
    try:
        # A fresh session per fetch, so the environment as it is now decides the credentials.
        return boto3.session.Session().client("ce", region_name=REGION, config=config)
    except botocore.exceptions.BotoCoreError as exc:
        raise CostRefused(f"cannot set up the Cost Explorer client: {_one_line(str(exc))}") from None


def _call(client, request: dict, where: str) -> dict:  # noqa: ANN001
    try:
        return client.get_cost_and_usage(**request)
    except botocore.exceptions.ClientError as exc:
        raise _client_error(exc, where) from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as exc:
        raise CostRefused(f"{where}: no usable AWS credentials ({_one_line(str(exc))})") from None
    except botocore.exceptions.CredentialRetrievalError as exc:
        raise CostRefused(f"{where}: AWS credentials could not be obtained ({_one_line(str(exc))})") from None
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
        raise CostUnavailable(f"{where}: Cost Explorer could not be reached ({type(exc).__name__})") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise CostRefused(f"{where}: {type(exc).__name__}: {_one_line(str(exc))}") from None


def _client_error(exc: botocore.exceptions.ClientError, where: str) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    said = _one_line(_without_accounts(str(error.get("Message") or "no message")))
    operation = getattr(exc, "operation_name", "") or "GetCostAndUsage"
    what = f"{where}: {operation} answered {status or '?'} {code or 'with no error code'}: {said}"
    if code in _THROTTLING_CODES or code in _TRANSIENT_CODES or status == 429 or (isinstance(status, int) and status >= 500):
        attempts = int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
        return CostUnavailable(f"{what} (after {attempts} attempt(s))")
    return CostRefused(what)


def _without_accounts(text: str) -> str:
    # Account ids are kept out of logs and metadata (kpis.md, "Writing rules").
    return re.sub(r"\b[0-9]{12}\b", "<account>", text)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
