"""The service's monthly costs (finance CSV, and Cost Explorer when configured) into
perfdata.service_costs, and the costed months into the ledger."""

import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from perfdata_assets.calendar import DayWindow, monthly_partitions
from perfdata_assets.db.ledger import record_loaded_days
from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.sources.costs.cost_explorer import (
    CostExplorerSettings,
    fetch_aws_months,
    parse_accounts,
)
from perfdata_assets.sources.costs.figures import (
    AWS,
    AWS_CATEGORY,
    AWS_CHANNEL,
    CostError,
    CostLine,
    CostSettingsError,
    CostUnavailable,
    to_gbp,
)
from perfdata_assets.sources.costs.finance_csv import read_finance_csv, read_rates_csv

ASSET = "service_costs"

# Said by the asset when it runs unconfigured, and by `perfdata backfill` when it skips it.
NO_SERVICE_COSTS_SOURCE = (
    "no service costs source: set SERVICE_COSTS_CSV (the finance CSV; SERVICE_COST_AWS_ACCOUNTS and "
    "USD_GBP_RATES_CSV add the AWS bill from Cost Explorer)"
)


@dataclass
class FetchedCosts:
    """The window's lines that may be written, the months complete (costed), and why the others wait."""

    lines: list[CostLine] = field(default_factory=list)
    costed: list[dt.date] = field(default_factory=list)
    waiting: dict[dt.date, str] = field(default_factory=dict)
    aws: bool = False


class ServiceCostsSource(dg.ConfigurableResource):
    """Where the service's costs come from: the finance CSV, plus the AWS bill when accounts are named.

    AWS credentials are never configured here: boto3's default chain finds them.
    """

    csv_path: str = Field(default="", description="SERVICE_COSTS_CSV: the finance CSV")
    aws_accounts: str = Field(default="", description="SERVICE_COST_AWS_ACCOUNTS: 12-digit account ids, comma-separated")
    rates_csv_path: str = Field(default="", description="USD_GBP_RATES_CSV: dollars per pound, per month")
    max_attempts: int = Field(default=5, description="Attempts per Cost Explorer request, including the first")
    connect_timeout_seconds: float = Field(default=5, description="Time allowed to open a connection")
    read_timeout_seconds: float = Field(default=30, description="Time allowed between bytes of an answer")

    @property
    def is_configured(self) -> bool:
        return bool(self.csv_path)

    def settings(self) -> tuple[tuple[str, ...], dict[dt.date, Decimal], CostExplorerSettings]:
        """Every setting checked before any request: the accounts, the rates file, the retries."""
        if not self.csv_path:
            raise CostSettingsError(NO_SERVICE_COSTS_SOURCE)
        settings = CostExplorerSettings(self.max_attempts, self.connect_timeout_seconds, self.read_timeout_seconds)
        settings.check()
        if not self.aws_accounts.strip():
            if self.rates_csv_path:
                raise CostSettingsError(
                    "USD_GBP_RATES_CSV is set but SERVICE_COST_AWS_ACCOUNTS is not: name the service's AWS accounts, "
                    "or unset USD_GBP_RATES_CSV"
                )
            return (), {}, settings
        accounts = parse_accounts(self.aws_accounts)
        if not self.rates_csv_path:
            raise CostSettingsError(
                "USD_GBP_RATES_CSV is not set: Cost Explorer's amounts are in dollars, and SERVICE_COST_AWS_ACCOUNTS "
                "needs each month's rate (a CSV month,usd_per_gbp)"
            )
        try:
            rates = read_rates_csv(self.rates_csv_path)
        except CostError as exc:
            raise CostSettingsError(str(exc)) from None
        return accounts, rates, settings

    def fetch(self, months: list[dt.date]) -> FetchedCosts:
        accounts, rates, settings = self.settings()
        wanted = set(months)
        finance = [line for line in read_finance_csv(self.csv_path) if line.month in wanted]
        fetched = FetchedCosts(lines=list(finance), aws=bool(accounts))
        with_finance = {line.month for line in finance}
        aws = fetch_aws_months(accounts, months, settings) if accounts else {}
        for month in months:
            reasons = []
            if month not in with_finance:
                reasons.append("SERVICE_COSTS_CSV has no line for it")
            if accounts:
                bill = aws[month]
                if bill.estimated:
                    reasons.append("Cost Explorer's amount is still an estimate")
                elif month not in rates:
                    reasons.append("USD_GBP_RATES_CSV has no rate for it")
                else:
                    fetched.lines.append(
                        CostLine(month, AWS_CHANNEL, AWS_CATEGORY, to_gbp(bill.usd, rates[month]), AWS)
                    )
            if reasons:
                fetched.waiting[month] = "; ".join(reasons)
            else:
                fetched.costed.append(month)
        return fetched


def service_costs_source_from_env() -> ServiceCostsSource:
    """EnvVar keeps the values out of the Dagster UI."""
    settings = {}
    for variable, name in (("SERVICE_COSTS_CSV", "csv_path"), ("SERVICE_COST_AWS_ACCOUNTS", "aws_accounts"),
                           ("USD_GBP_RATES_CSV", "rates_csv_path")):
        if os.environ.get(variable):
            settings[name] = dg.EnvVar(variable)
    return ServiceCostsSource(**settings)


MERGE_COST_LINE = sa.text(
    """
    INSERT INTO perfdata.service_costs (month, channel, category, amount_gbp, source)
    VALUES (:month, :channel, :category, :amount, :source)
    ON CONFLICT (month, channel, category, source) DO UPDATE SET amount_gbp = excluded.amount_gbp
     WHERE service_costs.amount_gbp <> excluded.amount_gbp
    """
).bindparams(sa.bindparam("month", type_=sa.Date), sa.bindparam("amount", type_=sa.Numeric(14, 2)))

STORED_TOTALS = (
    sa.text(
        "SELECT month, source, count(*) AS lines, sum(CAST(round(amount_gbp * 100) AS BIGINT)) AS pence "
        "FROM perfdata.service_costs WHERE month >= :first AND month < :end GROUP BY month, source"
    )
    .bindparams(sa.bindparam("first", type_=sa.Date), sa.bindparam("end", type_=sa.Date))
    .columns(month=sa.Date)
)


def _pounds(pence: int) -> float:
    return float(Decimal(int(pence)) / 100)


@dg.asset(
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="perfdata/service_costs",
    group_name="costs",
    kinds={"aws", "csv", "sql"},
    owners=["team:opg-perfdata"],
    retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    description=(
        "The service's costs per month, channel and category in pounds: the finance CSV (SERVICE_COSTS_CSV) and, "
        "when SERVICE_COST_AWS_ACCOUNTS is set, the AWS bill from Cost Explorer converted at the month's "
        "USD_GBP_RATES_CSV rate, merged into perfdata.service_costs. A month is costed once the finance CSV has a "
        "line for it and, where AWS is configured, its bill is final (not estimated) and its rate known; a month "
        "not costed yet waits (waiting_for in its metadata) and a later run picks it up."
    ),
    metadata={"dagster/table_name": "perfdata.service_costs"},
)
def service_costs(
    context: dg.AssetExecutionContext, database: PerfdataDatabase, service_costs_source: ServiceCostsSource
) -> dg.MaterializeResult:
    window = DayWindow.from_time_window(context.partition_time_window)
    months = window.months()
    try:
        fetched = service_costs_source.fetch(months)
    except CostError as exc:
        # Only an unavailable Cost Explorer is worth the step's retries; a wrong setting, a refusal,
        # a malformed answer or a bad CSV line will be the same in a minute.
        raise dg.Failure(
            description=f"service costs for {window}: {exc}", allow_retries=isinstance(exc, CostUnavailable)
        ) from None

    dbs = database.connect()
    with dbs.perfdata.begin() as conn:
        if fetched.lines:
            conn.execute(MERGE_COST_LINE, [
                {"month": c.month, "channel": c.channel, "category": c.category, "amount": c.amount_gbp,
                 "source": c.source} for c in fetched.lines
            ])
        # A monthly asset records a costed month by its first day.
        record_loaded_days(conn, ASSET, fetched.costed, dt.datetime.now(dt.timezone.utc))
        stored = conn.execute(STORED_TOTALS, {"first": months[0], "end": window.end}).all()

    totals: dict[dt.date, dict[str, tuple[int, int]]] = defaultdict(dict)
    for row in stored:
        totals[row.month][row.source] = (int(row.lines), int(row.pence or 0))
    for month in months:
        finance_lines, finance_pence = totals[month].get("finance", (0, 0))
        aws_lines, aws_pence = totals[month].get("aws", (0, 0))
        metadata: dict[str, object] = {
            "dagster/row_count": finance_lines + aws_lines,
            "finance_gbp": _pounds(finance_pence),
            "costed": month in fetched.costed,
        }
        if fetched.aws:
            metadata["aws_gbp"] = _pounds(aws_pence)
        if month in fetched.waiting:
            metadata["waiting_for"] = fetched.waiting[month]
            context.log.warning(f"service costs {month:%Y-%m} not costed yet: {fetched.waiting[month]}; "
                                "a later run picks it up")
        context.add_asset_metadata(metadata, partition_key=month.isoformat())
    return dg.MaterializeResult(
        metadata={
            "window": str(window),
            "lines_written": len(fetched.lines),
            "months_costed": len(fetched.costed),
            "months_waiting": ", ".join(f"{m:%Y-%m}" for m in fetched.waiting) or "none",
            "aws_costs": "Cost Explorer" if fetched.aws else
            "not fetched: SERVICE_COST_AWS_ACCOUNTS is not set, so the finance CSV is taken to include them",
        }
    )
