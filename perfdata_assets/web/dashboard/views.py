"""How figures are written on the page: one function per kind of text.

Percentages are written exactly as published (two decimal places), counts with
thousands separators, months in full. Directions of change are words ("Up",
"Down", "No change"), never only a colour or an arrow.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from perfdata_assets.calendar import LONDON
from perfdata_assets.web.dashboard import charts
from perfdata_assets.web.dashboard.data import CENT, Dashboard, Kpi, MonthFigure

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
NOT_PUBLISHED = "Not published"  # a month skipped: later months are published
NOT_PUBLISHED_YET = "Not published yet"  # after the KPI's latest published month: its inputs are not complete
NO_FIGURE = "No figure"


def month_name(month: dt.date) -> str:
    return f"{MONTHS[month.month - 1]} {month.year}"


def percent(value: Decimal) -> str:
    return f"{value.quantize(CENT)}%"


def score(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


def count(value: int) -> str:
    return f"{value:,}"


def pounds(value: Decimal | None) -> str:
    """£1,234.56; a figure with nothing to divide by has none."""
    return NO_FIGURE if value is None else f"£{value.quantize(CENT):,}"


def date_name(day: dt.date) -> str:
    return f"{day.day} {month_name(day)}"


def points(difference: Decimal) -> str:
    size = abs(difference).quantize(CENT)
    return f"{size} percentage point{'' if size == 1 else 's'}"


def change_text(kpi: Kpi) -> str:
    """The latest month against the month before, in words."""
    latest, change = kpi.latest, kpi.change
    if not latest.published:
        return f"No {kpi.spec.title.lower()} figure has been published yet."
    if change is None:
        return "This is the first month published, so there is no earlier month to compare with."
    previous = change.previous
    before = month_name(previous.month)
    if latest.value is None:
        return f"No change can be given: there is no figure for {month_name(latest.month)}."
    if not previous.published:
        return f"No change can be given: {before} was not published."
    if previous.value is None:
        return f"No change can be given: there is no figure for {before} ({kpi.spec.no_figure})."
    if change.difference > 0:
        return f"Up {points(change.difference)} from {before} ({percent(previous.value)})."
    if change.difference < 0:
        return f"Down {points(change.difference)} from {before} ({percent(previous.value)})."
    return f"No change from {before} ({percent(previous.value)})."


def counts_text(kpi: Kpi) -> str:
    """The latest month's numerator and denominator in words, or why there is no figure."""
    latest = kpi.latest
    if latest.value is None:
        return f"There is no figure: {kpi.spec.no_figure}."
    return kpi.spec.counts.format(numerator=count(latest.numerator), denominator=count(latest.denominator))


def not_yet_text(kpi: Kpi) -> str:
    """Which of the page's months this KPI is not yet published for, and why (empty when none)."""
    if not kpi.not_yet or not kpi.latest.published:
        return ""
    months = list_of(month_name(m) for m in kpi.not_yet)
    if len(kpi.not_yet) == 1:
        return f"The figure for {months} is not published yet: it will be once all that month’s data is final."
    return f"The figures for {months} are not published yet: they will be once all those months’ data is final."


def not_yet_for_latest(dashboard: Dashboard) -> str:
    """The page's summary of the KPIs not yet published for its latest month (empty when none)."""
    waiting = [kpi.spec.title for kpi in dashboard.kpis if dashboard.latest_month in kpi.not_yet]
    if not waiting:
        return ""
    names = list_of([waiting[0], *(title.lower() for title in waiting[1:])])
    return (f"{names} {'is' if len(waiting) == 1 else 'are'} not published yet for "
            f"{month_name(dashboard.latest_month)}: each figure is published once all of its month’s data is final.")


def unpublished_text(figure: MonthFigure) -> str:
    """A table row's text for a month missing from the publication."""
    return NOT_PUBLISHED_YET if figure.not_yet else NOT_PUBLISHED


def published_on(moment: dt.datetime) -> str:
    """The UK date of a publication time."""
    return date_name(moment.astimezone(LONDON).date())


def latest_text(kpi: Kpi) -> str:
    """The headline: the latest value, or why there is none."""
    if not kpi.latest.published:
        return NOT_PUBLISHED_YET
    if kpi.latest.value is None:
        return NO_FIGURE
    return percent(kpi.latest.value)


def trend_description(kpi: Kpi) -> str:
    """The chart's text alternative: the range, the start and end, the highest and lowest, the gaps."""
    title = kpi.spec.title.lower()
    first, last = month_name(kpi.months[0].month), month_name(kpi.months[-1].month)
    sentences = [
        f"Line chart of {title} each month, from {first} to {last}." if first != last
        else f"Chart of {title} for {last}."
    ]
    figures = [m for m in kpi.months if m.value is not None]
    if not figures:
        sentences.append("There is no figure to plot.")
    elif len(figures) == 1:
        only = figures[0]
        sentences.append(f"The only figure is {percent(only.value)}, in {month_name(only.month)}.")
    else:
        start, end = figures[0], figures[-1]
        if end.value > start.value:
            direction = "rose"
        elif end.value < start.value:
            direction = "fell"
        else:
            direction = "was unchanged"
        if direction == "was unchanged":
            sentences.append(f"It was {percent(start.value)} in {month_name(start.month)} and "
                             f"{percent(end.value)} in {month_name(end.month)}.")
        else:
            sentences.append(f"It {direction} from {percent(start.value)} in {month_name(start.month)} to "
                             f"{percent(end.value)} in {month_name(end.month)}.")
        highest = max(figures, key=lambda m: (m.value, m.month))
        lowest = min(figures, key=lambda m: (m.value, -m.month.toordinal()))
        sentences.append(f"Highest {percent(highest.value)} in {month_name(highest.month)}; "
                         f"lowest {percent(lowest.value)} in {month_name(lowest.month)}.")
    missing = [m for m in kpi.months if m.published and m.value is None]
    if missing:
        sentences.append(f"No figure ({kpi.spec.no_figure}) for {list_of(month_name(m.month) for m in missing)}.")
    unpublished = [m for m in kpi.months if not m.published and not m.not_yet]
    if unpublished:
        sentences.append(f"Not published: {list_of(month_name(m.month) for m in unpublished)}.")
    not_yet = [m for m in kpi.months if m.not_yet]
    if not_yet:
        sentences.append(f"Not published yet: {list_of(month_name(m.month) for m in not_yet)}.")
    sentences.append("The figures are in the table below the chart.")
    return " ".join(sentences)


def list_of(items) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def kpi_chart(kpi: Kpi) -> charts.LineChart:
    return charts.line_chart(
        f"{kpi.spec.key}-chart",
        f"{kpi.spec.title}, {month_name(kpi.months[0].month)} to {month_name(kpi.months[-1].month)}",
        trend_description(kpi),
        [m.month for m in kpi.months],
        [m.value for m in kpi.months],
        percent,
    )


def value_cell(figure: MonthFigure) -> str:
    if figure.value is None:
        return NO_FIGURE
    return percent(figure.value)


def revision_text(figure: MonthFigure) -> str:
    """"Revised on 3 December 2026, was 81.00%": a value that replaced an earlier published one."""
    revision = figure.revision
    if revision is None:
        return ""
    was = NO_FIGURE.lower() if revision.old_value is None else percent(revision.old_value)
    return f"Revised on {published_on(revision.restated_at)}, was {was}"
