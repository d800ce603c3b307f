"""An operator's first hour (#20): every mistake answered in one line, at once.

Each case runs the real `perfdata` command in a subprocess, as a data engineer would
type it, and holds it to the same promise: exit 2 within 15 seconds, at most three
lines on stderr, the variable (or the table) named, no traceback, no secret.
"""

from __future__ import annotations

import datetime as dt
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from perfdata_assets.db import engines
from perfdata_assets.db.migrate import upgrade
from perfdata_assets.devtools.loopback import free_port
from perfdata_assets.sources.lpa.tables import create_source_tables
from perfdata_assets.sources.sirius.assets import ChannelCountsSource, sirius_channel_counts
from perfdata_assets.sources.sirius.client import SiriusClient
from perfdata_assets_tests.reliability import support
from perfdata_assets_tests.support import range_tags

PERFDATA = str(Path(sys.executable).parent / "perfdata")
OURS = ("LPA_", "PERFDATA_", "SIRIUS_", "DAGSTER_", "UPTIME_", "SERVICE_", "USD_GBP", "AWS_")
YESTERDAY = dt.date.today() - dt.timedelta(days=2)
BACKFILL = ["backfill", "--start", (YESTERDAY - dt.timedelta(days=1)).isoformat(), "--end", YESTERDAY.isoformat()]


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {**env, "PERFDATA_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster_home"), **settings}


def perfdata(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    began = time.monotonic()
    result = subprocess.run([PERFDATA, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    return result, time.monotonic() - began


def assert_one_line(result: subprocess.CompletedProcess, seconds: float, *named: str, secret: str | None = None) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    shown = result.stdout + result.stderr
    assert result.returncode == 2, shown
    assert seconds < 15, f"took {seconds:.1f} s: {shown}"
    assert 1 <= len(lines) <= 3, shown
    assert "Traceback" not in shown, shown
    assert lines[-1].startswith("perfdata: error: "), shown
    for name in named:
        assert name in lines[-1], shown
    if secret:
        assert secret not in shown, shown
    return lines[-1]


# What each wrong setting must say, whichever command meets it first: the variable, its value
# (masked where it may hold a secret) and what is expected.
WRONG_SETTINGS = [
    ("SIRIUS_BASE_URL", "ftp://x", "http:// or https:// URL"),
    ("SIRIUS_REGION", "Ireland", "AWS region"),
    ("PERFDATA_START_DATE", "2024-13-01", "YYYY-MM-DD"),
    ("PERFDATA_START_DATE", "1999-12-31", "from 2000-01-01"),
    ("UPTIME_HEALTH_CHECK_ID", "not-a-uuid", "UUID"),
    ("SIRIUS_CHANNEL_COUNTS_CSV", "/nonexistent.csv", "no such file"),
    ("SERVICE_UPTIME_CSV", "/", "a CSV file (it is a directory)"),
    ("PERFDATA_EXPORT_DIR", "/proc/nope", "not writable"),
    ("PERFDATA_EXPORT_DIR", "/etc/hostname/exports", "a file is in the way"),
    ("PERFDATA_HOME", "/proc/nope", "not writable"),
    ("PERFDATA_PUBLICATION_BUCKET", "Invalid_Bucket!!", "S3 bucket name"),
    ("PERFDATA_PUBLICATION_BUCKET", "192.168.1.1", "S3 bucket name"),
    ("PERFDATA_PUBLICATION_PREFIX", "/performance-data", "no leading /"),
    ("PERFDATA_WEBHOOK_URLS", "https://hooks.example/a,ftp://tok3n-in-a-url", "entry 2"),
    ("SERVICE_COST_AWS_ACCOUNTS", "12345", "12-digit AWS account ids"),
    ("LPA_DATABASE_URL", "mysql://u@h/db", "mysql"),
    ("PERFDATA_DATABASE_URL", "not a url", "LPA_DATABASE_URL"),
]


@pytest.mark.parametrize("variable, value, expected", WRONG_SETTINGS, ids=lambda v: str(v)[:24])
def test_a_wrong_setting_stops_a_backfill_before_any_work_in_one_line(variable, value, expected, tmp_path):
    result, seconds = perfdata(BACKFILL, environment(tmp_path, **{variable: value}), tmp_path)
    line = assert_one_line(result, seconds, variable if variable != "PERFDATA_DATABASE_URL" else "DATABASE_URL",
                           secret="tok3n")
    assert expected in line
    assert "materialising" not in result.stdout  # no run was started
    assert not list((tmp_path / "dagster_home").glob("history/runs/*.db"))


@pytest.mark.parametrize(
    "command, variable, value",
    [
        (["kpis"], "PERFDATA_START_DATE", "2024-13-01"),
        (["db", "upgrade"], "LPA_DATABASE_URL", "mysql://u@h/db"),
        (["rebuild"], "PERFDATA_EXPORT_DIR", "/proc/nope"),
        (["rebuild"], "PERFDATA_PUBLICATION_BUCKET", "Invalid_Bucket!!"),
        (["serve", "--port", "1"], "PERFDATA_API_TOKEN", "tok3n"),
        (["serve", "--port", "1"], "PERFDATA_WEBHOOK_URLS", "nope"),
    ],
)
def test_every_command_checks_the_settings_it_reads_first(command, variable, value, tmp_path):
    result, seconds = perfdata(command, environment(tmp_path, **{variable: value}), tmp_path)
    assert_one_line(result, seconds, variable, secret="tok3n" if "TOKEN" in variable else None)


def test_help_works_whatever_the_environment_holds(tmp_path):
    env = environment(tmp_path, PERFDATA_START_DATE="2024-13-01", LPA_DATABASE_URL="mysql://x", SIRIUS_BASE_URL="ftp://x")
    result, _ = perfdata(["--help"], env, tmp_path)
    assert result.returncode == 0 and "Usage: perfdata" in result.stdout and not result.stderr


def test_without_a_database_the_embedded_default_says_how_to_get_one(tmp_path):
    result, seconds = perfdata(BACKFILL, environment(tmp_path), tmp_path)
    assert "perfdata demo" in assert_one_line(result, seconds, "LPA_DATABASE_URL")


# --- The databases -------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_refusing_server_is_named_by_its_variable_with_the_password_masked(tmp_path):
    url = "postgresql://perfdata:s3cret-pw@127.0.0.1:1/opglpa"
    for command in (BACKFILL, ["kpis"], ["rebuild"]):
        result, seconds = perfdata(command, environment(tmp_path, LPA_DATABASE_URL=url), tmp_path)
        line = assert_one_line(result, seconds, "LPA_DATABASE_URL", "Connection refused", secret="s3cret-pw")
        assert "cannot reach the database" in line and "***" in line


@pytest.mark.postgres
def test_a_separate_perfdata_database_that_refuses_is_named_as_such_postgres(postgres_url, tmp_path):
    env = environment(tmp_path, LPA_DATABASE_URL=postgres_url, PERFDATA_DATABASE_URL="postgresql://u@127.0.0.1:1/p")
    result, seconds = perfdata(BACKFILL, env, tmp_path)
    assert "perfdata's schema" in assert_one_line(result, seconds, "PERFDATA_DATABASE_URL")


@pytest.mark.postgres
def test_a_database_without_the_services_tables_is_named_postgres(postgres_url, tmp_path):
    upgrade(engines.databases(postgres_url, postgres_url).perfdata)
    result, seconds = perfdata(BACKFILL, environment(tmp_path, LPA_DATABASE_URL=postgres_url), tmp_path)
    line = assert_one_line(result, seconds, "LPA_DATABASE_URL", "applications", "feedback")
    assert "not the Make an LPA service's database" in line


@pytest.mark.postgres
def test_before_db_upgrade_one_line_says_to_run_it_postgres(postgres_url, tmp_path):
    create_source_tables(engines.lpa_write_engine(postgres_url))
    env = environment(tmp_path, LPA_DATABASE_URL=postgres_url)
    for command in (BACKFILL, ["kpis"], ["rebuild"]):
        result, seconds = perfdata(command, env, tmp_path)
        line = assert_one_line(result, seconds, "perfdata db upgrade")
        assert "--select" not in line


# --- Never retried ---------------------------------------------------------------------------


def test_a_wrong_setting_inside_a_run_fails_its_step_at_once_without_retries(tmp_path):
    """A run launched from the UI or a schedule has no CLI to check first: its step fails on
    the first attempt (the asset's RetryPolicy would wait a minute, twice), naming the variable."""
    source = ChannelCountsSource(sirius=SiriusClient(base_url="ftp://x"))
    began = time.monotonic()
    result = dg.materialize(
        [sirius_channel_counts],
        resources={"channel_counts_source": source, "database": _unused_database(tmp_path)},
        tags=range_tags("2024-01-01", "2024-01-02"),
        raise_on_error=False,
    )
    assert not result.success and time.monotonic() - began < 15
    events = result.all_events
    assert not [e for e in events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    (failure,) = result.get_step_failure_events()
    assert "SIRIUS_BASE_URL='ftp://x'" in failure.step_failure_data.user_failure_data.description


def _unused_database(tmp_path: Path):
    from perfdata_assets.db.resource import PerfdataDatabase

    return PerfdataDatabase(lpa_database_url=f"sqlite:///{tmp_path}/l.sqlite", perfdata_database_url=f"sqlite:///{tmp_path}/p.sqlite")


# --- Stopping ---------------------------------------------------------------------------------


class Unavailable(http.server.BaseHTTPRequestHandler):
    """A Sirius that is down: 503 to everything, asking for no wait, counting the requests."""

    requests = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).requests += 1
        self.send_response(503)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


def _interrupt(process: subprocess.Popen, log: Path) -> float:
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        support.kill_group(process)
        pytest.fail("perfdata backfill did not stop within 10 s of SIGINT:\n" + log.read_text()[-3000:])
    return time.monotonic() - began


def _runs(dagster_home: Path) -> list:
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        return list(instance.get_runs())
    finally:
        instance.dispose()


@pytest.mark.postgres
def test_sigint_stops_a_backfill_waiting_on_a_retry_and_marks_its_run_canceled_postgres(postgres_url, tmp_path):
    upgrade(engines.databases(postgres_url, postgres_url).perfdata)
    before = support.snapshot(postgres_url)
    Unavailable.requests = 0
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = environment(tmp_path, LPA_DATABASE_URL=postgres_url, SIRIUS_BASE_URL=f"http://127.0.0.1:{port}",
                      AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                      NO_PROXY="127.0.0.1,localhost")
    log = tmp_path / "backfill.log"
    process = support.start([PERFDATA, *BACKFILL, "--select", "sirius_channel_counts"], env, tmp_path, log)
    try:
        # The client's own attempts (five, no wait asked) end in a step failure; the step's
        # RetryPolicy then waits 60 s before the next attempt: interrupt that wait.
        deadline = time.monotonic() + 60
        while Unavailable.requests < 5 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert Unavailable.requests >= 5, log.read_text()[-3000:]
        time.sleep(1.5)
        assert process.poll() is None, log.read_text()[-3000:]
        seconds = _interrupt(process, log)
    finally:
        server.shutdown()
        if process.poll() is None:
            support.kill_group(process)
    output = log.read_text()
    assert process.returncode == 130 and seconds < 10, output
    assert "interrupted (SIGINT)" in output and "Traceback" not in output, output
    (run,) = _runs(tmp_path / "dagster_home")
    assert run.status == dg.DagsterRunStatus.CANCELED
    assert run.run_id in output
    assert support.snapshot(postgres_url) == before


@pytest.mark.postgres
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_backfill_inside_a_long_write_and_leaves_the_tables_as_they_were_postgres(
    sig, code, postgres_url, tmp_path
):
    create_source_tables(engines.lpa_write_engine(postgres_url))
    upgrade(engines.databases(postgres_url, postgres_url).perfdata)
    support.seed_source(postgres_url, seed=20, first=YESTERDAY - dt.timedelta(days=1), days=2)
    before = support.snapshot(postgres_url)
    log = tmp_path / "backfill.log"
    with support.Hold(postgres_url, "raw_feedback"):
        process = support.start([PERFDATA, *BACKFILL, "--select", "raw_feedback"],
                                environment(tmp_path, LPA_DATABASE_URL=postgres_url), tmp_path, log)
        try:
            held = support.sleeping_backend(postgres_url, timeout=60)
            assert held["writing"], held
            began = time.monotonic()
            process.send_signal(sig)
            process.wait(timeout=10)
            seconds = time.monotonic() - began
        finally:
            if process.poll() is None:
                support.kill_group(process)
        # The server ends the orphaned statement and rolls its transaction back.
        support.wait_for_no_open_transaction(postgres_url, timeout=20)
    output = log.read_text()
    assert process.returncode == code and seconds < 10, output
    assert f"interrupted ({sig.name})" in output and "Traceback" not in output, output
    (run,) = _runs(tmp_path / "dagster_home")
    assert run.status == dg.DagsterRunStatus.CANCELED
    assert support.snapshot(postgres_url) == before


# --- Quiet when all is well ------------------------------------------------------------------


def test_with_only_the_lpa_database_configured_a_backfill_warns_of_nothing(tmp_path):
    """Digital take-up and uptime are "not configured" (said once, by the skip lines), not
    "incomplete" month after month."""
    from perfdata_assets_tests.support import SourceRows, london

    lpa = f"sqlite:///{tmp_path}/lpa.sqlite"
    engine = engines.lpa_write_engine(lpa)
    create_source_tables(engine)
    rows = SourceRows(engine)
    for month in ("01", "02"):  # a steady two months: nothing implausible either
        for day in ("05", "06"):
            rows.feedback(london(f"2024-{month}-{day} 10:00"), "satisfied")
            rows.lpa(started=london(f"2024-{month}-{day} 10:00"), created=london(f"2024-{month}-20 10:00"))
    engine.dispose()
    env = environment(tmp_path, LPA_DATABASE_URL=lpa, PERFDATA_DATABASE_URL=f"sqlite:///{tmp_path}/perfdata.sqlite",
                      PERFDATA_START_DATE="2023-12-01")
    assert perfdata(["db", "upgrade"], env, tmp_path)[0].returncode == 0
    result, _ = perfdata(["backfill", "--start", "2024-01-01", "--end", "2024-02-29"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipping sirius_channel_counts, digital_take_up: no channel counts source" in result.stdout
    assert "skipping health_check_uptime, service_uptime: no uptime source" in result.stdout
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    assert "monthly run" in result.stdout and "succeeded" in result.stdout
