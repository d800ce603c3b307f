"""KPI figures on small fixtures, computed by hand, on SQLite and PostgreSQL.

Rows sit either side of month ends in GMT and in BST: March 2024 ends in BST
(clocks went forward at 01:00 GMT on 31 March), February in GMT.
"""

from decimal import Decimal

import pytest

from perfdata_assets.kpis import assets as kpi_assets
from perfdata_assets.kpis.assets import completion_rate, user_satisfaction
from perfdata_assets.sources.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets_tests.support import london, materialize, utc

D = Decimal


def seed_feedback(src):
    src.feedback(utc("2024-02-29 23:59"), "satisfied")  # GMT: February
    src.feedback(london("2024-03-01 00:00"), "very-satisfied")  # first instant of March
    src.feedback(london("2024-03-31 23:30"), "satisfied")  # BST: still March (22:30 UTC)
    src.feedback(utc("2024-03-15 12:00"), "very-dissatisfied")
    src.feedback(utc("2024-03-31 23:30"), "neither-satisfied-or-dissatisfied")  # 00:30 BST: April
    src.feedback(utc("2024-04-30 23:30"), "satisfied")  # 00:30 BST 1 May: May
    # Rejected: wrong case, a number, missing, a message that is not an object, a bool.
    src.feedback(utc("2024-03-10 10:00"), "Satisfied")
    src.feedback(utc("2024-03-10 10:01"), 5)
    src.feedback(utc("2024-03-10 10:02"), ...)
    src.raw_feedback(utc("2024-03-10 10:03"), ["satisfied"])
    src.feedback(utc("2024-03-10 10:04"), True)


def satisfaction_rows(backend):
    return backend.query(
        "SELECT month, responses, very_dissatisfied, dissatisfied, neither, satisfied, very_satisfied, "
        "satisfied_percent, score_percent FROM perfdata.user_satisfaction ORDER BY month"
    )


def as_tuple(row):
    """Normalise driver types (SQLite gives text dates and floats) for comparison."""
    return tuple(
        str(v) if hasattr(v, "isoformat") else (D(str(v)).quantize(D("0.01")) if isinstance(v, float) else v)
        for v in row
    )


EXPECTED_SATISFACTION = [
    ("2024-02-01", 1, 0, 0, 0, 1, 0, D("100.00"), D("75.00")),
    # 3 valid: vs + s + vd -> 2/3 satisfied = 66.67; score 100*(4+3+0)/12 = 58.33
    ("2024-03-01", 3, 1, 0, 0, 1, 1, D("66.67"), D("58.33")),
    ("2024-04-01", 1, 0, 0, 1, 0, 0, D("0.00"), D("50.00")),
    ("2024-05-01", 1, 0, 0, 0, 1, 0, D("100.00"), D("75.00")),
    ("2024-06-01", 0, 0, 0, 0, 0, 0, None, None),  # empty month: NULL percentages
]


def test_user_satisfaction_by_hand(backend):
    seed_feedback(backend.source)
    daily = materialize([raw_feedback], backend, "2024-02-01", "2024-06-30")
    assert daily.success
    monthly = materialize([user_satisfaction], backend, "2024-02-01", "2024-06-01")
    assert monthly.success
    assert [as_tuple(r) for r in satisfaction_rows(backend)] == EXPECTED_SATISFACTION

    march = [
        m for m in monthly.get_asset_materialization_events()
        if m.materialization.partition == "2024-03-01"
    ][0].materialization.metadata
    assert march["rejected_ratings"].value == 5
    assert march["satisfied_percent"].value == pytest.approx(66.67)
    # The rejected rows are in the history, rating NULL: none of their content is copied.
    assert backend.query("SELECT count(*) FROM perfdata.raw_feedback WHERE rating IS NULL") == [(5,)]


def test_feedback_history_survives_pruning_and_reruns_are_idempotent(backend):
    seed_feedback(backend.source)
    materialize([raw_feedback], backend, "2024-02-01", "2024-06-30")
    materialize([user_satisfaction], backend, "2024-02-01", "2024-06-01")
    history = backend.query("SELECT * FROM perfdata.raw_feedback ORDER BY feedback_id")

    backend.source.prune_feedback_before(utc("2024-04-15 00:00"))
    materialize([raw_feedback], backend, "2024-02-01", "2024-06-30")
    materialize([user_satisfaction], backend, "2024-02-01", "2024-06-01")

    assert backend.query("SELECT * FROM perfdata.raw_feedback ORDER BY feedback_id") == history
    assert [as_tuple(r) for r in satisfaction_rows(backend)] == EXPECTED_SATISFACTION


def seed_lpas(src):
    ids = {}
    ids["A"] = src.lpa(started=london("2024-03-10 09:00"), created=london("2024-03-20 09:00"),
                       completed=london("2024-04-02 09:00"))
    # Started 23:30 GMT on 28 Feb; created 00:30 GMT on 31 March (BST starts at 01:00 GMT).
    ids["B"] = src.lpa(started=utc("2024-02-28 23:30"), created=utc("2024-03-31 00:30"),
                       lpa_type="health-and-welfare")
    ids["C"] = src.lpa(started=utc("2024-03-31 23:30"))  # 00:30 BST on 1 April
    ids["D"] = src.lpa(started=london("2024-03-05 10:00"), created=london("2024-03-06 10:00"))
    ids["E"] = src.lpa(started=london("2024-03-15 10:00"))
    src.lpa(started=london("2024-07-01 10:00"))  # outside the window
    return ids


EXPECTED_COMPLETION = [
    ("2024-02-01", 1, 0, 0, D("0.00")),
    ("2024-03-01", 3, 3, 0, D("100.00")),
    ("2024-04-01", 1, 0, 1, D("0.00")),
]


def completion_rows(backend):
    return [
        as_tuple(r)
        for r in backend.query(
            "SELECT month, started, created, completed, completion_rate_percent "
            "FROM perfdata.completion_rate ORDER BY month"
        )
    ]


def test_completion_rate_by_hand_and_deletions_do_not_rewrite_history(backend):
    ids = seed_lpas(backend.source)
    assert materialize([lpa_lifecycle_events], backend, "2024-02-01", "2024-04-30").success
    assert materialize([completion_rate], backend, "2024-02-01", "2024-04-01").success
    assert completion_rows(backend) == EXPECTED_COMPLETION

    backend.source.delete_lpa(ids["D"])
    backend.source.delete_lpa(ids["A"])
    assert materialize([lpa_lifecycle_events], backend, "2024-02-01", "2024-04-30").success
    assert materialize([completion_rate], backend, "2024-02-01", "2024-04-01").success
    assert completion_rows(backend) == EXPECTED_COMPLETION
    events = backend.query("SELECT count(*), count(DISTINCT lpa_id) FROM perfdata.lpa_lifecycle_events")
    assert events == [(9, 5)]


def test_events_hold_no_personal_data_and_carry_the_lpa_type(backend):
    ids = seed_lpas(backend.source)
    materialize([lpa_lifecycle_events], backend, "2024-02-01", "2024-04-30")
    rows = backend.query(
        "SELECT event, lpa_type FROM perfdata.lpa_lifecycle_events WHERE lpa_id = :id ORDER BY event", id=ids["B"]
    )
    assert rows == [("created", "health-and-welfare"), ("started", "health-and-welfare")]
    dump = str(backend.query("SELECT * FROM perfdata.lpa_lifecycle_events"))
    assert "Lovelace" not in dump and "acct-" not in dump


def test_a_month_is_not_published_until_every_day_is_loaded(backend):
    seed_lpas(backend.source)
    materialize([lpa_lifecycle_events], backend, "2024-03-01", "2024-03-30")  # 31 March missing
    result = materialize([completion_rate], backend, "2024-03-01")
    # The run succeeds (a late source must not fail the publication of the other KPIs) and says
    # what the month waits for; nothing is written for it.
    [event] = result.get_asset_materialization_events()
    waiting = event.materialization.metadata["waiting_for"].value
    assert "2024-03-31" in waiting and "lpa_lifecycle_events" in waiting
    assert backend.query("SELECT count(*) FROM perfdata.completion_rate") == [(0,)]

    # Once the last day is loaded, the next run writes the month.
    materialize([lpa_lifecycle_events], backend, "2024-03-31")
    assert materialize([completion_rate], backend, "2024-03-01").success
    assert backend.query("SELECT count(*) FROM perfdata.completion_rate") == [(1,)]


def test_a_window_writes_its_complete_months_and_leaves_the_others(backend):
    seed_lpas(backend.source)
    materialize([lpa_lifecycle_events], backend, "2024-02-01", "2024-03-15")  # March half loaded
    result = materialize([completion_rate], backend, "2024-02-01", "2024-03-01")
    assert result.success
    assert [str(m) for (m,) in backend.query("SELECT month FROM perfdata.completion_rate")] == ["2024-02-01"]
    assert result.get_asset_materialization_events()[-1].materialization.metadata["months_waiting"].value == "2024-03"


def test_a_failure_mid_write_leaves_the_previous_rows(backend, monkeypatch):
    seed_lpas(backend.source)
    materialize([lpa_lifecycle_events], backend, "2024-02-01", "2024-04-30")
    materialize([completion_rate], backend, "2024-02-01", "2024-04-01")
    before = completion_rows(backend)

    real_with_months = kpi_assets.sql.with_months

    def broken(query, months):  # the DELETE has run; the KPI's rows now fail to be written
        return real_with_months(query.replace("FROM perfdata.lpa_lifecycle_events", "FROM perfdata.nope"), months)

    monkeypatch.setattr(kpi_assets.sql, "with_months", broken)
    backend.source.lpa(started=london("2024-03-02 10:00"))
    materialize([lpa_lifecycle_events], backend, "2024-03-01", "2024-03-31")
    result = materialize([completion_rate], backend, "2024-02-01", "2024-04-01", raise_on_error=False)
    assert not result.success
    assert completion_rows(backend) == before
