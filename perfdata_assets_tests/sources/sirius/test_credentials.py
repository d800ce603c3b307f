"""Where the client's AWS credentials come from (boto3's default chain), and what it says
when there are none or a source fails. Requests go over HTTP on 127.0.0.1 to the stub,
which verifies each signature; a tiny fake STS plays AWS for web identity."""

import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from botocore.credentials import RefreshableCredentials

from perfdata_assets.devtools.sirius_signature import verify_request
from perfdata_assets.devtools.sirius_stub import SiriusStub, signing_stub_for_this_process
from perfdata_assets.sources.sirius.client import SiriusClient, SiriusSigV4Auth, default_chain_credentials
from perfdata_assets.sources.sirius.counts import (
    SiriusCredentialsError,
    SiriusCredentialsMissing,
    SiriusCredentialsRefused,
    SiriusUnavailable,
)
from perfdata_assets_tests.aws import FaultProxy, aws_env, web_identity_env

from .conftest import ACCESS_KEY, SECRET_KEY

JAN1 = dt.date(2024, 1, 1)
TODAY = dt.date(2025, 6, 15)
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"


class RecordingStub(SiriusStub):
    """The stub, also keeping the headers of every request it checked."""

    def __init__(self, **options):
        super().__init__(today=TODAY, require_signature=True, **options)
        self.seen: list[dict[str, str]] = []

    def _check_signature(self, handler):
        with self._lock:
            self.seen.append({k.lower(): v for k, v in handler.headers.items()})
        super()._check_signature(handler)


def fetch(base_url: str, **settings):
    return SiriusClient(base_url=base_url, **settings).fetch_channel_counts(JAN1, JAN1)


def assert_accepted(stub: RecordingStub, access_key: str, token: str | None):
    assert [r.status for r in stub.requests] == [200]
    (headers,) = stub.seen
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={access_key}/")
    assert headers.get("x-amz-security-token") == token
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert ("x-amz-security-token" in signed) == (token is not None)


# --- where credentials come from -------------------------------------------------------


def test_environment_keys(aws_env):
    with RecordingStub(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        fetch(s.base_url)
        assert_accepted(s, ACCESS_KEY, None)
    assert default_chain_credentials().method == "env"


def test_environment_session_token_is_sent_signed_and_accepted(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    with RecordingStub(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        fetch(s.base_url)
        assert_accepted(s, ACCESS_KEY, TOKEN)


def test_shared_credentials_file_profile_with_no_environment_keys(isolated_aws_chain, monkeypatch):
    isolated_aws_chain["credentials"].write_text(
        "[default]\naws_access_key_id = AKIDNOTTHISONE\naws_secret_access_key = not-this-one\n\n"
        f"[perfdata]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = profile-secret\n"
        f"aws_session_token = {TOKEN}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "perfdata")
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    with RecordingStub(access_key="AKIDFROMPROFILE", secret_key="profile-secret") as s:
        fetch(s.base_url)
        assert_accepted(s, "AKIDFROMPROFILE", TOKEN)
    assert default_chain_credentials().method == "shared-credentials-file"


def test_config_file_profile(isolated_aws_chain, monkeypatch):
    isolated_aws_chain["config"].write_text(
        "[profile perfdata]\naws_access_key_id = AKIDFROMCONFIG\naws_secret_access_key = config-secret\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "perfdata")
    with RecordingStub(access_key="AKIDFROMCONFIG", secret_key="config-secret") as s:
        fetch(s.base_url)
        assert_accepted(s, "AKIDFROMCONFIG", None)


def test_refreshable_credentials_are_read_afresh_for_every_request():
    # An assumed role's credentials renew themselves; the auth must not keep a stale copy.
    issued = []

    def refresh():
        issued.append(f"ASIAROLE{len(issued) + 1}")
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)  # inside botocore's refresh window
        return {"access_key": issued[-1], "secret_key": f"secret-{len(issued)}", "token": f"token-{len(issued)}",
                "expiry_time": expiry.isoformat()}

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "assume-role")
    auth = SiriusSigV4Auth(credentials, "eu-west-1")
    url = "http://127.0.0.1:8088/v1/healthcheck"
    for _ in range(2):
        request = auth(requests.Request("GET", url).prepare())
        number = len(issued)
        assert request.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential=ASIAROLE{number}/")
        assert request.headers["X-Amz-Security-Token"] == f"token-{number}"
        verify_request("GET", url, request.headers, b"", access_key=f"ASIAROLE{number}", secret_key=f"secret-{number}",
                       region="eu-west-1", now=dt.datetime.now(dt.timezone.utc))
    assert issued == ["ASIAROLE1", "ASIAROLE2", "ASIAROLE3"]
    assert "secret" not in repr(auth)


def test_the_demo_stub_helper_signs_through_the_default_chain(monkeypatch):
    # signing_stub_for_this_process edits os.environ; set first so monkeypatch restores it.
    monkeypatch.setenv("SIRIUS_BASE_URL", "unset")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-real-session-token-left-in-the-shell")
    demo = {"AWS_ACCESS_KEY_ID": "AKIDPERFDATADEMO", "AWS_SECRET_ACCESS_KEY": "perfdata-demo-not-a-secret"}
    with signing_stub_for_this_process(demo, today=TODAY) as s:
        result = fetch(os.environ["SIRIUS_BASE_URL"])
        assert [r.status for r in s.requests] == [200]
    assert "AWS_SESSION_TOKEN" not in os.environ
    assert result.counts


# --- no credentials, or part of them -----------------------------------------------------


def test_no_credentials_anywhere_fails_at_once_naming_the_ways_to_provide_them():
    with RecordingStub(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        started = time.monotonic()
        with pytest.raises(SiriusCredentialsMissing) as info:
            fetch(s.base_url)
        assert time.monotonic() - started < 2
        assert s.request_count == 0 and s.requests == []
    message = str(info.value)
    assert message.startswith("cannot sign requests to Sirius: no AWS credentials found")
    assert "\n" not in message
    for way in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "web-identity", "AWS_ROLE_ARN",
                "container", "ECS", "EC2"):
        assert way in message


@pytest.mark.parametrize(
    ("environment", "profile_file", "message"),
    [
        ({"AWS_ACCESS_KEY_ID": ACCESS_KEY}, "", "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
        ({"AWS_SECRET_ACCESS_KEY": SECRET_KEY}, "", "no AWS credentials found"),
        ({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": "  "}, "",
         "the AWS credentials from env have a blank access key id or secret access key"),
        ({"AWS_PROFILE": "nosuch"}, "", "the AWS profile 'nosuch' \\(AWS_PROFILE\\) is in neither"),
        ({"AWS_PROFILE": "half"}, "[half]\naws_access_key_id = AKIDHALF\n",
         "the AWS credentials from shared-credentials-file lack aws_secret_access_key"),
    ],
)
def test_partial_or_unusable_credentials_are_missing(isolated_aws_chain, monkeypatch, environment, profile_file, message):
    isolated_aws_chain["credentials"].write_text(profile_file)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with RecordingStub(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        with pytest.raises(SiriusCredentialsMissing, match=f"^cannot sign requests to Sirius: {message}") as info:
            fetch(s.base_url)
        assert s.request_count == 0
    assert SECRET_KEY not in str(info.value)


def test_refused_profile_credentials_name_their_source_not_the_secret(isolated_aws_chain, monkeypatch):
    isolated_aws_chain["credentials"].write_text(
        "[perfdata]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = the-wrong-secret\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "perfdata")
    with RecordingStub(access_key="AKIDFROMPROFILE", secret_key="profile-secret") as s:
        with pytest.raises(SiriusCredentialsRefused) as info:
            fetch(s.base_url)
        assert [r.status for r in s.requests] == [403]
    assert str(info.value) == (
        "Sirius refused the AWS credentials (HTTP 403) for 2024-01-01..2024-01-01: check the AWS credentials "
        "(from shared-credentials-file), whether they may call the API, and the region (eu-west-1)"
    )


# --- web identity (a Kubernetes service account's role), against a fake STS -------------

STS_OK = """<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAWEBIDENTITY</AccessKeyId>
<SecretAccessKey>web-identity-secret</SecretAccessKey><SessionToken>web-identity-session-token</SessionToken>
<Expiration>{expiry}</Expiration></Credentials></AssumeRoleWithWebIdentityResult>
<ResponseMetadata><RequestId>perfdata-test</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"""
STS_REFUSED = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
<Code>InvalidIdentityToken</Code><Message>Incorrect token audience</Message></Error>
<RequestId>perfdata-test</RequestId></ErrorResponse>"""
WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.service-account-token.signature"


class FakeSts:
    def __init__(self):
        self.refuse = False
        self.calls: list[bytes] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                fake.calls.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                expiry = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                status, body = (400, STS_REFUSED) if fake.refuse else (200, STS_OK.format(expiry=expiry))
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def web_identity(monkeypatch, tmp_path) -> Iterator[FakeSts]:
    sts = FakeSts()
    thread = threading.Thread(target=sts.server.serve_forever, daemon=True)
    thread.start()
    token_file = tmp_path / "token"
    token_file.write_text(WEB_IDENTITY_TOKEN)
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/perfdata")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # an unreachable STS fails at once, not after backoff
    yield sts
    sts.server.shutdown()
    sts.server.server_close()


def test_web_identity_role_credentials_sign_requests(web_identity):
    with RecordingStub(access_key="ASIAWEBIDENTITY", secret_key="web-identity-secret") as s:
        fetch(s.base_url)
        assert_accepted(s, "ASIAWEBIDENTITY", "web-identity-session-token")
    assert len(web_identity.calls) == 1 and b"AssumeRoleWithWebIdentity" in web_identity.calls[0]


def test_sts_refusing_the_web_identity_fails_clearly_before_any_request(web_identity):
    web_identity.refuse = True
    with RecordingStub(access_key="ASIAWEBIDENTITY", secret_key="web-identity-secret") as s:
        with pytest.raises(SiriusCredentialsError) as info:
            fetch(s.base_url)
        assert s.request_count == 0
    assert str(info.value) == (
        "cannot get AWS credentials to sign requests to Sirius: AWS refused AssumeRoleWithWebIdentity "
        "(InvalidIdentityToken: Incorrect token audience)"
    )
    assert "service-account-token" not in str(info.value)


def test_unreadable_web_identity_token_file_is_named(web_identity, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(tmp_path / "no-such-token"))
    with pytest.raises(SiriusCredentialsError, match=r"cannot read .*no-such-token \(No such file or directory\)"):
        fetch("http://127.0.0.1:9")


def test_unreachable_sts_counts_as_unavailable(web_identity):
    web_identity.server.shutdown()
    web_identity.server.server_close()
    with pytest.raises(SiriusUnavailable, match="^cannot get AWS credentials to sign requests to Sirius: Could not connect"):
        fetch("http://127.0.0.1:9")


# --- web identity against moto's STS (the real protocol), through a fault proxy ---------


@pytest.fixture
def moto_web_identity(moto_server, monkeypatch, tmp_path):
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "sts", static_keys=False)
        web_identity_env(monkeypatch, tmp_path, proxy.url)
        yield proxy


def test_web_identity_through_moto_sts_signs_the_request(moto_web_identity):
    with SiriusStub(today=TODAY) as s:  # moto invents the keys, so the stub cannot check them...
        seen = []
        s._check_signature = lambda handler: seen.append({k.lower(): v for k, v in handler.headers.items()})
        fetch(s.base_url)
    assert moto_web_identity.targets() == ["AssumeRoleWithWebIdentity"]
    (headers,) = seen  # ...but they are STS's temporary keys, sent with their session token
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIA")
    assert headers["x-amz-security-token"]


def test_sts_denying_the_web_identity_role_is_a_credentials_error(moto_web_identity):
    moto_web_identity.deny_next()
    with RecordingStub(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as s:
        with pytest.raises(SiriusCredentialsError, match=r"AWS refused AssumeRoleWithWebIdentity \(AccessDenied: ") as info:
            fetch(s.base_url)
        assert s.request_count == 0
    assert "\n" not in str(info.value) and "perfdata-test-token" not in str(info.value)
