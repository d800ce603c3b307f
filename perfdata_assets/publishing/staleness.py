"""Which published datasets are older than they should be: the healthcheck's ``stale`` list.

As the GOV.UK Performance Platform's read API gave each dataset a maximum
age, here every KPI has one deadline: last month must be published by OPG's
import, 12:00 UTC on the 1st (``delivery.import_deadline``). Before that
moment the month before last is the one expected. A KPI publishes all its
data types together, so each is judged by its headline data type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from perfdata_assets.calendar import add_months, next_month
from perfdata_assets.publishing.delivery import import_deadline

# One dataset per KPI (published.KPI_OF_DATA_TYPE), named by its headline data
# type, in the order of ALL_DATA_TYPES.
DATASETS = ("user-satisfaction-percent", "uptime-percent", "digital-take-up", "completion-rate-percent",
            "cost-per-transaction")
# Cost per transaction is a year's figure per quarter end, published with period_start the
# year's first month; it is judged by its quarter end (the year's last month). A quarter is due
# a month after the others would be: by OPG's import for the month after it (12:00 UTC on
# 1 May for the year to March), so that finance has a month to send its costs.
YEARLY = "cost-per-transaction"
QUARTER_END_MONTHS = (3, 6, 9, 12)


@dataclass(frozen=True)
class StaleDataset:
    dataset: str
    latest_month: dt.date | None  # None: never published
    expected_month: dt.date
    # When the dataset fell behind: the import deadline of the first month it is
    # missing (of expected_month when it was never published).
    due: dt.datetime


def expected_month(now: dt.datetime) -> tuple[dt.date, dt.datetime]:
    """The latest month that must be published at ``now`` (aware), and its deadline."""
    now = now.astimezone(dt.timezone.utc)
    month = add_months(dt.date(now.year, now.month, 1), -1)
    if now < import_deadline(month):
        month = add_months(month, -1)
    return month, import_deadline(month)


def expected_quarter(now: dt.datetime) -> tuple[dt.date, dt.datetime]:
    """The latest quarter end whose cost per transaction must be published at ``now``, and its deadline."""
    month, _ = expected_month(now)
    # The month before the expected month must end a quarter: its figure is due a month later.
    quarter = add_months(month, -1)
    while quarter.month not in QUARTER_END_MONTHS:
        quarter = add_months(quarter, -1)
    return quarter, import_deadline(next_month(quarter))


def check_datasets(datasets: Iterable[str]) -> tuple[str, ...]:
    datasets = tuple(datasets)
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset {', '.join(unknown)}: expected some of {', '.join(DATASETS)}")
    return datasets


def stale_datasets(
    latest: Mapping[str, dt.date], now: dt.datetime, datasets: Iterable[str] = DATASETS
) -> list[StaleDataset]:
    """The datasets (in DATASETS order) whose latest published month (``latest``, by data type;
    absent when never published) is before the month expected at ``now``."""
    wanted = set(check_datasets(datasets))
    stale = []
    for dataset in (d for d in DATASETS if d in wanted):
        month = latest.get(dataset)
        if dataset == YEARLY:
            # Judged by the quarter end: the last month of the year published.
            month = None if month is None else add_months(month, 11)
            expected, due = expected_quarter(now)
            later = None if month is None else import_deadline(next_month(add_months(month, 3)))
        else:
            expected, due = expected_month(now)
            later = None if month is None else import_deadline(next_month(month))
        if month is None or month < expected:
            stale.append(StaleDataset(dataset, month, expected, due if later is None else later))
    return stale
