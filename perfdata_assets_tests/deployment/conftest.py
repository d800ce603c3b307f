"""Deployment tests: real PostgreSQL, real Dagster processes (see support.py).

Every test here is marked `deployment`; the image test (a fresh virtualenv,
about a minute with pip's cache warm) is also marked `image`. So
`pytest -m "not deployment"` is the quick loop and `pytest -m image` the
image test alone.
"""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deployment: starts real Dagster processes (perfdata_assets_tests/deployment)")
    config.addinivalue_line("markers", "image: builds the image's virtualenv with deploy/image-steps.sh")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "perfdata_assets_tests/deployment/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.deployment)
