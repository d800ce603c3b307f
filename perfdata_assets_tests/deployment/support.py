"""Real processes and throwaway databases for the deployment tests, always cleaned up.

Every process a test starts runs in a session of its own and carries a unique
marker in its environment, which its descendants inherit (code servers, run
workers). Stopping it signals its process group, then kills any process still
carrying the marker: only processes this test run started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

from perfdata_assets_tests.conftest import ADMIN_URL, _postgres_admin

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent  # the virtualenv running the tests (.venv/bin under make)
MARKER_VARIABLE = "PERFDATA_DEPLOYMENT_TEST_MARKER"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5, log: Path | None = None) -> T:
    """probe() until it returns something truthy; fail naming `what` (and the log's tail) on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - the probe is retried until the deadline
            last_error = exc
        time.sleep(interval)
    message = f"timed out after {timeout:.0f}s waiting for {what}"
    if last_error is not None:
        message += f" (last error: {last_error!r})"
    if log is not None:
        message += f"\n--- last lines of {log} ---\n{tail(log)}"
    raise AssertionError(message)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def clean_env(**overrides: str) -> dict[str, str]:
    """The test's environment without any Dagster or perfdata setting that could leak in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_", "PERFDATA_", "PYTEST_")) and k not in ("LPA_DATABASE_URL", "VIRTUAL_ENV")
    }
    env.update(overrides)
    return env


@dataclass
class Service:
    """A process started in its own session, its output in a log file."""

    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path = REPO
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    process: subprocess.Popen | None = None

    def start(self) -> "Service":
        self.env[MARKER_VARIABLE] = self.marker
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def marked_pids(self) -> list[int]:
        """Live processes (this one and its descendants) carrying this service's marker."""
        needle = f"{MARKER_VARIABLE}={self.marker}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z" and needle in environ.split(b"\0"):
                pids.append(int(entry.name))
        return pids

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after `grace`, then reap stragglers."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.kill_stragglers()

    def kill_stragglers(self, grace: float = 5.0) -> None:
        deadline = time.monotonic() + grace
        while self.marked_pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.marked_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def throwaway_database(prefix: str, create: bool = True) -> Iterator[str]:
    """A new, empty PostgreSQL database (URL), dropped afterwards with its connections.

    With create=False only the name is reserved: whatever is under test creates it.
    """
    admin = _postgres_admin()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if create:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def dagster_pg_env(url: str) -> dict[str, str]:
    """DAGSTER_PG_* naming the database of a SQLAlchemy URL."""
    u = sa.engine.make_url(url)
    return {
        "DAGSTER_PG_HOST": u.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(u.port or 5432),
        "DAGSTER_PG_USER": u.username or "postgres",
        "DAGSTER_PG_PASSWORD": u.password or "",
        "DAGSTER_PG_DB": u.database or "",
    }


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


LOCATION_STATUS = """
query {
  workspaceOrError {
    ... on Workspace { locationEntries { name locationOrLoadError { __typename ... on PythonError { message } } } }
  }
}
"""


def location_loaded(port: int, name: str) -> bool:
    """Whether the webserver on `port` has loaded code location `name` (fails fast on a load error)."""
    entries = graphql(port, LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
    for entry in entries:
        if entry["name"] == name:
            status = entry["locationOrLoadError"] or {}
            assert status.get("__typename") != "PythonError", f"{name} failed to load: {status.get('message')}"
            return status.get("__typename") == "RepositoryLocation"
    return False


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"GraphQL HTTP {exc.code}: {exc.read().decode(errors='replace')[:2000]}") from None
    if body.get("errors"):
        raise AssertionError(f"GraphQL errors: {body['errors']}")
    return body["data"]
