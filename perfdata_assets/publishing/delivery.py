"""The delivery asset: last month's OPG file into PERFDATA_PUBLICATION_BUCKET, on time and once."""

import datetime as dt
import os
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr

from perfdata_assets.calendar import DayWindow, monthly_partitions, next_month
from perfdata_assets.config import ConfigError, check_setting
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.db.types import UTCDateTime
from perfdata_assets.publishing import exports, published
from perfdata_assets.publishing.s3 import DeliveryError, DeliveryUnavailable, Upload, put_if_changed, s3_client
from perfdata_assets.publishing.webhooks import WebhookNotifier, announces

# OPG's import runs at 12:00 UTC on the 1st (cron `0 12 1 * *`) and takes the
# month once: a file that arrives later needs a pull request made by hand.
IMPORT_HOUR_UTC = 12

RECORD_DELIVERY = sa.text(
    """
    INSERT INTO perfdata.publication_deliveries
           (bucket, object_key, period_start, sha256, size_bytes, delivered_at, run_id, needs_manual_pull_request)
    VALUES (:bucket, :object_key, :period_start, :sha256, :size_bytes, :delivered_at, :run_id, :needs_pr)
    """
).bindparams(sa.bindparam("period_start", type_=sa.Date), sa.bindparam("delivered_at", type_=UTCDateTime))


# Since when perfdata has delivered to the bucket: OPG's import of a month could take
# that month's file from perfdata only if perfdata was delivering before it ran.
DELIVERING_SINCE = sa.text("SELECT min(delivered_at) AS first FROM perfdata.publication_deliveries").columns(
    first=UTCDateTime
)


# Said by the asset when it runs unconfigured, and by `perfdata backfill` when it skips it.
NO_PUBLICATION_BUCKET = "PERFDATA_PUBLICATION_BUCKET is not set: there is no bucket to deliver OPG's file to"


class PublicationBucket(dg.ConfigurableResource):
    """OPG's bucket (PERFDATA_PUBLICATION_BUCKET) and how hard to try; credentials from boto3's chain."""

    bucket: str = Field(default="", description="PERFDATA_PUBLICATION_BUCKET: where OPG's import copies files from")
    prefix: str = Field(default="", description="PERFDATA_PUBLICATION_PREFIX: a folder in the bucket, if any")
    max_attempts: int = Field(default=5, description="Attempts per S3 call (botocore standard retries)")
    connect_timeout_seconds: float = 5
    read_timeout_seconds: float = 30
    _client: Any = PrivateAttr(default=None)

    @property
    def is_configured(self) -> bool:
        return bool(self.bucket)

    def check_settings(self) -> None:
        """ConfigError naming the variable, before any request (botocore's own check of a
        bucket name comes after every other asset, and says only "Parameter validation failed")."""
        check_setting("PERFDATA_PUBLICATION_BUCKET", self.bucket)
        if self.prefix:
            check_setting("PERFDATA_PUBLICATION_PREFIX", self.prefix)

    def key(self, file_name: str) -> str:
        return f"{self.prefix.strip('/')}/{file_name}" if self.prefix.strip("/") else file_name

    def put_if_changed(self, file_name: str, body: bytes) -> Upload:
        # One client for the resource's life (a run): making one costs about 0.1 s, a run delivers every month's file.
        if self._client is None:
            self._client = s3_client(self.max_attempts, self.connect_timeout_seconds, self.read_timeout_seconds)
        return put_if_changed(self._client, self.bucket, self.key(file_name), body)


def publication_bucket_from_env() -> PublicationBucket:
    if not os.environ.get("PERFDATA_PUBLICATION_BUCKET"):
        return PublicationBucket()
    return PublicationBucket(
        bucket=dg.EnvVar("PERFDATA_PUBLICATION_BUCKET"),
        prefix=os.environ.get("PERFDATA_PUBLICATION_PREFIX", ""),
    )


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def import_deadline(month: dt.date) -> dt.datetime:
    """When OPG's import takes the month's file: 12:00 UTC on the first day of the next month."""
    return dt.datetime.combine(next_month(month), dt.time(IMPORT_HOUR_UTC), dt.timezone.utc)


def expected_by_import(month: dt.date, delivering_since: dt.datetime | None) -> bool:
    """Whether OPG's import of ``month`` should have taken its file from perfdata: perfdata
    had delivered to the bucket before that import ran. A first history load (nothing
    delivered before) uploads files no import ever expected from perfdata."""
    return delivering_since is not None and delivering_since < import_deadline(month)


def history_delivery_payload(uploads: list[tuple[dt.date, Upload]], run_id: str) -> dict:
    """One webhook for the past months' files a first delivery uploaded (no figures, no personal data)."""
    months = sorted(month for month, _ in uploads)
    span = f"{months[0]:%Y-%m}" if len(months) == 1 else f"{months[0]:%Y-%m} to {months[-1]:%Y-%m}"
    bucket = uploads[0][1].bucket
    return {
        "event": "publication-history-delivered",
        "service": published.SERVICE,
        "bucket": bucket,
        "months": [f"{m:%Y-%m}" for m in months],
        "run_id": run_id,
        "text": f"Make a LPA performance data: {len(months)} past month file(s) ({span}) uploaded to {bucket} "
                "for the first time; OPG's monthly import takes the months to come",
    }


def late_delivery_payload(late: list[tuple[dt.date, Upload, str]], run_id: str) -> dict:
    """The webhook for files OPG's import will not take by itself (no figures, no personal data)."""
    files = [
        {"month": f"{month:%Y-%m}", "bucket": u.bucket, "key": u.key, "sha256": u.sha256, "reason": reason}
        for month, u, reason in late
    ]
    names = ", ".join(f"{f['key']} ({f['reason']})" for f in files)
    return {
        "event": "publication-file-needs-pull-request",
        "service": published.SERVICE,
        "files": files,
        "run_id": run_id,
        "text": f"Make a LPA performance data: OPG's monthly import will not pick these up, "
                f"make the pull request by hand: {names}",
    }


@dg.asset(
    deps=["performance_data_exports"],
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="publishing",
    pool="perfdata/opg_publication_delivery",
    kinds={"s3", "json"},
    owners=["team:opg-perfdata"],
    retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    description=(
        "Each month's OPG performance-data file (the same bytes as the export) in "
        "PERFDATA_PUBLICATION_BUCKET, where OPG's import copies it from at 12:00 UTC on the 1st. "
        "An unchanged file is not uploaded again; a changed file, or one uploaded after the import of "
        "a month perfdata was already delivering for (a KPI published late), is announced through "
        "PERFDATA_WEBHOOK_URLS as needing a hand-made pull request; the past months of a first "
        "delivery are announced once, as a summary. Every upload is recorded in "
        "perfdata.publication_deliveries."
    ),
)
def opg_publication_delivery(
    context: dg.AssetExecutionContext,
    database: PerfdataDatabase,
    publication_bucket: PublicationBucket,
    webhooks: WebhookNotifier,
) -> dg.MaterializeResult:
    if not publication_bucket.is_configured:
        raise dg.Failure(description=NO_PUBLICATION_BUCKET, allow_retries=False)
    try:
        publication_bucket.check_settings()
    except ConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    months = DayWindow.from_time_window(context.partition_time_window).months()
    with database.connect().perfdata.connect() as conn:
        values = published.values_between(conn, months[0], months[-1])
        delivering_since = conn.execute(DELIVERING_SINCE).scalar_one()
    by_month = published.by_month(values)

    now = utc_now()
    late: list[tuple[dt.date, Upload, str]] = []
    history: list[tuple[dt.date, Upload]] = []  # past months' first files, before perfdata delivered
    uploads: list[tuple[dt.date, Upload]] = []
    failure: dg.Failure | None = None
    for month in months:
        if month not in by_month:
            context.add_asset_metadata({"delivered": "no: nothing published yet"}, partition_key=month.isoformat())
            continue
        body = exports.performance_data_json(by_month[month])
        try:
            upload = publication_bucket.put_if_changed(exports.performance_data_file_name(month), body)
        except DeliveryError as exc:
            failure = dg.Failure(
                description=f"delivery of {month:%Y-%m}: {exc}", allow_retries=isinstance(exc, DeliveryUnavailable)
            )
            break
        uploads.append((month, upload))
        if upload.uploaded and upload.replaced:
            late.append((month, upload, "changed after delivery"))
        elif upload.uploaded and now >= import_deadline(month):
            if expected_by_import(month, delivering_since):
                late.append((month, upload, "after OPG's import"))
            else:
                history.append((month, upload))
        context.add_asset_metadata(
            {
                "key": f"s3://{upload.bucket}/{upload.key}",
                "sha256": upload.sha256,
                "delivered": "uploaded" if upload.uploaded else "unchanged: not uploaded again",
                "needs_manual_pull_request": any(m == month for m, _, _ in late),
            },
            partition_key=month.isoformat(),
        )
    # What was uploaded before a failure stays uploaded: record and announce it
    # now, since a retry will find those files unchanged and say nothing.
    _record(database, context.run_id, now, uploads, late)
    announced = _announce(context, webhooks, late, history)
    if failure is not None:
        raise failure
    return dg.MaterializeResult(
        metadata={
            "uploaded": sum(u.uploaded for _, u in uploads),
            "unchanged": sum(not u.uploaded for _, u in uploads),
            "needs_manual_pull_request": ", ".join(u.key for _, u, _ in late) or "none",
            "history_uploaded": ", ".join(f"{m:%Y-%m}" for m, _ in history) or "none",
            "announcement": announced,
        }
    )


def _announce(context: dg.AssetExecutionContext, webhooks: WebhookNotifier,
              late: list[tuple[dt.date, Upload, str]], history: list[tuple[dt.date, Upload]]) -> str:
    payloads = []
    if late:
        context.log.warning(
            "files OPG's import will not take by itself (make the pull request by hand): "
            + ", ".join(f"{u.key} ({why})" for _, u, why in late)
        )
        payloads.append(late_delivery_payload(late, context.run_id))
    if history:
        # Said once, as a summary: no import ever expected these from perfdata.
        context.log.info(f"first delivery of {len(history)} past month file(s): "
                         + ", ".join(u.key for _, u in history))
        payloads.append(history_delivery_payload(history, context.run_id))
    if not payloads:
        return "nothing to announce"
    if not webhooks.url_list():
        return "PERFDATA_WEBHOOK_URLS is not set: not announced"
    if not announces(context.run.tags):
        return "this run announces nothing (perfdata/announce: no)"
    sent = failed = 0
    for payload in payloads:
        deliveries = webhooks.post(payload)
        bad = [d for d in deliveries if d.error]
        if bad:
            context.log.warning(f"{payload['event']} announcement failed for " + ", ".join(d.describe() for d in bad))
        sent, failed = sent + len(deliveries) - len(bad), failed + len(bad)
    return f"{len(payloads)} announcement(s): {sent} delivered, {failed} failed"


def _record(database: PerfdataDatabase, run_id: str, now: dt.datetime, uploads: list[tuple[dt.date, Upload]],
            late: list[tuple[dt.date, Upload, str]]) -> None:
    late_keys = {u.key for _, u, _ in late}
    rows = [
        {"bucket": u.bucket, "object_key": u.key, "period_start": month, "sha256": u.sha256, "size_bytes": u.size,
         "delivered_at": now, "run_id": run_id, "needs_pr": u.key in late_keys}
        for month, u in uploads if u.uploaded
    ]
    if rows:
        with database.connect().perfdata.begin() as conn:
            conn.execute(RECORD_DELIVERY, rows)
