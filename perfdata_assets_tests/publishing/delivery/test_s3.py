"""put_if_changed against moto's S3 over HTTP on loopback, with faults injected by a proxy."""

import boto3
import pytest

from perfdata_assets.publishing.s3 import DeliveryRefused, DeliveryUnavailable, put_if_changed, s3_client, sha256_hex
from perfdata_assets_tests.aws import FaultProxy, aws_env, web_identity_env

BUCKET = "opg-performance-data"
KEY = "make_a_lasting_power_of_attorney_24_01.json"


def make_bucket() -> None:
    boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)


def puts(proxy: FaultProxy) -> int:
    return sum(r.method == "PUT" for r in proxy.requests)


def test_uploads_once_then_only_when_the_bytes_change(moto_server, monkeypatch):
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "s3")
        make_bucket()
        client = s3_client(max_attempts=3)
        first = put_if_changed(client, BUCKET, KEY, b"[1]\n")
        again = put_if_changed(client, BUCKET, KEY, b"[1]\n")
        changed = put_if_changed(client, BUCKET, KEY, b"[2]\n")
        assert (first.uploaded, first.replaced) == (True, False)
        assert (again.uploaded, again.replaced) == (False, False)
        assert (changed.uploaded, changed.replaced) == (True, True)
        assert puts(proxy) == 3  # the bucket, then two uploads: the unchanged file was not sent
        body = client.get_object(Bucket=BUCKET, Key=KEY)
        assert body["Body"].read() == b"[2]\n"
        assert body["Metadata"]["sha256"] == sha256_hex(b"[2]\n") == changed.sha256
        assert body["ContentType"] == "application/json"


def test_a_file_put_there_by_hand_is_compared_by_its_bytes(moto_server, monkeypatch):
    aws_env(monkeypatch, moto_server.url, "s3")
    make_bucket()
    client = s3_client()
    client.put_object(Bucket=BUCKET, Key=KEY, Body=b"[1]\n")  # no sha256 metadata
    assert not put_if_changed(client, BUCKET, KEY, b"[1]\n").uploaded
    assert put_if_changed(client, BUCKET, KEY, b"[3]\n").replaced


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_5xx_are_retried(moto_server, monkeypatch, status):
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "s3")
        make_bucket()
        proxy.fail_next(2, status, code="SlowDown" if status == 503 else None)
        upload = put_if_changed(s3_client(max_attempts=4), BUCKET, KEY, b"[1]\n")
        assert upload.uploaded
        assert [r.answered for r in proxy.requests[1:4]] == [status, status, 404]  # then HEAD finds nothing


def test_5xx_that_does_not_stop_fails_as_unavailable(moto_server, monkeypatch):
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "s3")
        make_bucket()
        proxy.fail_next(10, 503)
        with pytest.raises(DeliveryUnavailable, match=f"s3://{BUCKET}/{KEY}: S3 answered HTTP 503: Service Unavailable") as err:
            put_if_changed(s3_client(max_attempts=3), BUCKET, KEY, b"[1]\n")
        heads = [r for r in proxy.requests if r.method == "HEAD"]
        # Bounded (botocore's standard mode may add one attempt for S3), every one refused, nothing uploaded.
        assert 3 <= len(heads) <= 4 and {r.answered for r in heads} == {503}
        assert puts(proxy) == 1
        assert "perfdata-test-secret" not in str(err.value)


def test_access_denied_fails_at_once_saying_what_s3_said(moto_server, monkeypatch):
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "s3")
        make_bucket()
        proxy.deny_next(1)
        with pytest.raises(DeliveryRefused, match="HTTP 403"):
            put_if_changed(s3_client(max_attempts=5), BUCKET, KEY, b"[1]\n")
        assert proxy.request_count == 2  # the bucket, then one refused HEAD: no retries


def test_no_such_bucket_is_refused(moto_server, monkeypatch):
    aws_env(monkeypatch, moto_server.url, "s3")
    with pytest.raises(DeliveryRefused, match="NoSuchBucket"):
        put_if_changed(s3_client(), "not-a-bucket", KEY, b"[1]\n")


def test_no_credentials_anywhere_is_refused_clearly(moto_server, monkeypatch):
    aws_env(monkeypatch, moto_server.url, "s3", static_keys=False)
    with pytest.raises(DeliveryRefused, match="no AWS credentials found"):
        put_if_changed(s3_client(max_attempts=1), BUCKET, KEY, b"[1]\n")


def test_credentials_from_a_web_identity_token_through_sts(moto_server, monkeypatch, tmp_path):
    """As on Kubernetes: no keys in the environment, a role assumed with the pod's token."""
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "s3")
        make_bucket()
        web_identity_env(monkeypatch, tmp_path, proxy.url)
        upload = put_if_changed(s3_client(), BUCKET, KEY, b"[1]\n")
        assert upload.uploaded
        assert "AssumeRoleWithWebIdentity" in proxy.targets()
