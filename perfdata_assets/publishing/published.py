"""The published values as Python reads them: the data types and the read queries.

Everything that reads the publication (the ``PerformanceData`` resource, the
exports, the HTTP API) goes through these functions, so the publication has one
reading as well as one writing. They read ``published_kpis`` / ``latest_kpis``
and, for the CSV, ``channel_counts`` of published months only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from perfdata_assets.calendar import LONDON
from perfdata_assets.db.types import UTCDateTime
from perfdata_assets.publishing import sql

SERVICE = "make-a-lpa"
PERIOD = "month"
YEAR = "year"
# In the order kpis.md section 5 lists them (OPG's page columns first); every
# listing of published values, and every export, uses it.
SATISFACTION_LEVELS = ("very-dissatisfied", "dissatisfied", "neither", "satisfied", "very-satisfied")
DATA_TYPES = (
    "user-satisfaction-percent",
    *SATISFACTION_LEVELS,
    "uptime-percent",
    "digital-take-up",
    "completion-rate-percent",
    "user-satisfaction-score",
)
# Cost per transaction (kpis.md section 6): a year's figure in pounds, published per quarter end
# with period "year"; never in OPG's monthly file, which holds DATA_TYPES only.
COST_DATA_TYPES = ("cost-per-transaction", "digital-cost-per-transaction")
# Every data type, in the order of kpis.md sections 5 then 6: what the API and dashboard list.
ALL_DATA_TYPES = (*DATA_TYPES, *COST_DATA_TYPES)
PERIOD_OF_DATA_TYPE = {**{t: PERIOD for t in DATA_TYPES}, **{t: YEAR for t in COST_DATA_TYPES}}
# Their value and numerator are pounds (2 decimal places), the denominator transactions.
GBP_DATA_TYPES = frozenset(COST_DATA_TYPES)
# Published as counts (JSON integers in the export), not percentages.
COUNT_DATA_TYPES = frozenset(SATISFACTION_LEVELS)
# Which KPI table each data type is copied from (kpis.md section 5).
KPI_OF_DATA_TYPE = {
    "user-satisfaction-percent": "user_satisfaction",
    **{level: "user_satisfaction" for level in SATISFACTION_LEVELS},
    "uptime-percent": "service_uptime",
    "digital-take-up": "digital_take_up",
    "completion-rate-percent": "completion_rate",
    "user-satisfaction-score": "user_satisfaction",
    **{t: "cost_per_transaction" for t in COST_DATA_TYPES},
}


@dataclass(frozen=True)
class PublishedValue:
    """One row of perfdata.published_kpis (service make-a-lpa): a month, or for cost per
    transaction a year (period_start its first month)."""

    period_start: dt.date
    data_type: str
    value: Decimal | None  # NULL where the denominator is zero; a count for the five levels
    numerator: int | Decimal | None  # NULL for user-satisfaction-score; pounds for cost per transaction
    denominator: int | None
    published_at: dt.datetime  # time-zone aware, UTC
    period: str = PERIOD


@dataclass(frozen=True)
class ChannelTotal:
    """LPAs received through one Sirius channel (its source name) in one month."""

    month: dt.date
    channel: str
    count: int


def check_data_type(data_type: str) -> str:
    if data_type not in ALL_DATA_TYPES:
        raise ValueError(f"unknown data_type {data_type!r}: expected one of {', '.join(ALL_DATA_TYPES)}")
    return data_type


def by_month(values: Sequence[PublishedValue]) -> dict[dt.date, list[PublishedValue]]:
    """The values grouped by their month, each month's in the order they came."""
    grouped: dict[dt.date, list[PublishedValue]] = {}
    for value in values:
        grouped.setdefault(value.period_start, []).append(value)
    return grouped


def _order(value: PublishedValue) -> tuple[dt.date, int]:
    return value.period_start, ALL_DATA_TYPES.index(value.data_type)


def numerator_of(raw: object, data_type: str) -> int | Decimal | None:
    """The stored numerator as published: pounds to the penny, or a whole count.

    The column is ``numeric`` (pounds for cost per transaction); PostgreSQL hands back a
    Decimal and SQLite an integer or a float, so each is put back in its exact form here.
    """
    if raw is None:
        return None
    if data_type in GBP_DATA_TYPES:
        return Decimal(str(raw)).quantize(Decimal("0.01"))
    return int(raw)


def _read(conn: sa.Connection, query: str, data_types: Sequence[str], **params) -> list[PublishedValue]:
    statement = (
        sa.text(query)
        .bindparams(
            sa.bindparam("data_types", expanding=True),
            *(sa.bindparam(k, type_=sa.Date) for k in ("first", "last") if k in params),
        )
        .columns(period_start=sa.Date, value=sa.Numeric(8, 2), published_at=UTCDateTime)
    )
    rows = conn.execute(
        statement, {"data_types": list(data_types), "service": SERVICE, **params}
    ).mappings()
    values = [
        PublishedValue(
            period_start=row["period_start"],
            data_type=row["data_type"],
            value=row["value"],
            numerator=numerator_of(row["numerator"], row["data_type"]),
            denominator=row["denominator"],
            # PostgreSQL answers in the session's time zone; one zone everywhere.
            published_at=row["published_at"].astimezone(dt.timezone.utc),
            period=row["period"],
        )
        for row in rows
    ]
    return sorted(values, key=_order)


def latest_values(conn: sa.Connection, data_types: Sequence[str] = DATA_TYPES) -> list[PublishedValue]:
    """Each data type's most recent published month (data types never published are absent)."""
    return _read(conn, sql.LATEST, data_types)


def values_between(
    conn: sa.Connection, first: dt.date, last: dt.date, data_types: Sequence[str] = DATA_TYPES
) -> list[PublishedValue]:
    """Published values whose period_start is in [first, last], both inclusive (by default the monthly
    data types only: pass ALL_DATA_TYPES for cost per transaction too)."""
    return _read(conn, sql.PUBLISHED_BETWEEN, data_types, first=first, last=last)


def published_months(conn: sa.Connection, data_type: str | None = None) -> list[dt.date]:
    """Months with anything published, or with the given data type published."""
    if data_type is None:
        query = sa.text(sql.PUBLISHED_MONTHS).columns(period_start=sa.Date)
        return list(conn.execute(query, {"period": PERIOD, "service": SERVICE}).scalars())
    query = sa.text(sql.PUBLISHED_MONTHS_OF).columns(period_start=sa.Date)
    period = PERIOD_OF_DATA_TYPE.get(data_type, PERIOD)
    return list(conn.execute(query, {"period": period, "service": SERVICE, "data_type": data_type}).scalars())


@dataclass(frozen=True)
class Restatement:
    """A published value replaced by a different one (kpis.md section 5)."""

    period_start: dt.date
    data_type: str
    old_value: Decimal | None
    new_value: Decimal | None
    old_published_at: dt.datetime
    restated_at: dt.datetime
    run_id: str
    period: str = PERIOD


def restatements(conn: sa.Connection, since: dt.datetime | None = None) -> list[Restatement]:
    """Every restatement (or those recorded at or after ``since``), oldest first."""
    query = sa.text(sql.RESTATEMENTS.format(since="" if since is None else "AND restated_at >= :since"))
    if since is not None:
        query = query.bindparams(sa.bindparam("since", type_=UTCDateTime))
    query = query.columns(
        period_start=sa.Date, old_value=sa.Numeric(8, 2), new_value=sa.Numeric(8, 2),
        old_published_at=UTCDateTime, restated_at=UTCDateTime,
    )
    params = {"service": SERVICE, **({} if since is None else {"since": since})}
    rows = conn.execute(query, params).mappings()
    return [
        Restatement(
            period_start=r["period_start"], data_type=r["data_type"], old_value=r["old_value"],
            new_value=r["new_value"], old_published_at=r["old_published_at"].astimezone(dt.timezone.utc),
            restated_at=r["restated_at"].astimezone(dt.timezone.utc), run_id=r["run_id"], period=r["period"],
        )
        for r in rows
    ]


def channel_totals(conn: sa.Connection, month: dt.date | None = None) -> list[ChannelTotal]:
    """Per month with digital take-up published (or that one month) and source channel, the LPAs
    Sirius received: the GOV.UK CSV's figures."""
    where = "" if month is None else "WHERE month = :month"
    query = sa.text(sql.CHANNEL_TOTALS.format(where=where)).columns(month=sa.Date)
    if month is not None:
        query = query.bindparams(sa.bindparam("month", type_=sa.Date))
    rows = conn.execute(query, {} if month is None else {"month": month})
    return [ChannelTotal(row.month, row.channel, int(row.total)) for row in rows]


# --- The open data (kpis.md section 7) -------------------------------------------------

# Every measure of the open-data file, in its order (section 5's table, then section 6's),
# with its unit.
OPEN_DATA_UNITS = {
    t: "GBP" if t in GBP_DATA_TYPES else "count" if t in COUNT_DATA_TYPES else "percent" for t in ALL_DATA_TYPES
}
OPEN_DATA_MEASURES = tuple(OPEN_DATA_UNITS)


@dataclass(frozen=True)
class OpenDataRow:
    """One line of the open-data CSV: a published row, its unit, and when it was last restated."""

    period_start: dt.date
    period: str
    measure: str
    value: Decimal | None
    numerator: int | Decimal | None  # pounds, to the penny, for a GBP measure
    denominator: int | None
    unit: str
    published_at: dt.datetime  # time-zone aware, UTC
    last_revised: dt.date | None  # the London date of the latest restatement; None if never restated


def _case(mapping: dict[str, object]) -> str:
    # Literals from the module's own tables, never from input.
    whens = " ".join(f"WHEN '{key}' THEN {value!r}" for key, value in mapping.items())
    return f"CASE p.data_type {whens} END"


_OPEN_DATA_PARAMS = {"service": SERVICE, "data_types": list(OPEN_DATA_MEASURES)}


def open_data_fingerprint(conn: sa.Connection) -> str | None:
    """A digest of the rows ``open_data_rows`` reads (PostgreSQL; None on SQLite, which has no md5):
    while it is unchanged, so are the open-data files made from them."""
    if conn.dialect.name != "postgresql":
        return None
    query = sa.text(sql.OPEN_DATA_FINGERPRINT.format(unit=_case(OPEN_DATA_UNITS))).bindparams(
        sa.bindparam("data_types", expanding=True))
    return conn.execute(query, _OPEN_DATA_PARAMS).scalar_one()


def open_data_rows(conn: sa.Connection) -> list[OpenDataRow]:
    """Every published row, ordered by period_start, period, then OPEN_DATA_MEASURES."""
    query = (
        sa.text(sql.OPEN_DATA_ROWS.format(
            unit=_case(OPEN_DATA_UNITS), order=_case({t: i for i, t in enumerate(OPEN_DATA_MEASURES)})))
        .bindparams(sa.bindparam("data_types", expanding=True))
        .columns(period_start=sa.Date, value=sa.Numeric(8, 2), published_at=UTCDateTime,
                 last_restated_at=UTCDateTime)
    )
    rows = conn.execute(query, _OPEN_DATA_PARAMS).mappings()
    return [
        OpenDataRow(
            period_start=r["period_start"], period=r["period"], measure=r["data_type"], value=r["value"],
            numerator=numerator_of(r["numerator"], r["data_type"]), denominator=r["denominator"], unit=r["unit"],
            published_at=r["published_at"].astimezone(dt.timezone.utc),
            # A date is a London calendar day (kpis.md, "Time").
            last_revised=None if r["last_restated_at"] is None else r["last_restated_at"].astimezone(LONDON).date(),
        )
        for r in rows
    ]
