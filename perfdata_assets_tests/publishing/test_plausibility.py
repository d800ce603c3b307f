"""Plausibility: a figure far from its last twelve months, or a volume that halves, is flagged, never blocked."""

import datetime as dt
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from perfdata_assets.calendar import add_months
from perfdata_assets.publishing.assets import published_kpis
from perfdata_assets.publishing.checks import published_values_plausible
from perfdata_assets.publishing.plausibility import implausible
from perfdata_assets.publishing.published import PublishedValue
from perfdata_assets_tests.support import materialize
from perfdata_assets_tests.webhook_receiver import Receiver, notifier

D = Decimal
STAMP = dt.datetime(2025, 2, 2, tzinfo=dt.timezone.utc)
FIRST = dt.date(2024, 1, 1)
# Satisfaction swings between 80 and 84 %: mean 82, sample sd 2.0889 (so 3 sd is 6.2668 points).
HISTORY = [D("80.00"), D("84.00")] * 6


def satisfaction(month: dt.date, percent: Decimal | None, responses: int = 1000) -> PublishedValue:
    return PublishedValue(month, "user-satisfaction-percent", percent, None, responses, STAMP)


def twelve_then(value: Decimal | None, responses: int = 1000) -> list[PublishedValue]:
    months = [add_months(FIRST, k) for k in range(13)]
    return [satisfaction(m, p) for m, p in zip(months, HISTORY)] + [satisfaction(months[12], value, responses)]


def flags_for(values: list[PublishedValue]) -> list[tuple[str, str]]:
    return [(f"{f.month:%Y-%m}", f.data_type) for f in implausible(values, [dt.date(2025, 1, 1)])]


def test_a_value_beyond_three_standard_deviations_is_flagged_and_one_within_is_not():
    assert flags_for(twelve_then(D("88.26"))) == []  # 6.26 points above the mean: inside
    assert flags_for(twelve_then(D("75.74"))) == []
    assert flags_for(twelve_then(D("88.27"))) == [("2025-01", "user-satisfaction-percent")]
    assert flags_for(twelve_then(D("75.73"))) == [("2025-01", "user-satisfaction-percent")]
    (flag,) = implausible(twelve_then(D("40.00")), [dt.date(2025, 1, 1)])
    assert flag.reason == ("40.00 is more than 3 standard deviations (2.09) from the mean of the previous 12 months "
                           "(82.00)")
    assert flag.as_json() == {"month": "2025-01", "data_type": "user-satisfaction-percent", "value": 40.0,
                              "reason": flag.reason}


def test_fewer_than_twelve_trailing_figures_are_not_assessed():
    values = twelve_then(D("10.00"))
    gap = values[:5] + [satisfaction(values[5].period_start, None)] + values[6:]  # one month with no figure
    assert flags_for(gap) == []
    assert flags_for(values[1:]) == []  # eleven months of history
    assert flags_for([satisfaction(dt.date(2025, 1, 1), None)]) == []


def test_after_twelve_identical_months_any_change_is_flagged():
    steady = [PublishedValue(add_months(FIRST, k), "uptime-percent", D("100.00"), 1, 1, STAMP) for k in range(12)]
    same = PublishedValue(dt.date(2025, 1, 1), "uptime-percent", D("100.00"), 1, 1, STAMP)
    lower = PublishedValue(dt.date(2025, 1, 1), "uptime-percent", D("99.99"), 1, 1, STAMP)
    assert implausible(steady + [same], [same.period_start]) == []
    assert [f.data_type for f in implausible(steady + [lower], [lower.period_start])] == ["uptime-percent"]


def test_responses_or_lpas_started_falling_by_more_than_half_are_flagged():
    december, january = dt.date(2024, 12, 1), dt.date(2025, 1, 1)
    values = [
        satisfaction(december, D("82.00"), responses=1000),
        satisfaction(january, D("82.00"), responses=499),
        PublishedValue(december, "completion-rate-percent", D("75.00"), 750, 1000, STAMP),
        PublishedValue(january, "completion-rate-percent", D("75.00"), 375, 500, STAMP),  # exactly half: fine
    ]
    (flag,) = implausible(values, [january])
    assert (flag.data_type, flag.value) == ("user-satisfaction-percent", 499)
    assert flag.reason == "feedback responses fell by more than half: 1,000 in 2024-12, 499 in 2025-01"
    # After a month with none, nothing can fall; the first month has nothing to fall from.
    assert implausible([satisfaction(december, None, 0), satisfaction(january, D("1.00"), 1)], [january]) == []
    assert implausible(values, [december]) == []


def _seed_satisfaction(backend, percents: list[Decimal | None], responses: list[int]) -> list[str]:
    """user_satisfaction rows for consecutive months from January 2024; returns their partition keys."""
    months = [add_months(FIRST, k) for k in range(len(percents))]
    with backend.dbs.perfdata.begin() as conn:
        for month, percent, n in zip(months, percents, responses):
            satisfied = 0 if percent is None else int(n * percent / 100)
            conn.execute(
                sa.text("INSERT INTO perfdata.user_satisfaction (month, responses, very_dissatisfied, dissatisfied, "
                        "neither, satisfied, very_satisfied, satisfied_percent, score_percent) "
                        "VALUES (:m, :n, :rest, 0, 0, :s, 0, :p, :p)").bindparams(
                            sa.bindparam("m", type_=sa.Date), sa.bindparam("p", type_=sa.Numeric(8, 2))),
                {"m": month, "n": n, "rest": n - satisfied, "s": satisfied, "p": percent},
            )
    return [m.isoformat() for m in months]


def test_the_check_warns_in_its_metadata_and_through_the_webhook_and_publishes_regardless(backend):
    # Twelve ordinary months, then a month whose source lost most of its rows.
    keys = _seed_satisfaction(backend, [*HISTORY, D("50.00")], [1000] * 12 + [40])
    with dg.DagsterInstance.ephemeral() as instance, Receiver() as receiver:
        ordinary = materialize([published_kpis, published_values_plausible], backend, keys[0], keys[11],
                               instance=instance, resources={"webhooks": notifier(receiver.url)})
        (evaluation,) = ordinary.get_asset_check_evaluations()
        assert evaluation.passed and evaluation.metadata["flag_count"].value == 0
        assert evaluation.metadata["months_assessed"].value == "2024-01 to 2024-12 (12 months)"
        assert receiver.bodies == []

        odd = materialize([published_kpis, published_values_plausible], backend, keys[12],
                          instance=instance, resources={"webhooks": notifier(receiver.url)})
        assert odd.success  # a warning: the month is published all the same
        (evaluation,) = odd.get_asset_check_evaluations()
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.metadata["months_assessed"].value == "2025-01"
        # The seeded score moves with the percentage, so it is flagged too.
        assert evaluation.metadata["flag_count"].value == 3
        flags_md = evaluation.metadata["flags"].value
        assert "| 2025-01 | user-satisfaction-percent | 50.00 is more than 3 standard deviations" in flags_md
        assert "feedback responses fell by more than half: 1,000 in 2024-12, 40 in 2025-01" in flags_md

        (body,) = receiver.bodies
        assert body["event"] == "kpis-implausible" and body["months"] == ["2025-01"]
        assert [(f["data_type"], f["value"]) for f in body["flags"]] == [
            ("user-satisfaction-percent", 50.0), ("user-satisfaction-score", 50.0), ("user-satisfaction-percent", 40)]
        assert body["text"].startswith("Make a LPA KPIs look implausible (3 flags): 2025-01 user-satisfaction-percent")
    assert backend.query("SELECT value FROM perfdata.published_kpis WHERE period_start = '2025-01-01' "
                         "AND data_type = 'user-satisfaction-percent'") == [(D("50.00"),)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_webhook_urls_the_check_still_warns(backend):
    keys = _seed_satisfaction(backend, [*HISTORY, D("10.00")], [1000] * 13)
    result = materialize([published_kpis, published_values_plausible], backend, keys[0], keys[12],
                         resources={"webhooks": notifier()})
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["flag_count"].value == 2  # the percentage and the score
