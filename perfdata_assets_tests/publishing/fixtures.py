"""Known KPI rows and the publication kpis.md section 5 derives from them, by hand.

Three months: January with ordinary figures, February with every denominator
zero (so every percentage is NULL), March with a completion rate over 100 %
and a channel Sirius added after the contract was written.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from perfdata_assets.publishing.assets import publish
from perfdata_assets.publishing.published import DATA_TYPES, PublishedValue

D = Decimal
MONTHS = [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
PUBLISHED_AT = dt.datetime(2024, 4, 2, 6, 30, tzinfo=dt.timezone.utc)

# month, responses, very_dissatisfied, dissatisfied, neither, satisfied, very_satisfied, satisfied %, score %
USER_SATISFACTION = [
    # 70/80 satisfied; score 100 × (3 + 2×5 + 3×30 + 4×40) / (4 × 80) = 82.1875
    (MONTHS[0], 80, 2, 3, 5, 30, 40, D("87.50"), D("82.19")),
    (MONTHS[1], 0, 0, 0, 0, 0, 0, None, None),
    (MONTHS[2], 3, 1, 0, 0, 1, 1, D("66.67"), D("58.33")),
]
# month, started, created, completed, completion %
COMPLETION_RATE = [
    (MONTHS[0], 200, 150, 120, D("75.00")),
    (MONTHS[1], 0, 5, 2, None),
    (MONTHS[2], 3, 4, 1, D("133.33")),  # LPAs started in earlier months created in March
]
# Daily Sirius counts (day, channel, count); the monthly totals below add them up.
CHANNEL_COUNTS = [
    (dt.date(2024, 1, 1), "online", 50),
    (dt.date(2024, 1, 1), "paper", 8),
    (dt.date(2024, 1, 31), "online", 41),
    (dt.date(2024, 1, 31), "phone", 1),
    (dt.date(2024, 3, 1), "online", 600),
    (dt.date(2024, 3, 1), "paper", 300),
    (dt.date(2024, 3, 15), "assisted-digital", 5),
    (dt.date(2024, 3, 31), "online", 400),
    (dt.date(2024, 3, 31), "phone", 45),
    (dt.date(2024, 4, 1), "online", 7),  # April is not published: never exported
]
# month, digital, total, take-up %
DIGITAL_TAKE_UP = [
    (MONTHS[0], 91, 100, D("91.00")),
    (MONTHS[1], 0, 0, None),
    (MONTHS[2], 1000, 1350, D("74.07")),
]

# month, observed minutes, healthy minutes, uptime %. March 2024 ends on the
# day the clocks go forward: 30 × 1440 + 1380 minutes.
SERVICE_UPTIME = [
    (MONTHS[0], 44640, 44600, D("99.91")),
    (MONTHS[1], 0, 0, None),
    (MONTHS[2], 44580, 44580, D("100.00")),
]

# period_start, data_type, value, numerator, denominator — kpis.md section 5, in its order.
EXPECTED_PUBLISHED = [
    (MONTHS[0], "user-satisfaction-percent", D("87.50"), 70, 80),
    (MONTHS[0], "very-dissatisfied", D("2"), 2, 80),
    (MONTHS[0], "dissatisfied", D("3"), 3, 80),
    (MONTHS[0], "neither", D("5"), 5, 80),
    (MONTHS[0], "satisfied", D("30"), 30, 80),
    (MONTHS[0], "very-satisfied", D("40"), 40, 80),
    (MONTHS[0], "uptime-percent", D("99.91"), 44600, 44640),
    (MONTHS[0], "digital-take-up", D("91.00"), 91, 100),
    (MONTHS[0], "completion-rate-percent", D("75.00"), 150, 200),
    (MONTHS[0], "user-satisfaction-score", D("82.19"), None, 80),
    # February: every denominator is zero, so every value is NULL (counts too).
    (MONTHS[1], "user-satisfaction-percent", None, 0, 0),
    (MONTHS[1], "very-dissatisfied", None, 0, 0),
    (MONTHS[1], "dissatisfied", None, 0, 0),
    (MONTHS[1], "neither", None, 0, 0),
    (MONTHS[1], "satisfied", None, 0, 0),
    (MONTHS[1], "very-satisfied", None, 0, 0),
    (MONTHS[1], "uptime-percent", None, 0, 0),
    (MONTHS[1], "digital-take-up", None, 0, 0),
    (MONTHS[1], "completion-rate-percent", None, 5, 0),
    (MONTHS[1], "user-satisfaction-score", None, None, 0),
    (MONTHS[2], "user-satisfaction-percent", D("66.67"), 2, 3),
    (MONTHS[2], "very-dissatisfied", D("1"), 1, 3),
    (MONTHS[2], "dissatisfied", D("0"), 0, 3),
    (MONTHS[2], "neither", D("0"), 0, 3),
    (MONTHS[2], "satisfied", D("1"), 1, 3),
    (MONTHS[2], "very-satisfied", D("1"), 1, 3),
    (MONTHS[2], "uptime-percent", D("100.00"), 44580, 44580),
    (MONTHS[2], "digital-take-up", D("74.07"), 1000, 1350),
    (MONTHS[2], "completion-rate-percent", D("133.33"), 4, 3),
    (MONTHS[2], "user-satisfaction-score", D("58.33"), None, 3),
]

_PERCENT = sa.Numeric(8, 2)


def _insert(conn: sa.Connection, table: str, columns: list[str], rows: list[tuple], numeric: list[str]) -> None:
    statement = sa.text(
        f"INSERT INTO perfdata.{table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    ).bindparams(*(sa.bindparam(c, type_=_PERCENT) for c in numeric), sa.bindparam(columns[0], type_=sa.Date))
    conn.execute(statement, [dict(zip(columns, row)) for row in rows])


def seed_kpis(backend) -> None:
    """The four KPI tables and the channel counts, as the KPI assets would have written them."""
    with backend.dbs.perfdata.begin() as conn:
        _insert(
            conn,
            "user_satisfaction",
            ["month", "responses", "very_dissatisfied", "dissatisfied", "neither", "satisfied", "very_satisfied",
             "satisfied_percent", "score_percent"],
            USER_SATISFACTION,
            ["satisfied_percent", "score_percent"],
        )
        _insert(conn, "completion_rate", ["month", "started", "created", "completed", "completion_rate_percent"],
                COMPLETION_RATE, ["completion_rate_percent"])
        _insert(conn, "digital_take_up", ["month", "digital", "total", "take_up_percent"], DIGITAL_TAKE_UP,
                ["take_up_percent"])
        _insert(conn, "service_uptime", ["month", "observed_minutes", "healthy_minutes", "uptime_percent"],
                SERVICE_UPTIME, ["uptime_percent"])
        _insert(conn, "channel_counts", ["day", "channel", "count"], CHANNEL_COUNTS, [])


def seed_publication(backend, published_at: dt.datetime = PUBLISHED_AT) -> None:
    """The KPI rows, published for January to March without running Dagster (the asset's own SQL)."""
    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        publish(conn, MONTHS, published_at, run_id="seed")


def published_rows(backend) -> list[tuple]:
    """perfdata.published_kpis as (period_start, data_type, value, numerator, denominator), typed."""
    query = (
        sa.text(
            "SELECT period_start, data_type, value, numerator, denominator FROM perfdata.published_kpis "
            "ORDER BY period_start, data_type"
        ).columns(period_start=sa.Date, value=_PERCENT)
    )
    with backend.dbs.perfdata.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    order = list(DATA_TYPES)
    return sorted(rows, key=lambda r: (r[0], order.index(r[1])))


def expected_values(*months: dt.date, published_at: dt.datetime = PUBLISHED_AT) -> list[PublishedValue]:
    """EXPECTED_PUBLISHED as the PublishedValue objects a reader gets (all months if none given)."""
    return [
        PublishedValue(m, t, v, n, d, published_at)
        for m, t, v, n, d in EXPECTED_PUBLISHED
        if not months or m in months
    ]
