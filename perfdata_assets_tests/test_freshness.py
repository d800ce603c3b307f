"""Every asset's deadline (freshness policies) and the overdue webhook, received by a real HTTP server."""

import datetime as dt
import json

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time
from dagster._utils.schedules import get_next_cron_tick

from perfdata_assets import freshness
from perfdata_assets.definitions import defs
from perfdata_assets.freshness import POLICIES, WATCHING_SINCE, overdue, overdue_payload, perfdata_overdue_webhook
from perfdata_assets.publishing.delivery import PublicationBucket
from perfdata_assets.publishing.sensors import NOT_CONFIGURED
from perfdata_assets.publishing.webhooks import WebhookNotifier
from perfdata_assets.schedules import schedules
from perfdata_assets.sources.sirius.assets import ChannelCountsSource
from perfdata_assets.sources.costs.assets import ServiceCostsSource
from perfdata_assets.sources.uptime.assets import UptimeSource
from perfdata_assets_tests.webhook_receiver import Receiver, notifier

UTC = dt.timezone.utc
H = dt.timedelta(hours=1)
DAILY = ["raw_feedback", "lpa_lifecycle_events"]
MONTHLY = ["user_satisfaction", "completion_rate", "published_kpis", "performance_data_exports"]


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- The deadlines -------------------------------------------------------------------


def test_every_asset_in_the_definitions_has_its_deadline():
    graph = defs.resolve_asset_graph()
    names = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert names == set(POLICIES)
    for name in names:
        assert graph.get(dg.AssetKey(name)).freshness_policy == POLICIES[name], name


def test_the_deadlines():
    table = {name: (p.deadline_cron, p.lower_bound_delta, p.timezone) for name, p in POLICIES.items()}
    monthly = ("0 12 1 * *", 13 * H, "UTC")
    assert table == {
        "health_check_uptime": ("0 2 * * *", 2 * H, "Europe/London"),
        "raw_feedback": ("0 4 * * *", 4 * H, "Europe/London"),
        "lpa_lifecycle_events": ("0 4 * * *", 4 * H, "Europe/London"),
        "sirius_channel_counts": ("0 9 * * *", 9 * H, "Europe/London"),
        # read every night at 06:00 for the last twelve months
        "service_costs": ("0 8 * * *", 8 * H, "Europe/London"),
        **{name: monthly for name in ("user_satisfaction", "completion_rate", "digital_take_up", "service_uptime",
                                      "cost_per_transaction", "published_kpis", "performance_data_exports", "opg_publication_delivery")},
    }


@pytest.mark.parametrize("day", [dt.date(2025, 1, 1), dt.date(2025, 7, 1)])  # GMT and BST
def test_each_schedule_runs_inside_its_assets_window_at_least_an_hour_before_the_deadline(day):
    midnight = dt.datetime.combine(day, dt.time(), UTC) - 2 * H
    for schedule in schedules:
        tick = get_next_cron_tick(schedule.cron_schedule, midnight, schedule.execution_timezone)
        job = defs.resolve_job_def(schedule.job_name)
        for key in job.asset_layer.executable_asset_keys:
            policy = POLICIES[key.to_user_string()]
            deadline = get_next_cron_tick(policy.deadline_cron, tick, policy.timezone)
            assert deadline - policy.lower_bound_delta <= tick, (schedule.name, key)
            assert deadline - tick >= 1.5 * H, (schedule.name, key, tick, deadline)


def test_the_overdue_sensor_is_registered_and_running_by_default():
    sensor = defs.resolve_sensor_def("perfdata_overdue_webhook")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


# --- Overdue at fixed times ------------------------------------------------------------


def test_a_nightly_asset_is_overdue_from_its_deadline_until_materialised():
    policy = POLICIES["raw_feedback"]  # by 04:00 UK time
    ran = at(2025, 1, 14, 2, 40)  # GMT: 02:40 UK time
    assert overdue("raw_feedback", policy, ran, at(2025, 1, 15, 3, 59)) is None
    late = overdue("raw_feedback", policy, ran, at(2025, 1, 15, 4, 0))
    assert late == freshness.Overdue("raw_feedback", at(2025, 1, 15, 4), at(2025, 1, 15, 4), ran)
    # Still late a day on: since the first deadline missed.
    assert overdue("raw_feedback", policy, ran, at(2025, 1, 16, 9)).overdue_since == at(2025, 1, 15, 4)
    # A late run counts (as in Dagster's evaluator): fresh until the next deadline.
    assert overdue("raw_feedback", policy, at(2025, 1, 15, 6), at(2025, 1, 15, 7)) is None
    # A run before midnight cannot have loaded yesterday.
    assert overdue("raw_feedback", policy, at(2025, 1, 14, 23, 30), at(2025, 1, 15, 4)) is not None
    # Summer: 04:00 BST is 03:00 UTC.
    assert overdue("raw_feedback", policy, at(2025, 7, 14, 1, 40), at(2025, 7, 15, 3)).deadline == at(2025, 7, 15, 3)
    never = overdue("raw_feedback", policy, None, at(2025, 7, 15, 3))
    assert never.overdue_since is None and never.last_materialised_at is None


def test_a_monthly_asset_is_due_by_opgs_import_on_the_first():
    policy = POLICIES["published_kpis"]
    ran = at(2024, 12, 1, 9, 3)
    assert overdue("published_kpis", policy, ran, at(2025, 1, 1, 11, 59)) is None
    assert overdue("published_kpis", policy, ran, at(2025, 1, 1, 12)).overdue_since == at(2025, 1, 1, 12)
    # The monthly run at 09:00 UK time, a re-run on the 7th, and a run just after the month ended
    # (00:10 BST = 23:10 UTC the day before) all count.
    for run, now in ((at(2025, 1, 1, 9), at(2025, 1, 1, 12)), (at(2025, 1, 7, 9), at(2025, 1, 7, 10)),
                     (at(2025, 9, 30, 23, 10), at(2025, 10, 1, 12))):
        assert overdue("published_kpis", policy, run, now) is None, run
    # An earlier month's run does not: 22:50 UTC on 30 September is 23:50 BST, still September.
    assert overdue("published_kpis", policy, at(2025, 9, 30, 22, 50), at(2025, 10, 1, 12)) is not None


def test_the_payload_names_the_asset_and_times_only():
    late = overdue("raw_feedback", POLICIES["raw_feedback"], at(2025, 7, 14, 1, 40), at(2025, 7, 16, 9))
    assert overdue_payload(late, POLICIES["raw_feedback"]) == {
        "event": "asset-overdue",
        "asset": "raw_feedback",
        "deadline": "2025-07-16T03:00:00+00:00",
        "overdue_since": "2025-07-15T03:00:00+00:00",
        "last_materialised_at": "2025-07-14T01:40:00+00:00",
        "text": "perfdata: raw_feedback is overdue since 2025-07-15 04:00 Europe/London; "
                "last materialised 2025-07-14 01:40 UTC",
    }


# --- The sensor -------------------------------------------------------------------------


@pytest.fixture
def instance():
    # In memory: the sensor only reads the latest materialisations.
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


@pytest.fixture
def clock(monkeypatch):
    now = {"t": at(2025, 1, 1)}
    monkeypatch.setattr(freshness, "utc_now", lambda: now["t"])
    return now


def materialise(instance, names, when: dt.datetime, partition: str) -> None:
    with freeze_time(when):
        for name in names:
            instance.report_runless_asset_event(dg.AssetMaterialization(name, partition=partition))


def unconfigured(webhooks: WebhookNotifier, **overrides) -> dict:
    """Only the LPA database: Sirius, uptime, the costs and OPG's bucket are not set up."""
    return {"webhooks": webhooks, "channel_counts_source": ChannelCountsSource(), "uptime_source": UptimeSource(),
            "service_costs_source": ServiceCostsSource(), "publication_bucket": PublicationBucket(), **overrides}


def test_an_overdue_asset_is_announced_once_and_again_only_after_a_new_lapse(instance, clock):
    materialise(instance, DAILY, at(2025, 1, 14, 2, 40), "2025-01-13")
    materialise(instance, MONTHLY, at(2025, 1, 1, 9, 5), "2024-12-01")
    with Receiver() as receiver:
        resources = unconfigured(notifier(receiver.url))

        def tick(now: dt.datetime, cursor: str | None = None) -> tuple[str, str | None]:
            clock["t"] = now
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                return perfdata_overdue_webhook(context).skip_message, context.cursor

        # Fresh: nothing sent (the unconfigured sources' assets are never due).
        assert tick(at(2025, 1, 14, 5))[0] == "nothing overdue"
        assert receiver.bodies == []

        # 04:00 UK time passes without a run.
        message, cursor = tick(at(2025, 1, 15, 4, 5))
        assert message == "overdue raw_feedback, lpa_lifecycle_events: 2 delivered"
        assert [b["asset"] for b in receiver.bodies] == DAILY
        assert receiver.bodies[0] == {
            "event": "asset-overdue",
            "asset": "raw_feedback",
            "deadline": "2025-01-15T04:00:00+00:00",
            "overdue_since": "2025-01-15T04:00:00+00:00",
            "last_materialised_at": "2025-01-14T02:40:00+00:00",
            "text": "perfdata: raw_feedback is overdue since 2025-01-15 04:00 Europe/London; "
                    "last materialised 2025-01-14 02:40 UTC",
        }

        # The next tick, a restarted daemon, and the next deadline of the same lapse: nothing new.
        assert tick(at(2025, 1, 15, 4, 10), cursor)[0] == \
            "still overdue, announced before: raw_feedback, lpa_lifecycle_events"
        assert tick(at(2025, 1, 16, 4, 5), cursor)[0].startswith("still overdue")
        assert len(receiver.bodies) == 2

        # raw_feedback runs late and is fresh again; it misses the next deadline: a new lapse.
        materialise(instance, ["raw_feedback"], at(2025, 1, 16, 5), "2025-01-15")
        message, cursor = tick(at(2025, 1, 16, 6), cursor)
        assert message == "still overdue, announced before: lpa_lifecycle_events"
        assert json.loads(cursor) == {"lpa_lifecycle_events": "2025-01-15T04:00:00+00:00",
                                      WATCHING_SINCE: "2025-01-15T04:05:00+00:00"}
        message, cursor = tick(at(2025, 1, 17, 4, 5), cursor)
        assert message == "overdue raw_feedback: 1 delivered"
        assert receiver.bodies[-1]["overdue_since"] == "2025-01-17T04:00:00+00:00"

        # OPG's import passes without January published.
        message, cursor = tick(at(2025, 2, 1, 12, 5), cursor)
        assert message == f"overdue {', '.join(MONTHLY)}: 4 delivered"
        assert receiver.bodies[-1]["deadline"] == "2025-02-01T12:00:00+00:00"

    # Nothing but names and times: no figure, no address, no free text from a source.
    for body in receiver.bodies:
        assert set(body) == {"event", "asset", "deadline", "overdue_since", "last_materialised_at", "text"}
        assert body["asset"] in POLICIES and "@" not in json.dumps(body)


def test_a_configured_source_is_due_and_a_never_materialised_asset_is_announced(instance, clock):
    clock["t"] = at(2025, 1, 14, 12)
    with Receiver() as receiver:
        resources = unconfigured(notifier(receiver.url), channel_counts_source=ChannelCountsSource(csv_path="x.csv"))
        materialise(instance, DAILY, at(2025, 1, 15, 2, 40), "2025-01-14")
        materialise(instance, MONTHLY, at(2025, 1, 1, 9, 5), "2024-12-01")
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            # The sensor starts watching: deadlines already passed page nobody.
            assert perfdata_overdue_webhook(context).skip_message.startswith(
                "never materialised, not due since this sensor started watching (2025-01-14 12:00 UTC): ")
            clock["t"] = at(2025, 1, 15, 9, 5)
            # The first deadline since, each asset's own: announced.
            assert perfdata_overdue_webhook(context).skip_message == "overdue sirius_channel_counts: 1 delivered"
            clock["t"] = at(2025, 2, 1, 12, 5)
            assert perfdata_overdue_webhook(context).skip_message.startswith("overdue ")
            assert "digital_take_up" in [b["asset"] for b in receiver.bodies]
    sirius = receiver.bodies[0]
    assert sirius["last_materialised_at"] is None and sirius["overdue_since"] is None
    assert sirius["deadline"] == "2025-01-15T09:00:00+00:00"
    assert sirius["text"] == "perfdata: sirius_channel_counts is overdue: due by 2025-01-15 09:00 Europe/London, " \
                             "never materialised"


def test_a_brand_new_instance_pages_nobody_on_its_first_evaluation(instance, clock):
    clock["t"] = at(2025, 1, 15, 9, 5)
    with Receiver() as receiver:
        resources = unconfigured(notifier(receiver.url))
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            message = perfdata_overdue_webhook(context).skip_message
            assert message.startswith("never materialised, not due since this sensor started watching")
            assert "raw_feedback" in message
            clock["t"] = at(2025, 1, 15, 11)
            assert perfdata_overdue_webhook(context).skip_message.startswith("never materialised")
        assert receiver.bodies == []
        assert json.loads(context.cursor) == {WATCHING_SINCE: "2025-01-15T09:05:00+00:00"}


def test_a_failing_receiver_is_not_retried_on_the_next_tick(instance, clock):
    clock["t"] = at(2025, 1, 15, 9, 5)
    watching = json.dumps({WATCHING_SINCE: "2025-01-01T00:00:00+00:00"})
    with (Receiver(fail_first=99) as broken,
          dg.build_sensor_context(instance=instance, resources=unconfigured(notifier(broken.url)),
                                  cursor=watching) as context):
        message = perfdata_overdue_webhook(context).skip_message
        assert message.startswith("overdue raw_feedback") and "failed:" in message and "(HTTP 500)" in message
        assert "secret-token-path" not in message
        attempts = broken.attempts
        assert perfdata_overdue_webhook(context).skip_message.startswith("still overdue")
        assert broken.attempts == attempts


def test_without_urls_the_sensor_skips_saying_why(instance):
    with dg.build_sensor_context(instance=instance, resources=unconfigured(WebhookNotifier())) as context:
        assert perfdata_overdue_webhook(context).skip_message == NOT_CONFIGURED
