"""sirius_channel_counts and digital_take_up end to end: real HTTP to the stub, real runs, both databases."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from perfdata_assets.devtools.sirius_stub import SiriusStub, synthetic_channel_counts
from perfdata_assets.kpis.assets import digital_take_up
from perfdata_assets.sources.sirius.assets import ChannelCountsSource, sirius_channel_counts
from perfdata_assets.sources.sirius.client import SiriusClient
from perfdata_assets_tests.support import materialize

ACCESS_KEY, SECRET_KEY = "AKIDPERFDATATEST", "perfdata-asset-test-secret"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def api_source(stub: SiriusStub) -> ChannelCountsSource:
    return ChannelCountsSource(
        sirius=SiriusClient(base_url=stub.base_url, backoff_seconds=0.05, read_timeout_seconds=5, max_attempts=4)
    )


def run(assets, backend, source, first, last, **kwargs):
    return materialize(assets, backend, first, last, resources={"channel_counts_source": source}, **kwargs)


def expected_take_up(counts, month: dt.date):
    in_month = [c for c in counts if (c.day.year, c.day.month) == (month.year, month.month)]
    digital = sum(c.count for c in in_month if c.channel == "online")
    total = sum(c.count for c in in_month)
    percent = (Decimal(100 * digital) / Decimal(total)).quantize(Decimal("0.01"), ROUND_HALF_UP) if total else None
    return (month.isoformat(), digital, total, percent)


def take_up_rows(backend):
    rows = backend.query("SELECT month, digital, total, take_up_percent FROM perfdata.digital_take_up ORDER BY month")
    return [
        (str(m), d, t, None if p is None else Decimal(str(p)).quantize(Decimal("0.01"))) for m, d, t, p in rows
    ]


def stored_counts(backend):
    return sorted((str(d), c, n) for d, c, n in backend.query('SELECT day, channel, "count" FROM perfdata.channel_counts'))


def test_counts_and_take_up_match_the_contract_through_throttling_and_5xx(backend):
    start, end = dt.date(2024, 1, 1), dt.date(2024, 4, 30)  # > 92 days: the client splits the range
    with SiriusStub(seed=7, extra_channel="post-office", complete_through=end, throttle_first=1, retry_after=1,
                    fail_first=2, require_signature=True, access_key=ACCESS_KEY, secret_key=SECRET_KEY) as stub:
        assert run([sirius_channel_counts], backend, api_source(stub), "2024-01-01", "2024-04-30").success
        assert stub.request_count == 4  # 429, 503, then two chunks
        counts = synthetic_channel_counts(start, end, seed=7, extra_channel="post-office")
    assert stored_counts(backend) == sorted((c.day.isoformat(), c.channel, c.count) for c in counts)
    assert any(c.channel == "post-office" for c in counts)

    assert run([digital_take_up], backend, ChannelCountsSource(), "2024-01-01", "2024-04-01").success
    months = [dt.date(2024, m, 1) for m in range(1, 5)]
    assert take_up_rows(backend) == [expected_take_up(counts, m) for m in months]


def test_rerun_is_idempotent(backend):
    with SiriusStub(seed=3, complete_through=dt.date(2024, 2, 29)) as stub:
        for _ in range(2):
            assert run([sirius_channel_counts], backend, api_source(stub), "2024-02-01", "2024-02-29").success
            assert run([digital_take_up], backend, ChannelCountsSource(), "2024-02-01", "2024-02-01").success
    assert backend.query("SELECT count(*), count(DISTINCT day) FROM perfdata.channel_counts")[0][1] == 29
    assert len(take_up_rows(backend)) == 1


@pytest.mark.parametrize("mode", ["negative-count", "fractional-count", "string-count", "date-outside-range",
                                  "duplicate-pair", "not-json"])
def test_a_malformed_body_fails_the_run_and_writes_nothing(backend, mode):
    with SiriusStub(seed=1, complete_through=dt.date(2024, 1, 31), malformed=mode) as stub:
        result = run([sirius_channel_counts], backend, api_source(stub), "2024-01-01", "2024-01-31",
                     raise_on_error=False)
    assert not result.success
    description = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert "channel counts for 2024-01-01 to 2024-01-31" in description
    assert backend.query("SELECT count(*) FROM perfdata.channel_counts") == [(0,)]
    assert backend.query("SELECT count(*) FROM perfdata.loaded_days") == [(0,)]


def test_days_after_complete_through_are_not_published(backend):
    with SiriusStub(seed=1, complete_through=dt.date(2024, 3, 28)) as stub:
        result = run([sirius_channel_counts], backend, api_source(stub), "2024-03-01", "2024-03-31",
                     raise_on_error=False)
        assert not result.success
        description = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
        assert "final only through 2024-03-28" in description and "2024-03-29, 2024-03-30, 2024-03-31" in description
        assert backend.query("SELECT count(DISTINCT day), max(day) FROM perfdata.channel_counts") in (
            [(28, dt.date(2024, 3, 28))], [(28, "2024-03-28")])
        month = run([digital_take_up], backend, ChannelCountsSource(), "2024-03-01", "2024-03-01")
        # The month waits for its last days (without failing the run, so the other KPIs publish).
        waiting = month.get_asset_materialization_events()[0].materialization.metadata["waiting_for"].value
        assert waiting == "sirius_channel_counts: 3 day(s) not loaded (2024-03-29, 2024-03-30, 2024-03-31)"
        assert backend.query("SELECT count(*) FROM perfdata.digital_take_up") == [(0,)]

        stub.complete_through = dt.date(2024, 3, 31)  # Sirius finalises; the next run picks them up
        assert run([sirius_channel_counts], backend, api_source(stub), "2024-03-29", "2024-03-31").success
    assert run([digital_take_up], backend, ChannelCountsSource(), "2024-03-01", "2024-03-01").success
    counts = synthetic_channel_counts(dt.date(2024, 3, 1), dt.date(2024, 3, 31), seed=1)
    assert take_up_rows(backend) == [expected_take_up(counts, dt.date(2024, 3, 1))]


def test_the_csv_route_fills_the_same_tables(backend, tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text(
        "date,channel,count\n"
        "2024-01-01,online,3\n2024-01-01,paper,1\n2024-01-15,phone,1\n2024-01-31,online,2\n"
        "2024-01-31,kiosk,1\n2024-02-01,online,9\n"
    )
    source = ChannelCountsSource(csv_path=str(path))
    assert run([sirius_channel_counts], backend, source, "2024-01-01", "2024-01-31").success
    assert run([digital_take_up], backend, source, "2024-01-01", "2024-01-01").success
    # 5 online of 8: 62.50; the unknown 'kiosk' channel is in the total.
    assert take_up_rows(backend) == [("2024-01-01", 5, 8, Decimal("62.50"))]


def test_a_bad_csv_row_fails_with_its_line_number_and_writes_nothing(backend, tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("date,channel,count\n2024-01-01,online,3\n2024-01-02,paper,-4\n")
    result = run([sirius_channel_counts], backend, ChannelCountsSource(csv_path=str(path)), "2024-01-01",
                 "2024-01-31", raise_on_error=False)
    assert not result.success
    description = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert "line 3" in description
    assert backend.query("SELECT count(*) FROM perfdata.channel_counts") == [(0,)]


def test_no_source_configured_says_which_variables_to_set(backend):
    result = run([sirius_channel_counts], backend, ChannelCountsSource(), "2024-01-01", "2024-01-01",
                 raise_on_error=False)
    description = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert "SIRIUS_BASE_URL" in description and "SIRIUS_CHANNEL_COUNTS_CSV" in description
