"""Cost per transaction (kpis.md section 6): per quarter end, over the twelve months ending with it.

A monthly asset like the other KPIs, so it runs in the monthly run and in backfills; the
partition of month M (re)computes every quarter that ended in the twelve months up to M,
the quarters whose figure a cost or count loaded since could have changed. A quarter is
written only when every month of its window is costed (service_costs in the ledger) and
every day has its Sirius counts; the others are left as they were and named in the
metadata (waiting_for), so nothing is held back but the quarter itself.
"""

import datetime as dt
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.calendar import DayWindow, add_months, monthly_partitions, next_month
from perfdata_assets.db.locks import lock_table_for_replace
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.kpis import sql

NAME = "cost_per_transaction"
COSTS = "service_costs"
COUNTS = "sirius_channel_counts"
WINDOW_MONTHS = 12
QUARTER_END_MONTHS = (3, 6, 9, 12)
GBP = sa.Numeric(14, 2)
COLUMNS = ("window_end", "window_start", "total_cost_gbp", "digital_cost_gbp", "transactions",
           "digital_transactions", "cost_per_transaction_gbp", "digital_cost_per_transaction_gbp")
MONEY = ("total_cost_gbp", "digital_cost_gbp", "cost_per_transaction_gbp", "digital_cost_per_transaction_gbp")


def quarter_ends_for(months: list[dt.date]) -> list[dt.date]:
    """The quarter ends that ended in the twelve months up to each of ``months`` (oldest first), less
    those whose twelve months start before the first monthly partition: they can never be complete."""
    first, last = add_months(min(months), -(WINDOW_MONTHS - 1)), max(months)
    earliest_end = add_months(monthly_partitions.start.date(), WINDOW_MONTHS - 1)
    ends, month = [], first
    while month <= last:
        if month.month in QUARTER_END_MONTHS and month >= earliest_end:
            ends.append(month)
        month = next_month(month)
    return ends


def _months_text(months: list[dt.date], limit: int = 6) -> str:
    shown = ", ".join(f"{m:%Y-%m}" for m in months[:limit])
    return shown + (f" and {len(months) - limit} more" if len(months) > limit else "")


def waiting_for(conn: sa.Connection, quarter_end: dt.date) -> list[str]:
    """What the quarter's window still lacks: months not costed, days without Sirius counts."""
    start = add_months(quarter_end, -(WINDOW_MONTHS - 1))
    months = [add_months(start, i) for i in range(WINDOW_MONTHS)]
    query = sa.text(sql.COSTED_MONTHS).bindparams(
        sa.bindparam("first", type_=sa.Date), sa.bindparam("last", type_=sa.Date)).columns(day=sa.Date)
    costed = set(conn.execute(query, {"asset": COSTS, "first": start, "last": quarter_end}).scalars())
    lacking = []
    not_costed = [m for m in months if m not in costed]
    if not_costed:
        lacking.append(f"{COSTS}: {len(not_costed)} month(s) not costed (" + _months_text(not_costed) + ")")
    loaded = dict(conn.execute(sql.with_months(sql.LOADED_DAYS_BY_MONTH, months).columns(month=sa.Date),
                               {"asset": COUNTS}).all())
    missing_days = sum(len(DayWindow(m, next_month(m)).days()) - loaded.get(m, 0) for m in months)
    if missing_days:
        short = [m for m in months if loaded.get(m, 0) < len(DayWindow(m, next_month(m)).days())]
        lacking.append(f"{COUNTS}: {missing_days} day(s) not loaded (in " + _months_text(short) + ")")
    return lacking


def write_quarters(conn: sa.Connection, quarter_ends: list[dt.date]) -> None:
    """Replace the given quarters' rows (delete then insert) inside the caller's transaction."""
    lock_table_for_replace(conn, f"perfdata.{NAME}")
    conn.execute(
        sa.text(f"DELETE FROM perfdata.{NAME} WHERE window_end IN :ends").bindparams(
            sa.bindparam("ends", expanding=True, type_=sa.Date)),
        {"ends": quarter_ends},
    )
    columns = ", ".join(COLUMNS)
    conn.execute(sql.with_quarters(f"INSERT INTO perfdata.{NAME} ({columns}) {sql.COST_PER_TRANSACTION}", quarter_ends))


def read_quarters(conn: sa.Connection, quarter_ends: list[dt.date]) -> list[dict]:
    query = (
        sa.text(f"SELECT {', '.join(COLUMNS)} FROM perfdata.{NAME} WHERE window_end IN :ends ORDER BY window_end")
        .bindparams(sa.bindparam("ends", expanding=True, type_=sa.Date))
        .columns(window_end=sa.Date, window_start=sa.Date, **{m: GBP for m in MONEY})
    )
    return [dict(r) for r in conn.execute(query, {"ends": quarter_ends}).mappings()]


def _figure(value: object) -> dg.MetadataValue:
    if value is None:
        return dg.MetadataValue.null()
    if isinstance(value, Decimal):
        return dg.MetadataValue.float(float(value))
    return dg.MetadataValue.int(int(value))


def markdown_table(rows: list[dict]) -> str:
    def cell(value: object) -> str:
        return "–" if value is None else (f"{value:.2f}" if isinstance(value, Decimal) else str(value))

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row[c]) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


@dg.asset(
    name=NAME,
    deps=[COSTS, COUNTS],
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=f"perfdata/{NAME}",
    group_name="kpis",
    kinds={"sql", "postgres"},
    owners=["team:opg-perfdata"],
    description=(
        "Cost per transaction per quarter end (March, June, September, December), over the twelve whole months "
        "ending with it: every cost line of the window over every LPA Sirius received, and the digital cost "
        "(digital and AWS lines, plus the shared lines split by the share of LPAs received online) over the LPAs "
        "received online. A month's run recomputes the quarters that ended in the twelve months up to it; a "
        "quarter is written once every month is costed and every day counted."
    ),
    metadata={
        "dagster/table_name": f"perfdata.{NAME}",
        "dagster/column_schema": dg.TableSchema(columns=[
            dg.TableColumn("window_end", "date", description="first day of the window's last month (a quarter end)"),
            dg.TableColumn("window_start", "date", description="first day of the window's first month"),
            dg.TableColumn("total_cost_gbp", "numeric(14,2)", description="every cost line of the window"),
            dg.TableColumn("digital_cost_gbp", "numeric(14,2)",
                           description="digital + AWS lines + shared × digital / all transactions; NULL if none"),
            dg.TableColumn("transactions", "integer", description="LPAs received, every channel"),
            dg.TableColumn("digital_transactions", "integer", description="LPAs received online"),
            dg.TableColumn("cost_per_transaction_gbp", "numeric(8,2)", description="NULL when no transactions"),
            dg.TableColumn("digital_cost_per_transaction_gbp", "numeric(8,2)",
                           description="NULL when no digital transactions"),
        ]),
    },
)
def cost_per_transaction(context: dg.AssetExecutionContext, database: PerfdataDatabase) -> dg.MaterializeResult:
    months = DayWindow.from_time_window(context.partition_time_window).months()
    quarter_ends = quarter_ends_for(months)
    dbs = database.connect()
    waiting: dict[dt.date, list[str]] = {}
    with dbs.perfdata.begin() as conn:
        for end in quarter_ends:
            lacking = waiting_for(conn, end)
            if lacking:
                waiting[end] = lacking
        complete = [e for e in quarter_ends if e not in waiting]
        if complete:
            write_quarters(conn, complete)
        rows = read_quarters(conn, complete) if complete else []
    for end, lacking in waiting.items():
        context.log.info(f"{NAME} for the year to {end:%Y-%m} not written: {'; '.join(lacking)}")
    for month in months:
        metadata: dict[str, object] = {"dagster/row_count": 0}
        row = next((r for r in rows if r["window_end"] == month), None)
        if row is not None:
            metadata = {**{c: _figure(row[c]) for c in COLUMNS[2:]}, "dagster/row_count": 1}
        elif month in waiting:
            metadata["waiting_for"] = "; ".join(waiting[month])
        elif month.month not in QUARTER_END_MONTHS:
            metadata["quarter_end"] = False
        context.add_asset_metadata(metadata, partition_key=month.isoformat())
    return dg.MaterializeResult(
        metadata={
            "quarters_written": ", ".join(f"{e:%Y-%m}" for e in complete) or "none",
            "quarters_waiting": "; ".join(f"{e:%Y-%m}: {', '.join(w)}" for e, w in waiting.items()) or "none",
            "preview": dg.MetadataValue.md(markdown_table(rows)),
        }
    )


ALL_QUARTERS = sa.text(
    f"SELECT window_end, total_cost_gbp, digital_cost_gbp, transactions, digital_transactions FROM perfdata.{NAME} "
    "ORDER BY window_end"
).columns(window_end=sa.Date, total_cost_gbp=GBP, digital_cost_gbp=GBP)


@dg.asset_check(
    asset=cost_per_transaction,
    name="cost_per_transaction_complete_and_consistent",
    blocking=True,
    description=(
        "Every quarter in perfdata.cost_per_transaction has its twelve months costed and every day's Sirius counts "
        "loaded, and its figures hang together: LPAs made online no more than all LPAs, the digital cost no more "
        "than the total cost. A failure stops the publication of the run."
    ),
)
def cost_per_transaction_complete_and_consistent(database: PerfdataDatabase) -> dg.AssetCheckResult:
    problems: list[str] = []
    with database.connect().perfdata.connect() as conn:
        rows = conn.execute(ALL_QUARTERS).all()
        for row in rows:
            lacking = waiting_for(conn, row.window_end)
            if lacking:
                problems.append(f"{row.window_end:%Y-%m}: written while {'; '.join(lacking)}")
            if row.digital_transactions > row.transactions:
                problems.append(f"{row.window_end:%Y-%m}: {row.digital_transactions} online of {row.transactions} LPAs")
            if row.digital_cost_gbp is not None and row.digital_cost_gbp > row.total_cost_gbp:
                problems.append(f"{row.window_end:%Y-%m}: digital cost {row.digital_cost_gbp} over the total "
                                f"{row.total_cost_gbp}")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"quarters_checked": len(rows), "problems": "\n".join(problems[:20]) or "none"},
    )


cost_per_transaction_checks = [cost_per_transaction_complete_and_consistent]
