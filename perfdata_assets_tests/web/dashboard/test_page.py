"""The dashboard's HTML against the published tables: every figure on the page is a published figure.

The expected figures are read here straight from perfdata.published_kpis (the
satisfaction levels included) and perfdata.channel_counts with SQL, and written
out by this file's own small formatting (not the dashboard's), then compared
cell by cell with the tables parsed out of the page.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfdata_assets.publishing.assets import publish
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.web.dashboard import mount_dashboard
from perfdata_assets_tests.publishing.fixtures import seed_kpis, seed_publication
from perfdata_assets_tests.web.dashboard.support import (
    AUTH,
    NO_FIGURE_MONTH,
    NOT_YET_PUBLISHED,
    ODD_CHANNEL,
    SERIES_FIRST,
    SERIES_LATEST,
    UNPUBLISHED_HOLE,
    app_for,
    parse_html,
    seed_series,
    table,
)

WINDOW_FIRST = dt.date(2022, 4, 1)  # 24 months back from SERIES_LATEST
KPIS = {  # the page's element key -> the published data type, in the publication's order
    "user-satisfaction": "user-satisfaction-percent",
    "uptime": "uptime-percent",
    "digital-take-up": "digital-take-up",
    "completion-rate": "completion-rate-percent",
}
# (label, published data type, user_satisfaction column)
LEVELS = [("Very satisfied", "very-satisfied", "very_satisfied"), ("Satisfied", "satisfied", "satisfied"),
          ("Neither satisfied nor dissatisfied", "neither", "neither"),
          ("Dissatisfied", "dissatisfied", "dissatisfied"),
          ("Very dissatisfied", "very-dissatisfied", "very_dissatisfied")]


def month_name(month: dt.date) -> str:
    return f"{calendar.month_name[month.month]} {month.year}"


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    out = []
    while first <= last:
        out.append(first)
        first = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return out


def published(backend) -> dict[tuple[dt.date, str], tuple[Decimal | None, int | None, int | None]]:
    query = sa.text(
        "SELECT period_start, data_type, value, numerator, denominator FROM perfdata.published_kpis"
    ).columns(period_start=sa.Date, value=sa.Numeric(8, 2))
    with backend.dbs.perfdata.connect() as conn:
        return {(r.period_start, r.data_type): (r.value, r.numerator, r.denominator) for r in conn.execute(query)}


def pct(value: Decimal | None) -> str:
    return "No figure" if value is None else f"{value:.2f}%"


def num(value: int) -> str:
    return f"{value:,}"


def get_page(backend, path: str = "/"):
    with TestClient(app_for(backend)) as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return response, parse_html(response.text)


def expected_table(rows: dict, data_type: str, months: list[dt.date], with_score: bool) -> list[list[str]]:
    expected = []
    for month in reversed(months):  # latest first
        if (month, data_type) not in rows:
            expected.append([month_name(month), "Not published"])
            continue
        value, numerator, denominator = rows[month, data_type]
        row = [month_name(month), pct(value), num(numerator), num(denominator)]
        if with_score:
            score = rows[month, "user-satisfaction-score"][0]
            row.append("No figure" if score is None else f"{score:.2f}")
        expected.append(row)
    return expected


def test_every_figure_in_the_tables_is_the_published_one(backend):
    seed_series(backend)
    rows = published(backend)
    window = months_between(WINDOW_FIRST, SERIES_LATEST)
    _, doc = get_page(backend)

    for key, data_type in KPIS.items():
        t = table(doc, f"{key}-table")
        assert t.rows == expected_table(rows, data_type, window, key == "user-satisfaction"), key
        assert t.caption.endswith("by month, April 2022 to March 2024, latest first")
    # The awkward months are where they should be, as rows of the published table says.
    assert rows[NO_FIGURE_MONTH, "user-satisfaction-percent"] == (None, 0, 0)
    assert table(doc, "user-satisfaction-table").rows[6] == ["September 2023", "No figure", "0", "0", "No figure"]
    assert (UNPUBLISHED_HOLE, "completion-rate-percent") not in rows
    assert table(doc, "completion-rate-table").rows[10] == ["May 2023", "Not published"]
    # Months older than the 24-month window, and a computed but unpublished month, are not shown.
    for key in KPIS:
        text = doc.by_id(key).text()
        assert "April 2022" in text and "March 2022" not in text and "April 2024" not in text
    downloads = doc.by_id("downloads").text()
    assert "January 2022" in downloads and "April 2024" not in downloads
    assert (NOT_YET_PUBLISHED, "completion-rate-percent") not in rows


def test_the_latest_month_and_the_change_from_the_month_before(backend):
    seed_series(backend)
    rows = published(backend)
    _, doc = get_page(backend)
    latest, before = SERIES_LATEST, dt.date(2024, 2, 1)
    changes = {
        "user-satisfaction": "Up 5.00 percentage points from February 2024 (80.00%).",
        "uptime": "Up 0.05 percentage points from February 2024 (99.90%).",
        "digital-take-up": "No change from February 2024 (70.00%).",
        "completion-rate": "Down 5.00 percentage points from February 2024 (70.00%).",
    }
    for key, data_type in KPIS.items():
        value, numerator, denominator = rows[latest, data_type]
        previous = rows[before, data_type][0]
        assert doc.by_id(f"{key}-latest-month").text() == "March 2024"
        assert doc.by_id(f"{key}-latest-value").text() == pct(value)
        assert num(numerator) in doc.by_id(f"{key}-latest-counts").text()
        assert num(denominator) in doc.by_id(f"{key}-latest-counts").text()
        assert doc.by_id(f"{key}-change").text() == changes[key]
        # The sentence's figure is the difference of the two published values.
        difference = value - previous
        if difference:
            assert f"{abs(difference):.2f} percentage points" in changes[key]
            assert changes[key].startswith("Up" if difference > 0 else "Down")
    summary = doc.by_id("published-summary").text()
    assert summary == ("The latest month is March 2024, published on 4 April 2024. "
                       "26 months published so far, from January 2022.")
    assert not doc.find_all(id="not-yet-summary")  # every KPI is published for March
    assert not [n for n in doc.iter() if (n.attrs.get("id") or "").endswith("-not-yet")]


def test_the_latest_month_breakdowns_are_the_kpi_rows_behind_the_publication(backend):
    seed_series(backend)
    with backend.dbs.perfdata.connect() as conn:
        level_row = conn.execute(
            sa.text("SELECT * FROM perfdata.user_satisfaction WHERE month = :m").bindparams(
                sa.bindparam("m", type_=sa.Date)), {"m": SERIES_LATEST}).mappings().one()
        channel_rows = conn.execute(
            sa.text('SELECT day, channel, "count" FROM perfdata.channel_counts').columns(day=sa.Date)).all()
    by_channel: dict[str, int] = defaultdict(int)
    for day, channel, count in channel_rows:
        if day.replace(day=1) == SERIES_LATEST:
            by_channel[channel] += count
    _, doc = get_page(backend)

    rows = published(backend)
    levels = table(doc, "satisfaction-levels-table")
    assert levels.header == ["Rating", "Responses"]
    # The published level counts (numerator) and responses (denominator)...
    assert levels.rows == [[label, num(rows[SERIES_LATEST, data_type][1])] for label, data_type, _ in LEVELS] + [
        ["All responses", num(rows[SERIES_LATEST, "user-satisfaction-percent"][2])]]
    # ...which are the KPI row they were published from.
    assert levels.rows == [[label, num(level_row[column])] for label, _, column in LEVELS] + [
        ["All responses", num(level_row["responses"])]]
    assert doc.by_id("satisfaction-levels-heading").text() == "How satisfied people were in March 2024"

    channels = table(doc, "channels-table")
    labels = {"online": "Online", "paper": "Paper form", "phone": "Telephone"}
    assert channels.rows == [
        [labels[c], num(by_channel[c])] for c in ("online", "paper", "phone")
    ] + [[ODD_CHANNEL, num(by_channel[ODD_CHANNEL])], ["All channels", num(sum(by_channel.values()))]]
    # The total is the published take-up denominator.
    assert rows[SERIES_LATEST, "digital-take-up"][2] == sum(by_channel.values())


def test_every_value_is_escaped(backend):
    seed_series(backend)
    response, doc = get_page(backend)
    assert ODD_CHANNEL not in response.text
    assert "&lt;b&gt;&#34;fax&#34; &amp; co&lt;/b&gt;" in response.text
    assert not doc.find_all("b")  # the channel name made no element
    assert doc.find_all("tr", data_channel=ODD_CHANNEL)[0].text().startswith(ODD_CHANNEL)


def _charts(doc):
    return {key: doc.by_id(f"{key}-chart") for key in KPIS}


def test_each_chart_plots_the_published_values_with_gaps_and_a_text_alternative(backend):
    seed_series(backend)
    rows = published(backend)
    window = months_between(WINDOW_FIRST, SERIES_LATEST)
    _, doc = get_page(backend)
    for key, svg in _charts(doc).items():
        data_type = KPIS[key]
        assert svg.attrs["role"] == "img" and svg.attrs["viewbox"] == "0 0 480 280"
        title_id, desc_id = svg.attrs["aria-labelledby"].split()
        assert svg.find_all("title", id=title_id) and svg.find_all("desc", id=desc_id)
        assert svg.by_id(title_id).text() == f"{doc.by_id(key + '-heading').text()}, April 2022 to March 2024"

        with_value = [m for m in window if rows.get((m, data_type), (None,))[0] is not None]
        points = svg.find_all("circle")
        assert [p.attrs["data-month"] for p in points] == [m.isoformat() for m in with_value]
        assert [p.attrs["data-value"] for p in points] == [pct(rows[m, data_type][0]) for m in with_value]
        # Higher values are drawn higher (smaller y), equal values level: the y axis is the value.
        pairs = sorted((rows[m, data_type][0], float(p.attrs["cy"])) for m, p in zip(with_value, points))
        assert all(a[1] >= b[1] if a[0] < b[0] else a[1] == b[1] for a, b in zip(pairs, pairs[1:]))

        # Gaps: no point, a band, and the line broken there (never drawn as zero).
        gap_months = [m for m in window if m not in with_value]
        assert [b.attrs["data-month"] for b in svg.find_all("rect")] == [m.isoformat() for m in gap_months]
        runs, run = [], 0
        for m in window:
            if m in with_value:
                run += 1
            else:
                runs, run = runs + [run], 0
        runs = [r for r in runs + [run] if r > 1]
        paths = [p.attrs["d"] for p in svg.find_all("path", class_="app-chart__line")]
        assert [len(re.findall(r"[ML]", d)) for d in paths] == runs
        assert all(d.startswith("M") and d.count("M") == 1 for d in paths)
        baseline = max(float(line.attrs["y1"]) for line in svg.find_all("line", class_="app-chart__grid"))
        assert all(float(p.attrs["cy"]) < baseline for p in points)  # no published value here is 0

        desc = svg.by_id(desc_id).text()
        assert "Not published: May 2023." in desc
        if data_type != "digital-take-up":
            assert f"for {month_name(NO_FIGURE_MONTH)}." in desc
        values = [rows[m, data_type][0] for m in with_value]
        assert f"Highest {pct(max(values))}" in desc and f"lowest {pct(min(values))}" in desc
        assert f"to {pct(values[-1])} in March 2024" in desc


def test_a_completion_rate_over_100_stretches_the_axis_and_null_months_are_gaps(backend):
    seed_publication(backend)  # the publishing fixtures: January, February all NULL, March 133.33 %
    _, doc = get_page(backend)
    svg = doc.by_id("completion-rate-chart")
    labels = [t.text() for t in svg.find_all("text", class_="app-chart__label") if t.text().endswith("%")]
    assert labels == ["0%", "25%", "50%", "75%", "100%", "125%", "150%"]
    assert [c.attrs["data-month"] for c in svg.find_all("circle")] == ["2024-01-01", "2024-03-01"]
    assert not svg.find_all("path", class_="app-chart__line")  # two single points: no line across February
    assert [r.attrs["data-month"] for r in svg.find_all("rect")] == ["2024-02-01"]
    assert doc.by_id("completion-rate-latest-value").text() == "133.33%"
    assert doc.by_id("user-satisfaction-change").text() == (
        "No change can be given: there is no figure for February 2024 (no feedback responses).")
    assert table(doc, "completion-rate-table").rows == [
        ["March 2024", "133.33%", "4", "3"], ["February 2024", "No figure", "5", "0"],
        ["January 2024", "75.00%", "150", "200"]]


def test_the_uptime_card_shows_the_published_figure(backend):
    seed_series(backend)
    rows = published(backend)
    assert rows[SERIES_LATEST, "uptime-percent"] == (Decimal("99.95"), 44558, 44580)
    _, doc = get_page(backend)
    card = doc.by_id("uptime-latest")
    assert doc.by_id("uptime-heading").text() == "Service uptime"
    assert doc.by_id("uptime-latest-month").text() == "March 2024"
    assert doc.by_id("uptime-latest-value").text() == "99.95%"
    assert doc.by_id("uptime-latest-counts").text() == (
        "The service was healthy for 44,558 of the 44,580 minutes observed.")
    assert doc.by_id("uptime-change").text() == "Up 0.05 percentage points from February 2024 (99.90%)."
    assert "0.00%" not in card.text()
    t = table(doc, "uptime-table")
    assert t.header == ["Month", "Uptime", "Minutes healthy", "Minutes observed"]
    assert t.rows[:2] == [["March 2024", "99.95%", "44,558", "44,580"], ["February 2024", "99.90%", "41,718", "41,760"]]
    assert doc.by_id("uptime-chart-title").text() == "Service uptime, April 2022 to March 2024"
    # The KPIs in the publication's order, uptime among them in the contents.
    assert [s.attrs["id"] for s in doc.find_all("section", class_="app-kpi")] == [*KPIS, "downloads"]
    assert "#uptime" in [a.attrs["href"] for a in doc.find_all("a")]


def _publish_without_uptime_after(backend, last_uptime_month: dt.date | None) -> None:
    """The publishing fixtures (January to March 2024), with uptime's inputs complete only up to a month."""
    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        if last_uptime_month is None:
            conn.execute(sa.text("DELETE FROM perfdata.service_uptime"))
        else:
            conn.execute(sa.text("DELETE FROM perfdata.service_uptime WHERE month > :m").bindparams(
                sa.bindparam("m", type_=sa.Date)), {"m": last_uptime_month})
        publish(conn, [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)],
                dt.datetime(2024, 4, 2, tzinfo=dt.timezone.utc))


def test_a_kpi_not_yet_published_is_a_gap_never_a_zero(backend):
    _publish_without_uptime_after(backend, dt.date(2024, 1, 1))
    rows = published(backend)
    assert (dt.date(2024, 3, 1), "uptime-percent") not in rows and (dt.date(2024, 3, 1), "satisfied") in rows
    _, doc = get_page(backend)

    # The card shows uptime's own latest month, and says which months are still to come.
    assert doc.by_id("uptime-latest-month").text() == "January 2024"
    assert doc.by_id("uptime-latest-value").text() == "99.91%"
    assert doc.by_id("uptime-change").text() == (
        "This is the first month published, so there is no earlier month to compare with.")
    assert doc.by_id("uptime-not-yet").text() == (
        "The figures for February 2024 and March 2024 are not published yet: "
        "they will be once all those months’ data is final.")
    assert doc.by_id("not-yet-summary").text() == (
        "Service uptime is not published yet for March 2024: each figure is published once all of its month’s "
        "data is final.")
    assert table(doc, "uptime-table").rows == [
        ["March 2024", "Not published yet"], ["February 2024", "Not published yet"],
        ["January 2024", "99.91%", "44,600", "44,640"]]
    svg = doc.by_id("uptime-chart")
    assert [c.attrs["data-month"] for c in svg.find_all("circle")] == ["2024-01-01"]
    assert [r.attrs["data-month"] for r in svg.find_all("rect")] == ["2024-02-01", "2024-03-01"]
    assert "Not published yet: February 2024 and March 2024." in doc.by_id("uptime-chart-desc").text()
    assert "0.00%" not in doc.by_id("uptime").text()

    # The other KPIs are published for March, and say so.
    assert doc.by_id("user-satisfaction-latest-month").text() == "March 2024"
    assert doc.by_id("digital-take-up-latest-value").text() == "74.07%"
    assert not doc.find_all(id="digital-take-up-not-yet")
    # March's file has what is published for March, and no uptime.
    with TestClient(app_for(backend)) as client:
        march = client.get("/performance/exports/performance-data/2024-03.json").json()
    assert "uptime-percent" not in [r["dataType"] for r in march]
    assert [r["dataType"] for r in march][:2] == ["user-satisfaction-percent", "very-dissatisfied"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_kpi_never_published_shows_no_figure_at_all(backend):
    _publish_without_uptime_after(backend, None)
    _, doc = get_page(backend)
    assert doc.by_id("uptime-latest-month").text() == "March 2024"
    assert doc.by_id("uptime-latest-value").text() == "Not published yet"
    assert doc.by_id("uptime-change").text() == "No service uptime figure has been published yet."
    assert not doc.find_all(id="uptime-latest-counts")
    assert [row[1] for row in table(doc, "uptime-table").rows] == ["Not published yet"] * 3
    assert not doc.by_id("uptime-chart").find_all("circle")
    assert doc.by_id("completion-rate-latest-value").text() == "133.33%"


def test_the_first_published_month_has_nothing_to_compare_with(backend):
    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        publish(conn, [dt.date(2024, 1, 1)], dt.datetime(2024, 2, 3, tzinfo=dt.timezone.utc))
    _, doc = get_page(backend)
    for key in KPIS:
        assert doc.by_id(f"{key}-change").text() == (
            "This is the first month published, so there is no earlier month to compare with.")
    assert doc.by_id("user-satisfaction-latest-value").text() == "87.50%"
    assert doc.by_id("user-satisfaction-chart-desc").text().startswith("Chart of user satisfaction for January 2024.")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_latest_month_with_no_figure(backend):
    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        publish(conn, [dt.date(2024, 1, 1), dt.date(2024, 2, 1)], dt.datetime(2024, 3, 3, tzinfo=dt.timezone.utc))
    _, doc = get_page(backend)
    assert doc.by_id("completion-rate-latest-value").text() == "No figure"
    assert doc.by_id("completion-rate-latest-counts").text() == "There is no figure: no LPAs started."
    assert doc.by_id("completion-rate-change").text() == (
        "No change can be given: there is no figure for February 2024.")
    assert doc.by_id("uptime-latest-value").text() == "No figure"
    assert doc.by_id("uptime-latest-counts").text() == "There is no figure: no minutes observed."
    # No responses: every level's value is NULL, its count 0 (never a blank or a "No figure" count).
    assert table(doc, "satisfaction-levels-table").rows == [
        ["Very satisfied", "0"], ["Satisfied", "0"], ["Neither satisfied nor dissatisfied", "0"],
        ["Dissatisfied", "0"], ["Very dissatisfied", "0"], ["All responses", "0"]]
    assert table(doc, "channels-table").rows == [["All channels", "0"]]


def test_no_published_month_yet(backend):
    seed_kpis(backend)  # KPI rows exist, nothing is published
    _, doc = get_page(backend)
    assert "No figures have been published yet." in doc.by_id("no-figures").text()
    assert not doc.find_all("table") and not doc.find_all("svg", class_="app-chart")
    assert doc.find_all("h1")[0].text() == "Service performance"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_breakdowns_revised_after_publication_are_not_shown(backend):
    seed_series(backend)
    with backend.dbs.perfdata.begin() as conn:  # a late correction, computed but not yet published
        conn.execute(sa.text("UPDATE perfdata.user_satisfaction SET satisfied = satisfied + 1, "
                             "responses = responses + 1 WHERE month = :m").bindparams(
                                 sa.bindparam("m", type_=sa.Date)), {"m": SERIES_LATEST})
        conn.execute(sa.text("INSERT INTO perfdata.channel_counts (day, channel, \"count\") "
                             "VALUES (:d, 'paper', 3)").bindparams(sa.bindparam("d", type_=sa.Date)),
                     {"d": dt.date(2024, 3, 30)})
    _, doc = get_page(backend)
    # The levels are published data types: the page shows what was published, not the correction.
    levels = table(doc, "satisfaction-levels-table").rows
    assert levels[1] == ["Satisfied", "110"] and levels[-1] == ["All responses", "200"]
    assert not doc.find_all(id="satisfaction-levels-unavailable")
    # The channel split is read from channel_counts: while it disagrees with the publication, it is not shown.
    assert not doc.find_all("table", id="channels-table")
    assert "being revised" in doc.by_id("channels-unavailable").text()
    assert doc.by_id("user-satisfaction-latest-value").text() == "85.00%"  # the published figure stands


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_breakdown_that_cannot_be_read_leaves_the_rest_of_the_page(backend):
    seed_series(backend)
    with backend.dbs.perfdata.begin() as conn:  # as for a login that may not read channel_counts
        conn.execute(sa.text("DROP TABLE perfdata.channel_counts"))
    _, doc = get_page(backend)
    assert doc.by_id("channels-unavailable").text() == "This breakdown is not available at the moment."
    assert table(doc, "satisfaction-levels-table").rows[-1] == ["All responses", "200"]
    assert doc.by_id("digital-take-up-latest-value").text() == "70.00%"


def test_the_download_links_serve_the_published_exports(backend):
    seed_series(backend)
    _, doc = get_page(backend)
    months = [m for m in months_between(SERIES_FIRST, SERIES_LATEST) if m != UNPUBLISHED_HOLE]
    with TestClient(app_for(backend)) as client:
        for key in KPIS:
            links = [a.attrs["href"] for a in doc.by_id(f"{key}-downloads").iter("a")]
            assert links == ["/performance/exports/performance-data/2024-03.json",
                             "/performance/exports/transactions-by-channel.csv"]
        monthly = [a.attrs["href"] for a in doc.by_id("monthly-downloads").iter("a")]
        assert monthly == [f"/performance/exports/performance-data/{m:%Y-%m}.json" for m in reversed(months)]
        # Each is the API's export, byte for byte, without the API's token.
        for month in (SERIES_LATEST, NO_FIGURE_MONTH, SERIES_FIRST):
            public = client.get(f"/performance/exports/performance-data/{month:%Y-%m}.json")
            assert public.status_code == 200 and public.headers["content-type"] == "application/json"
            name = f"make_a_lasting_power_of_attorney_{month:%y_%m}.json"
            assert public.headers["content-disposition"] == f'attachment; filename="{name}"'
            api = client.get(f"/v1/exports/performance-data/{month:%Y-%m}.json", headers=AUTH)
            assert public.content == api.content
            assert api.headers["content-disposition"] == public.headers["content-disposition"]
        csv = client.get("/performance/exports/transactions-by-channel.csv")
        assert csv.status_code == 200 and csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert csv.content == client.get("/v1/exports/transactions-by-channel.csv", headers=AUTH).content
        assert csv.text.startswith("_timestamp,period,channel,count\n")
        for missing in (UNPUBLISHED_HOLE, NOT_YET_PUBLISHED):
            assert client.get(f"/performance/exports/performance-data/{missing:%Y-%m}.json").status_code == 404
        assert client.get("/performance/exports/performance-data/2024-13.json").status_code == 404


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_both_addresses_serve_the_page_with_a_strict_policy(backend):
    seed_series(backend)
    first, _ = get_page(backend, "/")
    second, _ = get_page(backend, "/performance")
    assert first.text == second.text
    policy = first.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy  # so no script runs at all
    assert "<script" not in first.text and " style=" not in first.text  # inline styles would be refused
    with TestClient(app_for(backend)) as client:
        head = client.head("/performance")
        assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_page_without_its_database_says_so(backend, tmp_path):
    # A perfdata file that was never migrated: every query fails.
    broken = PerformanceData(perfdata_database_url=f"sqlite:///{tmp_path / 'empty.sqlite'}")
    from fastapi import FastAPI

    app = FastAPI()
    mount_dashboard(app, lambda: broken)
    with TestClient(app) as client:
        response = client.get("/")
        assert response.status_code == 503
        assert "Sorry, there is a problem with the service" in response.text
        assert client.get("/performance/exports/transactions-by-channel.csv").status_code == 503
    with pytest.raises(TypeError):
        mount_dashboard(FastAPI(), "sqlite:///not-a-resource.sqlite")


def test_the_page_is_the_one_perfdata_serve_builds(backend):
    """create_app + the dashboard, as ``perfdata serve`` will serve it: the API still works beside it."""
    seed_publication(backend)
    with TestClient(app_for(backend)) as client:
        assert client.get("/v1/healthcheck").json()["ok"] is True
        assert client.get("/v1/kpis/latest").status_code == 401  # the API's routes keep their token
        assert client.get("/").status_code == 200
        # The dashboard adds nothing to the API's OpenAPI document (the open data, beside /v1/, is the API's).
        assert not [p for p in client.get("/v1/openapi.json").json()["paths"] if not p.startswith(("/v1/", "/open-data/"))]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_page_structure_is_accessible(backend):
    seed_series(backend)
    _, doc = get_page(backend)
    html = doc.find_all("html")[0]
    assert html.attrs["lang"] == "en"
    ids = [n.attrs["id"] for n in doc.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for node in doc.iter():
        for ref in (node.attrs.get("aria-labelledby") or "").split():
            assert ref in ids, f"aria-labelledby={ref} names nothing"
    assert doc.find_all("a", class_="govuk-skip-link")[0].attrs["href"] == "#main-content" and "main-content" in ids
    # One h1, and no heading level skipped on the way down.
    levels = [int(n.tag[1]) for n in doc.iter() if re.fullmatch(r"h[1-6]", n.tag)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), levels
    # Every table: a caption, column headers with scope, a row header per row (table() checks), and a
    # focusable, labelled scroll container around it.
    tables = doc.find_all("table")
    assert len(tables) == 6  # one per KPI, the satisfaction levels and the channels
    for t in tables:
        table(doc, t.attrs["id"])
    containers = doc.find_all("div", class_="app-table-container")
    assert len(containers) == 6
    assert all(c.attrs["role"] == "region" and c.attrs["tabindex"] == "0" for c in containers)
    # Every chart is an image with a title and a description, and is not focusable.
    charts = doc.find_all("svg", class_="app-chart")
    assert len(charts) == 4
    assert all(c.attrs["role"] == "img" and c.attrs["focusable"] == "false" for c in charts)
    assert all(len(c.by_id(c.attrs["id"] + "-desc").text()) > 80 for c in charts)


def test_cost_per_transaction_has_its_card_and_a_table_per_quarter_with_the_costs_behind_it(backend):
    from perfdata_assets_tests.publishing.fixtures import MONTHS, PUBLISHED_AT

    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO perfdata.cost_per_transaction VALUES "
            "('2023-12-01', '2023-01-01', 2583675.83, 1136435.23, 428648, 300458, 6.03, 3.78), "
            "('2024-03-01', '2023-04-01', 19005.96, NULL, 0, 0, NULL, NULL)"))
        publish(conn, MONTHS, PUBLISHED_AT)
    _, doc = get_page(backend)
    # The latest quarter had no transactions: no figure, never a zero.
    assert doc.by_id("cost-per-transaction-latest-year").text() == "Year to March 2024"
    assert doc.by_id("cost-per-transaction-latest-value").text() == "No figure"
    costs = table(doc, "cost-per-transaction-table")
    assert costs.header == ["Year to", "Cost per transaction", "Total cost", "LPAs received",
                            "Digital cost per transaction", "Digital cost", "LPAs made online"]
    assert costs.rows == [
        ["March 2024", "No figure", "£19,005.96", "0", "No figure", "No figure", "0"],
        ["December 2023", "£6.03", "£2,583,675.83", "428,648", "£3.78", "£1,136,435.23", "300,458"],
    ]
    assert doc.by_id("contents-heading") is not None and "Cost per transaction" in doc.by_id(
        "cost-per-transaction-heading").text()
