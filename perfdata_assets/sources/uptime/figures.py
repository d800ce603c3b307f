"""Per-day uptime figures as perfdata holds them, London-day arithmetic, and the errors
around fetching them (contract: docs/contract/uptime.md).

A figure that is not understood whole fails the fetch rather than being repaired: a
published uptime computed from a half-read answer is worse than none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from perfdata_assets.calendar import LONDON

UTC = dt.timezone.utc
# A day with the clock going back has 25 hours.
MAX_DAY_MINUTES = 1500
# CloudWatch publishes late datapoints within minutes of the period they describe.
FINAL_AFTER = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class UptimeDay:
    """One London day: minutes the health check reported a status, and of those the
    minutes it was healthy throughout. resolution_seconds is the CloudWatch period the
    day was fetched at, None for a day from the CSV."""

    day: dt.date
    observed_minutes: int
    healthy_minutes: int
    resolution_seconds: int | None


class UptimeError(Exception):
    """Uptime figures could not be obtained. The message is one sentence, without
    credentials."""


class UptimeUnavailable(UptimeError):
    """Throttling, 5xx, timeouts or dropped connections outlasted the bounded retries:
    worth trying again later."""


class UptimeRefused(UptimeError):
    """AWS refused (access denied, no or rejected credentials, bad parameters), the
    health check gave no data, the day is older than CloudWatch keeps, or the answer
    was malformed: retrying cannot help."""


class UptimeCsvError(UptimeError):
    """The SERVICE_UPTIME_CSV file is unusable; the message names the line."""


class UptimeNotFinal(UptimeError):
    """A day was asked for before CloudWatch's figures for it are final."""


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants at which the London day starts and ends."""
    start = dt.datetime.combine(day, dt.time(), LONDON)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), LONDON)
    return start.astimezone(UTC), end.astimezone(UTC)


def day_minutes(day: dt.date) -> int:
    """1440, or 1380 / 1500 on the days the clocks go forward / back."""
    start, end = day_bounds(day)
    return int((end - start).total_seconds()) // 60


def final_at(day: dt.date) -> dt.datetime:
    return day_bounds(day)[1] + FINAL_AFTER


def is_final(day: dt.date, now: dt.datetime) -> bool:
    return require_aware(now) >= final_at(day)


def require_aware(now: dt.datetime) -> dt.datetime:
    # A naive `now` would be compared as if it were UTC or local time by accident.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    if first > last:
        raise ValueError(f"first day {first} is after last day {last}")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
