"""PerformanceData: typed published values, as a plain class and as a Dagster resource."""

import datetime as dt
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from perfdata_assets.publishing.assets import publish
from perfdata_assets.publishing.published import DATA_TYPES, PublishedValue
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets_tests.publishing.fixtures import (
    MONTHS,
    PUBLISHED_AT,
    expected_values,
    seed_kpis,
    seed_publication,
)

UTC = dt.timezone.utc


def reader(backend, with_lpa_url: bool = True) -> PerformanceData:
    return PerformanceData(
        perfdata_database_url=backend.perfdata_url, lpa_database_url=backend.lpa_url if with_lpa_url else None
    )


def test_typed_values_exactly_as_published(backend):
    seed_publication(backend)
    kpis = reader(backend)

    latest = kpis.latest("completion-rate-percent")
    assert latest == PublishedValue(MONTHS[2], "completion-rate-percent", Decimal("133.33"), 4, 3, PUBLISHED_AT)
    assert isinstance(latest.value, Decimal) and str(latest.value) == "133.33"
    assert latest.published_at.utcoffset() == dt.timedelta(0)
    assert str(kpis.latest("user-satisfaction-percent").value) == "66.67"

    assert kpis.latest_all() == expected_values(MONTHS[2])
    assert [v.data_type for v in kpis.latest_all()] == list(DATA_TYPES)

    score = kpis.history("user-satisfaction-score", dt.date(2024, 1, 1), dt.date(2024, 2, 1))
    assert score == [
        PublishedValue(MONTHS[0], "user-satisfaction-score", Decimal("82.19"), None, 80, PUBLISHED_AT),
        PublishedValue(MONTHS[1], "user-satisfaction-score", None, None, 0, PUBLISHED_AT),
    ]
    assert kpis.history(None, dt.date(2000, 1, 1), dt.date(2100, 1, 1)) == expected_values()
    assert kpis.history("digital-take-up", dt.date(2024, 4, 1), dt.date(2024, 12, 1)) == []
    assert kpis.published_months() == MONTHS
    assert kpis.published_months("uptime-percent") == MONTHS

    # The five levels: the count as value (a Decimal), numerator the count, denominator the responses.
    levels = kpis.history("very-satisfied", MONTHS[0], MONTHS[0])
    assert levels == [PublishedValue(MONTHS[0], "very-satisfied", Decimal("40"), 40, 80, PUBLISHED_AT)]
    assert kpis.latest("uptime-percent") == PublishedValue(
        MONTHS[2], "uptime-percent", Decimal("100.00"), 44580, 44580, PUBLISHED_AT)
    assert kpis.restatements() == []


def test_each_kpi_has_its_own_latest_month(backend):
    """A KPI whose March inputs are incomplete is not published for March; the others are."""
    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("DELETE FROM perfdata.service_uptime WHERE month = :m").bindparams(
            sa.bindparam("m", type_=sa.Date)), {"m": MONTHS[2]})
        publish(conn, MONTHS, PUBLISHED_AT)
    kpis = reader(backend)
    assert kpis.published_months() == MONTHS
    assert kpis.published_months("uptime-percent") == MONTHS[:2]
    assert kpis.latest("uptime-percent").period_start == MONTHS[1]
    assert kpis.history(None, MONTHS[2], MONTHS[2]) == [
        v for v in expected_values(MONTHS[2]) if v.data_type != "uptime-percent"]
    # Oldest month first, then the publication's order.
    assert [(v.period_start, v.data_type) for v in kpis.latest_all()] == [
        (MONTHS[1], "uptime-percent"), *((MONTHS[2], t) for t in DATA_TYPES if t != "uptime-percent")]


def test_restatements_are_readable(backend):
    seed_publication(backend)
    restated_at = PUBLISHED_AT + dt.timedelta(days=3)
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 5, completion_rate_percent = 166.67 "
                             "WHERE month = :m").bindparams(sa.bindparam("m", type_=sa.Date)), {"m": MONTHS[2]})
        publish(conn, [MONTHS[2]], restated_at, run_id="run-2")
    [restatement] = reader(backend).restatements()
    assert (restatement.period_start, restatement.data_type, restatement.old_value, restatement.new_value,
            restatement.old_published_at, restatement.restated_at, restatement.run_id) == (
        MONTHS[2], "completion-rate-percent", Decimal("133.33"), Decimal("166.67"), PUBLISHED_AT, restated_at,
        "run-2")
    assert reader(backend).restatements(since=restated_at + dt.timedelta(seconds=1)) == []


def test_the_perfdata_url_alone_is_enough(backend):
    seed_publication(backend)
    assert reader(backend, with_lpa_url=False).latest_all() == expected_values(MONTHS[2])


def test_nothing_published_yet_and_bad_arguments(backend):
    kpis = reader(backend)
    assert kpis.latest("digital-take-up") is None
    assert kpis.latest_all() == []
    assert kpis.published_months() == [] and kpis.published_months("uptime-percent") == []
    with pytest.raises(ValueError, match="user-satisfaction-percent, very-dissatisfied, dissatisfied, neither"):
        kpis.latest("user-satisfaction")
    with pytest.raises(ValueError, match="unknown data_type 'digital-take-up-percent'"):
        kpis.latest("digital-take-up-percent")  # renamed digital-take-up
    with pytest.raises(ValueError, match="unknown data_type 'uptime'"):
        kpis.published_months("uptime")
    with pytest.raises(ValueError, match="unknown data_type 'completion_rate'"):
        kpis.history("completion_rate", dt.date(2024, 1, 1), dt.date(2024, 2, 1))
    with pytest.raises(ValueError, match="after end"):
        kpis.history(None, dt.date(2024, 3, 1), dt.date(2024, 2, 1))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_it_is_a_dagster_resource(backend):
    seed_publication(backend)

    @dg.asset
    def reads_the_publication(performance_data: PerformanceData) -> None:
        assert performance_data.latest("digital-take-up").value == Decimal("74.07")
        assert performance_data.latest("uptime-percent").value == Decimal("100.00")

    result = dg.materialize([reads_the_publication], resources={"performance_data": reader(backend)})
    assert result.success
