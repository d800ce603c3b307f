"""The three monthly KPIs of kpis.md, each written to its own perfdata table."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.db.ledger import describe_days, missing_days
from perfdata_assets.db.locks import lock_table_for_replace
from perfdata_assets.kpis import sql
from perfdata_assets.partitions import DayWindow, monthly_partitions
from perfdata_assets.resources import PerfdataDatabase

OWNERS = ["team:opg-perfdata"]


@dataclass(frozen=True)
class Kpi:
    name: str  # asset and table name
    upstream: str  # the daily asset whose days must all be loaded first
    query: str  # from kpis/sql.py
    counts: tuple[str, ...]
    percents: tuple[str, ...]
    description: str

    @property
    def columns(self) -> tuple[str, ...]:
        return ("month", *self.counts, *self.percents)


USER_SATISFACTION = Kpi(
    name="user_satisfaction",
    upstream="raw_feedback",
    query=sql.USER_SATISFACTION,
    counts=("responses", "very_dissatisfied", "dissatisfied", "neither", "satisfied", "very_satisfied"),
    percents=("satisfied_percent", "score_percent"),
    description=(
        "Monthly user satisfaction from the feedback form: responses at each of the five levels, "
        "the share satisfied or very satisfied (CDDO measure) and the 0–100 score (GOV.UK "
        "Performance Platform). Invalid ratings are not counted; how many is in the metadata."
    ),
)
COMPLETION_RATE = Kpi(
    name="completion_rate",
    upstream="lpa_lifecycle_events",
    query=sql.COMPLETION_RATE,
    counts=("started", "created", "completed"),
    percents=("completion_rate_percent",),
    description=(
        "Monthly completion rate: LPAs started, created and completed in the month (each counted "
        "on the day it happened, whenever the LPA was started), and created as a share of started."
    ),
)
DIGITAL_TAKE_UP = Kpi(
    name="digital_take_up",
    upstream="sirius_channel_counts",
    query=sql.DIGITAL_TAKE_UP,
    counts=("digital", "total"),
    percents=("take_up_percent",),
    description=(
        "Monthly digital take-up: LPAs Sirius received through the online tool as a share of "
        "all LPAs received, every channel (new ones included) in the total."
    ),
)


def write_kpi(conn: sa.Connection, kpi: Kpi, months: list[dt.date]) -> None:
    """Replace the window's months: delete then insert, inside the caller's transaction."""
    lock_table_for_replace(conn, f"perfdata.{kpi.name}")
    conn.execute(
        sa.text(f"DELETE FROM perfdata.{kpi.name} WHERE month >= :first AND month < :end").bindparams(
            sa.bindparam("first", type_=sa.Date), sa.bindparam("end", type_=sa.Date)
        ),
        {"first": months[0], "end": sql.next_month(months[-1])},
    )
    conn.execute(sql.with_months(kpi.query, months))


def read_kpi(conn: sa.Connection, kpi: Kpi, window: DayWindow) -> list[dict]:
    query = (
        sa.text(
            f"SELECT {', '.join(kpi.columns)} FROM perfdata.{kpi.name} "
            "WHERE month >= :first AND month < :end ORDER BY month"
        )
        .bindparams(sa.bindparam("first", type_=sa.Date), sa.bindparam("end", type_=sa.Date))
        .columns(month=sa.Date, **{p: sa.Numeric(8, 2) for p in kpi.percents})
    )
    return [dict(row) for row in conn.execute(query, {"first": window.first, "end": window.end}).mappings()]


def _metadata_value(value: object) -> dg.MetadataValue:
    if value is None:
        return dg.MetadataValue.null()
    if isinstance(value, Decimal):
        return dg.MetadataValue.float(float(value))
    return dg.MetadataValue.int(int(value))


def markdown_table(kpi: Kpi, rows: list[dict]) -> str:
    def cell(value: object) -> str:
        return "–" if value is None else (f"{value:.2f}" if isinstance(value, Decimal) else str(value))

    lines = ["| " + " | ".join(kpi.columns) + " |", "|" + "---|" * len(kpi.columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in kpi.columns) + " |" for row in rows]
    return "\n".join(lines)


def build_kpi_asset(kpi: Kpi) -> dg.AssetsDefinition:
    @dg.asset(
        name=kpi.name,
        deps=[kpi.upstream],
        partitions_def=monthly_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # One run at a time writes a table's partitions (see docs/deployment.md).
        pool=f"perfdata/{kpi.name}",
        group_name="kpis",
        kinds={"sql", "postgres"},
        owners=OWNERS,
        description=kpi.description,
        metadata={
            "dagster/table_name": f"perfdata.{kpi.name}",
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn("month", "date", description="first day of the month")]
                + [dg.TableColumn(c, "integer") for c in kpi.counts]
                + [dg.TableColumn(p, "numeric(8,2)", description="NULL when the denominator is 0") for p in kpi.percents]
            ),
        },
    )
    def _kpi_asset(context: dg.AssetExecutionContext, database: PerfdataDatabase) -> dg.MaterializeResult:
        window = DayWindow.from_time_window(context.partition_time_window)
        months = window.months()
        dbs = database.connect()
        with dbs.perfdata.begin() as conn:
            missing = missing_days(conn, kpi.upstream, window)
            if missing:
                raise dg.Failure(
                    description=(
                        f"{kpi.name} for {window}: {kpi.upstream} has not loaded {len(missing)} day(s) "
                        f"({describe_days(missing)}); materialise {kpi.upstream} for those days first"
                    )
                )
            write_kpi(conn, kpi, months)
            rows = read_kpi(conn, kpi, window)
        extra = _extra_metadata(conn_engine=dbs.perfdata, kpi=kpi, months=months)
        for row in rows:
            context.add_asset_metadata(
                {
                    **{c: _metadata_value(row[c]) for c in (*kpi.counts, *kpi.percents)},
                    **extra.get(row["month"], {}),
                    "dagster/row_count": 1,
                },
                partition_key=row["month"].isoformat(),
            )
        return dg.MaterializeResult(
            metadata={
                "months": len(rows),
                "preview": dg.MetadataValue.md(markdown_table(kpi, rows[-12:])),
            }
        )

    return _kpi_asset


def _extra_metadata(conn_engine: sa.Engine, kpi: Kpi, months: list[dt.date]) -> dict[dt.date, dict]:
    """How many ratings were rejected, per month (a count only, never their content)."""
    if kpi is not USER_SATISFACTION:
        return {}
    with conn_engine.connect() as conn:
        rows = conn.execute(sql.with_months(sql.REJECTED_RATINGS, months).columns(month=sa.Date)).all()
    return {row.month: {"rejected_ratings": dg.MetadataValue.int(row.rejected)} for row in rows}


user_satisfaction = build_kpi_asset(USER_SATISFACTION)
completion_rate = build_kpi_asset(COMPLETION_RATE)
digital_take_up = build_kpi_asset(DIGITAL_TAKE_UP)
