"""UK local time, calendar days and months, and the Dagster partitions made of them.

The lowest layer with config: everything that asks "which day or month is this
in London?" asks here. May import: config.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import dagster as dg

from perfdata_assets.config import DEFAULT_START_DATE, ConfigError, start_date

TIMEZONE = "Europe/London"
LONDON = ZoneInfo(TIMEZONE)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(text: str) -> dt.date | None:
    """'2024-01-31' -> that day; None for anything else (fromisoformat alone also takes '20240101')."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def first_full_month(day: dt.date) -> dt.date:
    return day if day.day == 1 else next_month(day)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month ``count`` months after (or before) ``month``'s."""
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


try:
    START_DATE = start_date()
except ConfigError:
    # Importing never fails on a wrong value (`perfdata --help` must work whatever the
    # environment holds): every command checks its settings before any work
    # (config.check_settings) and the code location refuses to load with that one line.
    START_DATE = DEFAULT_START_DATE

# end_offset=0: only days and months that have ended exist as partitions, so
# nothing in progress is ever published.
daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE.isoformat(), timezone=TIMEZONE)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=first_full_month(START_DATE).isoformat(), timezone=TIMEZONE
)


@dataclass(frozen=True)
class DayWindow:
    """Local calendar days [first, end) and the UTC instants that bound them."""

    first: dt.date
    end: dt.date

    @classmethod
    def from_time_window(cls, window: dg.TimeWindow) -> "DayWindow":
        return cls(
            window.start.astimezone(LONDON).date(),
            window.end.astimezone(LONDON).date(),
        )

    @property
    def starts_at(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), LONDON)

    @property
    def ends_at(self) -> dt.datetime:
        return dt.datetime.combine(self.end, dt.time(), LONDON)

    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.end - self.first).days)]

    def months(self) -> list[dt.date]:
        """Whole months in the window (monthly partitions are always whole months)."""
        months, month = [], first_full_month(self.first)
        while next_month(month) <= self.end:
            months.append(month)
            month = next_month(month)
        return months

    def __str__(self) -> str:
        return f"{self.first} to {self.end - dt.timedelta(days=1)}"


# The run tags of a single-run backfill over a range of partitions (Dagster's own names).
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags for one run over the partitions first..last, both inclusive."""
    return {RANGE_START: first, RANGE_END: last}


# A nightly run that also loads days the ledger lacks names them in this tag, as
# day ranges ("2024-03-20..2024-03-25,2024-03-28"); the daily assets list what they healed.
HEALING_TAG = "perfdata/healing"


def day_ranges(days: list[dt.date]) -> str:
    """Consecutive days folded into ranges: '2024-03-20..2024-03-25,2024-03-28'."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and day - runs[-1][-1] == dt.timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(f"{r[0]}..{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def parse_day_ranges(text: str) -> list[dt.date]:
    """The days day_ranges wrote; anything unreadable is left out (a tag is no input to trust)."""
    days: list[dt.date] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("..")
        start, end = iso_date(first), iso_date(last or first)
        if start is None or end is None or end < start or (end - start).days > 400:
            continue
        days.extend(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return days
