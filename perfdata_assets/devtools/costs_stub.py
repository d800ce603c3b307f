"""The service's costs for `perfdata demo`: a synthetic finance CSV, a USD->GBP rates CSV, and
the AWS bill in Cost Explorer on moto's server (its results configured through moto's own API,
POST /moto-api/static/ce/cost-and-usage-results), with this process's environment pointed at
them as a deployment's is (SERVICE_COSTS_CSV, SERVICE_COST_AWS_ACCOUNTS, USD_GBP_RATES_CSV,
AWS_ENDPOINT_URL_COST_EXPLORER).

moto answers GetCostAndUsage with the next queued result for each new request (the same
request gets the same answer again), so the demo's one request gets the year's bill.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from perfdata_assets.calendar import add_months, next_month
from perfdata_assets.devtools.loopback import restored_environment

DEMO_ACCOUNTS = "111122223333"  # a made-up account id: moto holds its bill
_ENV = ("SERVICE_COSTS_CSV", "SERVICE_COST_AWS_ACCOUNTS", "USD_GBP_RATES_CSV", "AWS_ENDPOINT_URL_COST_EXPLORER")
# A year's running costs of a service of this size, in pounds a month (synthetic, round figures).
MONTHLY = (
    ("digital", "staff", 52_000), ("digital", "hosting-support", 6_500),
    ("paper", "staff", 61_000), ("paper", "printing-and-postage", 9_800),
    ("phone", "contact-centre", 38_000),
    ("shared", "accommodation", 14_000), ("shared", "overheads", 21_500),
)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def finance_csv(months: list[dt.date], seed: int) -> str:
    """month,channel,category,amount_gbp for every month: each cost varies a little month to month."""
    rng = random.Random(f"perfdata-costs-{seed}")
    lines = ["month,channel,category,amount_gbp"]
    for month in months:
        for channel, category, base in MONTHLY:
            amount = Decimal(base) * Decimal(rng.randint(9_000, 11_000)) / Decimal(10_000)
            lines.append(f"{month:%Y-%m},{channel},{category},{amount.quantize(Decimal('0.01'))}")
    return "\n".join(lines) + "\n"


def rates_csv(months: list[dt.date], seed: int) -> str:
    rng = random.Random(f"perfdata-rates-{seed}")
    lines = ["month,usd_per_gbp"]
    lines += [f"{m:%Y-%m},{Decimal(rng.randint(12_400, 13_100)) / Decimal(10_000)}" for m in months]
    return "\n".join(lines) + "\n"


def aws_bill(months: list[dt.date], seed: int, estimated: frozenset[dt.date] = frozenset()) -> dict:
    """One GetCostAndUsage answer for the months: UnblendedCost in USD, each month final unless named."""
    rng = random.Random(f"perfdata-aws-{seed}")
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": m.isoformat(), "End": next_month(m).isoformat()},
                "Total": {"UnblendedCost": {"Amount": f"{rng.randint(1_150_000, 1_450_000) / 100:.10f}", "Unit": "USD"}},
                "Groups": [],
                "Estimated": m in estimated,
            }
            for m in months
        ],
        "DimensionValueAttributes": [],
    }


def queue_cost_and_usage(moto_url: str, *answers: dict) -> None:
    """Queue GetCostAndUsage answers in moto (one per distinct request, in order)."""
    body = json.dumps({"results": list(answers)}).encode()
    request = urllib.request.Request(f"{moto_url}/moto-api/static/ce/cost-and-usage-results", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    with opener.open(request, timeout=10) as response:
        if response.status != 201:
            raise RuntimeError(f"moto did not take the Cost Explorer results: {response.status}")


@contextlib.contextmanager
def costs_stub_for_this_process(moto_url: str, first: dt.date, last: dt.date, seed: int, home: Path) -> Iterator[dict]:
    """The finance and rates CSVs for the months first..last written under ``home``, their bill
    queued in the moto server at ``moto_url``, and os.environ pointed at them; restored on exit.
    The month in progress is left out, as finance would: only whole months are costed."""
    months = months_between(first, last)
    home.mkdir(parents=True, exist_ok=True)
    finance, rates = home / "demo-service-costs.csv", home / "demo-usd-gbp-rates.csv"
    finance.write_text(finance_csv(months, seed), encoding="utf-8")
    rates.write_text(rates_csv(months, seed), encoding="utf-8")
    queue_cost_and_usage(moto_url, aws_bill(months, seed))
    with restored_environment(*_ENV):
        os.environ.update({
            "SERVICE_COSTS_CSV": str(finance), "USD_GBP_RATES_CSV": str(rates),
            "SERVICE_COST_AWS_ACCOUNTS": DEMO_ACCOUNTS, "AWS_ENDPOINT_URL_COST_EXPLORER": moto_url,
        })
        yield {"finance_csv": finance, "rates_csv": rates, "months": len(months),
               "first": months[0], "last": add_months(months[0], len(months) - 1)}
