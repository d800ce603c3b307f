"""PerformanceData: typed published values, as a plain class and as a Dagster resource."""

import datetime as dt
from decimal import Decimal

import dagster as dg
import pytest

from perfdata_assets.publishing.published import DATA_TYPES, PublishedValue
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets_tests.publishing.fixtures import MONTHS, PUBLISHED_AT, expected_values, seed_publication

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
    assert kpis.history("digital-take-up-percent", dt.date(2024, 4, 1), dt.date(2024, 12, 1)) == []
    assert kpis.published_months() == MONTHS


def test_the_perfdata_url_alone_is_enough(backend):
    seed_publication(backend)
    assert reader(backend, with_lpa_url=False).latest_all() == expected_values(MONTHS[2])


def test_nothing_published_yet_and_bad_arguments(backend):
    kpis = reader(backend)
    assert kpis.latest("digital-take-up-percent") is None
    assert kpis.latest_all() == []
    with pytest.raises(ValueError, match="user-satisfaction-percent, user-satisfaction-score, completion-rate"):
        kpis.latest("user-satisfaction")
    with pytest.raises(ValueError, match="unknown data_type 'completion_rate'"):
        kpis.history("completion_rate", dt.date(2024, 1, 1), dt.date(2024, 2, 1))
    with pytest.raises(ValueError, match="after end"):
        kpis.history(None, dt.date(2024, 3, 1), dt.date(2024, 2, 1))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_it_is_a_dagster_resource(backend):
    seed_publication(backend)

    @dg.asset
    def reads_the_publication(performance_data: PerformanceData) -> None:
        assert performance_data.latest("digital-take-up-percent").value == Decimal("74.07")

    result = dg.materialize([reads_the_publication], resources={"performance_data": reader(backend)})
    assert result.success
