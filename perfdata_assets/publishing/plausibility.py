"""Is a published figure believable? Two rules, so a broken source is an alert, not a headline.

- A percentage more than three standard deviations (of the sample, n − 1) from
  the mean of its own data type's trailing twelve months. Only assessed when all
  twelve months before it have a figure; after twelve identical months any
  change is flagged (a source stuck at one value, then moving, is worth a look).
  The five satisfaction levels are counts that move with the volume of
  responses: the second rule watches that volume instead.
- A month whose feedback responses or LPAs started (the denominators of user
  satisfaction and completion rate) fall to less than half of the month before:
  a source that lost rows still yields percentages that look normal.

Warnings only: a real change in the service can do either, and the figures
are published as computed. Pure functions over published values, no I/O.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from perfdata_assets.calendar import add_months
from perfdata_assets.publishing.published import COUNT_DATA_TYPES, DATA_TYPES, PublishedValue

STANDARD_DEVIATIONS = 3
TRAILING_MONTHS = 12
# (data type whose denominator is the volume, what the volume is called)
PERCENT_DATA_TYPES = tuple(t for t in DATA_TYPES if t not in COUNT_DATA_TYPES)
VOLUMES = (("user-satisfaction-percent", "feedback responses"), ("completion-rate-percent", "LPAs started"))


@dataclass(frozen=True)
class Flag:
    month: dt.date
    data_type: str
    value: Decimal | int | None  # the figure flagged (a count for a fall in volume)
    reason: str

    def as_json(self) -> dict:
        value = None if self.value is None else (self.value if isinstance(self.value, int) else float(self.value))
        return {"month": f"{self.month:%Y-%m}", "data_type": self.data_type, "value": value, "reason": self.reason}


def _two(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def outlier(value: PublishedValue, trailing: Sequence[PublishedValue | None]) -> Flag | None:
    """The value against its trailing twelve months (oldest first), or None when it is within bounds."""
    figures = [t.value for t in trailing if t is not None and t.value is not None]
    if value.value is None or len(figures) < TRAILING_MONTHS:
        return None
    mean = statistics.mean(figures)
    sd = statistics.stdev(figures)
    if abs(value.value - mean) <= STANDARD_DEVIATIONS * sd:
        return None
    return Flag(value.period_start, value.data_type, value.value,
                f"{_two(value.value)} is more than {STANDARD_DEVIATIONS} standard deviations ({_two(sd)}) from "
                f"the mean of the previous {TRAILING_MONTHS} months ({_two(mean)})")


def volume_fall(value: PublishedValue, previous: PublishedValue | None, volume: str) -> Flag | None:
    """The month's denominator fell to less than half of the month before's."""
    if previous is None or not previous.denominator or value.denominator is None:
        return None
    if 2 * value.denominator >= previous.denominator:
        return None
    return Flag(value.period_start, value.data_type, value.denominator,
                f"{volume} fell by more than half: {previous.denominator:,} in {previous.period_start:%Y-%m}, "
                f"{value.denominator:,} in {value.period_start:%Y-%m}")


def implausible(values: Iterable[PublishedValue], months: Iterable[dt.date]) -> list[Flag]:
    """Every flag for the given months, given the published values of those months and the twelve before."""
    by_key = {(v.period_start, v.data_type): v for v in values}
    flags: list[Flag] = []
    for month in sorted(set(months)):
        for data_type in PERCENT_DATA_TYPES:
            value = by_key.get((month, data_type))
            if value is None:
                continue
            trailing = [by_key.get((add_months(month, -k), data_type)) for k in range(TRAILING_MONTHS, 0, -1)]
            if flag := outlier(value, trailing):
                flags.append(flag)
        for data_type, volume in VOLUMES:
            value = by_key.get((month, data_type))
            if value is not None and (flag := volume_fall(value, by_key.get((add_months(month, -1), data_type)), volume)):
                flags.append(flag)
    return flags
