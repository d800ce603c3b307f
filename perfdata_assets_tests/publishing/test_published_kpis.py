"""The published_kpis asset: rows exactly as kpis.md section 4, replaced atomically, on SQLite and PostgreSQL."""

import datetime as dt

import pytest
import sqlalchemy as sa

from perfdata_assets.publishing.assets import published_kpis
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
    assert march["dagster/row_count"].value == 4
    assert before.timestamp() <= march["published_at"].value <= after.timestamp()
    february = partition_metadata(result, "2024-02-01")
    assert all(february[t].value is None for t in ("user-satisfaction-percent", "digital-take-up-percent"))
    preview = march["last_12_months"].value
    assert "| 2024-01 | 87.50 | 82.19 | 75.00 | 91.00 |" in preview
    assert "| 2024-02 | – | – | – | – |" in preview
    assert march["rows_written"].value == 12


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
    assert published_rows(backend) == expected
    stamps = backend.query(
        "SELECT period_start, count(*), count(DISTINCT published_at) FROM perfdata.published_kpis "
        "GROUP BY period_start ORDER BY period_start"
    )
    assert [(str(m), n, s) for m, n, s in stamps] == [("2024-01-01", 4, 1), ("2024-02-01", 4, 1), ("2024-03-01", 4, 1)]
    # January and February were not re-published: same rows, same publication time.
    assert earlier_stamps(backend) == january_and_february


def test_a_missing_kpi_month_fails_clearly_and_publishes_nothing(backend):
    seed_publication(backend)
    before = published_rows(backend)
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("DELETE FROM perfdata.completion_rate WHERE month >= '2024-02-01'"))
        conn.execute(sa.text("DELETE FROM perfdata.digital_take_up WHERE month = '2024-03-01'"))
        # A change that must not reach the publication, since the run fails.
        conn.execute(sa.text("UPDATE perfdata.user_satisfaction SET responses = 81"))

    result = materialize([published_kpis], backend, "2024-01-01", "2024-03-01", raise_on_error=False)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "completion_rate has no row for 2024-02, 2024-03" in failure.description
    assert "digital_take_up has no row for 2024-03" in failure.description
    assert "user_satisfaction" not in failure.description
    assert published_rows(backend) == before


def test_the_latest_view_has_each_data_types_newest_month(backend):
    seed_publication(backend)
    rows = backend.query("SELECT period_start, data_type FROM perfdata.latest_kpis ORDER BY data_type")
    assert [(str(m), t) for m, t in rows] == [
        ("2024-03-01", "completion-rate-percent"),
        ("2024-03-01", "digital-take-up-percent"),
        ("2024-03-01", "user-satisfaction-percent"),
        ("2024-03-01", "user-satisfaction-score"),
    ]
