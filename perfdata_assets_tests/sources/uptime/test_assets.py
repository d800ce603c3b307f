"""health_check_uptime end to end: real runs, CloudWatch through moto over HTTP (or the CSV),
both databases: rows, ledger, metadata, the observed-minutes check, and failures that
write nothing."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from perfdata_assets.sources.uptime import assets as uptime_assets
from perfdata_assets.sources.uptime.assets import (
    UptimeSource,
    health_check_uptime,
    uptime_checks,
    uptime_source_from_env,
)
from perfdata_assets_tests.aws import DUMMY_SECRET_KEY, aws_env, web_identity_env
from perfdata_assets_tests.sources.uptime import (
    GET_METRIC_DATA,
    HEALTH_CHECK_ID,
    CloudWatchProxy,
    days_of,
    first_value,
    put_status,
)
from perfdata_assets_tests.support import london, materialize

ROWS = "SELECT day, observed_minutes, healthy_minutes, resolution_seconds FROM perfdata.uptime_days ORDER BY day"
LEDGER = "SELECT day, loaded_at FROM perfdata.loaded_days WHERE asset = 'health_check_uptime' ORDER BY day"
CSV_HEADER = "date,observed_minutes,healthy_minutes\n"



def cloudwatch_source(**settings) -> UptimeSource:
    return UptimeSource(health_check_id=HEALTH_CHECK_ID, **{"max_attempts": 2, "read_timeout_seconds": 10, **settings})


@pytest.fixture
def clock(monkeypatch):
    """Sets the asset's clock: clock(london('2024-11-20 12:00'))."""
    def set_to(when: dt.datetime) -> dt.datetime:
        monkeypatch.setattr(uptime_assets, "utc_now", lambda: when.astimezone(dt.timezone.utc))
        return when
    return set_to


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch):
    # The step's retry policy runs in full, without its minutes of waiting.
    monkeypatch.setattr(dg.RetryPolicy, "calculate_delay", lambda self, attempt: 0)


@pytest.fixture
def proxy(moto_server, monkeypatch):
    with CloudWatchProxy(moto_server.url) as running:
        aws_env(monkeypatch, running.url, "cloudwatch", "sts")
        yield running


def run(backend, source, first, last=None, **kwargs):
    return materialize([health_check_uptime, *uptime_checks], backend, first, last,
                       resources={"uptime_source": source}, **kwargs)


def rows(backend):
    return [(str(day), observed, healthy, resolution) for day, observed, healthy, resolution in backend.query(ROWS)]


def ledger_days(backend):
    return [str(day) for day, _ in backend.query(LEDGER)]


def failure(result) -> dg.Failure:
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.user_failure_data


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def put_october(moto_url: str) -> None:
    """2024-10-26..28 minute by minute: healthy but for 00:30 BST on the 27th (the 25-hour
    day), and silent 10:00-11:40 on the 28th."""
    bad = london("2024-10-27 00:30")
    silent_from, silent_to = london("2024-10-28 10:00"), london("2024-10-28 11:40")
    put_status(moto_url, days_of(d("2024-10-26"), d("2024-10-28"), 60,
                                 lambda t: None if silent_from <= t < silent_to else 0.0 if t == bad else 1.0))


def test_a_window_of_days_into_uptime_days_and_the_ledger(backend, proxy, moto_server, clock):
    put_october(moto_server.url)
    clock(london("2024-11-20 12:00"))  # 23 to 25 days on: 5-minute periods
    result = run(backend, cloudwatch_source(), "2024-10-26", "2024-10-28")
    assert result.success
    assert rows(backend) == [("2024-10-26", 1440, 1440, 300), ("2024-10-27", 1500, 1495, 300),
                             ("2024-10-28", 1340, 1340, 300)]
    assert ledger_days(backend) == ["2024-10-26", "2024-10-27", "2024-10-28"]
    loaded_at = {str(when) for _, when in backend.query(LEDGER)}  # text on SQLite, timestamptz on PostgreSQL
    assert len(loaded_at) == 1 and loaded_at.pop().startswith("2024-11-20 12:00:00")
    assert proxy.targets() == [GET_METRIC_DATA]

    by_day = {e.materialization.partition: e.materialization.metadata
              for e in result.get_asset_materialization_events()}
    assert by_day["2024-10-27"]["observed_minutes"].value == 1500
    assert by_day["2024-10-27"]["day_minutes"].value == 1500
    assert by_day["2024-10-27"]["uptime_percent"].value == pytest.approx(99.67)
    assert by_day["2024-10-28"]["resolution"].value == "300 s"

    # 1340 of 1440 minutes observed on the 28th is under 95 %: a warning, not a failure.
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "health_check_uptime_observed"
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["days_checked"].value == 3
    assert check.metadata["under_95_percent"].value == "2024-10-28 (1340 of 1440 min, 93.1 %)"


def test_a_rerun_gives_the_same_rows_and_coarser_data_never_replaces_finer(backend, proxy, moto_server, clock, tmp_path):
    put_october(moto_server.url)
    clock(london("2024-10-29 09:00"))  # days 1 to 3 old: minute periods
    for _ in range(2):
        assert run(backend, cloudwatch_source(), "2024-10-26", "2024-10-28").success
        assert rows(backend) == [("2024-10-26", 1440, 1440, 60), ("2024-10-27", 1500, 1499, 60),
                                 ("2024-10-28", 1340, 1340, 60)]
        assert ledger_days(backend) == ["2024-10-26", "2024-10-27", "2024-10-28"]

    # Weeks later CloudWatch holds only 5-minute periods: the bad minute would cost five.
    clock(london("2024-11-20 12:00"))
    later = run(backend, cloudwatch_source(), "2024-10-26", "2024-10-28")
    assert later.success
    assert rows(backend)[1] == ("2024-10-27", 1500, 1499, 60)
    metadata = later.get_asset_materialization_events()[-1].materialization.metadata
    assert metadata["days_kept_at_a_finer_period"].value == 3

    # A hand-supplied day replaces whatever was there.
    csv = tmp_path / "uptime.csv"
    csv.write_text(CSV_HEADER + "2024-10-27,1500,1400\n")
    assert run(backend, UptimeSource(csv_path=str(csv)), "2024-10-27").success
    assert rows(backend)[1] == ("2024-10-27", 1500, 1400, None)


def test_days_not_final_yet_are_not_written(backend, proxy, moto_server, clock):
    put_october(moto_server.url)
    clock(london("2024-10-28 00:10"))  # the 27th ended ten minutes ago
    result = run(backend, cloudwatch_source(), "2024-10-26", "2024-10-27", raise_on_error=False)
    description = failure(result).description
    assert "1 day(s) not final yet (2024-10-27)" in description and "1 final day(s) were saved" in description
    assert rows(backend) == [("2024-10-26", 1440, 1440, 60)]
    assert ledger_days(backend) == ["2024-10-26"]

    clock(london("2024-10-28 00:15"))
    assert run(backend, cloudwatch_source(), "2024-10-27").success
    assert ledger_days(backend) == ["2024-10-26", "2024-10-27"]


@pytest.mark.parametrize("fault, said, requests", [
    ("deny", "answered 403 AccessDenied", 1),  # refused: no retries at all
    ("malformed", "value 0.5", 1),
    ("5xx", "answered 503 ServiceUnavailable", 6),  # 2 attempts per step, 3 steps (the retry policy)
])
def test_a_failed_fetch_writes_nothing(backend, proxy, moto_server, clock, fault, said, requests):
    put_october(moto_server.url)
    clock(london("2024-11-20 12:00"))
    assert run(backend, cloudwatch_source(), "2024-10-26").success  # an earlier run's row stays as it was
    before = rows(backend)
    proxy.requests.clear()
    if fault == "deny":
        proxy.deny_next(10)
    elif fault == "5xx":
        proxy.fail_next(10, 503)
    else:
        proxy.tamper = first_value(0.5)
    result = run(backend, cloudwatch_source(), "2024-10-26", "2024-10-28", raise_on_error=False)
    description = failure(result).description
    assert description.startswith("service uptime for 2024-10-26 to 2024-10-28: ") and said in description
    assert DUMMY_SECRET_KEY not in description
    assert proxy.metric_requests() == requests
    assert rows(backend) == before and ledger_days(backend) == ["2024-10-26"]


def test_credentials_from_web_identity(backend, proxy, moto_server, clock, monkeypatch, tmp_path):
    put_october(moto_server.url)
    clock(london("2024-11-20 12:00"))
    web_identity_env(monkeypatch, tmp_path, proxy.url)
    assert run(backend, cloudwatch_source(), "2024-10-26").success
    assert proxy.targets() == ["AssumeRoleWithWebIdentity", GET_METRIC_DATA]
    assert rows(backend) == [("2024-10-26", 1440, 1440, 300)]


def test_the_csv_route(backend, tmp_path):
    path = tmp_path / "uptime.csv"
    path.write_text(CSV_HEADER + "2024-03-30,1440,1440\n2024-03-31,1380,1200\n2024-04-01,1440,1439\n")
    result = run(backend, UptimeSource(csv_path=str(path)), "2024-03-30", "2024-04-01")
    assert result.success
    assert rows(backend) == [("2024-03-30", 1440, 1440, None), ("2024-03-31", 1380, 1200, None),
                             ("2024-04-01", 1440, 1439, None)]
    assert ledger_days(backend) == ["2024-03-30", "2024-03-31", "2024-04-01"]
    (check,) = result.get_asset_check_evaluations()
    assert check.passed


@pytest.mark.parametrize("lines, said", [
    ("2024-03-30,1440,1440\n2024-03-31,1380,1400\n", "line 3: healthy_minutes 1400 is more than observed_minutes 1380"),
    ("2024-03-30,1440,1440\n", "has no line for 1 requested day(s): 2024-03-31"),
])
def test_a_bad_csv_fails_with_its_line_and_writes_nothing(backend, tmp_path, lines, said):
    path = tmp_path / "uptime.csv"
    path.write_text(CSV_HEADER + lines)
    result = run(backend, UptimeSource(csv_path=str(path)), "2024-03-30", "2024-03-31", raise_on_error=False)
    error = failure(result)
    assert said in error.description
    assert rows(backend) == [] and ledger_days(backend) == []


def test_no_source_says_which_variables_to_set(backend):
    error = failure(run(backend, UptimeSource(), "2024-01-01", raise_on_error=False))
    assert "UPTIME_HEALTH_CHECK_ID" in error.description and "SERVICE_UPTIME_CSV" in error.description
    assert rows(backend) == []


def test_only_an_unavailable_cloudwatch_is_worth_the_steps_retries(tmp_path, monkeypatch):
    """What the asset raises, called directly: retries for UptimeUnavailable only."""
    from perfdata_assets.sources.uptime.figures import UptimeRefused, UptimeUnavailable

    for error, retry in ((UptimeUnavailable("throttled"), True), (UptimeRefused("denied"), False)):
        class Failing(UptimeSource):
            def fetch(self, first, last, now):  # noqa: ANN001
                raise error
        context = dg.build_asset_context(partition_key="2024-01-01")
        with pytest.raises(dg.Failure) as raised:
            health_check_uptime(context, database=None, uptime_source=Failing(health_check_id=HEALTH_CHECK_ID))
        assert raised.value.allow_retries is retry


def test_the_source_from_the_environment(monkeypatch):
    for name in ("SERVICE_UPTIME_CSV", "UPTIME_HEALTH_CHECK_ID"):
        monkeypatch.delenv(name, raising=False)
    assert not uptime_source_from_env().is_configured
    monkeypatch.setenv("UPTIME_HEALTH_CHECK_ID", HEALTH_CHECK_ID)
    source = uptime_source_from_env()
    assert source.is_configured and source.health_check_id == dg.EnvVar("UPTIME_HEALTH_CHECK_ID")
    assert not source.csv_path
    monkeypatch.setenv("SERVICE_UPTIME_CSV", "/data/uptime.csv")
    source = uptime_source_from_env()
    assert source.csv_path == dg.EnvVar("SERVICE_UPTIME_CSV")
    # The CSV wins, and CSV days are final as soon as they exist.
    assert UptimeSource(csv_path="/data/uptime.csv", health_check_id=HEALTH_CHECK_ID).is_final(
        d("2024-01-01"), london("2024-01-02 00:01"))
    assert not UptimeSource(health_check_id=HEALTH_CHECK_ID).is_final(d("2024-01-01"), london("2024-01-02 00:01"))
