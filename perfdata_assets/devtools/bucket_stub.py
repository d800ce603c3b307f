"""An S3 bucket on loopback (moto's server) standing in for OPG's, for `perfdata demo`.

The delivery asset then runs exactly as in production: boto3's default chain
for credentials, the standard AWS_ENDPOINT_URL_S3 variable for the endpoint.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from perfdata_assets.devtools.loopback import free_port as _free_port
from perfdata_assets.devtools.loopback import restored_environment

DEMO_BUCKET = "opg-performance-data-demo"


@contextlib.contextmanager
def bucket_stub_for_this_process(bucket: str = DEMO_BUCKET, moto_endpoint: str | None = None) -> Iterator[str]:
    """Start moto's S3 on 127.0.0.1, create ``bucket``, point this process at it; yields the endpoint URL.

    With ``moto_endpoint`` (a moto server already running in this process, such as the
    CloudWatch stub's: moto's server answers for every service) that server is used, and
    left running: stopping one takes up to half a second.
    """
    import boto3
    from moto.server import ThreadedMotoServer

    server = None
    if moto_endpoint:
        endpoint = moto_endpoint
    else:
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
    try:
        with restored_environment("AWS_ENDPOINT_URL_S3", "PERFDATA_PUBLICATION_BUCKET", "AWS_DEFAULT_REGION"):
            os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
            os.environ["PERFDATA_PUBLICATION_BUCKET"] = bucket
            os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
            boto3.session.Session().client("s3").create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": os.environ["AWS_DEFAULT_REGION"]}
            )
            yield endpoint
    finally:
        if server is not None:
            server.stop()


def bucket_keys(bucket: str = DEMO_BUCKET) -> list[str]:
    """The keys in the demo bucket (while the stub runs)."""
    import boto3

    listing = boto3.session.Session().client("s3").list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))
