"""The monthly run delivers OPG's file to the bucket: byte-identical to the export, once, late ones announced."""

import datetime as dt
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa

from perfdata_assets.publishing import delivery
from perfdata_assets.publishing.assets import performance_data_exports, published_kpis
from perfdata_assets.publishing.checks import publication_checks
from perfdata_assets.publishing.delivery import PublicationBucket, import_deadline, opg_publication_delivery
from perfdata_assets.publishing.resource import ExportDirectory
from perfdata_assets.publishing.webhooks import WebhookNotifier
from perfdata_assets_tests.aws import FaultProxy, aws_env
from perfdata_assets_tests.publishing.fixtures import seed_kpis
from perfdata_assets_tests.support import materialize
from perfdata_assets_tests.webhook_receiver import Receiver, notifier

BUCKET = "opg-performance-data"
EXPECTED = Path(__file__).parent.parent / "expected"
MARCH = "make_a_lasting_power_of_attorney_24_03.json"


def test_opgs_import_deadline_is_noon_utc_on_the_first_of_the_next_month():
    assert import_deadline(dt.date(2024, 10, 1)) == dt.datetime(2024, 11, 1, 12, tzinfo=dt.timezone.utc)
    assert import_deadline(dt.date(2024, 12, 1)) == dt.datetime(2025, 1, 1, 12, tzinfo=dt.timezone.utc)


def monthly_run(backend, tmp_path, first, last, webhooks=None, **kwargs):
    """The monthly job's publishing part: publication, files, the blocking check, delivery."""
    return materialize(
        [published_kpis, performance_data_exports, opg_publication_delivery, *publication_checks],
        backend, first, last,
        resources={"export_directory": ExportDirectory(path=str(tmp_path / "exports")),
                   "publication_bucket": PublicationBucket(bucket=BUCKET, max_attempts=2),
                   "webhooks": webhooks or WebhookNotifier()},
        **kwargs,
    )


def bucket() -> dict[str, bytes]:
    s3 = boto3.session.Session().client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


def at(month: str, monkeypatch) -> None:
    """The run happens on the morning of OPG's import of ``month`` (before noon UTC)."""
    monkeypatch.setattr(delivery, "utc_now", lambda: import_deadline(dt.date.fromisoformat(month)) - dt.timedelta(hours=3))


def test_on_time_the_file_is_the_export_byte_for_byte_and_a_rerun_uploads_nothing(backend, tmp_path, moto_server,
                                                                                      monkeypatch):
    with FaultProxy(moto_server.url) as proxy, Receiver() as receiver:
        aws_env(monkeypatch, proxy.url, "s3")
        boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)
        seed_kpis(backend)
        at("2024-03-01", monkeypatch)

        result = monthly_run(backend, tmp_path, "2024-03-01", "2024-03-01", webhooks=notifier(receiver.url))

        assert result.success
        assert bucket() == {MARCH: (tmp_path / "exports" / MARCH).read_bytes()}
        assert bucket()[MARCH] == (EXPECTED / MARCH).read_bytes()
        assert receiver.bodies == []  # on time: OPG's import takes it, nothing to announce
        recorded = backend.query("SELECT object_key, needs_manual_pull_request FROM perfdata.publication_deliveries")
        assert [(k, bool(n)) for k, n in recorded] == [(MARCH, False)]

        puts_before = sum(r.method == "PUT" for r in proxy.requests)
        again = monthly_run(backend, tmp_path, "2024-03-01", "2024-03-01", webhooks=notifier(receiver.url))
        assert again.success
        assert sum(r.method == "PUT" for r in proxy.requests) == puts_before  # nothing uploaded again
        summary = again.get_asset_materialization_events()[-1].materialization.metadata
        assert summary["uploaded"].value == 0 and summary["unchanged"].value == 1
        assert receiver.bodies == []


def test_a_restated_figure_is_uploaded_again_and_announced_for_a_hand_made_pull_request(backend, tmp_path,
                                                                                          moto_server, monkeypatch):
    with Receiver() as receiver:
        aws_env(monkeypatch, moto_server.url, "s3")
        boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)
        seed_kpis(backend)
        at("2024-03-01", monkeypatch)
        assert monthly_run(backend, tmp_path, "2024-03-01", "2024-03-01", webhooks=notifier(receiver.url)).success
        first = bucket()[MARCH]

        # Two days later a late correction changes March's completion rate.
        with backend.dbs.perfdata.begin() as conn:
            conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 3, completion_rate_percent = 100.00 "
                                 "WHERE month = '2024-03-01'"))
        monkeypatch.setattr(delivery, "utc_now", lambda: dt.datetime(2024, 4, 3, 9, tzinfo=dt.timezone.utc))
        assert monthly_run(backend, tmp_path, "2024-03-01", "2024-03-01", webhooks=notifier(receiver.url)).success

        assert bucket()[MARCH] != first and bucket()[MARCH] == (tmp_path / "exports" / MARCH).read_bytes()
        [announcement] = receiver.bodies
        assert announcement["event"] == "publication-file-needs-pull-request"
        assert announcement["files"] == [{"month": "2024-03", "bucket": BUCKET, "key": MARCH,
                                          "sha256": announcement["files"][0]["sha256"],
                                          "reason": "changed after delivery"}]
        assert "by hand" in announcement["text"]
        restated = backend.query("SELECT data_type, old_value, new_value FROM perfdata.published_kpis_restatements")
        assert [(t, float(o), float(n)) for t, o, n in restated] == [("completion-rate-percent", 133.33, 100.0)]
        recorded = backend.query("SELECT needs_manual_pull_request FROM perfdata.publication_deliveries "
                                 "ORDER BY delivered_at")
        assert [bool(n) for (n,) in recorded] == [False, True]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_first_history_load_says_once_what_it_uploaded(backend, tmp_path, moto_server, monkeypatch):
    # Before issue 25 each past month was announced as a late file needing a hand-made pull
    # request; no import ever expected those files from perfdata, so now one summary says so.
    with Receiver() as receiver:
        aws_env(monkeypatch, moto_server.url, "s3")
        boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)
        seed_kpis(backend)  # 2024: every month's import is long past
        assert monthly_run(backend, tmp_path, "2024-01-01", "2024-03-01", webhooks=notifier(receiver.url)).success
        assert sorted(bucket()) == [f"make_a_lasting_power_of_attorney_24_0{m}.json" for m in (1, 2, 3)]
        # February's responses fell from 80 to none: the plausibility check says so too.
        assert sorted(b["event"] for b in receiver.bodies) == ["kpis-implausible", "publication-history-delivered"]
        [summary] = [b for b in receiver.bodies if b["event"] == "publication-history-delivered"]
        assert summary["months"] == ["2024-01", "2024-02", "2024-03"] and summary["bucket"] == BUCKET
        recorded = backend.query("SELECT needs_manual_pull_request FROM perfdata.publication_deliveries")
        assert [bool(n) for (n,) in recorded] == [False] * 3


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_month_first_delivered_after_the_import_perfdata_was_delivering_for_is_announced(
        backend, tmp_path, moto_server, monkeypatch):
    with Receiver() as receiver:
        aws_env(monkeypatch, moto_server.url, "s3")
        boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)
        seed_kpis(backend)
        at("2024-01-01", monkeypatch)  # January delivered on time, the morning of 1 February
        assert monthly_run(backend, tmp_path, "2024-01-01", "2024-01-01", webhooks=notifier(receiver.url)).success
        assert receiver.bodies == []
        # February misses its import (1 March): OPG's import should have taken it from perfdata.
        monkeypatch.setattr(delivery, "utc_now", lambda: dt.datetime(2024, 3, 2, 9, tzinfo=dt.timezone.utc))
        assert monthly_run(backend, tmp_path, "2024-02-01", "2024-02-01", webhooks=notifier(receiver.url)).success
        [announcement] = [b for b in receiver.bodies if b["event"] == "publication-file-needs-pull-request"]
        assert [(f["month"], f["reason"]) for f in announcement["files"]] == [("2024-02", "after OPG's import")]
        assert not [b for b in receiver.bodies if b["event"] == "publication-history-delivered"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_refused_upload_fails_the_run_and_an_invalid_file_is_never_delivered(backend, tmp_path, moto_server,
                                                                               monkeypatch):
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "s3")
        boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)
        seed_kpis(backend)
        proxy.deny_next(1)
        refused = monthly_run(backend, tmp_path, "2024-03-01", "2024-03-01", raise_on_error=False)
        assert not refused.success
        failure = refused.get_step_failure_events()[0].step_failure_data.user_failure_data
        assert failure.description.startswith(f"delivery of 2024-03: s3://{BUCKET}/{MARCH}: S3 answered")
        assert bucket() == {}

    aws_env(monkeypatch, moto_server.url, "s3")
    # A month whose levels no longer add up to its responses breaks OPG's contract: the
    # blocking check stops the run before the delivery step.
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("UPDATE perfdata.user_satisfaction SET satisfied_percent = 12.00 WHERE month = '2024-03-01'"))
    blocked = monthly_run(backend, tmp_path, "2024-03-01", "2024-03-01", raise_on_error=False)
    assert not blocked.success
    [check] = [c for c in blocked.get_asset_check_evaluations() if c.check_name == "opg_files_valid"]
    assert not check.passed and "user-satisfaction-percent" in check.metadata["problems"].value
    assert bucket() == {}
