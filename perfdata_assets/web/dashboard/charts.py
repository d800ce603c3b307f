"""Line charts as inline SVG, drawn on the server: the geometry, not the markup.

``templates/chart.html`` turns a ``LineChart`` into SVG (autoescaped like the
rest of the page). The SVG has a ``viewBox`` and scales to its container's
width; it needs no JavaScript and no client-side library.

A month without a figure (its denominator was zero, or it was not published)
is a gap: the line stops before it and starts again after it, and a pale band
marks it. It is never drawn as zero. Every month with a figure gets a dot, so a
figure between two gaps is still visible.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 480
HEIGHT = 280
LEFT, RIGHT, TOP, BOTTOM = 56, 30, 20, 46  # margins around the plot area
FONT_SIZE = 16
MAX_X_LABELS = 5
SHORT_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    month: str  # ISO date of the month's first day
    label: str  # e.g. "87.50%"


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Band:
    x: float
    width: float
    month: str


@dataclass(frozen=True)
class LineChart:
    id: str
    title: str
    description: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    y_ticks: list[Tick]
    x_ticks: list[Tick]  # position is the tick's x; the label is centred on label_x
    x_label_positions: list[float]
    segments: list[str]  # SVG path data, one per unbroken run of months
    points: list[Point]
    gaps: list[Band]
    latest: Point | None
    latest_label_x: float
    latest_label_y: float
    font_size: int = FONT_SIZE


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def y_scale(values: list[Decimal]) -> tuple[int, int]:
    """(top, step): 0-100 in steps of 25, or up to the next step above the largest value.

    A completion rate can pass 100 %; the axis then grows, in steps of 50 past 150.
    """
    largest = max(values, default=Decimal(0))
    step = 25 if largest <= 150 else 50
    return max(100, int(math.ceil(largest / step)) * step), step


def line_chart(chart_id: str, title: str, description: str, months: list[dt.date],
               values: list[Decimal | None], label: Callable[[Decimal], str]) -> LineChart:
    """A chart of one value per month (None for a gap); ``label`` formats a value."""
    if len(months) != len(values) or not months:
        raise ValueError("a chart needs one value per month, and at least one month")
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    y_top, step_y = y_scale([v for v in values if v is not None])

    def y_of(value: Decimal) -> float:
        return bottom - float(value) / y_top * (bottom - top)

    n = len(months)
    spacing = (right - left) / (n - 1) if n > 1 else (right - left)

    def x_of(index: int) -> float:
        return left + index * spacing if n > 1 else (left + right) / 2

    y_ticks = [Tick(round(y_of(Decimal(v)), 1), f"{v}%") for v in range(0, y_top + 1, step_y)]

    label_every = math.ceil(n / MAX_X_LABELS)
    indices = sorted(range(n - 1, -1, -label_every))  # the latest month always labelled
    x_ticks, label_positions = [], []
    for i in indices:
        text = f"{SHORT_MONTHS[months[i].month - 1]} {months[i].year}"
        half = len(text) * FONT_SIZE * 0.3  # about half the text's width
        x_ticks.append(Tick(round(x_of(i), 1), text))
        label_positions.append(round(min(max(x_of(i), half + 1), WIDTH - half - 1), 1))

    segments, run, points, gaps = [], [], [], []
    for i, (month, value) in enumerate(zip(months, values)):
        if value is None:
            if run:
                segments.append(run)
                run = []
            band_left = max(left, x_of(i) - spacing / 2)
            band_right = min(right, x_of(i) + spacing / 2)
            gaps.append(Band(round(band_left, 1), round(band_right - band_left, 1), month.isoformat()))
            continue
        point = Point(round(x_of(i), 1), round(y_of(value), 1), month.isoformat(), label(value))
        run.append(point)
        points.append(point)
    if run:
        segments.append(run)
    paths = [
        " ".join(f"{'M' if j == 0 else 'L'}{_num(p.x)} {_num(p.y)}" for j, p in enumerate(run))
        for run in segments if len(run) > 1
    ]
    latest = points[-1] if points and points[-1].month == months[-1].isoformat() else None
    label_x = label_y = 0.0
    if latest is not None:
        # The value's label ends at the latest point, on the side the line does not come from.
        label_x = latest.x + 4
        came_from_below = len(points) < 2 or points[-2].month != months[-2].isoformat() or points[-2].y >= latest.y
        above, below = latest.y - 12, latest.y + 12 + FONT_SIZE
        if came_from_below:
            label_y = above if above - FONT_SIZE > top else below
        else:
            label_y = below if below < bottom - 4 else above
    return LineChart(
        id=chart_id, title=title, description=description, width=WIDTH, height=HEIGHT,
        plot_left=left, plot_right=right, plot_top=top, plot_bottom=bottom,
        y_ticks=y_ticks, x_ticks=x_ticks, x_label_positions=label_positions,
        segments=paths, points=points, gaps=gaps, latest=latest,
        latest_label_x=label_x, latest_label_y=label_y,
    )
