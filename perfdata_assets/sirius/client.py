"""The Dagster resource that fetches channel counts from the Sirius data API.

Behaviour on each status follows the error table of
shared/spec/sirius-channel-counts.md: refusals (400/403/404) fail at once because
retrying cannot fix them; throttling and transient failures are retried a bounded
number of times, so a run fails in minutes rather than hanging, and a failed fetch
raises before anything is written.
"""

import datetime as dt
import email.utils
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import requests
from pydantic import Field, PrivateAttr
from requests.auth import AuthBase

from perfdata_assets.sirius import sigv4
from perfdata_assets.sirius.counts import (
    CHANNEL_COUNTS_PATH,
    CONTRACT_MAX_DAYS,
    ChannelCounts,
    SiriusCredentialsMissing,
    SiriusCredentialsRefused,
    SiriusEndpointMissing,
    SiriusMalformedResponse,
    SiriusRequestRefused,
    SiriusUnavailable,
    SiriusUnexpectedStatus,
    merge_channel_counts,
    parse_channel_counts_response,
)

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
_DELTA_SECONDS = re.compile(r"\d+(\.\d+)?")


def date_chunks(start: dt.date, end: dt.date, max_days: int) -> list[tuple[dt.date, dt.date]]:
    """Split [start, end] into consecutive inclusive ranges of at most max_days days."""
    chunks = []
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, chunk_start + dt.timedelta(days=max_days - 1))
        chunks.append((chunk_start, chunk_end))
        chunk_start = chunk_end + dt.timedelta(days=1)
    return chunks


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    session_token: str | None

    def __repr__(self) -> str:  # never let a secret reach a log line or traceback
        return f"_Credentials(access_key={self.access_key[:4]}..., secret_key=***)"


def credentials_from_env(environ: dict[str, str] | None = None) -> _Credentials:
    env = os.environ if environ is None else environ
    values = {name: (env.get(name) or "").strip() for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    missing = [name for name, value in values.items() if not value]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise SiriusCredentialsMissing(
            f"cannot sign requests to Sirius: {' and '.join(missing)} {verb} not set "
            "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, plus AWS_SESSION_TOKEN for temporary credentials)"
        )
    return _Credentials(
        access_key=values["AWS_ACCESS_KEY_ID"],
        secret_key=values["AWS_SECRET_ACCESS_KEY"],
        session_token=(env.get("AWS_SESSION_TOKEN") or "").strip() or None,
    )


class _SigV4Auth(AuthBase):
    """Signs the prepared request, i.e. exactly the URL requests will send. Passing an
    explicit auth also stops requests from applying ~/.netrc over our header."""

    def __init__(self, credentials: _Credentials, region: str):
        self._credentials = credentials
        self._region = region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        signed = sigv4.sign_request(
            request.method or "GET",
            request.url or "",
            {},
            body.encode("utf-8") if isinstance(body, str) else body,
            access_key=self._credentials.access_key,
            secret_key=self._credentials.secret_key,
            session_token=self._credentials.session_token,
            region=self._region,
            now=dt.datetime.now(dt.timezone.utc),
        )
        request.headers.update(signed)
        return request


def _opg_error_detail(response: requests.Response) -> str:
    """The `detail` (or `title`) of an OPG error body, shortened to one line."""
    try:
        errors = json.loads(response.content).get("errors")
    except (ValueError, AttributeError):
        errors = None
    texts = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            text = error.get("detail") or error.get("title")
            if isinstance(text, str) and text.strip():
                texts.append(" ".join(text.split()))
    if not texts:
        return "no detail was given"
    joined = "; ".join(texts)
    return joined if len(joined) <= 300 else joined[:297] + "..."


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds, or an HTTP date); None if absent/unreadable."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


class SiriusClient(dg.ConfigurableResource):
    """Reads daily channel counts from Sirius (GET /v1/lpa-online-tool/channel-counts).

    AWS credentials are read from the environment at each fetch, never stored in
    config, so they do not show in the Dagster UI or run config.
    """

    base_url: str = Field(description="Sirius data API base, e.g. https://api.sirius.example/prod (no trailing /v1)")
    region: str = Field(default="eu-west-1", description="AWS region in the SigV4 credential scope")
    connect_timeout_seconds: float = Field(default=5, description="Time allowed to open a connection")
    read_timeout_seconds: float = Field(default=30, description="Time allowed between bytes of the response")
    max_attempts: int = Field(default=5, description="Attempts per request, including the first, for 429/5xx/timeouts")
    backoff_seconds: float = Field(default=1.0, description="First wait between attempts; doubles each time, capped at 30 s")
    max_retry_after_seconds: float = Field(
        default=60, description="Longest Retry-After honoured; Sirius asking for more fails the fetch"
    )
    max_days_per_request: int = Field(
        default=CONTRACT_MAX_DAYS, description="Days per request; Sirius refuses more than 92"
    )

    # Tests replace this to make backoff instant and to record the waits.
    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)

    def fetch_channel_counts(self, start: dt.date, end: dt.date) -> ChannelCounts:
        """Counts for every day in [start, end] (UK dates, inclusive), fetched in
        requests of at most max_days_per_request days and merged.

        complete_through of the result is described in counts.merged_complete_through.
        Raises a SiriusError subclass; nothing is returned unless every chunk succeeded.
        """
        for name, value in (("start", start), ("end", end)):
            if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                raise TypeError(f"{name} must be a datetime.date, not {type(value).__name__}")
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        self._check_settings()
        auth = _SigV4Auth(credentials_from_env(), self.region)
        with requests.Session() as session:
            chunks = [
                self._fetch_chunk(session, auth, chunk_start, chunk_end)
                for chunk_start, chunk_end in date_chunks(start, end, self.max_days_per_request)
            ]
        return merge_channel_counts(chunks)

    def _check_settings(self) -> None:
        problems = []
        if not self.base_url.startswith(("http://", "https://")):
            problems.append(f"base_url {self.base_url!r} is not an http(s) URL")
        if not 1 <= self.max_days_per_request <= CONTRACT_MAX_DAYS:
            problems.append(f"max_days_per_request must be between 1 and {CONTRACT_MAX_DAYS}")
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.connect_timeout_seconds <= 0 or self.read_timeout_seconds <= 0:
            problems.append("connect_timeout_seconds and read_timeout_seconds must be positive")
        if self.backoff_seconds < 0 or self.max_retry_after_seconds < 0:
            problems.append("backoff_seconds and max_retry_after_seconds must not be negative")
        if problems:
            raise ValueError("SiriusClient settings: " + "; ".join(problems))

    def _url(self, start: dt.date, end: dt.date) -> str:
        return f"{self.base_url.rstrip('/')}{CHANNEL_COUNTS_PATH}?from={start.isoformat()}&to={end.isoformat()}"

    def _backoff(self, attempt: int) -> float:
        return min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))

    def _fetch_chunk(
        self, session: requests.Session, auth: _SigV4Auth, start: dt.date, end: dt.date
    ) -> ChannelCounts:
        label = f"{start}..{end}"
        last_problem = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = session.get(
                    self._url(start, end),
                    auth=auth,
                    headers={"Accept": "application/json"},
                    timeout=(self.connect_timeout_seconds, self.read_timeout_seconds),
                    # A redirect would be re-sent unsigned, or signed for another host.
                    allow_redirects=False,
                )
            except requests.Timeout:
                last_problem = "a timeout"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                last_problem = "a failed or dropped connection"
            else:
                status = response.status_code
                if status == 200:
                    return self._parse(response, start, end, label)
                if status == 429:
                    last_problem = "HTTP 429 (throttled)"
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                elif status in TRANSIENT_STATUSES:
                    last_problem = f"HTTP {status}"
                else:
                    raise self._refusal(status, response, label)

            if attempt == self.max_attempts:
                break
            if retry_after is not None and retry_after > self.max_retry_after_seconds:
                raise SiriusUnavailable(
                    f"Sirius throttled the request for {label} and asked to wait {retry_after:g} s, "
                    f"more than max_retry_after_seconds ({self.max_retry_after_seconds:g} s)"
                )
            wait = retry_after if retry_after is not None else self._backoff(attempt)
            logger.warning(
                "Sirius channel counts %s: %s on attempt %d of %d, retrying in %.2f s",
                label,
                last_problem,
                attempt,
                self.max_attempts,
                wait,
            )
            self._sleep(wait)
        raise SiriusUnavailable(
            f"Sirius channel counts for {label} failed after {self.max_attempts} "
            f"attempt{'s' if self.max_attempts != 1 else ''}; the last was {last_problem}"
        )

    def _refusal(self, status: int, response: requests.Response, label: str) -> Exception:
        if status == 400:
            return SiriusRequestRefused(
                f"Sirius refused the request for {label} (HTTP 400): {_opg_error_detail(response)}"
            )
        if status == 403:
            # The body is not echoed: API Gateway's signature-mismatch message quotes the
            # canonical request, which includes the session token.
            return SiriusCredentialsRefused(
                f"Sirius refused the AWS credentials (HTTP 403) for {label}: check AWS_ACCESS_KEY_ID, "
                f"AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and the region ({self.region})"
            )
        if status == 404:
            return SiriusEndpointMissing(
                f"Sirius answered HTTP 404 for {self.base_url.rstrip('/')}{CHANNEL_COUNTS_PATH}: "
                "the channel-counts endpoint is not deployed there, or base_url is wrong"
            )
        return SiriusUnexpectedStatus(
            f"Sirius answered HTTP {status} for {label}, a status the channel-counts contract does not define"
        )

    def _parse(self, response: requests.Response, start: dt.date, end: dt.date, label: str) -> ChannelCounts:
        try:
            body = json.loads(response.content)
        except ValueError:  # includes UnicodeDecodeError
            raise SiriusMalformedResponse(
                f"malformed Sirius response for {label}: HTTP 200 but the body is not JSON"
            ) from None
        try:
            result = parse_channel_counts_response(body, start, end)
        except SiriusMalformedResponse as exc:
            raise SiriusMalformedResponse(f"malformed Sirius response for {label}: {exc}") from None
        logger.info(
            "Sirius channel counts %s: %d entries, complete through %s",
            label,
            len(result.counts),
            result.complete_through,
        )
        return result
