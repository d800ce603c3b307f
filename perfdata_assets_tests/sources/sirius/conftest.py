import pytest

from perfdata_assets.sources.sirius.client import SiriusClient

ACCESS_KEY = "AKIDPERFDATATEST"
SECRET_KEY = "perfdata-test-secret-do-not-log"

# Everything boto3's default credential chain reads from the environment, besides the
# config/credentials file paths and the metadata switch set below.
AWS_CHAIN_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
)


@pytest.fixture(autouse=True)
def isolated_aws_chain(monkeypatch, tmp_path_factory):
    """Credentials come only from what a test sets: never from a developer's ~/.aws,
    a CI runner's role, or the EC2 metadata service (which would also be slow to ask)."""
    for name in AWS_CHAIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path_factory.mktemp("aws")
    config, credentials = folder / "config", folder / "credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return {"config": config, "credentials": credentials}


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


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
