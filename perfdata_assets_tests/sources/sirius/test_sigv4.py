"""SigV4 on both sides: the client signs with botocore (SiriusSigV4Auth), the stub checks
with its own verifier (stub_signature), which the AWS test suite vectors pin."""

import datetime as dt

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from perfdata_assets.devtools.sirius_signature import SignatureInvalid, canonical_query_string, verify_request

from .signing import signed_request, signing_clock

# The AWS SigV4 test suite (aws-sig-v4-test-suite) credentials and clock.
SUITE = {
    "access_key": "AKIDEXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "region": "us-east-1",
    "service": "service",
    "now": dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.timezone.utc),
}
SUITE_VECTORS = [
    ("get-vanilla", "GET", "https://example.amazonaws.com/", {}, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("post-vanilla", "POST", "https://example.amazonaws.com/", {}, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    (
        "get-vanilla-query-order-key-case",
        "GET",
        "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        {},
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    ("get-utf8", "GET", "https://example.amazonaws.com/ሴ", {}, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    (
        "get-unreserved",
        "GET",
        "https://example.amazonaws.com/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        {},
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    ),
    ("get-vanilla-utf8-query", "GET", "https://example.amazonaws.com/?ሴ=bar", {}, "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    (
        "post-header-key-sort",
        "POST",
        "https://example.amazonaws.com/",
        {"My-Header1": "value1"},
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    ),
]


def suite_request(headers, signature):
    signed_names = ";".join(sorted(["host", "x-amz-date", *(h.lower() for h in headers)]))
    return {
        "Host": "example.amazonaws.com",
        "X-Amz-Date": "20150830T123600Z",
        **headers,
        "Authorization": (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        ),
    }


@pytest.mark.parametrize(("name", "method", "url", "headers", "signature"), SUITE_VECTORS)
def test_verifier_accepts_the_aws_test_suite_vectors(name, method, url, headers, signature):
    verify_request(method, url, suite_request(headers, signature), b"", **SUITE)


@pytest.mark.parametrize(("name", "method", "url", "headers", "signature"), SUITE_VECTORS)
def test_verifier_refuses_the_vectors_with_one_signature_digit_changed(name, method, url, headers, signature):
    wrong = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    with pytest.raises(SignatureInvalid, match="signature does not match"):
        verify_request(method, url, suite_request(headers, wrong), b"", **SUITE)


# botocore takes the query string as sent on the wire (already percent-encoded, as
# requests sends it), so the vector with a raw non-ASCII query key does not apply to it.
@pytest.mark.parametrize(
    ("name", "method", "url", "headers", "signature"), [v for v in SUITE_VECTORS if v[0] != "get-vanilla-utf8-query"]
)
def test_botocore_signs_the_vectors_as_the_suite_does(name, method, url, headers, signature):
    # The signer the client uses and the verifier the stub uses agree with AWS's answers.
    request = AWSRequest(method=method, url=url, headers={"Host": "example.amazonaws.com", **headers}, data=b"")
    with signing_clock(SUITE["now"]):
        SigV4Auth(Credentials(SUITE["access_key"], SUITE["secret_key"]), "service", "us-east-1").add_auth(request)
    assert request.headers["Authorization"] == suite_request(headers, signature)["Authorization"]


def test_canonical_query_string_sorts_and_encodes():
    assert canonical_query_string("to=2024-01-31&from=2024-01-01") == "from=2024-01-01&to=2024-01-31"
    assert canonical_query_string("b=a b&a=x%2fy&c") == "a=x%2Fy&b=a%20b&c="


NOW = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.timezone.utc)
URL = "http://127.0.0.1:8088/v1/lpa-online-tool/channel-counts?from=2024-01-01&to=2024-01-31"
KEYS = {"access_key": "AKIDTEST", "secret_key": "s3cret", "region": "eu-west-1"}


def signed(url=URL, token=None, method="GET", body=None, session=None, **overrides):
    """Headers of the request as the client sends it, names lower-cased, signed at NOW."""
    prepared = signed_request(
        method,
        url,
        **{**KEYS, **overrides},
        token=token,
        headers={"Accept": "application/json"},
        body=body,
        at=NOW,
        session=session,
    )
    assert prepared.url == url
    return {k.lower(): v for k, v in prepared.headers.items()}


def verify(headers, url=URL, method="GET", body=b"", **overrides):
    verify_request(method, url, headers, body, **{**KEYS, "now": NOW, **overrides})


def test_client_signature_verifies():
    headers = signed()
    assert headers["host"] == "127.0.0.1:8088"
    assert headers["accept"] == "application/json"
    assert headers["x-amz-date"] == "20240501T093000Z"
    assert headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240501/eu-west-1/execute-api/aws4_request, "
        "SignedHeaders=accept;host;x-amz-date, Signature="
    )
    assert "x-amz-security-token" not in headers
    verify(headers)
    # Header names arrive in any case; the query may arrive in another order.
    verify({k.upper(): v for k, v in headers.items()}, url=URL.replace("from=2024-01-01&to=2024-01-31", "to=2024-01-31&from=2024-01-01"))


def test_headers_that_change_in_transit_are_not_signed():
    # What requests.Session adds (User-Agent, Accept-Encoding, Connection) may be rewritten
    # by proxies or CloudFront: signing them would turn that into a 403.
    with requests.Session() as session:
        headers = signed(session=session)
    assert {"user-agent", "accept-encoding", "connection"} <= set(headers)
    assert "SignedHeaders=accept;host;x-amz-date," in headers["authorization"]
    verify({**headers, "accept-encoding": "gzip", "user-agent": "proxy/1.0", "connection": "close"})


def test_session_token_is_sent_and_signed():
    headers = signed(token="FwoGZXIvYXdzEXAMPLETOKEN")
    assert headers["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLETOKEN"
    assert "SignedHeaders=accept;host;x-amz-date;x-amz-security-token," in headers["authorization"]
    verify(headers)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify({**headers, "x-amz-security-token": "another"})


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, u: ({k: v for k, v in h.items() if k != "authorization"}, u), "no Authorization header"),
        (lambda h, u: ({**h, "authorization": "Basic dXNlcjpwYXNz"}, u), "does not use AWS4-HMAC-SHA256"),
        (lambda h, u: ({**h, "authorization": "AWS4-HMAC-SHA256 Credential=x"}, u), "has no SignedHeaders"),
        (lambda h, u: (h, u.replace("2024-01-31", "2024-02-29")), "signature does not match"),
        (lambda h, u: (h, u.replace("channel-counts", "healthcheck")), "signature does not match"),
        (lambda h, u: ({**h, "host": "127.0.0.1:9999"}, u), "signature does not match"),
        (lambda h, u: ({**h, "accept": "text/html"}, u), "signature does not match"),
        (lambda h, u: ({k: v for k, v in h.items() if k != "accept"}, u), "signed header accept is not in the request"),
        (lambda h, u: ({k: v for k, v in h.items() if k != "x-amz-date"}, u), "no x-amz-date header"),
        (lambda h, u: ({**h, "x-amz-date": "2024-05-01"}, u), "is not of the form YYYYMMDDTHHMMSSZ"),
        (lambda h, u: ({**h, "x-amz-date": "20240502T093000Z"}, u), "credential scope date does not match"),
        (lambda h, u: ({**h, "x-amz-security-token": "t"}, u), "x-amz-security-token header is not signed"),
        (
            lambda h, u: ({**h, "authorization": h["authorization"].replace("accept;host;x-amz-date", "x-amz-date")}, u),
            "the host header is not signed",
        ),
    ],
)
def test_tampered_requests_are_refused_with_a_reason(tamper, reason):
    headers, url = tamper(signed(), URL)
    with pytest.raises(SignatureInvalid, match=reason):
        verify(headers, url=url)


def test_wrong_secret_key_region_or_service_is_refused():
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(signed(secret_key="wrong"))
    with pytest.raises(SignatureInvalid, match="access key id is not recognised"):
        verify(signed(access_key="AKIDOTHER"))
    with pytest.raises(SignatureInvalid, match="credential scope is us-east-1/execute-api, expected eu-west-1/execute-api"):
        verify(signed(region="us-east-1"))
    other_service = AWSRequest(method="GET", url=URL, headers={"Host": "127.0.0.1:8088"})
    with signing_clock(NOW):
        SigV4Auth(Credentials(KEYS["access_key"], KEYS["secret_key"]), "s3", "eu-west-1").add_auth(other_service)
    with pytest.raises(SignatureInvalid, match="credential scope is eu-west-1/s3, expected eu-west-1/execute-api"):
        verify({**other_service.headers})


def test_body_is_part_of_the_signature():
    headers = signed(method="POST", body=b'{"a": 1}')
    assert headers["content-length"] == "8"
    verify(headers, method="POST", body=b'{"a": 1}')
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(headers, method="POST", body=b'{"a": 2}')


def test_clock_skew_over_15_minutes_is_refused():
    headers = signed()
    verify(headers, now=NOW + dt.timedelta(minutes=15))
    verify(headers, now=NOW - dt.timedelta(minutes=15))
    with pytest.raises(SignatureInvalid, match="more than 0:15:00 away"):
        verify(headers, now=NOW + dt.timedelta(minutes=15, seconds=1))
    with pytest.raises(SignatureInvalid, match="more than 0:15:00 away"):
        verify(headers, now=NOW - dt.timedelta(minutes=16))
