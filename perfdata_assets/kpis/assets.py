"""The four monthly KPIs of kpis.md, each written to its own perfdata table.

A KPI is written for a month only when its own daily input has loaded every
day of that month; the window's other months are left as they were and named
in the run's metadata. So one late or unconfigured source holds back its own
KPI alone, and the publication goes ahead with the others.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.calendar import DayWindow, monthly_partitions
from perfdata_assets.db.ledger import describe_days, missing_days
from perfdata_assets.db.locks import lock_table_for_replace
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.kpis import sql

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
SERVICE_UPTIME = Kpi(
    name="service_uptime",
    upstream="health_check_uptime",
    query=sql.SERVICE_UPTIME,
    counts=("observed_minutes", "healthy_minutes"),
    percents=("uptime_percent",),
    description=(
        "Monthly service uptime from the Route 53 health check of the service's front door: the "
        "minutes it reported and, of those, the minutes it found the service healthy throughout."
    ),
)
KPIS = (USER_SATISFACTION, COMPLETION_RATE, DIGITAL_TAKE_UP, SERVICE_UPTIME)


def complete_months(conn: sa.Connection, kpi: Kpi, months: list[dt.date]) -> list[dt.date]:
    """The months whose every day the KPI's daily input has loaded."""
    query = sql.with_months(sql.LOADED_DAYS_BY_MONTH, months).columns(month=sa.Date, loaded=sa.Integer)
    loaded = dict(conn.execute(query, {"asset": kpi.upstream}).all())
    return [m for m in months if loaded.get(m, 0) == len(DayWindow(m, sql.next_month(m)).days())]


def write_kpi(conn: sa.Connection, kpi: Kpi, months: list[dt.date]) -> None:
    """Replace the window's months: delete then insert, inside the caller's transaction."""
    lock_table_for_replace(conn, f"perfdata.{kpi.name}")
    conn.execute(
        sa.text(f"DELETE FROM perfdata.{kpi.name} WHERE month >= :first AND month < :end").bindparams(
            sa.bindparam("first", type_=sa.Date), sa.bindparam("end", type_=sa.Date)
        ),
        {"first": months[0], "end": sql.next_month(months[-1])},
    )
    columns = ", ".join(kpi.columns)
    if conn.dialect.name == "postgresql":
        # PostgreSQL never runs an INSERT … SELECT in parallel; it does CREATE TABLE … AS. For
        # five years of lifecycle events the KPI's pass takes 1.0 s this way, 1.9 s as an INSERT.
        conn.execute(sql.with_months(f"CREATE TEMP TABLE kpi_rows ON COMMIT DROP AS {kpi.query}", months))
        conn.exec_driver_sql(f"INSERT INTO perfdata.{kpi.name} ({columns}) SELECT {columns} FROM kpi_rows")
        conn.exec_driver_sql("DROP TABLE kpi_rows")
    else:
        conn.execute(sql.with_months(f"INSERT INTO perfdata.{kpi.name} ({columns}) {kpi.query}", months))


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
            # One read of the ledger for the window: a month waits for its own missing days only.
            waiting: dict[dt.date, list[dt.date]] = {}
            for day in missing_days(conn, kpi.upstream, window):
                waiting.setdefault(day.replace(day=1), []).append(day)
            complete = [m for m in months if m not in waiting]
            for run in _consecutive(complete):
                write_kpi(conn, kpi, run)
            rows = [r for r in read_kpi(conn, kpi, window) if r["month"] in complete]
        for month, missing in waiting.items():
            context.log.warning(
                f"{kpi.name} {month:%Y-%m} not written: {kpi.upstream} has not loaded {len(missing)} day(s) "
                f"({describe_days(missing)}); a later run writes it once they are loaded"
            )
            context.add_asset_metadata(
                {"waiting_for": f"{kpi.upstream}: {len(missing)} day(s) not loaded ({describe_days(missing)})",
                 "dagster/row_count": 0},
                partition_key=month.isoformat(),
            )
        extra = _extra_metadata(conn_engine=dbs.perfdata, kpi=kpi, months=complete)
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
                "months_waiting": ", ".join(f"{m:%Y-%m}" for m in waiting) or "none",
                "preview": dg.MetadataValue.md(markdown_table(kpi, rows[-12:])),
            }
        )

    return _kpi_asset


def _consecutive(months: list[dt.date]) -> list[list[dt.date]]:
    """Runs of consecutive months, so each replace covers exactly the months it writes."""
    runs: list[list[dt.date]] = []
    for month in months:
        if runs and sql.next_month(runs[-1][-1]) == month:
            runs[-1].append(month)
        else:
            runs.append([month])
    return runs


def _extra_metadata(conn_engine: sa.Engine, kpi: Kpi, months: list[dt.date]) -> dict[dt.date, dict]:
    """How many ratings were rejected, per month (a count only, never their content)."""
    if kpi is not USER_SATISFACTION or not months:
        return {}
    with conn_engine.connect() as conn:
        rows = conn.execute(sql.with_months(sql.REJECTED_RATINGS, months).columns(month=sa.Date)).all()
    return {row.month: {"rejected_ratings": dg.MetadataValue.int(row.rejected)} for row in rows}


user_satisfaction = build_kpi_asset(USER_SATISFACTION)
completion_rate = build_kpi_asset(COMPLETION_RATE)
digital_take_up = build_kpi_asset(DIGITAL_TAKE_UP)
service_uptime = build_kpi_asset(SERVICE_UPTIME)
