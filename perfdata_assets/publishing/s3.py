"""Put one file in an S3 bucket unless the same bytes are already there.

Credentials come from boto3's default chain (environment, shared config, web
identity on Kubernetes, container credentials on ECS) and the endpoint from
the standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` variables, so
nothing here knows where it runs. Throttling and 5xx answers are retried by
botocore's standard retry mode (bounded); a refusal fails at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import botocore.config
import botocore.exceptions

# Answers botocore has already retried, or that retrying cannot fix.
_UNAVAILABLE = {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "ServiceUnavailable",
                "InternalError", "RequestLimitExceeded", "TooManyRequestsException"}


class DeliveryError(Exception):
    """The file could not be delivered; the message is one line, without credentials."""


class DeliveryUnavailable(DeliveryError):
    """S3 throttled or failed after the bounded retries: worth another try later."""


class DeliveryRefused(DeliveryError):
    """Access denied, no such bucket, no credentials: the same will happen again."""


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    sha256: str
    size: int
    uploaded: bool  # False: the same bytes were there already
    replaced: bool  # True: an object with other bytes was overwritten


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def s3_client(max_attempts: int = 5, connect_timeout: float = 5, read_timeout: float = 30):
    config = botocore.config.Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    import boto3  # here, not at the top: loading the definitions (every run) does not need it

    return boto3.session.Session().client("s3", config=config)


def _describe(exc: Exception, bucket: str, key: str) -> DeliveryError:
    where = f"s3://{bucket}/{key}"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return DeliveryRefused(
            f"{where}: no AWS credentials found (environment, AWS_PROFILE, web identity or container credentials)"
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = " ".join(str(error.get("Message", "")).split())[:200]
        # A HEAD's error has no body: botocore then names it by its status alone.
        said = f"HTTP {status}" if code == str(status) else f"{code} (HTTP {status})"
        text = f"{where}: S3 answered {said}" + (f": {message}" if message else "")
        unavailable = code in _UNAVAILABLE or (isinstance(status, int) and (status >= 500 or status == 429))
        return (DeliveryUnavailable if unavailable else DeliveryRefused)(text)
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                        botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
        return DeliveryUnavailable(f"{where}: S3 could not be reached ({type(exc).__name__})")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return DeliveryRefused(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    raise exc


def _existing_sha256(client, bucket: str, key: str) -> str | None:
    """The SHA-256 of the object there now, or None when there is none."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return None
        raise
    recorded = head.get("Metadata", {}).get("sha256")
    if recorded:
        return recorded
    # Put there by hand or another tool: compare the bytes themselves (a few KB).
    return sha256_hex(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def put_if_changed(client, bucket: str, key: str, body: bytes, content_type: str = "application/json") -> Upload:
    """Upload ``body`` to ``s3://bucket/key`` unless the object already holds exactly these bytes."""
    digest = sha256_hex(body)
    try:
        existing = _existing_sha256(client, bucket, key)
        if existing == digest:
            return Upload(bucket, key, digest, len(body), uploaded=False, replaced=False)
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata={"sha256": digest})
    except Exception as exc:  # noqa: BLE001 (_describe re-raises what it does not know)
        raise _describe(exc, bucket, key) from None
    return Upload(bucket, key, digest, len(body), uploaded=True, replaced=existing is not None)
