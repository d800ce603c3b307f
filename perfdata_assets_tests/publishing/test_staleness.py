"""Which published dataset is late, at fixed times: OPG's import at 12:00 UTC on the 1st decides."""

import datetime as dt

import pytest

from perfdata_assets.publishing.published import ALL_DATA_TYPES, KPI_OF_DATA_TYPE
from perfdata_assets.publishing.staleness import DATASETS, StaleDataset, expected_month, expected_quarter, stale_datasets

MONTHLY = [d for d in DATASETS if d != "cost-per-transaction"]

UTC = dt.timezone.utc
BST = dt.timezone(dt.timedelta(hours=1))


def at(*args, tz=UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def test_one_dataset_per_kpi_named_by_its_headline_data_type_in_the_publication_order():
    assert sorted(KPI_OF_DATA_TYPE[d] for d in DATASETS) == sorted(set(KPI_OF_DATA_TYPE.values()))
    assert list(DATASETS) == sorted(DATASETS, key=ALL_DATA_TYPES.index)


@pytest.mark.parametrize(("now", "month", "due"), [
    # Just before OPG's import on the 1st: the month before last is the one expected.
    (at(2024, 5, 1, 11, 59, 59), dt.date(2024, 3, 1), at(2024, 4, 1, 12)),
    (at(2024, 5, 1, 12), dt.date(2024, 4, 1), at(2024, 5, 1, 12)),
    (at(2024, 5, 31, 23, 59), dt.date(2024, 4, 1), at(2024, 5, 1, 12)),
    # 00:30 BST on 1 June is still 31 May in UTC: May is not due until 12:00 UTC.
    (at(2024, 6, 1, 0, 30, tz=BST), dt.date(2024, 4, 1), at(2024, 5, 1, 12)),
    # 12:30 BST is 11:30 UTC: not yet.
    (at(2024, 6, 1, 12, 30, tz=BST), dt.date(2024, 4, 1), at(2024, 5, 1, 12)),
    (at(2024, 6, 1, 13, 0, tz=BST), dt.date(2024, 5, 1), at(2024, 6, 1, 12)),
    # December to January.
    (at(2025, 1, 1, 11, 59), dt.date(2024, 11, 1), at(2024, 12, 1, 12)),
    (at(2025, 1, 1, 12), dt.date(2024, 12, 1), at(2025, 1, 1, 12)),
    (at(2025, 1, 15), dt.date(2024, 12, 1), at(2025, 1, 1, 12)),
    (at(2025, 2, 1, 11), dt.date(2024, 12, 1), at(2025, 1, 1, 12)),
])
def test_the_expected_month_and_its_deadline(now, month, due):
    assert expected_month(now) == (month, due)


def test_nothing_is_stale_when_each_dataset_has_the_expected_month():
    latest = {d: dt.date(2024, 12, 1) for d in MONTHLY}
    assert stale_datasets(latest, at(2025, 1, 1, 12), MONTHLY) == []
    # A month later than expected (published early by hand) is not stale either.
    assert stale_datasets({d: dt.date(2025, 1, 1) for d in MONTHLY}, at(2025, 1, 20), MONTHLY) == []


def test_just_before_and_after_the_import_on_the_first():
    latest = {d: dt.date(2024, 11, 1) for d in MONTHLY}
    assert stale_datasets(latest, at(2025, 1, 1, 11, 59, 59), MONTHLY) == []
    assert stale_datasets(latest, at(2025, 1, 1, 12), MONTHLY) == [
        StaleDataset(d, dt.date(2024, 11, 1), dt.date(2024, 12, 1), at(2025, 1, 1, 12)) for d in MONTHLY
    ]


def test_each_stale_dataset_says_since_when_and_a_never_published_one_has_no_latest_month():
    latest = {
        "user-satisfaction-percent": dt.date(2025, 3, 1),  # up to date
        "uptime-percent": dt.date(2025, 1, 1),  # February was due on 1 March: late since then
        "completion-rate-percent": dt.date(2025, 2, 1),
        # digital-take-up never published
    }
    assert stale_datasets(latest, at(2025, 4, 10), MONTHLY) == [
        StaleDataset("uptime-percent", dt.date(2025, 1, 1), dt.date(2025, 3, 1), at(2025, 3, 1, 12)),
        StaleDataset("digital-take-up", None, dt.date(2025, 3, 1), at(2025, 4, 1, 12)),
        StaleDataset("completion-rate-percent", dt.date(2025, 2, 1), dt.date(2025, 3, 1), at(2025, 4, 1, 12)),
    ]


def test_only_the_expected_datasets_are_judged():
    assert [s.dataset for s in stale_datasets({}, at(2025, 4, 10), ["completion-rate-percent",
                                                                     "user-satisfaction-percent"])] == [
        "user-satisfaction-percent", "completion-rate-percent"]
    assert stale_datasets({}, at(2025, 4, 10), []) == []
    with pytest.raises(ValueError, match="unknown dataset very-satisfied"):
        stale_datasets({}, at(2025, 4, 10), ["very-satisfied"])


@pytest.mark.parametrize(("now", "quarter", "due"), [
    # The year to March is due by OPG's import for April, 12:00 UTC on 1 May.
    (at(2025, 5, 1, 11, 59), dt.date(2024, 12, 1), at(2025, 2, 1, 12)),
    (at(2025, 5, 1, 12), dt.date(2025, 3, 1), at(2025, 5, 1, 12)),
    (at(2025, 7, 31), dt.date(2025, 3, 1), at(2025, 5, 1, 12)),
    (at(2025, 8, 1, 12), dt.date(2025, 6, 1), at(2025, 8, 1, 12)),
    (at(2026, 1, 15), dt.date(2025, 9, 1), at(2025, 11, 1, 12)),
    (at(2026, 2, 1, 12), dt.date(2025, 12, 1), at(2026, 2, 1, 12)),
])
def test_the_expected_quarter_of_cost_per_transaction(now, quarter, due):
    assert expected_quarter(now) == (quarter, due)


def test_cost_per_transaction_is_judged_by_its_quarter_end_not_the_years_first_month():
    cost = ["cost-per-transaction"]
    # Published for the year April 2024 to March 2025 (period_start 2024-04-01).
    latest = {"cost-per-transaction": dt.date(2024, 4, 1)}
    assert stale_datasets(latest, at(2025, 7, 31, 23), cost) == []
    # The year to June was due on 1 August: late since then, reported by its quarter end.
    assert stale_datasets(latest, at(2025, 8, 1, 12), cost) == [
        StaleDataset("cost-per-transaction", dt.date(2025, 3, 1), dt.date(2025, 6, 1), at(2025, 8, 1, 12))]
    assert stale_datasets({}, at(2025, 8, 1, 12), cost) == [
        StaleDataset("cost-per-transaction", None, dt.date(2025, 6, 1), at(2025, 8, 1, 12))]
