"""Malformed rows in the LPA service's tables: the run never crashes, never counts them as
valid, never copies their content, and reports how many there were in its metadata.

On SQLite and PostgreSQL (jsonb), March 2024, every case by hand:

- feedback: ratings missing, null, of another JSON type, or in another spelling,
  case, width or with invisible characters; messages that are not JSON objects;
  duplicated submissions; a 10 MB ``details``; right-to-left, combining, emoji and
  zero-width characters in ``fromPage`` and ``details``; ``received`` in the future
  and before 2000;
- applications: NULL, out-of-order, future and pre-2000 timestamps.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import sqlalchemy as sa

from perfdata_assets.kpis.assets import completion_rate, user_satisfaction
from perfdata_assets.sources.lpa import anomalies
from perfdata_assets.sources.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets.sources.lpa.sql import VALID_RATINGS
from perfdata_assets_tests.support import materialize, utc

D = Decimal
TEN_MB_MARKER = "TEN-MEGABYTE-DETAILS-4471"
DETAILS_MARKER = "DETAILS-CONTENT-9931"
ODD_DETAILS = f"{DETAILS_MARKER} \u202eevil\u202c مرحبا e\u0301\u0301 a\u200bb 👍🏽 \ufeff"
BASE = {"details": DETAILS_MARKER, "email": "odd.person@example.org", "phone": "07700 900555", "agent": "UA"}

# (fromPage as the service stored it, the path perfdata must keep: decoded, no query or fragment)
PAGES = [
    ("/lpa/\u202eabc\u202c/summary?email=odd.person@example.org", "/lpa/\u202eabc\u202c/summary"),  # RTL override
    ("/cafe\u0301/cre\u0300me", "/cafe\u0301/cre\u0300me"),  # combining marks
    ("/😀/👍🏽#odd.person@example.org", "/😀/👍🏽"),  # emoji, a fragment
    ("/a\u200bb\u200d\ufeffc", "/a\u200bb\u200d\ufeffc"),  # zero-width characters
    ("/it&#039;s/&lt;x&gt;?q=&amp;", "/it's/<x>"),  # as the service escapes it
]
# Strings that look like a rating but are not one of the five.
NOT_ONE_OF_THE_FIVE = [
    "Satisfied", "SATISFIED", " satisfied", "satisfied ", "satisfied\n", "very satisfied", "Very satisfied",
    "very_satisfied", "5", "", "satisfied\u200b", "ｓａｔｉｓｆｉｅｄ", "s\u0430tisfied", "satisfie\u0301d",
    "neither-satisfied-nor-dissatisfied", "&quot;satisfied&quot;",
]
NOT_A_STRING = [5, 4.5, True, ["satisfied"], {"value": "satisfied"}]
NOT_AN_OBJECT = [["satisfied", "x"], "satisfied", 5, sa.JSON.NULL, True]


def march(day: int, minute: int = 0) -> dt.datetime:
    return utc(f"2024-03-{day:02d} 12:00") + dt.timedelta(minutes=minute)


def seed_feedback(src) -> None:
    minute = iter(range(10_000))
    # Valid ratings: counted, whatever else is odd about the row.
    for (page, _), rating in zip(PAGES, ("satisfied", "very-satisfied", "dissatisfied",
                                         "neither-satisfied-or-dissatisfied", "very-dissatisfied")):
        src.raw_feedback(march(2, next(minute)), {**BASE, "rating": rating, "fromPage": page})
    twice = {**BASE, "rating": "very-satisfied", "fromPage": "/done"}
    for _ in range(2):  # the same submission stored twice: both rows count (kpis.md counts rows)
        src.raw_feedback(march(3), twice)
    src.raw_feedback(march(4), {**BASE, "rating": "satisfied", "details": TEN_MB_MARKER + "x" * 10_000_000,
                                "fromPage": "/big"})
    src.raw_feedback(march(5), {**BASE, "rating": "satisfied", "details": ODD_DETAILS, "fromPage": "/odd"})
    # Rejected ratings.
    src.raw_feedback(march(10, next(minute)), {**BASE, "fromPage": "/no-rating"})
    src.raw_feedback(march(10, next(minute)), {**BASE, "rating": None, "fromPage": "/null-rating"})
    for rating in NOT_A_STRING:
        src.raw_feedback(march(11, next(minute)), {**BASE, "rating": rating, "fromPage": "/typed"})
    for rating in NOT_ONE_OF_THE_FIVE:
        src.raw_feedback(march(12, next(minute)), {**BASE, "rating": rating, "fromPage": "/spelt"})
    for _ in range(2):  # a rejected submission stored twice
        src.raw_feedback(march(13), {**BASE, "rating": "SATISFIED", "fromPage": "/spelt"})
    for message in NOT_AN_OBJECT:
        src.raw_feedback(march(14, next(minute)), message)
    # Never in a loadable window: never loaded, whatever their rating.
    src.raw_feedback(utc("2099-03-01 12:00"), {**BASE, "rating": "satisfied", "fromPage": "/future"})
    src.raw_feedback(utc("1999-03-01 12:00"), {**BASE, "rating": "satisfied", "fromPage": "/past"})


EXPECTED_FEEDBACK_ANOMALIES = {
    "message_not_an_object": len(NOT_AN_OBJECT),
    "rating_missing": 2,
    "rating_not_a_string": len(NOT_A_STRING),
    "rating_not_one_of_the_five": len(NOT_ONE_OF_THE_FIVE) + 2,
    "duplicate_submissions": 2,
}
# vd, d, n, s, vs = 1, 1, 1, 3 (incl. the 10 MB row and the odd-details row), 3 (incl. the duplicated pair)
EXPECTED_SATISFACTION = ("2024-03-01", 9, 1, 1, 1, 3, 3, D("66.67"), D("66.67"))


def seed_applications(src) -> None:
    src.lpa(started=march(5), created=march(6), completed=march(7))  # ordinary
    src.lpa(started=None, created=march(10))  # created, never started
    src.lpa(started=march(20), created=march(21), completed=march(12))  # completed before started and created
    src.lpa(started=march(15), created=march(14))  # created before started
    src.lpa(started=utc("2099-01-01 00:00"), created=march(2))  # started in the future (so after created)
    src.lpa(started=utc("1970-01-01 00:00"), created=march(3))  # started before 2000
    src.lpa()  # no timestamp at all
    src.lpa(started=march(25), completed=utc("2099-06-01 00:00"))  # completed in the future, never created
    src.lpa(completed=march(28))  # completed, never started nor created


EXPECTED_APPLICATION_ANOMALIES = {
    "completed_before_started": 1,
    "created_before_started": 2,
    "completed_before_created": 1,
    "created_without_started": 1,
    "completed_without_created": 2,
    "timestamp_in_future": 2,
    "timestamp_before_2000": 1,
}
# Each event on the day it happened (kpis.md): started 4, created 6, completed 3 -> 150 %.
EXPECTED_COMPLETION = ("2024-03-01", 4, 6, 3, D("150.00"))


def run_metadata(result, asset: str) -> dict[str, object]:
    """The run-level metadata of an asset's materialization (the same on every partition of the run)."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    assert events
    metadata = events[-1].materialization.metadata
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def as_text(row) -> tuple:
    return tuple(str(v) if hasattr(v, "isoformat") else (D(str(v)).quantize(D("0.01")) if isinstance(v, float) else v)
                 for v in row)


def test_malformed_source_rows_are_counted_reported_and_never_copied(backend):
    seed_feedback(backend.source)
    seed_applications(backend.source)

    history = materialize([raw_feedback, lpa_lifecycle_events], backend, "2024-03-01", "2024-03-31")
    assert history.success
    kpis = materialize([user_satisfaction, completion_rate], backend, "2024-03-01")
    assert kpis.success

    # Never counted as valid: the figures are exactly kpis.md's over the valid rows.
    rows = backend.query("SELECT month, responses, very_dissatisfied, dissatisfied, neither, satisfied, "
                         "very_satisfied, satisfied_percent, score_percent FROM perfdata.user_satisfaction")
    assert [as_text(r) for r in rows] == [EXPECTED_SATISFACTION]
    rows = backend.query("SELECT month, started, created, completed, completion_rate_percent "
                         "FROM perfdata.completion_rate")
    assert [as_text(r) for r in rows] == [EXPECTED_COMPLETION]

    # Counted and reported in the run's metadata, counts only.
    feedback_meta = run_metadata(history, "raw_feedback")
    assert {k: feedback_meta[k] for k in anomalies.FEEDBACK_COUNTS} == EXPECTED_FEEDBACK_ANOMALIES
    rejected = sum(EXPECTED_FEEDBACK_ANOMALIES[k] for k in anomalies.FEEDBACK_COUNTS if k != "duplicate_submissions")
    assert feedback_meta["rejected_ratings_in_window"] == rejected
    events_meta = run_metadata(history, "lpa_lifecycle_events")
    assert {k: events_meta[k] for k in anomalies.APPLICATION_COUNTS} == EXPECTED_APPLICATION_ANOMALIES
    for metadata in (feedback_meta, events_meta):
        for key in (*anomalies.FEEDBACK_COUNTS, *anomalies.APPLICATION_COUNTS):
            assert isinstance(metadata.get(key, 0), int), key

    # Never copied: no rating but the five, no content, fromPage only as its decoded path.
    stored = backend.query("SELECT rating, from_page FROM perfdata.raw_feedback")
    assert len(stored) == 9 + 2 + len(NOT_A_STRING) + len(NOT_ONE_OF_THE_FIVE) + 2 + len(NOT_AN_OBJECT)
    assert {rating for rating, _ in stored} <= {*VALID_RATINGS, None}
    pages = {page for _, page in stored}
    assert pages == {*(path for _, path in PAGES), "/done", "/big", "/odd", "/no-rating", "/null-rating", "/typed",
                     "/spelt", None}
    dump = json.dumps([backend.query(f"SELECT * FROM perfdata.{t}") for t in (
        "raw_feedback", "lpa_lifecycle_events", "loaded_days", "user_satisfaction", "completion_rate")],
        default=str, ensure_ascii=False)
    for secret in (TEN_MB_MARKER, DETAILS_MARKER, "odd.person", "900555", "مرحبا", "/future", "/past",
                   *(r for r in NOT_ONE_OF_THE_FIVE if len(r.strip()) > 1)):
        assert secret not in dump, secret
    assert len(dump) < 100_000  # the 10 MB details went nowhere
    # Nor into the run's metadata or logs: the event log holds counts only.
    logged = json.dumps([str(e) for e in history.all_events + kpis.all_events], ensure_ascii=False)
    for secret in (TEN_MB_MARKER, DETAILS_MARKER, "odd.person", "مرحبا", "SATISFIED", "ｓａｔｉｓｆｉｅｄ", "s\u0430tisfied"):
        assert secret not in logged, secret


def test_anomaly_counts_are_one_query_and_bounded_to_the_window(backend):
    """Rows outside the window are not counted; the query reads counts only (one row)."""
    seed_feedback(backend.source)
    seed_applications(backend.source)
    april = (utc("2024-04-01 00:00"), utc("2024-05-01 00:00"))
    with backend.dbs.lpa_source.connect() as conn:
        assert anomalies.feedback_anomalies(conn, *april) == dict.fromkeys(anomalies.FEEDBACK_COUNTS, 0)
        assert anomalies.application_anomalies(conn, *april) == dict.fromkeys(anomalies.APPLICATION_COUNTS, 0)
        march_window = (utc("2024-03-01 00:00"), utc("2024-04-01 00:00"))
        assert anomalies.feedback_anomalies(conn, *march_window) == EXPECTED_FEEDBACK_ANOMALIES
        assert anomalies.application_anomalies(conn, *march_window) == EXPECTED_APPLICATION_ANOMALIES


def test_a_from_page_that_is_not_text_is_never_copied(backend):
    """fromPage as a JSON object or array (never a page path): nothing of it reaches perfdata."""
    backend.source.raw_feedback(march(2), {**BASE, "rating": "satisfied", "fromPage": {"email": "odd.person@x.org"}})
    backend.source.raw_feedback(march(3), {**BASE, "rating": "satisfied", "fromPage": ["odd.person@x.org"]})
    assert materialize([raw_feedback], backend, "2024-03-01", "2024-03-31").success
    pages = [page for (page,) in backend.query("SELECT from_page FROM perfdata.raw_feedback")]
    assert not any(page and "odd.person" in page for page in pages), pages
