"""The publication's checks.

- The contract check, blocking: OPG's files obey OPG's validator and kpis.md
  section 5. When a file breaks a rule, the run stops before the delivery asset,
  so OPG's bucket never receives a file its import would reject.
- The plausibility check, a warning (rules in plausibility.py): figures that
  look like a broken source are flagged in the check and through the webhooks.
"""


import datetime as dt
import json

import dagster as dg

from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.publishing import exports, published
from perfdata_assets.publishing.opg_validation import check_publication_file, validate_records
from perfdata_assets.publishing.plausibility import implausible
from perfdata_assets.publishing.webhooks import WebhookNotifier, announces

MAX_PROBLEMS_SHOWN = 20
PUBLISHED_KPIS = dg.AssetKey("published_kpis")


@dg.asset_check(
    asset="performance_data_exports",
    name="opg_files_valid",
    blocking=True,
    description=(
        "Every month's OPG file passes the rules of OPG's validator and of kpis.md section 5 (keys, "
        "types, order, integer counts, levels adding up, percentages in range), and all of them "
        "appended together, as OPG's data.json holds them, have no duplicate _timestamp and dataType."
    ),
)
def opg_files_valid(database: PerfdataDatabase) -> dg.AssetCheckResult:
    with database.connect().perfdata.connect() as conn:
        months = published.published_months(conn)
        values = published.values_between(conn, months[0], months[-1]) if months else []
    by_month = published.by_month(values)
    problems: list[str] = []
    merged: list = []
    for month, month_values in sorted(by_month.items()):
        body = exports.performance_data_json(month_values)
        name = exports.performance_data_file_name(month)
        problems += [f"{name}: {p}" for p in check_publication_file(body)]
        merged += json.loads(body)
    problems += validate_records(merged, where="data.json")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "files_checked": len(by_month),
            "records_checked": len(merged),
            "problems": "\n".join(problems[:MAX_PROBLEMS_SHOWN]) or "none",
            "problem_count": len(problems),
        },
    )


def _months_written_in_run(context: dg.AssetCheckExecutionContext) -> set[dt.date] | None:
    """The months for which this run wrote published rows (new or changed); None when it published nothing."""
    records = context.instance.get_records_for_run(
        context.op_execution_context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    events = [r.event_log_entry.dagster_event for r in records]
    materialisations = [
        e.step_materialization_data.materialization for e in events
        if e is not None and e.asset_key == PUBLISHED_KPIS and e.partition
    ]
    if not materialisations:
        return None

    def written(m: dg.AssetMaterialization) -> bool:
        entry = m.metadata.get("month_rows_written")
        return entry is None or bool(entry.value)

    # An unchanged month was judged when it was written: flagging it again is noise.
    return {dt.date.fromisoformat(m.partition) for m in materialisations if written(m)}


def _months_to_assess(context: dg.AssetCheckExecutionContext, values: list) -> list[dt.date]:
    """The months this run wrote; run on its own, those the latest publication wrote (one published_at)."""
    months = _months_written_in_run(context)
    if months is None:
        last = max((v.published_at for v in values), default=None)
        months = {v.period_start for v in values if v.published_at == last}
    return sorted(months)


def _months_text(months: list) -> str:
    if len(months) > 3:
        return f"{months[0]:%Y-%m} to {months[-1]:%Y-%m} ({len(months)} months)"
    return ", ".join(f"{m:%Y-%m}" for m in months) or "none"


def implausible_summary(flags: list) -> dict:
    """The JSON a webhook receives for flagged figures: months, data types, values and why; nothing else."""
    months = sorted({f.month for f in flags})
    return {
        "event": "kpis-implausible",
        "service": published.SERVICE,
        "months": [f"{m:%Y-%m}" for m in months],
        "flags": [f.as_json() for f in flags],
        "text": f"Make a LPA KPIs look implausible ({len(flags)} flag{'s' if len(flags) != 1 else ''}): "
        + "; ".join(f"{f.month:%Y-%m} {f.data_type}: {f.reason}" for f in flags[:5])
        + ("; …" if len(flags) > 5 else ""),
    }


@dg.asset_check(
    asset="published_kpis",
    name="published_values_plausible",
    blocking=False,
    description=(
        "Warns (and announces through PERFDATA_WEBHOOK_URLS) when a value the last publication wrote is more "
        "than 3 standard deviations from its trailing 12 months, or when a month's feedback responses or LPAs "
        "started fall by more than half: the signs of a broken source. The figures are published regardless."
    ),
)
def published_values_plausible(
    context: dg.AssetCheckExecutionContext, database: PerfdataDatabase, webhooks: WebhookNotifier
) -> dg.AssetCheckResult:
    with database.connect().perfdata.connect() as conn:
        months = published.published_months(conn)
        values = published.values_between(conn, months[0], months[-1]) if months else []
    assessed = _months_to_assess(context, values)
    flags = implausible(values, assessed)
    for flag in flags:
        context.log.warning(f"implausible {flag.data_type} for {flag.month:%Y-%m}: {flag.reason}")
    if flags and webhooks.url_list() and announces(context.op_execution_context.run.tags):
        for delivery in webhooks.post(implausible_summary(flags)):
            if delivery.error is not None:
                context.log.error(f"kpis-implausible webhook: {delivery.describe()}")
    table = "\n".join(f"| {f.month:%Y-%m} | {f.data_type} | {f.reason} |" for f in flags[:MAX_PROBLEMS_SHOWN])
    return dg.AssetCheckResult(
        passed=not flags,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "months_assessed": _months_text(assessed),
            "flag_count": len(flags),
            "flags": dg.MetadataValue.md("| month | data type | why |\n|---|---|---|\n" + table if flags else "none"),
        },
    )


publication_checks = [opg_files_valid, published_values_plausible]
