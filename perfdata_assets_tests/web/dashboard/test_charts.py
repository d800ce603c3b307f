"""The line chart's geometry and the words that go with the figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from perfdata_assets.calendar import add_months
from perfdata_assets.web.dashboard import charts, views
from perfdata_assets.web.dashboard.data import COMPLETION, Change, Kpi, MonthFigure

MONTHS = [dt.date(2024, m, 1) for m in range(1, 7)]


def chart(values):
    return charts.line_chart("c", "title", "desc", MONTHS[: len(values)], values, views.percent)


def test_gaps_break_the_line_and_are_never_zero():
    c = chart([D("50.00"), None, D("70.00"), D("80.00"), None, D("0.00")])
    assert [p.month for p in c.points] == ["2024-01-01", "2024-03-01", "2024-04-01", "2024-06-01"]
    assert [b.month for b in c.gaps] == ["2024-02-01", "2024-05-01"]
    assert len(c.segments) == 1 and c.segments[0].count("L") == 1  # only March-April is a line
    zero = c.points[-1]
    assert zero.y == c.plot_bottom and zero.label == "0.00%"  # a real 0 % is on the axis...
    assert all(p.y < c.plot_bottom for p in c.points[:-1])  # ...and a gap is not
    assert c.latest is zero


def test_the_scale_goes_past_100_only_when_a_value_does():
    assert [t.label for t in chart([D("99.99")]).y_ticks] == ["0%", "25%", "50%", "75%", "100%"]
    assert chart([D("100.01")]).y_ticks[-1].label == "125%"
    tall = chart([D("20"), D("260.5")])
    assert [t.label for t in tall.y_ticks] == ["0%", "50%", "100%", "150%", "200%", "250%", "300%"]
    assert tall.points[1].y == pytest.approx(tall.plot_bottom - 260.5 / 300 * (tall.plot_bottom - tall.plot_top),
                                             abs=0.1)


def test_no_figure_at_all_draws_no_line_and_no_latest_label():
    c = chart([None, None])
    assert c.points == [] and c.segments == [] and c.latest is None and len(c.gaps) == 2
    with pytest.raises(ValueError):
        charts.line_chart("c", "t", "d", [], [], views.percent)


def test_x_labels_stay_inside_the_chart_and_always_name_the_latest_month():
    months = [add_months(dt.date(2022, 4, 1), i) for i in range(24)]
    c = charts.line_chart("c", "t", "d", months, [D(50)] * 24, views.percent)
    assert [t.label for t in c.x_ticks][-1] == "Mar 2024" and len(c.x_ticks) <= charts.MAX_X_LABELS
    for label, x in zip(c.x_ticks, c.x_label_positions):
        half = len(label.label) * charts.FONT_SIZE * 0.3
        assert 0 <= x - half and x + half <= charts.WIDTH


def _kpi(latest, previous, previous_published=True):
    figures = [MonthFigure(dt.date(2024, 1, 1), previous_published, previous, 1, 2),
               MonthFigure(dt.date(2024, 2, 1), True, latest, 1, 2)]
    difference = None if latest is None or previous is None else latest - previous
    return Kpi(COMPLETION, figures, figures[1], Change(figures[0], difference))


def test_the_change_is_said_in_words():
    assert views.change_text(_kpi(D("71.00"), D("70.00"))) == "Up 1.00 percentage point from January 2024 (70.00%)."
    assert views.change_text(_kpi(D("60.50"), D("70.00"))) == (
        "Down 9.50 percentage points from January 2024 (70.00%).")
    assert views.change_text(_kpi(D("70.00"), D("70.00"))) == "No change from January 2024 (70.00%)."
    assert views.change_text(_kpi(D("70.00"), None, previous_published=False)) == (
        "No change can be given: January 2024 was not published.")
    assert views.change_text(_kpi(D("70.00"), None)) == (
        "No change can be given: there is no figure for January 2024 (no LPAs started).")


def test_counts_and_months_are_written_in_full():
    assert views.count(1234567) == "1,234,567"
    assert views.month_name(dt.date(2023, 9, 1)) == "September 2023"
    assert views.published_on(dt.datetime(2024, 3, 31, 23, 30, tzinfo=dt.timezone.utc)) == "1 April 2024"  # BST
    assert views.percent(D("7.5")) == "7.50%"
