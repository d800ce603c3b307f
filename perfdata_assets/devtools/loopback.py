"""Ports on 127.0.0.1 for the stand-ins, the tests and the bench: a free one, and waiting for one to answer;
and the environment a stand-in points at itself, put back afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it; a race with another process is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10) -> None:
    """Return once something accepts connections on 127.0.0.1:port; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


@contextlib.contextmanager
def restored_environment(*names: str) -> Iterator[None]:
    """Whatever the block sets or removes of these variables is put back as it was: a stand-in
    points os.environ at itself only while it runs."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
