"""Self-healing nightly runs (issue 25): days the ledger lacks are loaded by the next good night.

The schedules are evaluated at chosen times against a real ledger, and the run
each asks for is executed as a real Dagster run with the request's tags.
"""

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from perfdata_assets.calendar import HEALING_TAG, RANGE_END, RANGE_START, day_ranges, parse_day_ranges
from perfdata_assets.db.ledger import record_loaded_days
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.definitions import defs
from perfdata_assets.devtools.sirius_stub import SiriusStub
from perfdata_assets.kpis.assets import digital_take_up
from perfdata_assets.publishing.assets import published_kpis
from perfdata_assets.publishing.sensors import published_kpis_webhook
from perfdata_assets.schedules import (
    health_check_uptime_nightly,
    lpa_history_nightly,
    monthly_kpis_schedule,
    sirius_channel_counts_nightly,
)
from perfdata_assets.sources.sirius.assets import ChannelCountsSource, sirius_channel_counts
from perfdata_assets.sources.sirius.client import SiriusClient
from perfdata_assets_tests.support import london
from perfdata_assets_tests.webhook_receiver import Receiver, notifier

D = dt.date
NIGHTLY = (lpa_history_nightly, sirius_channel_counts_nightly, health_check_uptime_nightly)
SOURCES = ("raw_feedback", "lpa_lifecycle_events", "sirius_channel_counts", "health_check_uptime")


def days(first: D, last: D) -> list[D]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def loaded(backend, assets, first: D, last: D) -> None:
    with backend.dbs.perfdata.begin() as conn:
        for asset in assets:
            record_loaded_days(conn, asset, days(first, last), dt.datetime.now(dt.timezone.utc))


def request_at(schedule, when: str, database: PerfdataDatabase, instance=None) -> dg.RunRequest:
    with dg.build_schedule_context(scheduled_execution_time=london(when), resources={"database": database},
                                   instance=instance, repository_def=defs.get_repository_def()) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    return request


def test_day_ranges_fold_and_unfold():
    picked = [D(2024, 3, 20), D(2024, 3, 21), D(2024, 3, 22), D(2024, 3, 28), D(2024, 4, 1)]
    assert day_ranges(picked) == "2024-03-20..2024-03-22,2024-03-28,2024-04-01"
    assert parse_day_ranges(day_ranges(picked)) == picked
    assert parse_day_ranges("2024-03-20..nonsense,,2024-02-30,2024-03-01") == [D(2024, 3, 1)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_with_the_ledger_complete_a_night_asks_for_its_usual_window_only(backend):
    loaded(backend, SOURCES, D(2024, 3, 1), D(2024, 3, 28))
    for schedule in NIGHTLY:
        request = request_at(schedule, "2024-04-01 02:30", backend.resource)
        assert request.partition_key_range == dg.PartitionKeyRange("2024-03-29", "2024-03-31")
        assert HEALING_TAG not in request.tags


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_night_also_asks_for_the_days_of_this_and_last_month_its_source_lacks(backend):
    loaded(backend, SOURCES, D(2024, 2, 1), D(2024, 4, 10))
    with backend.dbs.perfdata.begin() as conn:
        # Sirius lacks five days of March (an outage) and one of February (too old to heal).
        conn.execute(sa.text("DELETE FROM perfdata.loaded_days WHERE asset = 'sirius_channel_counts' AND "
                             "(day BETWEEN '2024-03-10' AND '2024-03-14' OR day = '2024-02-20')"))
    sirius = request_at(sirius_channel_counts_nightly, "2024-04-14 07:00", backend.resource)
    assert sirius.partition_key_range == dg.PartitionKeyRange("2024-03-10", "2024-04-13")
    assert sirius.tags[HEALING_TAG] == "2024-03-10..2024-03-14"
    assert sirius.run_key == "2024-04-11..2024-04-13"  # the tick's, however much it heals
    # The other sources lack nothing but what their usual window covers.
    lpa = request_at(lpa_history_nightly, "2024-04-14 02:30", backend.resource)
    assert lpa.partition_key_range == dg.PartitionKeyRange("2024-04-11", "2024-04-13")
    assert HEALING_TAG not in lpa.tags


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_days_before_a_sources_history_starts_are_no_hole(backend):
    # Nothing loaded yet, then a history that starts mid-March: neither asks for more than the usual window.
    assert request_at(sirius_channel_counts_nightly, "2024-04-14 07:00", backend.resource).partition_key_range == \
        dg.PartitionKeyRange("2024-04-11", "2024-04-13")
    loaded(backend, ["sirius_channel_counts"], D(2024, 3, 20), D(2024, 4, 10))
    request = request_at(sirius_channel_counts_nightly, "2024-04-14 07:00", backend.resource)
    assert request.partition_key_range == dg.PartitionKeyRange("2024-04-11", "2024-04-13")
    assert HEALING_TAG not in request.tags


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unreachable_ledger_leaves_the_usual_window(backend, tmp_path):
    broken = PerfdataDatabase(lpa_database_url=backend.lpa_url,
                              perfdata_database_url=f"sqlite:///{tmp_path / 'missing' / 'perfdata.sqlite'}")
    request = request_at(sirius_channel_counts_nightly, "2024-04-14 07:00", broken)
    assert request.partition_key_range == dg.PartitionKeyRange("2024-04-11", "2024-04-13")


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch):
    monkeypatch.setattr(dg.RetryPolicy, "calculate_delay", lambda self, attempt: 0)


@pytest.fixture
def signed(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPERFDATATEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "perfdata-heal-test-secret")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def run(assets, backend, instance, tags: dict, source=None) -> dg.ExecuteInProcessResult:
    resources = {"database": backend.resource}
    if source is not None:
        resources["channel_counts_source"] = source
    return dg.materialize(assets, resources=resources, instance=instance, tags=tags, raise_on_error=False)


def sirius_ledger(backend) -> list[D]:
    rows = backend.query("SELECT day FROM perfdata.loaded_days WHERE asset = 'sirius_channel_counts' ORDER BY day")
    return [d if isinstance(d, D) else D.fromisoformat(d) for (d,) in rows]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgres_six_failed_nights_are_healed_by_the_next_and_take_up_is_published_once(backend, signed):
    with SiriusStub(seed=25) as stub, Receiver() as receiver, dg.DagsterInstance.ephemeral() as instance:
        source = ChannelCountsSource(sirius=SiriusClient(base_url=stub.base_url, backoff_seconds=0.01,
                                                         read_timeout_seconds=5, max_attempts=2))
        # September and October to the 25th are loaded.
        assert run([sirius_channel_counts], backend, instance,
                   {RANGE_START: "2024-09-01", RANGE_END: "2024-10-25"}, source).success

        # Sirius is down for six nights: each run fails, nothing is loaded.
        stub.status = 503
        for night in days(D(2024, 10, 27), D(2024, 11, 1)):
            request = request_at(sirius_channel_counts_nightly, f"{night} 07:00", backend.resource, instance)
            assert not run([sirius_channel_counts], backend, instance, request.tags, source).success
        assert sirius_ledger(backend)[-1] == D(2024, 10, 25)

        webhooks = notifier(receiver.url)
        sensor = dg.build_sensor_context(instance=instance, resources={"webhooks": webhooks})

        def monthly(day: str) -> dg.ExecuteInProcessResult:
            request = request_at(monthly_kpis_schedule, f"{day} 09:00", backend.resource, instance)
            assert request.partition_key == "2024-10-01"
            result = dg.materialize([digital_take_up, published_kpis], resources={"database": backend.resource},
                                    instance=instance, partition_key=request.partition_key, tags=request.tags)
            published_kpis_webhook(sensor)
            return result

        # The monthly run on the 1st: October's take-up waits for its days, nothing is announced.
        monthly("2024-11-01")
        assert backend.query("SELECT count(*) FROM perfdata.published_kpis") == [(0,)]
        assert receiver.bodies == []

        # Sirius is back: the next night loads the six missed days with its own.
        stub.status = None
        request = request_at(sirius_channel_counts_nightly, "2024-11-02 07:00", backend.resource, instance)
        assert request.partition_key_range == dg.PartitionKeyRange("2024-10-26", "2024-11-01")
        assert request.tags[HEALING_TAG] == "2024-10-26..2024-10-29"
        healed = run([sirius_channel_counts], backend, instance, request.tags, source)
        assert healed.success
        assert sirius_ledger(backend) == days(D(2024, 9, 1), D(2024, 11, 1))
        summary = healed.get_asset_materialization_events()[-1].materialization.metadata
        assert summary["healed_days"].value == "2024-10-26..2024-10-29"

        # The re-run on the 2nd publishes take-up, announced once.
        monthly("2024-11-02")
        take_up = backend.query("SELECT value, published_at FROM perfdata.published_kpis "
                                "WHERE data_type = 'digital-take-up' AND period_start = '2024-10-01'")
        assert len(take_up) == 1 and take_up[0][0] is not None
        assert [(b["event"], b["month"]) for b in receiver.bodies] == [("kpis-published", "2024-10")]
        assert receiver.bodies[0]["values"]["digital-take-up"] == pytest.approx(float(take_up[0][0]))

        # The re-run on the 3rd changes nothing: nothing sent, published_at kept.
        third = monthly("2024-11-03")
        assert third.success
        assert backend.query("SELECT value, published_at FROM perfdata.published_kpis "
                             "WHERE data_type = 'digital-take-up' AND period_start = '2024-10-01'") == take_up
        assert len(receiver.bodies) == 1
