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
# type, in the order of DATA_TYPES.
DATASETS = ("user-satisfaction-percent", "uptime-percent", "digital-take-up", "completion-rate-percent")


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
    expected, due = expected_month(now)
    wanted = set(check_datasets(datasets))
    stale = []
    for dataset in (d for d in DATASETS if d in wanted):
        month = latest.get(dataset)
        if month is None or month < expected:
            since = due if month is None else import_deadline(next_month(month))
            stale.append(StaleDataset(dataset, month, expected, since))
    return stale
