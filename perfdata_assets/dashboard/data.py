"""What the dashboard shows, read from the publication and nothing else.

Every figure comes from ``perfdata.published_kpis`` through ``PerformanceData``,
for published months only. Two breakdowns of the latest published month are
read from the KPI tables behind it, and shown only while they still agree with
what was published:

- the count at each satisfaction level (``perfdata.user_satisfaction``): shown
  when satisfied + very satisfied and the responses equal the published
  numerator and denominator;
- LPAs received per Sirius channel (``perfdata.channel_counts``): shown when
  ``online`` and the total equal the published digital take-up numerator and
  denominator.

A KPI table re-materialised after publication (a late correction not yet
published) would otherwise put unpublished numbers next to published ones.
Nothing here computes a figure: differences between two published values are
the only arithmetic, done exactly in ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from perfdata_assets.kpis.sql import with_months
from perfdata_assets.partitions import next_month
from perfdata_assets.publishing import sql as publishing_sql
from perfdata_assets.publishing.published import PERIOD, SERVICE, PublishedValue
from perfdata_assets.publishing.resource import PerformanceData, perfdata_read_engine

log = logging.getLogger("perfdata.dashboard")

WINDOW_MONTHS = 24
CENT = Decimal("0.01")

SATISFACTION_LEVELS = (
    ("very_satisfied", "Very satisfied"),
    ("satisfied", "Satisfied"),
    ("neither", "Neither satisfied nor dissatisfied"),
    ("dissatisfied", "Dissatisfied"),
    ("very_dissatisfied", "Very dissatisfied"),
)
# Sirius channel -> what the page calls it; others keep their own name, after these.
CHANNEL_LABELS = {"online": "Online", "paper": "Paper form", "phone": "Telephone"}


@dataclass(frozen=True)
class KpiSpec:
    key: str  # used in element ids
    data_type: str
    title: str
    summary: str
    value_label: str  # the table column of the value
    numerator_label: str
    denominator_label: str
    no_figure: str  # why a month has no figure (its denominator was zero)
    counts: str  # the numerator and denominator in words, with {numerator} and {denominator}


SATISFACTION = KpiSpec(
    "user-satisfaction", "user-satisfaction-percent", "User satisfaction",
    "The percentage of people who rated the service ‘satisfied’ or ‘very satisfied’ "
    "in the feedback form at the end of making an LPA.",
    "Satisfied", "Satisfied or very satisfied", "Responses", "no feedback responses",
    "{numerator} of {denominator} responses were ‘satisfied’ or ‘very satisfied’.",
)
COMPLETION = KpiSpec(
    "completion-rate", "completion-rate-percent", "Completion rate",
    "LPAs created in the month as a percentage of LPAs started in the month. LPAs started in an "
    "earlier month and finished in this one count too, so it can be over 100%.",
    "Completion rate", "LPAs created", "LPAs started", "no LPAs started",
    "{numerator} LPAs created; {denominator} LPAs started.",
)
TAKE_UP = KpiSpec(
    "digital-take-up", "digital-take-up-percent", "Digital take-up",
    "LPAs received through the online service as a percentage of all LPAs received, by every channel.",
    "Digital take-up", "LPAs received online", "LPAs received", "no LPAs received",
    "{numerator} of {denominator} LPAs received were made online.",
)
KPIS = (SATISFACTION, COMPLETION, TAKE_UP)
SCORE_DATA_TYPE = "user-satisfaction-score"


@dataclass(frozen=True)
class MonthFigure:
    """One month of one data type; ``published`` is False for a month missing from the publication."""

    month: dt.date
    published: bool
    value: Decimal | None = None
    numerator: int | None = None
    denominator: int | None = None


@dataclass(frozen=True)
class Change:
    """The latest month against the calendar month before it."""

    previous: MonthFigure
    difference: Decimal | None  # percentage points; None when either month has no figure


@dataclass(frozen=True)
class Kpi:
    spec: KpiSpec
    months: list[MonthFigure]  # oldest first, every calendar month of the window
    latest: MonthFigure
    change: Change | None  # None when the latest month is the first published


@dataclass(frozen=True)
class SatisfactionLevels:
    month: dt.date
    counts: list[tuple[str, int]]  # (label, count), very satisfied first
    responses: int


@dataclass(frozen=True)
class ChannelSplit:
    month: dt.date
    channels: list[tuple[str, str, int]]  # (Sirius channel, label, LPAs)
    total: int


@dataclass(frozen=True)
class Breakdown:
    """A breakdown of the latest month, or why it is not shown."""

    data: SatisfactionLevels | ChannelSplit | None
    unavailable: str | None = None


@dataclass(frozen=True)
class Dashboard:
    published_months: list[dt.date]
    kpis: list[Kpi]
    score: dict[dt.date, MonthFigure]  # user-satisfaction-score by month, for the satisfaction table
    levels: Breakdown
    channels: Breakdown
    published_at: dt.datetime | None = None  # when the latest month was published (UTC)

    @property
    def latest_month(self) -> dt.date | None:
        return self.published_months[-1] if self.published_months else None


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    months = []
    while first <= last:
        months.append(first)
        first = next_month(first)
    return months


def _figure(month: dt.date, value: PublishedValue | None) -> MonthFigure:
    if value is None:
        return MonthFigure(month, published=False)
    return MonthFigure(month, True, value.value, value.numerator, value.denominator)


def _kpi(spec: KpiSpec, window: list[dt.date], by_key: dict[tuple[dt.date, str], PublishedValue],
         previous_month: dt.date | None) -> Kpi:
    months = [_figure(m, by_key.get((m, spec.data_type))) for m in window]
    latest = months[-1]
    change = None
    if previous_month is not None:
        previous = _figure(previous_month, by_key.get((previous_month, spec.data_type)))
        difference = None
        if latest.value is not None and previous.value is not None:
            difference = (latest.value - previous.value).quantize(CENT, ROUND_HALF_UP)
        change = Change(previous, difference)
    return Kpi(spec, months, latest, change)


def read_dashboard(performance: PerformanceData) -> Dashboard:
    """Everything the page shows: the last 24 published months (or fewer) and the latest month's breakdowns."""
    published_months = performance.published_months()
    if not published_months:
        empty = Breakdown(None)
        return Dashboard([], [], {}, empty, empty)
    latest = published_months[-1]
    first = max(published_months[0], add_months(latest, -(WINDOW_MONTHS - 1)))
    # The calendar month before the latest; None when the latest is the first month ever published.
    previous_month = add_months(latest, -1) if len(published_months) > 1 else None
    values = performance.history(None, min(first, add_months(latest, -1)), latest)
    by_key = {(v.period_start, v.data_type): v for v in values}
    window = month_range(first, latest)
    kpis = [_kpi(spec, window, by_key, previous_month) for spec in KPIS]
    score = {m: _figure(m, by_key.get((m, SCORE_DATA_TYPE))) for m in window}
    engine = perfdata_read_engine(performance.perfdata_database_url, performance.lpa_database_url)
    levels = _breakdown(engine, satisfaction_levels, by_key.get((latest, SATISFACTION.data_type)))
    channels = _breakdown(engine, channel_split, by_key.get((latest, TAKE_UP.data_type)))
    published_at = max((v.published_at for v in values if v.period_start == latest), default=None)
    return Dashboard(published_months, kpis, score, levels, channels, published_at)


# --- The latest month's breakdowns, from the KPI tables -------------------------------

UNAVAILABLE = "This breakdown is not available at the moment."


def _breakdown(engine: sa.Engine, read: Callable[[sa.Connection, PublishedValue | None], Breakdown],
               value: PublishedValue | None) -> Breakdown:
    """One breakdown, on its own connection; its failure leaves the rest of the page standing.

    A login granted only ``perfdata_reader`` may not read ``channel_counts``, for one.
    """
    try:
        with engine.connect() as conn:
            return read(conn, value)
    except sa.exc.DBAPIError as exc:
        log.warning("dashboard: %s failed: %s", read.__name__, type(exc.orig).__name__)
        return Breakdown(None, UNAVAILABLE)


_LEVELS = f"""
SELECT responses, {", ".join(column for column, _ in SATISFACTION_LEVELS)}
  FROM perfdata.user_satisfaction
 WHERE month = :month
   AND EXISTS (SELECT 1 FROM perfdata.published_kpis p
                WHERE p.period_start = :month AND p.period = :period AND p.service = :service)
"""

REVISED = "These figures are being revised. They will be shown when the next publication includes them."


def satisfaction_levels(conn: sa.Connection, published: PublishedValue | None) -> Breakdown:
    """The latest published month's count at each level, if they add up to what was published."""
    if published is None:
        return Breakdown(None, "The satisfaction figure for this month was not published.")
    row = conn.execute(
        sa.text(_LEVELS).bindparams(sa.bindparam("month", type_=sa.Date)),
        {"month": published.period_start, "period": PERIOD, "service": SERVICE},
    ).mappings().first()
    if row is None:
        log.warning("dashboard: no user_satisfaction row for published month %s", published.period_start)
        return Breakdown(None, REVISED)
    levels = SatisfactionLevels(
        published.period_start, [(label, int(row[column])) for column, label in SATISFACTION_LEVELS],
        int(row["responses"]),
    )
    if (int(row["satisfied"]) + int(row["very_satisfied"]), levels.responses) != (
        published.numerator, published.denominator,
    ):
        log.warning("dashboard: user_satisfaction for %s differs from its publication", published.period_start)
        return Breakdown(None, REVISED)
    return Breakdown(levels)


def _channel_order(item: tuple[str, int]) -> tuple[int, str]:
    channel = item[0]
    known = list(CHANNEL_LABELS)
    return (known.index(channel), "") if channel in known else (len(known), channel)


def channel_split(conn: sa.Connection, published: PublishedValue | None) -> Breakdown:
    """The latest published month's LPAs per Sirius channel, if they add up to what was published."""
    if published is None:
        return Breakdown(None, "The digital take-up figure for this month was not published.")
    month = published.period_start
    # The publication's own per-channel query, over this one (published) month.
    rows = conn.execute(with_months(publishing_sql.CHANNEL_TOTALS, [month]).columns(month=sa.Date))
    totals = sorted(((row.channel, int(row.total)) for row in rows), key=_channel_order)
    split = ChannelSplit(
        month, [(channel, CHANNEL_LABELS.get(channel, channel), count) for channel, count in totals],
        sum(count for _, count in totals),
    )
    online = sum(count for channel, count in totals if channel == "online")
    if (online, split.total) != (published.numerator, published.denominator):
        log.warning("dashboard: channel_counts for %s differ from its publication", month)
        return Breakdown(None, REVISED)
    return Breakdown(split)
