"""Fixtures for the API tests: an app over a test backend, in-process or behind a real uvicorn."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from perfdata_assets.db.lpa_source import feedback
from perfdata_assets.publishing.api import create_app

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


@contextlib.contextmanager
def running_server(app):
    """The app behind a real uvicorn on an ephemeral loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
