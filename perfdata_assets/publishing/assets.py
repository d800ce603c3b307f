"""The publication (kpis.md section 4) and its export files, as monthly assets."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.calendar import DayWindow, add_months, monthly_partitions
from perfdata_assets.config import ConfigError
from perfdata_assets.db.locks import lock_table_for_replace
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.db.types import UTCDateTime
from perfdata_assets.kpis.sql import with_months
from perfdata_assets.publishing import exports, open_data, published, sql
from perfdata_assets.publishing.atomic import ExportError
from perfdata_assets.publishing.published import (
    COST_DATA_TYPES,
    DATA_TYPES,
    KPI_OF_DATA_TYPE,
    PERIOD,
    SERVICE,
    PublishedValue,
    Restatement,
)
from perfdata_assets.publishing.resource import ExportDirectory
from perfdata_assets.publishing.webhooks import announces

OWNERS = ["team:opg-perfdata"]
KPI_ASSETS = ("user_satisfaction", "completion_rate", "digital_take_up", "service_uptime", "cost_per_transaction")
PREVIEW_MONTHS = 12


def _month_label(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def _window_months(context: dg.AssetExecutionContext) -> list[dt.date]:
    return DayWindow.from_time_window(context.partition_time_window).months()


def publish(
    conn: sa.Connection, months: list[dt.date], published_at: dt.datetime, run_id: str = "outside-dagster"
) -> list[Restatement]:
    """Publish, inside the caller's transaction, every KPI the window's months have.

    Only new or changed rows are written; a value that changes is recorded as a
    restatement first. Returns the restatements this made.
    """
    return publish_rows(conn, months, published_at, run_id)[0]


def publish_rows(
    conn: sa.Connection, months: list[dt.date], published_at: dt.datetime, run_id: str = "outside-dagster"
) -> tuple[list[Restatement], set[tuple[dt.date, str]]]:
    """publish(), also returning the (month, data type) of every row it wrote (new or changed)."""
    lock_table_for_replace(conn, "perfdata.published_kpis")
    params = {"service": SERVICE, "published_at": published_at, "run_id": run_id}
    stamped = sa.bindparam("published_at", type_=UTCDateTime)
    conn.execute(with_months(sql.RECORD_RESTATEMENTS, months).bindparams(stamped), params)
    conn.execute(with_months(sql.DELETE_REPUBLISHED, months), {"service": SERVICE})
    written = conn.execute(with_months(sql.PUBLISH, months).bindparams(stamped).columns(period_start=sa.Date), params)
    written_keys = {(row.period_start, row.data_type) for row in written}
    return [r for r in published.restatements(conn, since=published_at) if r.run_id == run_id], written_keys


def _value_metadata(value: Decimal | None) -> dg.MetadataValue:
    return dg.MetadataValue.null() if value is None else dg.MetadataValue.float(float(value))


def kpis_not_in_run(context: dg.AssetExecutionContext) -> set[str]:
    """The KPI assets the run leaves out: not in its selection (a UI run), or not in its job
    (the monthly job, `perfdata backfill`'s runs)."""
    selection = context.run.asset_selection or context.job_def.asset_layer.executable_asset_keys
    selected = {key.to_user_string() for key in selection}
    return {kpi for kpi in KPI_ASSETS if kpi not in selected}


def preview_table(values: list[PublishedValue]) -> str:
    """A markdown table, one row per month and one column per data type."""
    cells: dict[dt.date, dict[str, str]] = defaultdict(dict)
    for v in values:
        cells[v.period_start][v.data_type] = "–" if v.value is None else f"{v.value:.2f}"
    lines = ["| month | " + " | ".join(DATA_TYPES) + " |", "|---|" + "---|" * len(DATA_TYPES)]
    for month in sorted(cells):
        lines.append(f"| {_month_label(month)} | " + " | ".join(cells[month].get(t, "") for t in DATA_TYPES) + " |")
    return "\n".join(lines)


@dg.asset(
    deps=list(KPI_ASSETS),
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="publishing",
    # One run at a time writes the publication (see docs/deployment.md, "Concurrency").
    pool="perfdata/published_kpis",
    kinds={"sql", "postgres"},
    owners=OWNERS,
    description=(
        "The published KPIs, in the shape of OPG's performance-data records: per month, the data "
        "types of OPG's Make an LPA page (user-satisfaction-percent, the five satisfaction levels, "
        "uptime-percent, digital-take-up) plus completion-rate-percent and user-satisfaction-score, "
        "with the counts behind each, copied from the four KPI tables into perfdata.published_kpis; and, "
        "per year (period_start the window's first month), cost-per-transaction and "
        "digital-cost-per-transaction of the quarters that ended in the twelve months up to each month. "
        "Each KPI is published as soon as its own month is complete; a changed value is recorded "
        "in perfdata.published_kpis_restatements. Downstream services read this table (or the "
        "perfdata.latest_kpis view), never the raw history."
    ),
    metadata={
        "dagster/table_name": "perfdata.published_kpis",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("period_start", "date", description="first day of the month"),
                dg.TableColumn("period", "text", description="month, or year for cost per transaction"),
                dg.TableColumn("service", "text", description=SERVICE),
                dg.TableColumn("data_type", "text", description=", ".join(DATA_TYPES)),
                dg.TableColumn("value", "numeric(8,2)", description="NULL when the denominator is 0"),
                dg.TableColumn("numerator", "numeric",
                               description="a count, or pounds for cost per transaction; NULL for user-satisfaction-score"),
                dg.TableColumn("denominator", "integer"),
                dg.TableColumn("published_at", "timestamptz", description="when the run published the row"),
            ]
        ),
    },
)
def published_kpis(context: dg.AssetExecutionContext, database: PerfdataDatabase) -> dg.MaterializeResult:
    months = _window_months(context)
    # One timestamp for every row the run writes; whole seconds, so the JSON,
    # the metadata and the webhooks all show exactly what the table holds.
    published_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    dbs = database.connect()
    with dbs.perfdata.begin() as conn:
        restated, written_keys = publish_rows(conn, months, published_at, context.run_id)
        publishable = conn.execute(with_months(sql.PUBLISHABLE, months).columns(period_start=sa.Date)).all()
        in_window = published.values_between(conn, months[0], months[-1])
        years = [v for v in published.values_between(conn, add_months(months[0], -22), months[-1], COST_DATA_TYPES)
                 if (v.period_start, v.data_type) in written_keys]
        recent_months = published.published_months(conn)[-PREVIEW_MONTHS:]
        recent = published.values_between(conn, recent_months[0], recent_months[-1]) if recent_months else []

    # Only new or changed rows are written (sql.py).
    written = [v for v in in_window if (v.period_start, v.data_type) in written_keys]
    by_month = published.by_month(in_window)
    written_by_month = published.by_month(written)
    # A KPI this run does not compute (its source not configured, or left out by --select)
    # is no news: the run's launcher said so once. Only a KPI that ran and waits is warned of.
    not_in_run = kpis_not_in_run(context)
    waiting: dict[dt.date, list[str]] = {}
    for month in months:
        values = by_month.get(month, [])
        month_written = written_by_month.get(month, [])
        complete = {KPI_OF_DATA_TYPE[t] for m, t in publishable if m == month}
        kpis = sorted({KPI_OF_DATA_TYPE[t] for t in DATA_TYPES} - complete)
        if kpis:
            waiting[month] = kpis
        incomplete = [k for k in kpis if k not in not_in_run]
        if incomplete:
            context.log.warning(f"published_kpis {_month_label(month)}: not published yet for {', '.join(incomplete)} "
                                "(their inputs are not complete)")
        context.add_asset_metadata(
            {
                **{v.data_type: _value_metadata(v.value) for v in values},
                # When the month's rows were last written (an unchanged row keeps its time).
                "published_at": dg.MetadataValue.timestamp(max((v.published_at for v in values), default=published_at)),
                # What the kpis-published webhook announces: nothing when this run wrote nothing.
                "month_rows_written": len(month_written),
                # False for a run that must not announce (`perfdata rebuild` without --announce).
                "announce": announces(context.run.tags),
                "written": ", ".join(v.data_type for v in month_written) or "none",
                "not_published_yet": ", ".join(kpis) or "none",
                "restated": ", ".join(r.data_type for r in restated if r.period_start == month and r.period == PERIOD)
                or "none",
                # What the revisions webhook announces: read back from this metadata, not the database.
                "revisions": dg.MetadataValue.json(
                    [revision_record(r) for r in restated if r.period_start == month and r.period == PERIOD]),
                "dagster/row_count": len(values),
            },
            partition_key=month.isoformat(),
        )
    for r in restated:
        label = _month_label(r.period_start) if r.period == PERIOD else f"the year from {_month_label(r.period_start)}"
        context.log.warning(
            f"restated {r.data_type} for {label}: {_figure(r.old_value)} -> {_figure(r.new_value)} "
            f"(was published {r.old_published_at:%Y-%m-%d %H:%M} UTC)"
        )
    return dg.MaterializeResult(
        metadata={
            "months_published": len(by_month),
            "months_written": len(written_by_month),
            "rows_written": len(written),
            "restatements": len(restated),
            "months_with_kpis_waiting": ", ".join(_month_label(m) for m in waiting) or "none",
            # Cost per transaction: one figure per year, named by the year's first month.
            "years_published": ", ".join(
                f"{_month_label(v.period_start)} {v.data_type} {_figure(v.value)}" for v in years) or "none",
            "last_12_months": dg.MetadataValue.md(preview_table(recent)),
        }
    )


def _figure(value: Decimal | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def revision_record(r: Restatement) -> dict:
    """One restatement as JSON: the data type, its old and new values and when the old one was published."""
    return {
        "data_type": r.data_type,
        "old_value": None if r.old_value is None else float(r.old_value),
        "new_value": None if r.new_value is None else float(r.new_value),
        "old_published_at": r.old_published_at.isoformat(),
        "restated_at": r.restated_at.isoformat(),
    }


@dg.asset(
    deps=["published_kpis"],
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="publishing",
    pool="perfdata/performance_data_exports",
    kinds={"json", "csv"},
    owners=OWNERS,
    description=(
        "The export files in PERFDATA_EXPORT_DIR: one OPG performance-data JSON file per month "
        "(make_a_lasting_power_of_attorney_YY_MM.json, the name OPG's monthly import looks for) and "
        "the GOV.UK transactions-by-channel CSV of every month with digital take-up published, and the "
        "open data for data.gov.uk (make-a-lasting-power-of-attorney-kpis.csv, every published row, with "
        "its CSVW metadata), all replaced atomically together. The API serves the same bytes."
    ),
)
def performance_data_exports(
    context: dg.AssetExecutionContext, database: PerfdataDatabase, export_directory: ExportDirectory
) -> dg.MaterializeResult:
    months = _window_months(context)
    with database.connect().perfdata.connect() as conn:
        by_month = published.by_month(published.values_between(conn, months[0], months[-1]))
        totals = published.channel_totals(conn)
        open_rows = published.open_data_rows(conn)
    # A month with nothing published yet has no file (OPG's import would find
    # nothing to add); the month's own KPIs say what they wait for.
    unpublished = [m for m in months if m not in by_month]
    for month in unpublished:
        context.log.warning(f"performance_data_exports: nothing published for {_month_label(month)} yet: no file")
    files = {exports.performance_data_file_name(m): exports.performance_data_json(by_month[m]) for m in by_month}
    files[exports.TRANSACTIONS_FILE_NAME] = exports.transactions_by_channel_csv(totals)
    # The open data (kpis.md section 7) holds every published row, so it is rewritten whichever months
    # this run covers; with the others, so a reader never sees it disagree with OPG's files.
    files.update(open_data.files(open_rows))
    try:
        paths = dict(zip(files, export_directory.write(files)))
    except (ConfigError, ExportError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None

    for month in months:
        if month not in by_month:
            context.add_asset_metadata({"records": 0, "file": "none: nothing published yet"}, partition_key=month.isoformat())
            continue
        name = exports.performance_data_file_name(month)
        context.add_asset_metadata(
            {
                "path": dg.MetadataValue.path(str(paths[name])),
                # A NULL value has no record in the JSON (see exports.py).
                "records": sum(v.value is not None for v in by_month[month]),
                "data_types": ", ".join(v.data_type for v in by_month[month] if v.value is not None) or "none",
            },
            partition_key=month.isoformat(),
        )
    return dg.MaterializeResult(
        metadata={
            "files_written": len(by_month),
            "months_without_file": ", ".join(_month_label(m) for m in unpublished) or "none",
            "transactions_by_channel": dg.MetadataValue.path(str(paths[exports.TRANSACTIONS_FILE_NAME])),
            "transactions_months": len({t.month for t in totals}),
            "open_data": dg.MetadataValue.path(str(paths[open_data.CSV_FILE_NAME])),
            "open_data_rows": len(open_rows),
        }
    )
