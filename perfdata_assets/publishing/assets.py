"""The publication (kpis.md section 4) and its export files, as monthly assets."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.db.locks import lock_table_for_replace
from perfdata_assets.db.types import UTCDateTime
from perfdata_assets.kpis.sql import with_months
from perfdata_assets.partitions import DayWindow, monthly_partitions, next_month
from perfdata_assets.publishing import exports, published, sql
from perfdata_assets.publishing.atomic import ExportError
from perfdata_assets.publishing.published import DATA_TYPES, PERIOD, SERVICE, PublishedValue
from perfdata_assets.publishing.resource import ExportDirectory
from perfdata_assets.resources import PerfdataDatabase

OWNERS = ["team:opg-perfdata"]
KPI_ASSETS = ("user_satisfaction", "completion_rate", "digital_take_up")
PREVIEW_MONTHS = 12


def _month_label(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def _window_months(context: dg.AssetExecutionContext) -> list[dt.date]:
    return DayWindow.from_time_window(context.partition_time_window).months()


def _by_month(values: list[PublishedValue]) -> dict[dt.date, list[PublishedValue]]:
    grouped: dict[dt.date, list[PublishedValue]] = defaultdict(list)
    for value in values:
        grouped[value.period_start].append(value)
    return grouped


def missing_kpi_months(conn: sa.Connection, months: list[dt.date]) -> dict[str, list[dt.date]]:
    """For each KPI table lacking a row for some month of the window, those months."""
    rows = conn.execute(with_months(sql.MISSING_KPI_MONTHS, months).columns(month=sa.Date))
    missing: dict[str, list[dt.date]] = defaultdict(list)
    for row in rows:
        missing[row.kpi].append(row.month)
    return dict(missing)


def publish(conn: sa.Connection, months: list[dt.date], published_at: dt.datetime) -> None:
    """Replace the window's published rows, inside the caller's transaction."""
    lock_table_for_replace(conn, "perfdata.published_kpis")
    conn.execute(
        sa.text(sql.DELETE_WINDOW).bindparams(
            sa.bindparam("first", type_=sa.Date), sa.bindparam("end", type_=sa.Date)
        ),
        {"period": PERIOD, "service": SERVICE, "first": months[0], "end": next_month(months[-1])},
    )
    conn.execute(
        with_months(sql.PUBLISH, months).bindparams(sa.bindparam("published_at", type_=UTCDateTime)),
        {"period": PERIOD, "service": SERVICE, "published_at": published_at},
    )


def _value_metadata(value: Decimal | None) -> dg.MetadataValue:
    return dg.MetadataValue.null() if value is None else dg.MetadataValue.float(float(value))


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
        "The published KPIs, in the shape of OPG's performance-data records: per month, "
        "user-satisfaction-percent, user-satisfaction-score, completion-rate-percent and "
        "digital-take-up-percent with the counts behind each, copied from the three KPI tables "
        "into perfdata.published_kpis. Downstream services read this table (or the "
        "perfdata.latest_kpis view), never the raw history."
    ),
    metadata={
        "dagster/table_name": "perfdata.published_kpis",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("period_start", "date", description="first day of the month"),
                dg.TableColumn("period", "text", description="month"),
                dg.TableColumn("service", "text", description=SERVICE),
                dg.TableColumn("data_type", "text", description=", ".join(DATA_TYPES)),
                dg.TableColumn("value", "numeric(8,2)", description="NULL when the denominator is 0"),
                dg.TableColumn("numerator", "integer", description="NULL for user-satisfaction-score"),
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
        missing = missing_kpi_months(conn, months)
        if missing:
            gaps = "; ".join(
                f"{kpi} has no row for {', '.join(_month_label(m) for m in kpi_months)}"
                for kpi, kpi_months in missing.items()
            )
            raise dg.Failure(
                description=(
                    f"published_kpis for {_month_label(months[0])} to {_month_label(months[-1])}: {gaps}. "
                    "Materialise those KPI months first; nothing was published."
                )
            )
        publish(conn, months, published_at)
        written = published.values_between(conn, months[0], months[-1])
        recent_months = published.published_months(conn)[-PREVIEW_MONTHS:]
        recent = published.values_between(conn, recent_months[0], recent_months[-1])

    for month, values in _by_month(written).items():
        context.add_asset_metadata(
            {
                **{v.data_type: _value_metadata(v.value) for v in values},
                "published_at": dg.MetadataValue.timestamp(published_at),
                "dagster/row_count": len(values),
            },
            partition_key=month.isoformat(),
        )
    return dg.MaterializeResult(
        metadata={
            "months_published": len(months),
            "rows_written": len(written),
            "last_12_months": dg.MetadataValue.md(preview_table(recent)),
        }
    )


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
        "(make_a_lpa_YY_MM.json) and the GOV.UK transactions-by-channel CSV of every published "
        "month, each replaced atomically. The API serves the same bytes."
    ),
)
def performance_data_exports(
    context: dg.AssetExecutionContext, database: PerfdataDatabase, export_directory: ExportDirectory
) -> dg.MaterializeResult:
    months = _window_months(context)
    with database.connect().perfdata.connect() as conn:
        by_month = _by_month(published.values_between(conn, months[0], months[-1]))
        totals = published.channel_totals(conn)
    unpublished = [m for m in months if m not in by_month]
    if unpublished:
        raise dg.Failure(
            description=(
                f"performance_data_exports: {', '.join(_month_label(m) for m in unpublished)} not published yet; "
                "materialise published_kpis for those months first"
            )
        )
    files = {exports.performance_data_file_name(m): exports.performance_data_json(by_month[m]) for m in months}
    files[exports.TRANSACTIONS_FILE_NAME] = exports.transactions_by_channel_csv(totals)
    try:
        paths = dict(zip(files, export_directory.write(files)))
    except ExportError as exc:
        raise dg.Failure(description=str(exc)) from None

    for month in months:
        name = exports.performance_data_file_name(month)
        context.add_asset_metadata(
            {
                "path": dg.MetadataValue.path(str(paths[name])),
                # A NULL value has no record in the JSON (see exports.py).
                "records": sum(v.value is not None for v in by_month[month]),
            },
            partition_key=month.isoformat(),
        )
    return dg.MaterializeResult(
        metadata={
            "transactions_by_channel": dg.MetadataValue.path(str(paths[exports.TRANSACTIONS_FILE_NAME])),
            "transactions_months": len({t.month for t in totals}),
        }
    )
