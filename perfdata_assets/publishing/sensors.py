"""Notifications: a webhook per month whose published rows a run wrote (new or changed; one
more when it revised published values), and one per failed run.

A republication that changed nothing writes no row (publishing/sql.py) and is
passed over, as is a run that must not announce (`perfdata rebuild` without
--announce): the metadata of each materialisation says which.

Each event is sent once. The publication sensor's cursor is the storage id of
the last materialisation it handled, so a restarted daemon carries on where it
stopped instead of sending again (only a process dying in the middle of a tick,
before Dagster saves the cursor, could send that tick's months again); Dagster
keeps the failure sensor's cursor itself. A receiver still failing after the
bounded retries misses that notification: it is logged, shown in the tick, and
the published figures stay readable through the API.

A cursor-less publication sensor (just turned on) notifies every past
materialisation, oldest first, BATCH at a time; to skip history set its cursor
in the Dagster UI to the latest storage id.
"""

import datetime as dt
import re

import dagster as dg

from perfdata_assets.publishing.published import DATA_TYPES, SERVICE
from perfdata_assets.publishing.webhooks import Delivery, WebhookNotifier

PUBLISHED_KPIS = dg.AssetKey("published_kpis")
# Per tick: bounded work (each delivery may take timeout × attempts), the rest next tick.
BATCH = 25
NOT_CONFIGURED = "PERFDATA_WEBHOOK_URLS is not set: no notifications sent"
MAX_ERROR_CHARS = 300


def _metadata_value(metadata: dict, key: str) -> object:
    entry = metadata.get(key)
    return None if entry is None else entry.value


def published_summary(record: dg.EventLogRecord) -> dict:
    """The JSON a webhook receives for one published month, from the materialisation's metadata."""
    materialization = record.asset_materialization
    metadata = materialization.metadata
    month = dt.date.fromisoformat(materialization.partition)
    values = {data_type: _metadata_value(metadata, data_type) for data_type in DATA_TYPES}
    stamp = _metadata_value(metadata, "published_at")
    published_at = None if stamp is None else dt.datetime.fromtimestamp(stamp, dt.timezone.utc).isoformat()
    figures = ", ".join(f"{t} {'–' if v is None else f'{v:.2f}'}" for t, v in values.items())
    return {
        "event": "kpis-published",
        "service": SERVICE,
        "month": f"{month:%Y-%m}",
        "period_start": month.isoformat(),
        "values": values,
        "published_at": published_at,
        "run_id": record.run_id,
        # Chat webhooks (Slack, Teams) show "text".
        "text": f"Make a LPA KPIs published for {month:%Y-%m}: {figures}",
    }


def revised_summary(record: dg.EventLogRecord) -> dict | None:
    """The JSON a webhook receives when a month's republication changed published values, else None."""
    materialization = record.asset_materialization
    revisions = _metadata_value(materialization.metadata, "revisions") or []
    if not revisions:
        return None
    month = dt.date.fromisoformat(materialization.partition)

    def figure(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    changes = "; ".join(
        f"{r['data_type']} {figure(r['old_value'])} → {figure(r['new_value'])} "
        f"(published {r['old_published_at'][:10]})"
        for r in revisions
    )
    return {
        "event": "kpis-revised",
        "service": SERVICE,
        "month": f"{month:%Y-%m}",
        "period_start": month.isoformat(),
        "revisions": revisions,
        "run_id": record.run_id,
        "text": f"Make a LPA KPIs for {month:%Y-%m} revised: {changes}",
    }


def announced(record: dg.EventLogRecord) -> bool:
    """Whether a materialisation is announced: it wrote rows, and its run may announce.

    A materialisation from before month_rows_written was recorded counts as written."""
    metadata = record.asset_materialization.metadata
    written = _metadata_value(metadata, "month_rows_written")
    return (written is None or written > 0) and _metadata_value(metadata, "announce") is not False


def _summarise(sent: int, what: str, failures: list[Delivery]) -> str:
    text = f"{what}: {sent} delivered"
    return text + (f"; failed: {', '.join(d.describe() for d in failures)}" if failures else "")


@dg.sensor(
    name="published_kpis_webhook",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=("POSTs a JSON summary to each PERFDATA_WEBHOOK_URLS URL once per newly published month, "
                 "and a kpis-revised one when the month's republication changed published values."),
)
def published_kpis_webhook(context: dg.SensorEvaluationContext, webhooks: WebhookNotifier) -> dg.SkipReason:
    if not webhooks.url_list():
        return dg.SkipReason(NOT_CONFIGURED)
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=PUBLISHED_KPIS, after_storage_id=after),
        limit=BATCH,
        ascending=True,
    ).records
    if not records:
        return dg.SkipReason("no newly published month")

    down: set[str] = set()  # a URL that failed is not retried again this tick
    failures: list[Delivery] = []
    sent = 0
    # Every materialisation of published_kpis is partitioned; anything else
    # is passed over rather than left to block the cursor for ever.
    monthly = [r for r in records if r.asset_materialization.partition and announced(r)]
    for record in monthly:
        # A restated month is announced twice: published, then what was revised.
        payloads = [published_summary(record), revised_summary(record)]
        for payload in filter(None, payloads):
            for delivery in webhooks.post(payload, skip=down):
                if delivery.error is None:
                    sent += 1
                else:
                    down.add(delivery.url)
                    failures.append(delivery)
                    context.log.error(f"{payload['event']} webhook for {record.asset_materialization.partition}: "
                                      f"{delivery.describe()}")
    context.update_cursor(str(records[-1].storage_id))
    months = sorted({r.asset_materialization.partition[:7] for r in monthly})
    if not months:
        return dg.SkipReason("nothing newly written to announce")
    return dg.SkipReason(_summarise(sent, f"months {', '.join(months)}", failures))


_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")


def safe_error(message: str) -> str:
    """A failure's message, cut down so no personal data can ride along.

    Only the first line (PostgreSQL puts offending values in DETAIL and
    CONTEXT lines), without SQLAlchemy's quoted statement and parameters, with
    anything shaped like an email address removed, and short.
    """
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = re.split(r"\s*\[(?:SQL|parameters):", line)[0]
    line = _EMAIL.sub("[redacted]", line)
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def _failure_message(context: dg.RunFailureSensorContext) -> str:
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return data.user_failure_data.description
        if data.error is not None:
            return data.error.message
    return context.failure_event.message or "run failed"


@dg.run_failure_sensor(
    name="perfdata_run_failure_webhook",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="POSTs an alert (run, job, failed steps, error) to each PERFDATA_WEBHOOK_URLS URL when a run fails.",
)
def perfdata_run_failure_webhook(context: dg.RunFailureSensorContext, webhooks: WebhookNotifier) -> dg.SkipReason:
    if not webhooks.url_list():
        return dg.SkipReason(NOT_CONFIGURED)
    run = context.dagster_run
    steps = [event.step_key for event in context.get_step_failure_events()]
    error = safe_error(_failure_message(context))
    payload = {
        "event": "run-failed",
        "run_id": run.run_id,
        "job": run.job_name,
        "failed_steps": steps,
        "error": error,
        "text": f"perfdata run {run.run_id[:8]} of {run.job_name} failed"
        + (f" in {', '.join(steps)}" if steps else "")
        + f": {error}",
    }
    deliveries = webhooks.post(payload)
    failures = [d for d in deliveries if d.error is not None]
    for delivery in failures:
        context.log.error(f"run-failure webhook: {delivery.describe()}")
    return dg.SkipReason(_summarise(len(deliveries) - len(failures), f"run {run.run_id}", failures))
