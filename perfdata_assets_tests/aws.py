"""Real AWS-speaking servers on loopback for tests: moto in server mode, a fault-injecting
reverse proxy in front of it, and the environment that points boto3's default chain at them.

Nothing here mocks boto3: every call goes over HTTP to 127.0.0.1, through botocore's
own signing, retries, credential chain and parsers.

    from perfdata_assets_tests.aws import FaultProxy, aws_env  # moto_server: a fixture for every test

    def test_something(moto_server, monkeypatch):
        with FaultProxy(moto_server.url) as proxy:
            aws_env(monkeypatch, proxy.url, "cloudwatch")
            proxy.fail_next(2, 503)
            ...
            assert proxy.request_count == 3
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import threading
import time
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from perfdata_assets.devtools.loopback import free_port as free_port  # re-exported: test_cloudwatch.py uses it
from perfdata_assets.devtools.loopback import wait_for_port as _wait_for_port

DUMMY_ACCESS_KEY = "AKIAPERFDATATESTKEY0"
DUMMY_SECRET_KEY = "perfdata-test-secret-never-real"
DEFAULT_ROLE_ARN = "arn:aws:iam::123456789012:role/perfdata-uptime"

# Variables through which a developer's or CI's real AWS set-up could leak into a test.
_AWS_VARIABLES = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
    "AWS_STS_REGIONAL_ENDPOINTS",
)


# --- moto -------------------------------------------------------------------------


@dataclass
class MotoEndpoint:
    """moto in server mode on loopback. Its state is moto's, shared by the whole process."""

    url: str

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with _loopback_opener().open(request, timeout=10) as response:
            response.read()


def _loopback_opener() -> urllib.request.OpenerDirector:
    # A proxy from the environment (CI) must not intercept loopback traffic.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


_server_lock = threading.Lock()
_server: MotoEndpoint | None = None


def moto_endpoint() -> MotoEndpoint:
    """One moto server per test process, started on first use (a server per test would
    cost its start-up every time; reset() gives a test a clean slate instead)."""
    global _server
    with _server_lock:
        if _server is None:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
            # Port 0: the server's own socket gets the port, so no other process can take it between
            # choosing and binding (a free_port() race would fail the bind, and start() would then wait
            # forever for a server that never comes up). start() returns once it is listening.
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            port = server.get_host_and_port()[1]
            _wait_for_port(port)
            atexit.register(server.stop)
            _server = MotoEndpoint(f"http://127.0.0.1:{port}")
        return _server


@pytest.fixture
def moto_server() -> MotoEndpoint:
    """moto on 127.0.0.1, reset before and after the test."""
    endpoint = moto_endpoint()
    endpoint.reset()
    yield endpoint
    endpoint.reset()


# --- the environment ----------------------------------------------------------------


def clear_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_dir: Path | None = None) -> None:
    """No real credentials, profiles, config files or instance metadata can reach boto3."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(name, raising=False)
    missing = str((tmp_dir or Path("/nonexistent")) / "perfdata-no-aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", missing)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
    # Without this, a test with no credentials waits on 169.254.169.254 timing out.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def endpoint_variable(service: str) -> str:
    """'cloudwatch' -> AWS_ENDPOINT_URL_CLOUDWATCH (boto3's service-specific endpoint variable)."""
    if service.startswith("AWS_ENDPOINT_URL_"):
        return service
    return "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_").replace(" ", "_")


def aws_env(monkeypatch: pytest.MonkeyPatch, endpoint_url: str, *services: str, static_keys: bool = True) -> None:
    """Dummy static credentials and AWS_ENDPOINT_URL_<SERVICE>=endpoint_url for each service
    ('cloudwatch', 'sts', 's3' or the variable's full name), nothing else from the real
    environment."""
    clear_aws_env(monkeypatch)
    if static_keys:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    for service in services:
        monkeypatch.setenv(endpoint_variable(service), endpoint_url)


def web_identity_env(
    monkeypatch: pytest.MonkeyPatch,
    token_dir: Path,
    sts_endpoint_url: str,
    role_arn: str = DEFAULT_ROLE_ARN,
    session_name: str = "perfdata-test",
) -> Path:
    """As on Kubernetes (IRSA): a web identity token file and a role, no static keys, so
    boto3's default chain calls AssumeRoleWithWebIdentity on sts_endpoint_url. Returns
    the token file. Call after aws_env (it removes the static keys aws_env set)."""
    token = token_dir / "web-identity-token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.perfdata-test-token.c2lnbmF0dXJl")  # moto does not verify it
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", role_arn)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", session_name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_endpoint_url)
    return token


# --- faults -----------------------------------------------------------------------

# (status, error code, message) presets for fail_next.
THROTTLING = (400, "Throttling", "Rate exceeded")
TOO_MANY_REQUESTS = (429, "Throttling", "Rate exceeded")
INTERNAL_ERROR = (500, "InternalFailure", "The request processing has failed because of an unknown error.")
SERVICE_UNAVAILABLE = (503, "ServiceUnavailable", "Service is unavailable, try again later.")
ACCESS_DENIED = (
    403, "AccessDenied",
    "User: arn:aws:sts::123456789012:assumed-role/perfdata/test is not authorized to perform: "
    "cloudwatch:GetMetricData because no identity-based policy allows the cloudwatch:GetMetricData action",
)
_PRESETS = {400: THROTTLING, 429: TOO_MANY_REQUESTS, 500: INTERNAL_ERROR, 503: SERVICE_UNAVAILABLE,
            403: ACCESS_DENIED}
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "content-length"}


@dataclass(frozen=True)
class Fault:
    status: int
    code: str
    message: str
    delay_seconds: float = 0.0  # > 0: stall this long, then forward (a read timeout)


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    target: str  # X-Amz-Target, or the query protocol's Action, or ''
    answered: int  # the status the client got


def aws_error_body(request_content_type: str, code: str, message: str) -> tuple[str, bytes, dict[str, str]]:
    """An error as the service's protocol writes it: JSON for the JSON protocols
    (CloudWatch, with the query-compatible header), XML otherwise (query, REST-XML)."""
    request_id = str(uuid.uuid4())
    if "json" in request_content_type:
        sender = "Receiver" if code in ("InternalFailure", "ServiceUnavailable") else "Sender"
        body = json.dumps({"__type": f"com.amazonaws.perfdatatest#{code}", "message": message}).encode()
        return "application/x-amz-json-1.0", body, {"x-amzn-query-error": f"{code};{sender}",
                                                     "x-amzn-RequestId": request_id}
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return "text/xml", body, {"x-amzn-RequestId": request_id}


class FaultProxy:
    """A threaded reverse proxy on 127.0.0.1 in front of `upstream` (moto), which answers
    the next requests with queued faults before forwarding normally, and counts requests.

    Subclasses may override forward() to rewrite what the upstream answers.
    """

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self.requests: list[SeenRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --
    def fail_next(self, count: int, status: int = 503, code: str | None = None, message: str | None = None) -> None:
        """Answer the next `count` requests with `status` and an AWS error body (code and
        message default to the preset for the status: 400/429 Throttling, 500, 503, 403)."""
        preset = _PRESETS.get(status, (status, "ServiceUnavailable", "injected fault"))
        with self._lock:
            self._faults.extend(Fault(status, code or preset[1], message or preset[2]) for _ in range(count))

    def throttle_next(self, count: int, status: int = 400) -> None:
        self.fail_next(count, status, "Throttling", "Rate exceeded")

    def deny_next(self, count: int = 1) -> None:
        self.fail_next(count, 403)

    def stall_next(self, count: int, seconds: float) -> None:
        """Wait `seconds` before forwarding each of the next `count` requests."""
        with self._lock:
            self._faults.extend(Fault(0, "", "", delay_seconds=seconds) for _ in range(count))

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def targets(self) -> list[str]:
        with self._lock:
            return [r.target for r in self.requests]

    @property
    def url(self) -> str:
        assert self._server is not None, "the proxy is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- life cycle --
    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # noqa: ANN002 (quiet test output)
                pass

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc_info) -> None:  # noqa: ANN002
        self.stop()

    # -- the work --
    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Send the request on to the upstream as received; its answer (status, headers, body)."""
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            answer = response.read()
            return response.status, {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}, answer
        finally:
            conn.close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k: v for k, v in handler.headers.items()}
        target = headers.get("X-Amz-Target") or _query_action(body)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay_seconds:
            time.sleep(fault.delay_seconds)
            fault = None
        if fault is not None:
            content_type, answer, extra = aws_error_body(headers.get("Content-Type", ""), fault.code, fault.message)
            status, out_headers = fault.status, {"Content-Type": content_type, **extra}
        else:
            try:
                status, out_headers, answer = self.forward(handler.command, handler.path, headers, body)
            except OSError:
                status, out_headers, answer = 502, {"Content-Type": "text/plain"}, b"upstream unreachable"
        with self._lock:
            self.requests.append(SeenRequest(handler.command, handler.path, target, status))
        try:
            handler.send_response(status)
            for name, value in out_headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(answer)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(answer)
        except OSError:
            pass  # the client gave up (a read timeout): nothing to answer


def _query_action(body: bytes) -> str:
    """Action=... of a query-protocol request (STS), for counting by operation."""
    if not body.startswith(b"Action=") and b"&Action=" not in body:
        return ""
    for pair in body.split(b"&"):
        if pair.startswith(b"Action="):
            return pair[len(b"Action="):].decode("ascii", "replace")
    return ""
