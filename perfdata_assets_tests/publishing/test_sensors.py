"""Webhooks, received by a real HTTP server on loopback: once per published month, and on a failed run."""

import contextlib

import dagster as dg
import pytest
import sqlalchemy as sa

from perfdata_assets.config import ConfigError
from perfdata_assets.publishing.assets import published_kpis
from perfdata_assets.publishing.delivery import PublicationBucket, opg_publication_delivery
from perfdata_assets.publishing.sensors import (
    NOT_CONFIGURED,
    perfdata_run_failure_webhook,
    published_kpis_webhook,
    safe_error,
)
from perfdata_assets.publishing.checks import publication_checks
from perfdata_assets.publishing.resource import ExportDirectory
from perfdata_assets.publishing.webhooks import ANNOUNCE_TAG, WebhookNotifier, parse_urls, redact, webhooks_from_env
from perfdata_assets_tests.publishing.fixtures import seed_kpis
from perfdata_assets_tests.support import materialize, range_tags
from perfdata_assets_tests.webhook_receiver import Receiver, notifier


@contextlib.contextmanager
def closed_port_url():
    """A loopback URL where nothing listens (connection refused, at once)."""
    with Receiver() as receiver:
        url = receiver.url
    yield url


@pytest.fixture
def instance():
    # In memory: the sensors only need the event log, and this keeps the tests fast.
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_one_webhook_per_published_month_and_never_twice(backend, instance):
    seed_kpis(backend)
    assert materialize([published_kpis], backend, "2024-01-01", "2024-03-01", instance=instance).success

    with Receiver() as first, Receiver() as second:
        webhooks = notifier(first.url, second.url)
        context = dg.build_sensor_context(instance=instance, resources={"webhooks": webhooks})
        result = published_kpis_webhook(context)
        assert isinstance(result, dg.SkipReason)
        assert result.skip_message == "months 2024-01, 2024-02, 2024-03: 6 delivered"
        assert [b["month"] for b in first.bodies] == ["2024-01", "2024-02", "2024-03"]
        assert first.bodies == second.bodies
        march = first.bodies[2]
        assert march["values"] == {"user-satisfaction-percent": 66.67, "very-dissatisfied": 1.0, "dissatisfied": 0.0,
                                   "neither": 0.0, "satisfied": 1.0, "very-satisfied": 1.0, "uptime-percent": 100.0,
                                   "digital-take-up": 74.07, "completion-rate-percent": 133.33,
                                   "user-satisfaction-score": 58.33}
        assert first.bodies[1]["values"]["completion-rate-percent"] is None
        assert march["event"] == "kpis-published" and march["period_start"] == "2024-03-01"
        stored = backend.query("SELECT DISTINCT published_at FROM perfdata.published_kpis")
        assert len(stored) == 1 and march["published_at"].startswith(str(stored[0][0])[:19].replace(" ", "T"))
        assert "completion-rate-percent 133.33" in march["text"]

        # The same tick again, and a restarted daemon (a new context from the saved cursor): nothing new.
        assert published_kpis_webhook(context).skip_message == "no newly published month"
        restarted = dg.build_sensor_context(instance=instance, cursor=context.cursor, resources={"webhooks": webhooks})
        assert published_kpis_webhook(restarted).skip_message == "no newly published month"
        assert len(first.bodies) == 3

        # Re-publishing February unchanged writes nothing and says nothing (before issue 25 it
        # was announced again on every monthly re-run); its published_at stays.
        assert materialize([published_kpis], backend, "2024-02-01", instance=instance).success
        assert published_kpis_webhook(restarted).skip_message == "nothing newly written to announce"
        assert backend.query("SELECT DISTINCT published_at FROM perfdata.published_kpis") == stored
        assert len(first.bodies) == 3

        # A changed March is written: published once, and what it revised.
        with backend.dbs.perfdata.begin() as conn:
            conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 3, completion_rate_percent = 100.00 "
                                 "WHERE month = '2024-03-01'"))
        assert materialize([published_kpis], backend, "2024-03-01", instance=instance).success
        published_kpis_webhook(restarted)
        assert [(b["event"], b["month"]) for b in first.bodies[3:]] == [("kpis-published", "2024-03"),
                                                                           ("kpis-revised", "2024-03")]
        assert published_kpis_webhook(restarted).skip_message == "no newly published month"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_run_tagged_not_to_announce_is_passed_over(backend, instance):
    # `perfdata rebuild` without --announce tags its run so (rebuild.py).
    seed_kpis(backend)
    with Receiver() as receiver:
        # February's responses fall to none: the plausibility check flags it, and says so to no one.
        quiet = dg.materialize(
            [published_kpis, *publication_checks], instance=instance,
            tags={ANNOUNCE_TAG: "no", **range_tags("2024-01-01", "2024-03-01")},
            resources={"database": backend.resource, "webhooks": notifier(receiver.url),
                       "export_directory": ExportDirectory(path="unused")},
            selection=[published_kpis.key], raise_on_error=False)
        assert quiet.success
        assert any(not e.passed for e in quiet.get_asset_check_evaluations())
        assert receiver.bodies == []
        context = dg.build_sensor_context(instance=instance, resources={"webhooks": notifier(receiver.url)})
        assert published_kpis_webhook(context).skip_message == "nothing newly written to announce"
        # The next run that may announce, and writes, is announced.
        with backend.dbs.perfdata.begin() as conn:
            conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 3, completion_rate_percent = 100.00 "
                                 "WHERE month = '2024-03-01'"))
        assert materialize([published_kpis], backend, "2024-03-01", instance=instance).success
        assert published_kpis_webhook(context).skip_message == "months 2024-03: 2 delivered"
    assert [b["event"] for b in receiver.bodies] == ["kpis-published", "kpis-revised"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_retries_are_bounded_and_a_dead_receiver_does_not_block_the_others(backend, instance):
    seed_kpis(backend)
    assert materialize([published_kpis], backend, "2024-01-01", "2024-02-01", instance=instance).success
    with Receiver(fail_first=2) as flaky, Receiver(fail_first=99) as broken, closed_port_url() as dead:
        context = dg.build_sensor_context(instance=instance, resources={"webhooks": notifier(flaky.url, broken.url, dead)})
        message = published_kpis_webhook(context).skip_message
        assert [b["month"] for b in flaky.bodies] == ["2024-01", "2024-02"]  # third attempt got through
        assert broken.attempts == 3  # three attempts for January, then skipped for the tick
        assert message == (
            "months 2024-01, 2024-02: 2 delivered; failed: "
            f"{redact(broken.url)} (HTTP 500), {redact(dead)} (ConnectionError), "
            f"{redact(broken.url)} (skipped: failed earlier in this tick), "
            f"{redact(dead)} (skipped: failed earlier in this tick)"
        )
        assert "secret-token-path" not in message
        # At most once: the failed months are not re-sent on the next tick.
        assert published_kpis_webhook(context).skip_message == "no newly published month"


def test_a_refused_payload_is_not_retried():
    with Receiver(fail_first=99, status=400) as receiver:
        [delivery] = notifier(receiver.url).post({"x": 1})
    assert delivery.error == "HTTP 400" and receiver.attempts == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_failure_sensor_alerts_without_personal_data(backend, instance):
    # No bucket configured: the delivery fails, saying so.
    result = materialize([opg_publication_delivery], backend, "2024-01-01", instance=instance, raise_on_error=False,
                         resources={"publication_bucket": PublicationBucket(), "webhooks": WebhookNotifier()})
    assert not result.success
    with Receiver() as receiver:
        context = dg.build_run_status_sensor_context(
            sensor_name="perfdata_run_failure_webhook",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"webhooks": notifier(receiver.url)},
        ).for_run_failure()
        outcome = perfdata_run_failure_webhook(context)
    assert outcome.skip_message == f"run {result.run_id}: 1 delivered"
    [alert] = receiver.bodies
    assert alert["event"] == "run-failed" and alert["run_id"] == result.run_id
    assert alert["job"] == "__ephemeral_asset_job__"
    assert alert["failed_steps"] == ["opg_publication_delivery"]
    assert alert["error"].startswith("PERFDATA_PUBLICATION_BUCKET is not set")


def test_error_messages_are_cut_to_a_safe_line():
    message = (
        '(psycopg.errors.InvalidTextRepresentation) invalid input syntax for type json by jane.doe@example.com '
        '[SQL: INSERT INTO x VALUES (%(details)s)] [parameters: {"details": "my diagnosis"}]\n'
        'DETAIL: Token "my" is invalid.\nCONTEXT: JSON data, line 1: my diagnosis'
    )
    safe = safe_error(message)
    assert safe == "(psycopg.errors.InvalidTextRepresentation) invalid input syntax for type json by [redacted]"
    assert len(safe_error("x" * 1000)) == 300
    assert safe_error("") == ""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_urls_both_sensors_skip_saying_why(backend, instance):
    context = dg.build_sensor_context(instance=instance, resources={"webhooks": WebhookNotifier()})
    assert published_kpis_webhook(context).skip_message == NOT_CONFIGURED
    result = materialize([opg_publication_delivery], backend, "2024-01-01", instance=instance, raise_on_error=False,
                         resources={"publication_bucket": PublicationBucket(), "webhooks": WebhookNotifier()})
    failure_context = dg.build_run_status_sensor_context(
        sensor_name="perfdata_run_failure_webhook", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(), resources={"webhooks": WebhookNotifier()},
    ).for_run_failure()
    assert perfdata_run_failure_webhook(failure_context).skip_message == NOT_CONFIGURED


def test_webhook_urls_from_the_environment(monkeypatch):
    monkeypatch.delenv("PERFDATA_WEBHOOK_URLS", raising=False)
    assert webhooks_from_env().url_list() == []
    monkeypatch.setenv("PERFDATA_WEBHOOK_URLS", " https://a.example/x , http://b.example:8080/y,")
    resource = webhooks_from_env()
    assert isinstance(resource.urls, dg.EnvVar)
    assert parse_urls(resource.urls.get_value()) == ["https://a.example/x", "http://b.example:8080/y"]
    monkeypatch.setenv("PERFDATA_WEBHOOK_URLS", "https://a.example/x,ftp://secret@b.example/")
    with pytest.raises(ConfigError, match="entry 2 is not an http") as error:
        webhooks_from_env()
    assert "secret" not in str(error.value)
    assert redact("https://hooks.example.org:8443/services/T0/B0/secret?x=1") == "https://hooks.example.org:8443"
