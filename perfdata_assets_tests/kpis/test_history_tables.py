"""The raw history tables refuse what no KPI may count: the database enforces it, not a check."""

import pytest
import sqlalchemy as sa

REFUSED = {
    "an unknown event": (
        "INSERT INTO perfdata.lpa_lifecycle_events (lpa_id, event, occurred_at, day, lpa_type) "
        "VALUES (1, 'registered', '2024-01-01 10:00:00+00', '2024-01-01', 'pfa')"
    ),
    "an event without a day": (
        "INSERT INTO perfdata.lpa_lifecycle_events (lpa_id, event, occurred_at, day, lpa_type) "
        "VALUES (1, 'started', '2024-01-01 10:00:00+00', NULL, 'pfa')"
    ),
    "a rating outside the five values": (
        "INSERT INTO perfdata.raw_feedback (feedback_id, received_at, day, rating, from_page) "
        "VALUES (1, '2024-01-01 10:00:00+00', '2024-01-01', 'Very-Satisfied', '/home')"
    ),
    "a negative channel count": (
        "INSERT INTO perfdata.channel_counts (day, channel, \"count\") VALUES ('2024-01-01', 'online', -1)"
    ),
}


@pytest.mark.parametrize("what", sorted(REFUSED))
def test_the_history_tables_refuse(backend, what):
    with backend.dbs.perfdata.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.text(REFUSED[what]))


def test_an_invalid_rating_is_kept_as_null(backend):
    # The one way an invalid rating enters the history: as NULL, counted as rejected.
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO perfdata.raw_feedback (feedback_id, received_at, day, rating, from_page) "
            "VALUES (1, '2024-01-01 10:00:00+00', '2024-01-01', NULL, '/home')"
        ))
    assert backend.query("SELECT count(*), count(rating) FROM perfdata.raw_feedback") == [(1, 0)]
