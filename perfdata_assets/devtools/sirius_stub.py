"""A real HTTP stand-in for the Sirius channel-counts endpoint, with fault switches.

Development and tests need something that speaks the contract of
docs/contract/sirius.md over a real socket, including the ways it can
go wrong (throttling, 5xx, slow or dropped responses, bad bodies, bad signatures),
because the client's retry and refusal logic is only worth what it was tested against.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import click

from perfdata_assets.devtools import sirius_signature as stub_signature
from perfdata_assets.devtools.sirius_synthetic import KNOWN_CHANNELS, synthetic_channel_counts
from perfdata_assets.sources.sirius.counts import (
    CHANNEL_COUNTS_PATH,
    CONTRACT_MAX_DAYS,
    ChannelCount,
    ChannelCountsCsvError,
)
from perfdata_assets.sources.sirius.csv_source import read_channel_counts_csv

__all__ = ["MALFORMED_MODES", "SiriusStub", "StubRequest", "serve_forever", "sirius_stub", "synthetic_channel_counts"]

logger = logging.getLogger(__name__)

HEALTHCHECK_PATH = "/v1/healthcheck"
LONDON = ZoneInfo("Europe/London")
MALFORMED_MODES = (
    "negative-count",
    "fractional-count",
    "string-count",
    "date-outside-range",
    "duplicate-pair",
    "not-json",
)
FAIL_STATUSES = (500, 502, 503, 504)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_OPG_CODES = {
    400: "OPGDATA-API-INVALIDREQUEST",
    403: "OPGDATA-API-FORBIDDEN",
    404: "OPGDATA-API-NOTFOUND",
    405: "OPGDATA-API-METHODNOTALLOWED",
    429: "OPGDATA-API-THROTTLED",
}


def london_today() -> dt.date:
    return dt.datetime.now(LONDON).date()


def opg_error_body(status: int, detail: str) -> dict:
    code = _OPG_CODES.get(status, "OPGDATA-API-SERVERERROR" if status >= 500 else "OPGDATA-API-ERROR")
    title = "Invalid Request" if status == 400 else http.HTTPStatus(status).phrase
    return {"errors": [{"code": code, "title": title, "detail": detail}]}


@dataclass(frozen=True)
class StubRequest:
    """One request as the stub saw it; status None means the connection was dropped."""

    method: str
    target: str
    status: int | None


class _Reply(Exception):
    """Ends request handling with this status and OPG error detail."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: SiriusStub


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SiriusStub/1.0"
    # HTTP/1.0 closes the connection after every response, so each client attempt is a
    # fresh connection and the request count equals the attempt count.
    protocol_version = "HTTP/1.0"
    timeout = 10  # a client that stalls mid-request must not pin a thread forever

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.server.stub._handle(self)

    def _method_not_allowed(self) -> None:
        self.server.stub._handle(self, method_allowed=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = _method_not_allowed  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("%s - %s", self.address_string(), format % args)


def _parse_date_param(params: dict[str, list[str]], name: str) -> dt.date:
    values = [v for v in params.get(name, []) if v != ""]
    if not values:
        raise _Reply(400, f"query parameter '{name}' is required (YYYY-MM-DD)")
    if len(values) > 1:
        raise _Reply(400, f"query parameter '{name}' is given more than once")
    value = values[0]
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _Reply(400, f"query parameter '{name}' must be a date in YYYY-MM-DD form, got '{value[:20]}'") from None


class SiriusStub:
    """The stub server. Use as a context manager to run it on an ephemeral port in a
    background thread (tests, demo), or call serve_forever() to run it in the
    foreground (CLI).

    Faults apply to channel-counts requests only (the healthcheck stays healthy), and
    each `*_first` switch covers the first N channel-counts requests counted from 1,
    checked in this order: drop, delay, signature, status, throttle, fail.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        csv_path: str | os.PathLike[str] | None = None,
        seed: int = 0,
        complete_through: dt.date | None = None,
        extra_channel: str | None = None,
        fail_first: int = 0,
        fail_status: int = 503,
        throttle_first: int = 0,
        retry_after: int | None = 1,
        delay_seconds: float = 0.0,
        delay_first: int | None = None,
        drop_first: int = 0,
        malformed: str | None = None,
        status: int | None = None,
        require_signature: bool = False,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "eu-west-1",
        today: dt.date | None = None,
    ):
        """
        complete_through: the completeThrough to report (default: yesterday in London).
        retry_after: seconds sent in Retry-After with 429s; None sends no header.
        delay_first: delay only the first N requests (default None: every request).
        status: answer every channel-counts request with this status (300-599).
        today: the stub's idea of today (default: today in London); no counts are
            returned for later days.
        """
        if fail_status not in FAIL_STATUSES:
            raise ValueError(f"fail_status must be one of {FAIL_STATUSES}, not {fail_status}")
        if malformed is not None and malformed not in MALFORMED_MODES:
            raise ValueError(f"malformed must be one of {', '.join(MALFORMED_MODES)}, not {malformed!r}")
        if status is not None and not 300 <= status <= 599:
            raise ValueError(f"status must be between 300 and 599, not {status}")
        if min(fail_first, throttle_first, drop_first, delay_first or 0) < 0 or delay_seconds < 0:
            raise ValueError("fault counts and delay_seconds must not be negative")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must not be negative")
        if require_signature and not (access_key and secret_key):
            raise ValueError("require_signature needs access_key and secret_key")
        if csv_path is not None and extra_channel is not None:
            raise ValueError("extra_channel applies to synthetic data only, not to a CSV file")
        if extra_channel is not None and (not extra_channel.strip() or extra_channel in KNOWN_CHANNELS):
            raise ValueError(f"extra_channel must be a new, non-empty channel name, not {extra_channel!r}")

        self.host = host
        self.port = port
        self.seed = seed
        self.complete_through = complete_through
        self.extra_channel = extra_channel
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.throttle_first = throttle_first
        self.retry_after = retry_after
        self.delay_seconds = delay_seconds
        self.delay_first = delay_first
        self.drop_first = drop_first
        self.malformed = malformed
        self.status = status
        self.require_signature = require_signature
        self.region = region
        self.today = today
        self._access_key = access_key
        self._secret_key = secret_key
        self._csv_counts: tuple[ChannelCount, ...] | None = None
        self.csv_path = csv_path
        if csv_path is not None:
            self._csv_counts = read_channel_counts_csv(csv_path).counts

        self._lock = threading.Lock()
        self._request_count = 0
        self._requests: list[StubRequest] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def _bind(self) -> _Server:
        server = _Server((self.host, self.port), _Handler)
        server.stub = self
        self._server = server
        self.port = server.server_address[1]
        return server

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SiriusStub:
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sirius-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SiriusStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C)."""
        server = self._bind()
        if ready is not None:
            ready(self.base_url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._stopping.set()
            server.server_close()
            self._server = None

    # -- observation -----------------------------------------------------------

    @property
    def request_count(self) -> int:
        """Channel-counts requests received so far (including dropped and refused ones)."""
        with self._lock:
            return self._request_count

    @property
    def requests(self) -> list[StubRequest]:
        """Every request received (any path), in order of completion."""
        with self._lock:
            return list(self._requests)

    def _record(self, handler: BaseHTTPRequestHandler, status: int | None) -> None:
        with self._lock:
            self._requests.append(StubRequest(handler.command, handler.path, status))

    # -- handling --------------------------------------------------------------

    def _handle(self, handler: _Handler, method_allowed: bool = True) -> None:
        path = urlsplit(handler.path).path
        try:
            if path == CHANNEL_COUNTS_PATH:
                with self._lock:
                    self._request_count += 1
                    number = self._request_count
                if number <= self.drop_first:
                    # No status line at all: the client sees the connection close.
                    handler.close_connection = True
                    self._record(handler, None)
                    return
                if self.delay_seconds and (self.delay_first is None or number <= self.delay_first):
                    self._stopping.wait(self.delay_seconds)
            if not method_allowed:
                raise _Reply(405, f"{handler.command} is not supported; use GET", {"Allow": "GET"})
            if path == HEALTHCHECK_PATH:
                self._check_signature(handler)
                self._send(handler, 200, {"ok": True})
            elif path == CHANNEL_COUNTS_PATH:
                self._check_signature(handler)
                self._channel_counts(handler, urlsplit(handler.path).query, number)
            else:
                raise _Reply(404, f"no resource at {path[:100]}")
        except _Reply as reply:
            self._send(handler, reply.status, opg_error_body(reply.status, reply.detail), reply.headers)

    def _check_signature(self, handler: _Handler) -> None:
        if not self.require_signature:
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        try:
            stub_signature.verify_request(
                handler.command,
                f"http://{handler.headers.get('Host', '')}{handler.path}",
                dict(handler.headers.items()),
                body,
                access_key=self._access_key or "",
                secret_key=self._secret_key or "",
                region=self.region,
                now=dt.datetime.now(dt.timezone.utc),
            )
        except stub_signature.SignatureInvalid as exc:
            raise _Reply(403, f"request signature refused: {exc}") from None

    def _channel_counts(self, handler: _Handler, query: str, number: int) -> None:
        if self.status is not None:
            extra = {}
            if self.status == 429 and self.retry_after is not None:
                extra["Retry-After"] = str(self.retry_after)
            if 300 <= self.status < 400:
                # Point back at itself: a client that follows redirects loops.
                extra["Location"] = handler.path
            raise _Reply(self.status, f"the stub is set to answer {self.status}", extra)
        if number <= self.throttle_first:
            extra = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
            raise _Reply(429, "rate limit exceeded, retry later", extra)
        if number <= self.fail_first:
            raise _Reply(self.fail_status, f"simulated failure {number} of {self.fail_first}")

        params = parse_qs(query, keep_blank_values=True)
        start = _parse_date_param(params, "from")
        end = _parse_date_param(params, "to")
        if start > end:
            raise _Reply(400, f"'from' ({start}) is after 'to' ({end})")
        days = (end - start).days + 1
        if days > CONTRACT_MAX_DAYS:
            raise _Reply(
                400, f"the range {start}..{end} is {days} days long; at most {CONTRACT_MAX_DAYS} days per request"
            )

        if self.malformed == "not-json":
            self._send_raw(handler, 200, b"<html><body>Gateway says hello</body></html>", "text/html")
            return
        body = self._body(start, end)
        if self.malformed:
            _corrupt(body, self.malformed, end)
        self._send(handler, 200, body)

    def _body(self, start: dt.date, end: dt.date) -> dict:
        today = self.today or london_today()
        complete_through = self.complete_through or today - dt.timedelta(days=1)
        # Sirius cannot know about receipts that have not happened yet.
        last = min(end, today)
        if self._csv_counts is not None:
            counts = [c for c in self._csv_counts if start <= c.day <= last]
        elif start <= last:
            counts = synthetic_channel_counts(start, last, seed=self.seed, extra_channel=self.extra_channel)
        else:
            counts = []
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "completeThrough": complete_through.isoformat(),
            "counts": [{"date": c.day.isoformat(), "channel": c.channel, "count": c.count} for c in counts],
        }

    # -- writing ---------------------------------------------------------------

    def _send(self, handler: _Handler, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send_raw(handler, status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _send_raw(
        self,
        handler: _Handler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._record(handler, status)
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its read timeout fired during a delay).
            logger.debug("client went away before the %s response was written", status)


def _corrupt(body: dict, mode: str, end: dt.date) -> None:
    """Break a valid body in one of the ways the client must refuse."""
    counts = body["counts"]
    if not counts:  # every mode needs an entry to break
        counts.append({"date": body["from"], "channel": "online", "count": 1})
    first = counts[0]
    if mode == "negative-count":
        first["count"] = -max(1, first["count"])
    elif mode == "fractional-count":
        first["count"] = first["count"] + 0.5
    elif mode == "string-count":
        first["count"] = str(first["count"])
    elif mode == "date-outside-range":
        counts.append({"date": (end + dt.timedelta(days=1)).isoformat(), "channel": "online", "count": 1})
    elif mode == "duplicate-pair":
        counts.append(dict(first))


def serve_forever(host: str, port: int, *, ready: Callable[[str], None] | None = None, **options: object) -> None:
    """Run a stub in the foreground; `ready` is called with the base URL once listening."""
    SiriusStub(host=host, port=port, **options).serve_forever(ready)  # type: ignore[arg-type]


@contextlib.contextmanager
def signing_stub_for_this_process(credentials: dict[str, str], **options: object) -> Iterator[SiriusStub]:
    """A stub that checks SigV4 signatures, with this process's environment pointed at it as a
    deployment's is at Sirius: SIRIUS_BASE_URL and the AWS credentials set, no CSV fallback.

    The credentials go in the environment variables, which boto3's default chain reads
    first, so the client signs with them whatever profile or role the machine also has.
    """
    with SiriusStub(
        require_signature=True,
        access_key=credentials["AWS_ACCESS_KEY_ID"],
        secret_key=credentials["AWS_SECRET_ACCESS_KEY"],
        **options,  # type: ignore[arg-type]
    ) as stub:
        # A session token (or its expiry) left from a developer's real AWS session would
        # be sent along with the stub's keys: these belong to the stub's credentials only.
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION"):
            if name not in credentials:
                os.environ.pop(name, None)
        os.environ.update(credentials)
        os.environ["SIRIUS_BASE_URL"] = stub.base_url
        os.environ.pop("SIRIUS_CHANNEL_COUNTS_CSV", None)
        yield stub


def _describe(stub: SiriusStub) -> str:
    source = f"counts from {stub.csv_path}" if stub.csv_path else f"synthetic counts, seed {stub.seed}"
    if stub.extra_channel:
        source += f", extra channel {stub.extra_channel!r}"
    faults = []
    if stub.drop_first:
        faults.append(f"drop first {stub.drop_first}")
    if stub.delay_seconds:
        scope = f"first {stub.delay_first}" if stub.delay_first is not None else "every request"
        faults.append(f"delay {stub.delay_seconds:g} s ({scope})")
    if stub.status:
        faults.append(f"always {stub.status}")
    if stub.throttle_first:
        faults.append(f"throttle first {stub.throttle_first}")
    if stub.fail_first:
        faults.append(f"fail first {stub.fail_first} with {stub.fail_status}")
    if stub.malformed:
        faults.append(f"malformed: {stub.malformed}")
    if stub.require_signature:
        faults.append(f"SigV4 required ({stub.region})")
    return source + ("; " + ", ".join(faults) if faults else "")


@click.command("sirius-stub")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8088, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve the counts in this CSV (date,channel,count) instead of synthetic ones.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the synthetic counts.")
@click.option(
    "--complete-through",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="completeThrough to report (YYYY-MM-DD). Default: yesterday in Europe/London.",
)
@click.option("--extra-channel", metavar="NAME", help="Add a channel Sirius 'added later', with small counts.")
@click.option("--fail-first", default=0, type=click.IntRange(min=0), help="Fail the first N requests with --fail-status.")
@click.option(
    "--fail-status",
    default="503",
    show_default=True,
    type=click.Choice([str(s) for s in FAIL_STATUSES]),
    help="Status for --fail-first.",
)
@click.option("--throttle-first", default=0, type=click.IntRange(min=0), help="Answer the first N requests with 429.")
@click.option(
    "--retry-after", default=1, show_default=True, type=click.IntRange(min=0), help="Retry-After seconds sent with 429."
)
@click.option("--delay-seconds", default=0.0, type=click.FloatRange(min=0), help="Wait this long before answering.")
@click.option("--delay-first", type=click.IntRange(min=0), help="Delay only the first N requests (default: all).")
@click.option("--drop-first", default=0, type=click.IntRange(min=0), help="Close the first N connections unanswered.")
@click.option("--malformed", type=click.Choice(MALFORMED_MODES), help="Break every 200 body in this way.")
@click.option("--status", type=click.IntRange(300, 599), help="Answer every channel-counts request with this status.")
@click.option(
    "--require-signature",
    is_flag=True,
    help="Refuse requests (403) not SigV4-signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.",
)
@click.option("--region", default="eu-west-1", show_default=True, help="Region expected in signatures.")
def sirius_stub(
    host: str,
    port: int,
    csv_path: Path | None,
    seed: int,
    complete_through: dt.datetime | None,
    extra_channel: str | None,
    fail_first: int,
    fail_status: str,
    throttle_first: int,
    retry_after: int,
    delay_seconds: float,
    delay_first: int | None,
    drop_first: int,
    malformed: str | None,
    status: int | None,
    require_signature: bool,
    region: str,
) -> None:
    """Run a stub of the Sirius channel-counts API for development."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if require_signature and not (access_key and secret_key):
        raise click.UsageError(
            "--require-signature checks signatures against AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both"
        )
    try:
        stub = SiriusStub(
            host=host,
            port=port,
            csv_path=csv_path,
            seed=seed,
            complete_through=complete_through.date() if complete_through else None,
            extra_channel=extra_channel,
            fail_first=fail_first,
            fail_status=int(fail_status),
            throttle_first=throttle_first,
            retry_after=retry_after,
            delay_seconds=delay_seconds,
            delay_first=delay_first,
            drop_first=drop_first,
            malformed=malformed,
            status=status,
            require_signature=require_signature,
            access_key=access_key if require_signature else None,
            secret_key=secret_key if require_signature else None,
            region=region,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except ChannelCountsCsvError as exc:
        raise click.ClickException(str(exc)) from None

    def announce(base_url: str) -> None:
        click.echo(f"Sirius stub listening on {base_url} ({_describe(stub)})")

    try:
        stub.serve_forever(announce)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
