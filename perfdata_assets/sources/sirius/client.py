"""The Dagster resource that fetches channel counts from the Sirius data API.

Behaviour on each status follows the error table of
docs/contract/sirius.md: refusals (400/403/404) fail at once because
retrying cannot fix them; throttling and transient failures are retried a bounded
number of times, so a run fails in minutes rather than hanging, and a failed fetch
raises before anything is written.
"""

import datetime as dt
import email.utils
import json
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import botocore.session
import dagster as dg
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from pydantic import Field, PrivateAttr
from requests.auth import AuthBase

from perfdata_assets.config import ConfigError, check_setting
from perfdata_assets.sources.sirius.counts import (
    CHANNEL_COUNTS_PATH,
    CONTRACT_MAX_DAYS,
    ChannelCounts,
    SiriusCredentialsError,
    SiriusCredentialsMissing,
    SiriusCredentialsRefused,
    SiriusEndpointMissing,
    SiriusError,
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


SIGNING_SERVICE = "execute-api"

_NO_CREDENTIALS = (
    "cannot sign requests to Sirius: no AWS credentials found; provide them with AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary ones), AWS_PROFILE naming a profile in the "
    "shared AWS config or credentials file, a web-identity role (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE), "
    "or container or instance credentials (ECS task role, EC2 instance profile)"
)
_CANNOT_GET = "cannot get AWS credentials to sign requests to Sirius"
# Not signed: CloudFront, in front of an edge-optimised API Gateway, and proxies may
# rewrite Accept-Encoding, and a signed header that changes on the way is a 403.
# botocore already leaves out User-Agent and the hop-by-hop headers (Connection...).
# The rest are set by signing itself.
_NOT_SIGNED = frozenset({"accept-encoding", "host", "authorization", "x-amz-date", "x-amz-security-token"})
_SET_BY_SIGNING = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _one_line(text: object, limit: int = 300) -> str:
    joined = " ".join(str(text or "").split())
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


def _credential_chain_error(exc: Exception) -> SiriusError:
    """A one-line SiriusError for a failure of the AWS credential chain. Built from the
    error's fields, never from the credentials themselves."""
    if isinstance(exc, PartialCredentialsError):
        provider, missing = exc.kwargs.get("provider"), exc.kwargs.get("cred_var")
        if provider == "env":
            return SiriusCredentialsMissing(
                f"cannot sign requests to Sirius: AWS_ACCESS_KEY_ID is set but {missing} is not"
            )
        return SiriusCredentialsMissing(f"cannot sign requests to Sirius: the AWS credentials from {provider} lack {missing}")
    if isinstance(exc, ProfileNotFound):
        return SiriusCredentialsMissing(
            f"cannot sign requests to Sirius: the AWS profile {exc.kwargs.get('profile')!r} (AWS_PROFILE) is in "
            "neither the AWS config file nor the shared credentials file"
        )
    if isinstance(exc, ClientError):
        # e.g. STS refusing AssumeRoleWithWebIdentity; its messages name roles, not secrets.
        error = exc.response.get("Error", {})
        return SiriusCredentialsError(
            f"{_CANNOT_GET}: AWS refused {exc.operation_name} ({error.get('Code', 'no error code')}: "
            f"{_one_line(error.get('Message'), 200) or 'no message'})"
        )
    if isinstance(exc, (BotocoreConnectionError, HTTPClientError)):
        # STS or the container endpoint unreachable (after botocore's own retries): may
        # be transient, so it counts as unavailable and the step's retries apply.
        return SiriusUnavailable(f"{_CANNOT_GET}: {_one_line(exc)}")
    if isinstance(exc, OSError):  # e.g. the web-identity token file, read by botocore as is
        return SiriusCredentialsError(
            f"{_CANNOT_GET}: cannot read {exc.filename or 'a credentials file'} ({exc.strerror or type(exc).__name__})"
        )
    if isinstance(exc, CredentialRetrievalError) and exc.kwargs.get("provider") == "custom-process":
        # A credential_process's error output is arbitrary text, possibly a secret.
        return SiriusCredentialsError(f"{_CANNOT_GET}: the credential_process of the AWS profile failed")
    return SiriusCredentialsError(f"{_CANNOT_GET}: {_one_line(exc)}")


def _frozen(credentials: Credentials) -> ReadOnlyCredentials:
    try:
        frozen = credentials.get_frozen_credentials()
    except (BotoCoreError, ClientError, OSError) as exc:
        raise _credential_chain_error(exc) from None
    if not (frozen.access_key or "").strip() or not (frozen.secret_key or "").strip():
        raise SiriusCredentialsMissing(
            f"cannot sign requests to Sirius: the AWS credentials from {credentials.method} "
            "have a blank access key id or secret access key"
        )
    return frozen


def default_chain_credentials() -> Credentials:
    """Credentials from boto3's default chain: environment variables, the shared config
    and credentials files (AWS_PROFILE), a web-identity role (Kubernetes), then
    container (ECS) and instance (EC2) credentials.

    They are fetched here, before any request, so that a missing or unusable source
    fails the fetch with nothing sent. The instance metadata service is asked last, with
    botocore's bounded defaults (one attempt, 1 s timeout; AWS_METADATA_SERVICE_TIMEOUT
    and AWS_METADATA_SERVICE_NUM_ATTEMPTS tune them), so a machine with no credentials
    at all fails within about 2 s rather than hanging.
    """
    try:
        # botocore's session: the chain boto3.Session().get_credentials() hands to, without
        # importing boto3 (its resources and S3 transfer manager) into every nightly run.
        credentials = botocore.session.Session().get_credentials()
    except (BotoCoreError, ClientError, OSError) as exc:
        raise _credential_chain_error(exc) from None
    if credentials is None:
        raise SiriusCredentialsMissing(_NO_CREDENTIALS)
    _frozen(credentials)  # deferred sources (web identity) call STS now, not mid-fetch
    return credentials


def _host_header(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _body_bytes(body: object) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes):
        return body
    raise TypeError(f"cannot sign a request body of type {type(body).__name__}; only in-memory bodies are signed")


class SiriusSigV4Auth(AuthBase):
    """Signs each prepared request, i.e. exactly the method, URL, body and headers
    requests will send, with botocore's SigV4 for execute-api. Passing an explicit auth
    also stops requests from applying ~/.netrc over our header."""

    def __init__(self, credentials: Credentials, region: str):
        self._credentials = credentials
        self._region = region

    @property
    def credential_source(self) -> str:
        """Where the chain found the credentials: 'env', 'shared-credentials-file',
        'assume-role-with-web-identity', 'container-role', 'iam-role'..."""
        return self._credentials.method or "an unknown source"

    def __repr__(self) -> str:  # never let a secret reach a log line or traceback
        return f"SiriusSigV4Auth(credentials from {self.credential_source}, region={self._region})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # Frozen per request: refreshable credentials (an assumed role) renew before
        # they expire, and key, secret and token are read as one consistent set.
        frozen = _frozen(self._credentials)
        url = request.url or ""
        host = _host_header(url)
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _NOT_SIGNED}
        # Host is signed and sent explicitly, so what goes on the wire is what was signed.
        headers["Host"] = host
        signed = AWSRequest(method=request.method or "GET", url=url, headers=headers, data=_body_bytes(request.body))
        SigV4Auth(frozen, SIGNING_SERVICE, self._region).add_auth(signed)
        request.headers["Host"] = host
        for name in _SET_BY_SIGNING:
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
            else:
                request.headers.pop(name, None)
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

    AWS credentials come from boto3's default chain at each fetch (environment, shared
    config and credentials files, web-identity role, container or instance role), never
    from config, so they do not show in the Dagster UI or run config.
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
        auth = SiriusSigV4Auth(default_chain_credentials(), self.region)
        with requests.Session() as session:
            chunks = [
                self._fetch_chunk(session, auth, chunk_start, chunk_end)
                for chunk_start, chunk_end in date_chunks(start, end, self.max_days_per_request)
            ]
        return merge_channel_counts(chunks)

    def _check_settings(self) -> None:
        check_setting("SIRIUS_BASE_URL", self.base_url)
        check_setting("SIRIUS_REGION", self.region)
        problems = []
        if not 1 <= self.max_days_per_request <= CONTRACT_MAX_DAYS:
            problems.append(f"max_days_per_request must be between 1 and {CONTRACT_MAX_DAYS}")
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.connect_timeout_seconds <= 0 or self.read_timeout_seconds <= 0:
            problems.append("connect_timeout_seconds and read_timeout_seconds must be positive")
        if self.backoff_seconds < 0 or self.max_retry_after_seconds < 0:
            problems.append("backoff_seconds and max_retry_after_seconds must not be negative")
        if problems:
            raise ConfigError("SiriusClient settings: " + "; ".join(problems))

    def _url(self, start: dt.date, end: dt.date) -> str:
        return f"{self.base_url.rstrip('/')}{CHANNEL_COUNTS_PATH}?from={start.isoformat()}&to={end.isoformat()}"

    def _backoff(self, attempt: int) -> float:
        return min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))

    def _fetch_chunk(
        self, session: requests.Session, auth: SiriusSigV4Auth, start: dt.date, end: dt.date
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
                    raise self._refusal(status, response, label, auth)

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

    def _refusal(self, status: int, response: requests.Response, label: str, auth: SiriusSigV4Auth) -> Exception:
        if status == 400:
            return SiriusRequestRefused(
                f"Sirius refused the request for {label} (HTTP 400): {_opg_error_detail(response)}"
            )
        if status == 403:
            # The body is not echoed: API Gateway's signature-mismatch message quotes the
            # canonical request, which includes the session token.
            if auth.credential_source == "env":
                check = "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN"
            else:
                check = f"the AWS credentials (from {auth.credential_source}), whether they may call the API,"
            return SiriusCredentialsRefused(
                f"Sirius refused the AWS credentials (HTTP 403) for {label}: check {check} and the region ({self.region})"
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
