"""What the dashboard shows, read from the publication and nothing else.

Every figure comes from ``perfdata.published_kpis`` through ``PerformanceData``,
for published months only, including the count at each satisfaction level (the
five level data types of kpis.md section 5). Each KPI is published on its own, so
each has its own latest month: a month after it, up to the page's latest month, is
"not published yet" (a gap, never a zero).

One breakdown is read from the tables behind the publication: LPAs received per
Sirius channel (``perfdata.channel_counts``), shown when ``online`` and the total
equal the published digital take-up numerator and denominator. Channel counts
re-loaded after publication (a late correction not yet published) would otherwise
put unpublished numbers next to published ones. Nothing here computes a figure:
differences between two published values are the only arithmetic, done exactly in
``Decimal``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from perfdata_assets.calendar import add_months, next_month
from perfdata_assets.publishing.published import COST_DATA_TYPES, DATA_TYPES, PublishedValue, Restatement
from perfdata_assets.publishing.resource import PerformanceData

log = logging.getLogger("perfdata.dashboard")

WINDOW_MONTHS = 24
CENT = Decimal("0.01")

# The published level data types and what the page calls them, very satisfied first.
SATISFACTION_LEVELS = (
    ("very-satisfied", "Very satisfied"),
    ("satisfied", "Satisfied"),
    ("neither", "Neither satisfied nor dissatisfied"),
    ("dissatisfied", "Dissatisfied"),
    ("very-dissatisfied", "Very dissatisfied"),
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
UPTIME = KpiSpec(
    "uptime", "uptime-percent", "Service uptime",
    "The percentage of minutes in the month in which the service’s health check found it working, "
    "out of the minutes the health check reported on.",
    "Uptime", "Minutes healthy", "Minutes observed", "no minutes observed",
    "The service was healthy for {numerator} of the {denominator} minutes observed.",
)
TAKE_UP = KpiSpec(
    "digital-take-up", "digital-take-up", "Digital take-up",
    "LPAs received through the online service as a percentage of all LPAs received, by every channel.",
    "Digital take-up", "LPAs received online", "LPAs received", "no LPAs received",
    "{numerator} of {denominator} LPAs received were made online.",
)
COMPLETION = KpiSpec(
    "completion-rate", "completion-rate-percent", "Completion rate",
    "LPAs created in the month as a percentage of LPAs started in the month. LPAs started in an "
    "earlier month and finished in this one count too, so it can be over 100%.",
    "Completion rate", "LPAs created", "LPAs started", "no LPAs started",
    "{numerator} LPAs created; {denominator} LPAs started.",
)
# In the order of the publication (kpis.md section 5), as every listing of it is.
KPIS = tuple(sorted((SATISFACTION, UPTIME, TAKE_UP, COMPLETION), key=lambda k: DATA_TYPES.index(k.data_type)))
SCORE_DATA_TYPE = "user-satisfaction-score"


@dataclass(frozen=True)
class Revision:
    """The last time a month's published value was replaced by a different one (kpis.md section 5)."""

    restated_at: dt.datetime  # UTC
    old_value: Decimal | None  # what was published before it


@dataclass(frozen=True)
class MonthFigure:
    """One month of one data type; ``published`` is False for a month missing from the publication.

    ``not_yet`` marks a month missing because the KPI's inputs for it are not yet
    complete (it comes after the KPI's latest published month), as against a
    month that was skipped. ``revision`` is set when the value shown replaced an
    earlier published one.
    """

    month: dt.date
    published: bool
    value: Decimal | None = None
    numerator: int | None = None
    denominator: int | None = None
    not_yet: bool = False
    revision: Revision | None = None


@dataclass(frozen=True)
class Change:
    """The latest month against the calendar month before it."""

    previous: MonthFigure
    difference: Decimal | None  # percentage points; None when either month has no figure


@dataclass(frozen=True)
class Kpi:
    spec: KpiSpec
    months: list[MonthFigure]  # oldest first, every calendar month of the window
    # The KPI's own latest published month in the window; when it has none there,
    # the window's last month, not published.
    latest: MonthFigure
    change: Change | None  # None when the latest month is the KPI's first published, or it has none
    not_yet: list[dt.date] = field(default_factory=list)  # the window's months after `latest`


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
    """A breakdown of a KPI's latest month, or why it is not shown."""

    data: SatisfactionLevels | ChannelSplit | None
    unavailable: str | None = None


@dataclass(frozen=True)
class Dashboard:
    published_months: list[dt.date]  # months with any data type published
    kpis: list[Kpi]
    score: dict[dt.date, MonthFigure]  # user-satisfaction-score by month, for the satisfaction table
    levels: Breakdown
    channels: Breakdown
    published_at: dt.datetime | None = None  # when the latest month was last published (UTC)
    costs: list["QuarterCost"] = field(default_factory=list)  # cost per transaction, oldest quarter first

    @property
    def latest_month(self) -> dt.date | None:
        return self.published_months[-1] if self.published_months else None


def month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    months = []
    while first <= last:
        months.append(first)
        first = next_month(first)
    return months


Revisions = dict[tuple[dt.date, str], Revision]


def _figure(month: dt.date, value: PublishedValue | None, not_yet: bool = False,
            revisions: Revisions | None = None) -> MonthFigure:
    if value is None:
        return MonthFigure(month, published=False, not_yet=not_yet)
    revision = (revisions or {}).get((month, value.data_type))
    return MonthFigure(month, True, value.value, value.numerator, value.denominator, revision=revision)


def latest_revisions(restatements: list[Restatement]) -> Revisions:
    """Each revised month and data type's latest restatement (they come oldest first)."""
    return {(r.period_start, r.data_type): Revision(r.restated_at, r.old_value) for r in restatements}


def _kpi(spec: KpiSpec, window: list[dt.date], by_key: dict[tuple[dt.date, str], PublishedValue],
         kpi_months: list[dt.date], revisions: Revisions | None = None) -> Kpi:
    """One KPI over the window; ``kpi_months`` are every month it has been published for."""
    in_window = [m for m in kpi_months if window[0] <= m <= window[-1]]
    if not in_window:
        months = [_figure(m, None, not_yet=True) for m in window]
        return Kpi(spec, months, months[-1], None, list(window))
    latest_month = in_window[-1]
    months = [_figure(m, by_key.get((m, spec.data_type)), m > latest_month, revisions) for m in window]
    latest = months[window.index(latest_month)]
    change = None
    if kpi_months[0] < latest_month:  # not the KPI's first published month
        # The history read starts a month before the window, so this month is in by_key if published.
        previous = _figure(add_months(latest_month, -1), by_key.get((add_months(latest_month, -1), spec.data_type)))
        difference = None
        if latest.value is not None and previous.value is not None:
            difference = (latest.value - previous.value).quantize(CENT, ROUND_HALF_UP)
        change = Change(previous, difference)
    return Kpi(spec, months, latest, change, [m for m in window if m > latest_month])


def read_dashboard(performance: PerformanceData) -> Dashboard:
    """Everything the page shows: the last 24 published months (or fewer) and the breakdowns of the latest."""
    published_months = performance.published_months()
    if not published_months:
        empty = Breakdown(None)
        return Dashboard([], [], {}, empty, empty)
    latest = published_months[-1]
    first = max(published_months[0], add_months(latest, -(WINDOW_MONTHS - 1)))
    # From the month before the window: a KPI's latest month is compared with the one before it.
    values = performance.history(None, add_months(first, -1), latest)
    by_key = {(v.period_start, v.data_type): v for v in values}
    window = month_range(first, latest)
    # A small table (one row per value ever changed): read whole, kept per month and data type.
    revisions = latest_revisions(performance.restatements())
    kpis = [_kpi(spec, window, by_key, performance.published_months(spec.data_type), revisions) for spec in KPIS]
    by_spec = {kpi.spec.key: kpi for kpi in kpis}
    score = {
        m.month: _figure(m.month, by_key.get((m.month, SCORE_DATA_TYPE)), m.not_yet)
        for m in by_spec[SATISFACTION.key].months
    }
    levels = satisfaction_levels(by_spec[SATISFACTION.key].latest, by_key)
    take_up = by_spec[TAKE_UP.key].latest
    channels = _breakdown(performance, channel_split, by_key.get((take_up.month, TAKE_UP.data_type)))
    published_at = max((v.published_at for v in values if v.period_start == latest), default=None)
    return Dashboard(published_months, kpis, score, levels, channels, published_at, cost_quarters(performance))


# --- Cost per transaction, per quarter ----------------------------------------------------


@dataclass(frozen=True)
class QuarterCost:
    """One year to a quarter's end: its cost per transaction and digital cost per transaction as
    published, with the costs (numerators) and transactions (denominators) behind them."""

    year_from: dt.date  # the year's first month (period_start)
    cost: PublishedValue | None
    digital: PublishedValue | None

    @property
    def year_to(self) -> dt.date:
        """The quarter end: the year's last month."""
        return add_months(self.year_from, 11)


def cost_quarters(performance: PerformanceData) -> list[QuarterCost]:
    by_type = {t: {v.period_start: v for v in performance.history(t, dt.date.min, dt.date.max)}
               for t in COST_DATA_TYPES}
    starts = sorted(set().union(*(set(v) for v in by_type.values())))
    return [QuarterCost(s, by_type[COST_DATA_TYPES[0]].get(s), by_type[COST_DATA_TYPES[1]].get(s)) for s in starts]


# --- The latest month's breakdowns ------------------------------------------------------


def satisfaction_levels(latest: MonthFigure, by_key: dict[tuple[dt.date, str], PublishedValue]) -> Breakdown:
    """The count at each level in the satisfaction figure's latest month, as published with it."""
    if not latest.published:
        return Breakdown(None, "The satisfaction figures have not been published yet.")
    published = [by_key.get((latest.month, data_type)) for data_type, _ in SATISFACTION_LEVELS]
    if any(value is None for value in published):
        # A month published before the levels were (migration 0004), until it is published again.
        return Breakdown(None, "The number of responses at each level was not published for this month.")
    # The count is the numerator: the value is NULL when there were no responses, the count 0.
    counts = [(label, value.numerator) for (_, label), value in zip(SATISFACTION_LEVELS, published)]
    return Breakdown(SatisfactionLevels(latest.month, counts, published[0].denominator))


UNAVAILABLE = "This breakdown is not available at the moment."
REVISED = "These figures are being revised. They will be shown when the next publication includes them."


def _breakdown(performance: PerformanceData, read: Callable[[PerformanceData, PublishedValue | None], Breakdown],
               value: PublishedValue | None) -> Breakdown:
    """One breakdown, read on its own; its failure leaves the rest of the page standing."""
    try:
        return read(performance, value)
    except sa.exc.DBAPIError as exc:
        log.warning("dashboard: %s failed: %s", read.__name__, type(exc.orig).__name__)
        return Breakdown(None, UNAVAILABLE)


def _channel_order(item: tuple[str, int]) -> tuple[int, str]:
    channel = item[0]
    known = list(CHANNEL_LABELS)
    return (known.index(channel), "") if channel in known else (len(known), channel)


def channel_split(performance: PerformanceData, published: PublishedValue | None) -> Breakdown:
    """The digital take-up figure's latest month's LPAs per Sirius channel, if they add up to what was published."""
    if published is None:
        return Breakdown(None, "The digital take-up figures have not been published yet.")
    month = published.period_start
    # The publication's own per-channel figures, for this one (published) month.
    totals = sorted(((t.channel, t.count) for t in performance.channel_totals(month)), key=_channel_order)
    split = ChannelSplit(
        month, [(channel, CHANNEL_LABELS.get(channel, channel), count) for channel, count in totals],
        sum(count for _, count in totals),
    )
    online = sum(count for channel, count in totals if channel == "online")
    if (online, split.total) != (published.numerator, published.denominator):
        log.warning("dashboard: channel_counts for %s differ from its publication", month)
        return Breakdown(None, REVISED)
    return Breakdown(split)
