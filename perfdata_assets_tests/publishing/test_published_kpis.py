"""The published_kpis asset: rows exactly as kpis.md section 5, each KPI on its own, restatements kept,
replaced atomically, on SQLite and PostgreSQL."""

import datetime as dt

import pytest
import sqlalchemy as sa

from perfdata_assets.publishing.assets import published_kpis
from perfdata_assets.publishing.published import DATA_TYPES
from perfdata_assets_tests.publishing.fixtures import (
    EXPECTED_PUBLISHED,
    MONTHS,
    D,
    published_rows,
    seed_kpis,
    seed_publication,
)
from perfdata_assets_tests.support import materialize


def partition_metadata(result, partition):
    return [
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.materialization.partition == partition
    ][0]


def earlier_stamps(backend):
    return backend.query(
        "SELECT period_start, data_type, published_at FROM perfdata.published_kpis "
        "WHERE period_start < '2024-03-01' ORDER BY period_start, data_type"
    )


def test_published_rows_are_exactly_the_contract(backend):
    seed_kpis(backend)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result = materialize([published_kpis], backend, "2024-01-01", "2024-03-01")
    after = dt.datetime.now(dt.timezone.utc)

    assert result.success
    assert published_rows(backend) == EXPECTED_PUBLISHED
    assert backend.query("SELECT DISTINCT period, service FROM perfdata.published_kpis") == [("month", "make-a-lpa")]
    # One published_at for the whole run: the run's own time.
    stamps = backend.query("SELECT count(DISTINCT published_at) FROM perfdata.published_kpis")
    assert stamps == [(1,)]

    march = partition_metadata(result, "2024-03-01")
    assert march["completion-rate-percent"].value == pytest.approx(133.33)
    assert march["user-satisfaction-score"].value == pytest.approx(58.33)
    assert march["very-satisfied"].value == 1
    assert march["dagster/row_count"].value == 10
    assert march["not_published_yet"].value == "none"
    assert before.timestamp() <= march["published_at"].value <= after.timestamp()
    february = partition_metadata(result, "2024-02-01")
    assert all(february[t].value is None for t in ("user-satisfaction-percent", "digital-take-up", "uptime-percent"))
    summary = result.get_asset_materialization_events()[-1].materialization.metadata
    preview = summary["last_12_months"].value
    assert ("| 2024-01 | 87.50 | 2.00 | 3.00 | 5.00 | 30.00 | 40.00 | 99.91 | 91.00 | 75.00 | 82.19 |"
            in preview)
    assert "| 2024-02 | – | – | – | – | – | – | – | – | – | – |" in preview
    assert summary["rows_written"].value == 30
    assert summary["restatements"].value == 0


def test_rerunning_replaces_the_window_and_nothing_else(backend):
    seed_kpis(backend)
    assert materialize([published_kpis], backend, "2024-01-01", "2024-03-01").success
    january_and_february = earlier_stamps(backend)

    # The KPI changes (a late correction) and only March is re-published.
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 3, completion_rate_percent = 100.00 "
                             "WHERE month = :m").bindparams(sa.bindparam("m", type_=sa.Date)), {"m": MONTHS[2]})
    assert materialize([published_kpis], backend, "2024-03-01").success
    assert materialize([published_kpis], backend, "2024-03-01").success  # idempotent

    expected = [
        (m, t, D("100.00"), 3, 3) if (m, t) == (MONTHS[2], "completion-rate-percent") else (m, t, v, n, d)
        for m, t, v, n, d in EXPECTED_PUBLISHED
    ]
    # The change is a restatement: the old value, when it was published and by which run are kept, once.
    restated = backend.query(
        "SELECT period_start, data_type, old_value, new_value, old_numerator, new_numerator FROM "
        "perfdata.published_kpis_restatements"
    )
    assert [(str(m), t, float(o), float(n), on, nn) for m, t, o, n, on, nn in restated] == [
        ("2024-03-01", "completion-rate-percent", 133.33, 100.0, 4, 3)
    ]
    assert published_rows(backend) == expected
    stamps = backend.query(
        "SELECT period_start, count(*), count(DISTINCT published_at) FROM perfdata.published_kpis "
        "GROUP BY period_start ORDER BY period_start"
    )
    assert [(str(m), n) for m, n, _ in stamps] == [("2024-01-01", 10), ("2024-02-01", 10), ("2024-03-01", 10)]
    # March's changed row is written anew; its unchanged rows keep when they were first published
    # (before issue 25 every re-published row got the run's time).
    first_stamp = january_and_february[0][2]
    march = backend.query("SELECT data_type, published_at FROM perfdata.published_kpis WHERE period_start = '2024-03-01'")
    assert {t for t, at in march if at != first_stamp} <= {"completion-rate-percent"}
    assert len({at for t, at in march if t != "completion-rate-percent"}) == 1
    assert {at for t, at in march if t != "completion-rate-percent"} == {first_stamp}
    # January and February were not re-published: same rows, same publication time.
    assert earlier_stamps(backend) == january_and_february


def test_each_kpi_is_published_on_its_own_and_a_late_one_keeps_what_was_published(backend):
    seed_publication(backend)
    with backend.dbs.perfdata.begin() as conn:
        # Completion rate is not complete for February and March (its days are not all loaded),
        # digital take-up not for March; and user satisfaction changes for every month.
        conn.execute(sa.text("DELETE FROM perfdata.completion_rate WHERE month >= '2024-02-01'"))
        conn.execute(sa.text("DELETE FROM perfdata.digital_take_up WHERE month = '2024-03-01'"))
        conn.execute(sa.text("UPDATE perfdata.user_satisfaction SET responses = 81"))

    result = materialize([published_kpis], backend, "2024-01-01", "2024-03-01")

    assert result.success
    march = partition_metadata(result, "2024-03-01")
    assert march["not_published_yet"].value == "completion_rate, digital_take_up"
    assert partition_metadata(result, "2024-01-01")["not_published_yet"].value == "none"
    rows = {(m, t): (v, n, d) for m, t, v, n, d in published_rows(backend)}
    # The late KPIs keep what was published before; the others are published again.
    assert rows[MONTHS[2], "completion-rate-percent"] == (D("133.33"), 4, 3)
    assert rows[MONTHS[2], "digital-take-up"] == (D("74.07"), 1000, 1350)
    assert rows[MONTHS[0], "very-dissatisfied"] == (D("2"), 2, 81)
    stamps = dict(backend.query(
        "SELECT data_type, count(DISTINCT published_at) FROM perfdata.published_kpis "
        "WHERE period_start = '2024-03-01' GROUP BY data_type"
    ))
    assert stamps["completion-rate-percent"] == 1


def test_a_kpi_never_complete_is_not_published_and_the_others_are(backend):
    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("DELETE FROM perfdata.digital_take_up"))
        conn.execute(sa.text("DELETE FROM perfdata.service_uptime"))

    assert materialize([published_kpis], backend, "2024-01-01", "2024-03-01").success

    types = {t for _, t, *_ in published_rows(backend)}
    assert "digital-take-up" not in types and "uptime-percent" not in types
    assert {"user-satisfaction-percent", "very-satisfied", "completion-rate-percent"} <= types
    assert backend.query("SELECT count(*) FROM perfdata.published_kpis_restatements") == [(0,)]


def test_the_latest_view_has_each_data_types_newest_month(backend):
    seed_publication(backend)
    rows = backend.query("SELECT period_start, data_type FROM perfdata.latest_kpis ORDER BY data_type")
    assert [(str(m), t) for m, t in rows] == [("2024-03-01", t) for t in sorted(DATA_TYPES)]
