"""Fixtures for the API tests: an app over a test backend, in-process or behind a real uvicorn."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfdata_assets.sources.lpa.tables import feedback
from perfdata_assets.web.api import create_app

TOKEN = "test-token-0f3c9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def app_for(backend, token: str | None = TOKEN, **kwargs):
    return create_app(backend.perfdata_url, backend.lpa_url, token, **kwargs)


@pytest.fixture
def client(backend):
    with TestClient(app_for(backend)) as test_client:
        yield test_client


def feedback_rows(backend) -> list[tuple[int, object, dict]]:
    """(id, received, message) of every row in the LPA feedback table, oldest first."""
    with backend.source.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(feedback).order_by(feedback.c.id))]
