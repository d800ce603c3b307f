"""The loaded-days ledger: which days each daily asset has written as final.

A month is published only when every one of its days is in the ledger for
every input, so a month cannot be published from a half-loaded history,
whatever the Dagster instance remembers (and however it was wiped).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from perfdata_assets.calendar import HEALING_TAG, DayWindow, parse_day_ranges
from perfdata_assets.db.types import UTCDateTime

_record = sa.text(
    """
    INSERT INTO perfdata.loaded_days (asset, day, loaded_at)
    VALUES (:asset, :day, :loaded_at)
    ON CONFLICT (asset, day) DO UPDATE SET loaded_at = excluded.loaded_at
    """
).bindparams(sa.bindparam("day", type_=sa.Date), sa.bindparam("loaded_at", type_=UTCDateTime))


def record_loaded_days(conn: sa.Connection, asset: str, days: list[dt.date], loaded_at: dt.datetime) -> None:
    if days:
        conn.execute(_record, [{"asset": asset, "day": d, "loaded_at": loaded_at} for d in days])


def missing_days(conn: sa.Connection, asset: str, window: DayWindow) -> list[dt.date]:
    loaded = conn.execute(
        sa.text("SELECT day FROM perfdata.loaded_days WHERE asset = :asset AND day >= :first AND day < :end")
        .bindparams(sa.bindparam("first", type_=sa.Date), sa.bindparam("end", type_=sa.Date))
        .columns(day=sa.Date),
        {"asset": asset, "first": window.first, "end": window.end},
    ).scalars()
    return sorted(set(window.days()) - set(loaded))


def first_loaded_day(conn: sa.Connection, asset: str) -> dt.date | None:
    """Where the asset's history starts (None before anything is loaded)."""
    query = sa.text("SELECT min(day) AS first FROM perfdata.loaded_days WHERE asset = :asset").columns(first=sa.Date)
    return conn.execute(query, {"asset": asset}).scalar_one()


def describe_days(days: list[dt.date], limit: int = 5) -> str:
    """'2024-03-05, 2024-03-06 and 12 more' — short enough for one error line."""
    shown = ", ".join(d.isoformat() for d in days[:limit])
    return shown + (f" and {len(days) - limit} more" if len(days) > limit else "")


def healed_days(tags: dict[str, str], written: list[dt.date]) -> list[dt.date]:
    """Of the days a run wrote as final, those its nightly schedule named as missing from the ledger."""
    named = set(parse_day_ranges(tags.get(HEALING_TAG, "")))
    return sorted(named & set(written))
