"""A realistic synthetic LPA service database for the demo.

What makes it realistic enough to exercise perfdata: seasonality (a January
peak, an August and December dip) and quiet weekends; drop-off between
started, created and completed; times spread over every hour, so the clock
changes in March and October put rows either side of London midnights;
LPAs deleted the way the service deletes them; feedback with invalid ratings
and HTML entities, as the service stores them.
"""

from __future__ import annotations

import datetime as dt
import html
import random
from dataclasses import dataclass

import sqlalchemy as sa

from perfdata_assets.calendar import LONDON
from perfdata_assets.sources.lpa.tables import applications, create_source_tables, feedback

SEASON = {1: 1.25, 2: 1.1, 3: 1.1, 4: 1.0, 5: 0.95, 6: 0.9, 7: 0.85, 8: 0.75, 9: 0.95, 10: 1.05, 11: 1.05, 12: 0.7}
RATINGS = [
    ("very-satisfied", 44),
    ("satisfied", 30),
    ("neither-satisfied-or-dissatisfied", 10),
    ("dissatisfied", 7),
    ("very-dissatisfied", 5),
]
# What a form or an old client sometimes sent: all rejected, never counted.
ODD_RATINGS = ["Satisfied", "very satisfied", 5, "", None, "VERY-SATISFIED"]
PAGES = ["/home", "/user/dashboard", "/lpa/type", "/lpa/{id}/donor", "/guide#what's-new", "Unknown", "/help & support"]
DETAILS = ["It's quick & easy", "Couldn't find the <save> button", "Great service", "Too many \"questions\""]


@dataclass(frozen=True)
class SeedSummary:
    first_day: dt.date
    last_day: dt.date
    lpas: int
    deleted: int
    feedback: int


def _day_instants(day: dt.date) -> tuple[dt.datetime, float]:
    """A London day's first instant in UTC and its length in seconds (23 h or 25 h on clock-change days)."""
    start = dt.datetime.combine(day, dt.time(), LONDON).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), LONDON).astimezone(dt.timezone.utc)
    return start, (end - start).total_seconds()


def _php_escape(text: str) -> str:
    """htmlspecialchars(ENT_QUOTES), as the service escapes on insert."""
    return html.escape(text, quote=True).replace("&#x27;", "&#039;")


def seed(engine: sa.Engine, first_day: dt.date, last_day: dt.date, seed_value: int = 2024,
         lpas_per_day: int = 60, feedback_per_day: int = 8) -> SeedSummary:
    rng = random.Random(seed_value)
    create_source_tables(engine)
    now = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), LONDON).astimezone(dt.timezone.utc)
    lpa_rows, feedback_rows, deleted = [], [], 0
    next_id = 10_000_000_001
    day = first_day
    while day <= last_day:
        start, length = _day_instants(day)
        weekend = 0.5 if day.weekday() >= 5 else 1.0
        volume = round(lpas_per_day * SEASON[day.month] * weekend * rng.uniform(0.85, 1.15))
        for _ in range(volume):
            started = start + dt.timedelta(seconds=rng.uniform(0, length))
            created = completed = None
            if rng.random() < 0.72:
                created = started + dt.timedelta(days=rng.expovariate(1 / 3))
                if rng.random() < 0.85:
                    completed = created + dt.timedelta(days=rng.expovariate(1 / 2))
            created = created if created and created < now else None
            completed = completed if created and completed and completed < now else None
            row = {
                "id": next_id,
                "user": f"{rng.getrandbits(64):016x}",
                "updatedAt": completed or created or started,
                "startedAt": started,
                "createdAt": created,
                "completedAt": completed,
                "lockedAt": completed,
                "locked": completed is not None,
                "whoAreYouAnswered": created is not None,
                "seed": None,
                "repeatCaseNumber": None,
                "document": {"type": rng.choice(["property-and-finance", "health-and-welfare"]),
                             "donor": {"name": {"first": "Demo", "last": f"Donor{next_id % 1000}"}}},
                "payment": {"amount": 82} if completed else None,
                "metadata": {},
                "search": f"Demo Donor{next_id % 1000}",
            }
            if rng.random() < 0.03:  # deleted as the service deletes
                row = {k: (v if k in ("id", "updatedAt") else None) for k, v in row.items()}
                deleted += 1
            lpa_rows.append(row)
            next_id += 1
        for _ in range(round(feedback_per_day * weekend * rng.uniform(0.6, 1.4))):
            received = start + dt.timedelta(seconds=rng.uniform(0, length))
            rating = (
                rng.choice(ODD_RATINGS) if rng.random() < 0.03
                else rng.choices([r for r, _ in RATINGS], weights=[w for _, w in RATINGS])[0]
            )
            message = {
                "rating": rating,
                "details": _php_escape(rng.choice(DETAILS)),
                "email": rng.choice(["", "someone@example.com"]),
                "phone": "",
                "agent": _php_escape("Mozilla/5.0 (demo)"),
                "fromPage": _php_escape(rng.choice(PAGES).replace("{id}", str(next_id))),
            }
            if rating is None:
                del message["rating"]
            feedback_rows.append({"received": received, "message": message})
        day += dt.timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(applications.delete())
        conn.execute(feedback.delete())
        for i in range(0, len(lpa_rows), 5000):
            conn.execute(applications.insert(), lpa_rows[i : i + 5000])
        for i in range(0, len(feedback_rows), 5000):
            conn.execute(feedback.insert(), feedback_rows[i : i + 5000])
    return SeedSummary(first_day, last_day, len(lpa_rows), deleted, len(feedback_rows))
