import pytest

from perfdata_assets.sirius.client import SiriusClient

ACCESS_KEY = "AKIDPERFDATATEST"
SECRET_KEY = "perfdata-test-secret-do-not-log"


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def sleeps():
    """Waits the client asked for, recorded instead of slept."""
    return []


@pytest.fixture
def make_client(sleeps, aws_env):
    def make(base_url: str, **settings) -> SiriusClient:
        defaults = {"backoff_seconds": 0.5, "connect_timeout_seconds": 2, "read_timeout_seconds": 5}
        client = SiriusClient(base_url=base_url, **{**defaults, **settings})
        client._sleep = sleeps.append
        return client

    return make


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch):
    # The stub runs on 127.0.0.1: a proxy from the environment (CI) must not intercept.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
