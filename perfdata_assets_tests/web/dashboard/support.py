"""Helpers for the dashboard tests: the app, a real server, Chromium, an HTML tree, long fixtures."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import shutil
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser

import sqlalchemy as sa
from starlette.routing import NoMatchFound

from perfdata_assets.publishing.assets import publish
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.web.api import create_app
from perfdata_assets.web.dashboard import mount_dashboard

TOKEN = "dashboard-test-token-5e1d"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    return shutil.which("chromium")


def app_with_dashboard(perfdata_url: str, lpa_url: str, token: str | None = TOKEN):
    """``perfdata serve``'s app (``create_app``) with the dashboard, mounted here if create_app does not yet."""
    app = create_app(perfdata_url, lpa_url, token)
    try:
        app.url_path_for("dashboard")
    except NoMatchFound:
        mount_dashboard(app, PerformanceData(perfdata_database_url=perfdata_url, lpa_database_url=lpa_url))
    return app


def app_for(backend, token: str | None = TOKEN):
    return app_with_dashboard(backend.perfdata_url, backend.lpa_url, token)


@contextlib.contextmanager
def chromium(executable: str):
    """Headless Chromium (Debian's) through Playwright's own driver; never downloads a browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


# --- A small HTML tree (html.parser), strict about nesting ------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        """The text content, whitespace collapsed (as a reader hears it)."""
        parts: list[str] = []

        def walk(node: Node) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    walk(child)

        walk(self)
        return " ".join("".join(parts).split())

    def iter(self, tag: str | None = None):
        for child in self.children:
            if isinstance(child, Node):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [n for n in self.iter(tag) if all(n.attrs.get(k) == v for k, v in wanted.items())]

    def by_id(self, element_id: str) -> Node:
        found = self.find_all(id=element_id)
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        open_tag = self.stack[-1].tag
        assert open_tag == tag, f"</{tag}> closes <{open_tag}>"
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse_html(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert [n.tag for n in builder.stack] == ["#document"], f"unclosed: {[n.tag for n in builder.stack[1:]]}"
    return builder.root


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]]  # each row's cells' text, the row header first
    node: Node


def table(doc: Node, table_id: str) -> Table:
    node = doc.by_id(table_id)
    captions = node.find_all("caption")
    assert len(captions) == 1, f"table {table_id} has {len(captions)} captions"
    head = [th for th in node.find_all("thead")[0].iter("th")]
    assert all(th.attrs.get("scope") == "col" for th in head), f"table {table_id}: a column header without scope"
    rows = []
    for tr in node.find_all("tbody")[0].iter("tr"):
        cells = [c for c in tr.children if isinstance(c, Node)]
        assert cells[0].tag == "th" and cells[0].attrs.get("scope") == "row", f"table {table_id}: no row header"
        rows.append([c.text() for c in cells])
    return Table(captions[0].text(), [th.text() for th in head], rows, node)


# --- Two years of figures, demo-like, with the awkward cases -------------------------

CENT = Decimal("0.01")
SERIES_FIRST = dt.date(2022, 1, 1)
SERIES_LATEST = dt.date(2024, 3, 1)  # the latest published month
UNPUBLISHED_HOLE = dt.date(2023, 5, 1)  # computed, never published
NO_FIGURE_MONTH = dt.date(2023, 9, 1)  # no responses, no LPAs started
NOT_YET_PUBLISHED = dt.date(2024, 4, 1)  # KPI rows exist, not published
ODD_CHANNEL = '<b>"fax" & co</b>'  # a channel Sirius might add; must reach the page escaped
PUBLISHED_AT = dt.datetime(2024, 4, 4, 7, 0, tzinfo=dt.timezone.utc)


def _percent(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(100 * numerator) / Decimal(denominator)).quantize(CENT, ROUND_HALF_UP)


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    months = []
    while first <= last:
        months.append(first)
        first = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return months


def _month_minutes(month: dt.date) -> int:
    """Minutes in a London calendar month (the clocks change in March and October)."""
    days = (dt.date(month.year + month.month // 12, month.month % 12 + 1, 1) - month).days
    return days * 1440 - 60 * (month.month == 3) + 60 * (month.month == 10)


def series_rows(seed: int = 7):
    """The KPI rows of SERIES_FIRST .. NOT_YET_PUBLISHED.

    (satisfaction, completion, take-up, channel counts, uptime); uptime has its own
    random numbers, so the other series are what they were before it was added.
    """
    rng = random.Random(seed)
    uptime_rng = random.Random(seed + 1)
    satisfaction, completion, take_up, channels, uptime = [], [], [], [], []
    for month in _months(SERIES_FIRST, NOT_YET_PUBLISHED):
        if month == NO_FIGURE_MONTH:
            levels = [0, 0, 0, 0, 0]
            started, created = 0, rng.randint(5, 20)
        elif month == dt.date(2024, 2, 1):
            levels = [10, 10, 20, 100, 60]  # 80.00 % satisfied
            started, created = 1000, 700  # 70.00 %
        elif month == SERIES_LATEST:
            levels = [5, 10, 15, 110, 60]  # 85.00 %: up 5.00 points
            started, created = 1000, 650  # 65.00 %: down 5.00 points
        else:
            levels = [rng.randint(3, 15), rng.randint(5, 20), rng.randint(10, 30), rng.randint(60, 120),
                      rng.randint(30, 90)]
            started = rng.randint(900, 1600)
            created = int(started * rng.uniform(0.55, 0.9))
        responses = sum(levels)
        weighted = levels[1] + 2 * levels[2] + 3 * levels[3] + 4 * levels[4]
        satisfaction.append((month, responses, *levels, _percent(levels[3] + levels[4], responses),
                             _percent(weighted, 4 * responses)))
        completion.append((month, started, created, created * 8 // 10, _percent(created, started)))
        if month in (dt.date(2024, 2, 1), SERIES_LATEST):
            online, paper, phone = 7000, 2800, 200  # 70.00 % both months: no change
        else:
            online = rng.randint(5000, 9000)
            paper = rng.randint(1500, 4000)
            phone = rng.randint(100, 400)
        counts = [(month, "online", online), (month.replace(day=15), "paper", paper),
                  (month.replace(day=28), "phone", phone)]
        if month == SERIES_LATEST:  # 12 of the month's paper forms came by the new channel
            counts[1] = (month.replace(day=15), "paper", paper - 12)
            counts.append((month.replace(day=2), ODD_CHANNEL, 12))
        # Split online across two days, as Sirius reports daily.
        counts = [(month, "online", online - online // 3), (month.replace(day=20), "online", online // 3),
                  *counts[1:]]
        channels.extend(counts)
        total = sum(c for _, _, c in counts)
        take_up.append((month, online, total, _percent(online, total)))
        observed = _month_minutes(month)
        if month == NO_FIGURE_MONTH:
            observed = healthy = 0  # the health check reported nothing all month
        elif month == dt.date(2024, 2, 1):
            healthy = 41718  # of 41,760: 99.90 %
        elif month == SERIES_LATEST:
            healthy = 44558  # of 44,580: 99.95 %, up 0.05 points
        else:
            healthy = observed - uptime_rng.randint(0, 400)
        uptime.append((month, observed, healthy, _percent(healthy, observed)))
    return satisfaction, completion, take_up, channels, uptime


def _insert(conn: sa.Connection, table_name: str, columns: list[str], rows: list[tuple]) -> None:
    numeric = {"satisfied_percent", "score_percent", "completion_rate_percent", "take_up_percent", "uptime_percent"}
    statement = sa.text(
        f"INSERT INTO perfdata.{table_name} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    ).bindparams(*(sa.bindparam(c, type_=sa.Numeric(8, 2)) for c in columns if c in numeric),
                 sa.bindparam(columns[0], type_=sa.Date))
    conn.execute(statement, [dict(zip(columns, row)) for row in rows])


def seed_series(backend, published_at: dt.datetime = PUBLISHED_AT) -> None:
    """Twenty-eight months of KPI rows (uptime too) and channel counts; published with a hole, the last held back."""
    satisfaction, completion, take_up, channels, uptime = series_rows()
    with backend.dbs.perfdata.begin() as conn:
        _insert(conn, "user_satisfaction",
                ["month", "responses", "very_dissatisfied", "dissatisfied", "neither", "satisfied",
                 "very_satisfied", "satisfied_percent", "score_percent"], satisfaction)
        _insert(conn, "completion_rate", ["month", "started", "created", "completed", "completion_rate_percent"],
                completion)
        _insert(conn, "digital_take_up", ["month", "digital", "total", "take_up_percent"], take_up)
        _insert(conn, "channel_counts", ["day", "channel", "count"], channels)
        _insert(conn, "service_uptime", ["month", "observed_minutes", "healthy_minutes", "uptime_percent"], uptime)
        before_hole = _months(SERIES_FIRST, dt.date(2023, 4, 1))
        after_hole = _months(dt.date(2023, 6, 1), SERIES_LATEST)
        publish(conn, before_hole, published_at - dt.timedelta(days=30))
        publish(conn, after_hole, published_at)
