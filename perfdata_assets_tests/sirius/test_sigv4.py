import datetime as dt

import pytest

from perfdata_assets.sirius.sigv4 import SignatureInvalid, canonical_query_string, sign_request, verify_request

# The AWS SigV4 test suite (aws-sig-v4-test-suite) credentials and clock.
SUITE = {
    "access_key": "AKIDEXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "session_token": None,
    "region": "us-east-1",
    "service": "service",
    "now": dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.timezone.utc),
}


@pytest.mark.parametrize(
    ("name", "method", "url", "headers", "signature"),
    [
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
    ],
)
def test_aws_test_suite_vectors(name, method, url, headers, signature):
    signed = sign_request(method, url, headers, b"", **SUITE)
    signed_names = ";".join(sorted(["host", "x-amz-date", *(h.lower() for h in headers)]))
    assert signed["x-amz-date"] == "20150830T123600Z"
    assert signed["Host"] == "example.amazonaws.com"
    assert signed["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed_names}, Signature={signature}"
    )


def test_canonical_query_string_sorts_and_encodes():
    assert canonical_query_string("to=2024-01-31&from=2024-01-01") == "from=2024-01-01&to=2024-01-31"
    assert canonical_query_string("b=a b&a=x%2fy&c") == "a=x%2Fy&b=a%20b&c="


NOW = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.timezone.utc)
URL = "http://127.0.0.1:8088/v1/lpa-online-tool/channel-counts?from=2024-01-01&to=2024-01-31"
KEYS = {"access_key": "AKIDTEST", "secret_key": "s3cret", "region": "eu-west-1"}


def signed(url=URL, token=None, **overrides):
    args = {**KEYS, "session_token": token, "now": NOW, **overrides}
    return sign_request("GET", url, {"Accept": "application/json"}, b"", **args)


def verify(headers, url=URL, method="GET", body=b"", **overrides):
    verify_request(method, url, headers, body, **{**KEYS, "now": NOW, **overrides})


def test_round_trip_verifies():
    headers = signed()
    assert headers["Host"] == "127.0.0.1:8088"
    assert headers["Accept"] == "application/json"
    assert "SignedHeaders=accept;host;x-amz-date," in headers["Authorization"]
    verify(headers)
    # Header names arrive in any case; the query may arrive in another order.
    verify({k.upper(): v for k, v in headers.items()}, url=URL.replace("from=2024-01-01&to=2024-01-31", "to=2024-01-31&from=2024-01-01"))


def test_session_token_is_sent_and_signed():
    headers = signed(token="FwoGZXIvYXdzEXAMPLETOKEN")
    assert headers["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLETOKEN"
    assert "x-amz-security-token" in headers["Authorization"].split("SignedHeaders=")[1]
    verify(headers)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify({**headers, "x-amz-security-token": "another"})


def test_signing_needs_an_aware_clock():
    with pytest.raises(ValueError, match="timezone-aware"):
        signed(now=dt.datetime(2024, 5, 1, 9, 30))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, u: ({k: v for k, v in h.items() if k != "Authorization"}, u), "no Authorization header"),
        (lambda h, u: ({**h, "Authorization": "Basic dXNlcjpwYXNz"}, u), "does not use AWS4-HMAC-SHA256"),
        (lambda h, u: ({**h, "Authorization": "AWS4-HMAC-SHA256 Credential=x"}, u), "has no SignedHeaders"),
        (lambda h, u: (h, u.replace("2024-01-31", "2024-02-29")), "signature does not match"),
        (lambda h, u: (h, u.replace("channel-counts", "healthcheck")), "signature does not match"),
        (lambda h, u: ({**h, "Host": "127.0.0.1:9999"}, u), "signature does not match"),
        (lambda h, u: ({**h, "Accept": "text/html"}, u), "signature does not match"),
        (lambda h, u: ({k: v for k, v in h.items() if k != "Accept"}, u), "signed header accept is not in the request"),
        (lambda h, u: ({k: v for k, v in h.items() if k != "x-amz-date"}, u), "no x-amz-date header"),
        (lambda h, u: ({**h, "x-amz-date": "2024-05-01"}, u), "is not of the form YYYYMMDDTHHMMSSZ"),
        (lambda h, u: ({**h, "x-amz-date": "20240502T093000Z"}, u), "credential scope date does not match"),
        (lambda h, u: ({**h, "x-amz-security-token": "t"}, u), "x-amz-security-token header is not signed"),
        (
            lambda h, u: ({**h, "Authorization": h["Authorization"].replace("accept;host;x-amz-date", "x-amz-date")}, u),
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
    with pytest.raises(SignatureInvalid, match="expected eu-west-1/execute-api"):
        verify(signed(service="s3"))


def test_body_is_part_of_the_signature():
    headers = sign_request("POST", URL, {}, b'{"a": 1}', session_token=None, now=NOW, **KEYS)
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
