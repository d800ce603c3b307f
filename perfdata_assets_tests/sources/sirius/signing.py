"""Signing in tests exactly as the client does (botocore, through SiriusSigV4Auth), at a
chosen time when a test needs one."""

import contextlib
import datetime as dt
from collections.abc import Iterator
from unittest import mock

import botocore.auth
import requests
from botocore.credentials import Credentials

from perfdata_assets.sources.sirius.client import SiriusSigV4Auth


@contextlib.contextmanager
def signing_clock(at: dt.datetime | None) -> Iterator[None]:
    """botocore takes the signing time from botocore.auth.get_current_datetime (naive UTC)."""
    if at is None:
        yield
        return
    utc = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: utc):
        yield


def signed_request(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    token: str | None = None,
    region: str = "eu-west-1",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    at: dt.datetime | None = None,
    session: requests.Session | None = None,
) -> requests.PreparedRequest:
    """The request as the client would send it; `session` adds a requests.Session's
    default headers (User-Agent, Accept-Encoding, Connection) as a real send does."""
    request = requests.Request(method, url, headers=headers or {}, data=body)
    prepared = session.prepare_request(request) if session is not None else request.prepare()
    with signing_clock(at):
        SiriusSigV4Auth(Credentials(access_key, secret_key, token), region)(prepared)
    return prepared
