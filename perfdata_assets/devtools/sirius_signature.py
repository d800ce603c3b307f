"""The Sirius stub's check of AWS Signature Version 4 (API Gateway, execute-api).

The client signs with botocore; this module only verifies, so that the stub refuses
with 403 what API Gateway would refuse (a wrong key, a stale clock, a tampered URL or
header). It is written independently of botocore on purpose: a verifier that reused
the signer's code would accept whatever the signer got wrong. The AWS SigV4 test
suite vectors in the tests pin it to AWS's canonicalisation rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# API Gateway refuses signatures dated more than 15 minutes from its clock.
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
_WHITESPACE_RUN = re.compile(r"\s+")


class SignatureInvalid(Exception):
    """The received request is not validly signed; the message says why."""


def _remove_dot_segments(path: str) -> str:
    output: list[str] = []
    for segment in path.split("/"):
        if segment == ".":
            continue
        if segment == "..":
            if len(output) > 1:
                output.pop()
            continue
        output.append(segment)
    normalised = "/".join(output)
    # A trailing '.' or '..' still denotes a directory.
    if path.endswith(("/.", "/..")) and not normalised.endswith("/"):
        normalised += "/"
    return normalised if normalised.startswith("/") else "/" + normalised


def canonical_uri(path: str) -> str:
    # The path arrives already percent-encoded (as sent on the wire); AWS encodes it
    # once more for every service but S3, which is what botocore does too.
    return quote(_remove_dot_segments(path or "/"), safe="/~")


def canonical_query_string(query: str) -> str:
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        # Decode then re-encode so that 'a b', 'a%20b' and 'a%20B' all sign alike.
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _normalise_value(value: str) -> str:
    return _WHITESPACE_RUN.sub(" ", value.strip())


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes,
    *,
    secret_key: str,
    amz_date: str,
    region: str,
    service: str,
) -> str:
    """headers: lower-case name -> value, containing every name in signed_headers."""
    parts = urlsplit(url)
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri(parts.path),
            canonical_query_string(parts.query),
            "".join(f"{name}:{_normalise_value(headers[name])}\n" for name in signed_headers),
            ";".join(signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    date_stamp = amz_date[:8]
    scope = f"{date_stamp}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date_stamp)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _parse_authorization(value: str) -> dict[str, str]:
    prefix = ALGORITHM + " "
    if not value.startswith(prefix):
        raise SignatureInvalid(f"Authorization header does not use {ALGORITHM}")
    fields: dict[str, str] = {}
    for item in value[len(prefix) :].split(","):
        name, sep, field_value = item.strip().partition("=")
        if not sep:
            raise SignatureInvalid("Authorization header is not of the form Credential=..., SignedHeaders=..., Signature=...")
        fields[name] = field_value
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise SignatureInvalid(f"Authorization header has no {name}")
    return fields


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = "execute-api",
    now: dt.datetime,
    max_clock_skew: dt.timedelta = MAX_CLOCK_SKEW,
) -> None:
    """Check a received request the way API Gateway would; raise SignatureInvalid
    with the reason, or return None when the signature is good.

    url: the URL as received (scheme and Host header + raw request path and query).
    """
    received = {k.lower(): v for k, v in headers.items()}
    if "authorization" not in received:
        raise SignatureInvalid("request has no Authorization header")
    fields = _parse_authorization(received["authorization"])

    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureInvalid("Credential is not of the form KEY/YYYYMMDD/region/service/aws4_request")
    key_id, date_stamp, got_region, got_service, _ = scope
    if key_id != access_key:
        raise SignatureInvalid("the access key id is not recognised")
    if (got_region, got_service) != (region, service):
        raise SignatureInvalid(f"credential scope is {got_region}/{got_service}, expected {region}/{service}")

    amz_date = received.get("x-amz-date")
    if amz_date is None:
        raise SignatureInvalid("request has no x-amz-date header")
    try:
        signed_at = dt.datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise SignatureInvalid(f"x-amz-date {amz_date[:20]!r} is not of the form YYYYMMDDTHHMMSSZ") from None
    if date_stamp != amz_date[:8]:
        raise SignatureInvalid("credential scope date does not match x-amz-date")
    if abs(now - signed_at) > max_clock_skew:
        raise SignatureInvalid(f"x-amz-date {amz_date} is more than {max_clock_skew} away from the server clock")

    signed_headers = fields["SignedHeaders"].split(";")
    if signed_headers != sorted(signed_headers) or any(h != h.lower() for h in signed_headers):
        raise SignatureInvalid("SignedHeaders is not a sorted list of lower-case names")
    for required in ("host", "x-amz-date") + (("x-amz-security-token",) if "x-amz-security-token" in received else ()):
        if required not in signed_headers:
            raise SignatureInvalid(f"the {required} header is not signed")
    missing = [h for h in signed_headers if h not in received]
    if missing:
        raise SignatureInvalid(f"signed header {missing[0]} is not in the request")

    expected = _signature(
        method,
        url,
        received,
        signed_headers,
        body,
        secret_key=secret_key,
        amz_date=amz_date,
        region=region,
        service=service,
    )
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise SignatureInvalid("the signature does not match the request")
