"""The KPI tables' asset checks, each made to fail by the state it guards against."""

import datetime as dt

import sqlalchemy as sa

from perfdata_assets.db.ledger import record_loaded_days
from perfdata_assets.kpis.checks import kpi_checks


def _check(name: str, asset: str):
    return next(c for c in kpi_checks if any(k.name == name and k.asset_key.path == [asset] for k in c.check_keys))


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def test_every_day_loaded_names_the_months_and_days_the_ledger_lacks(backend):
    with backend.dbs.perfdata.begin() as conn:
        for month in ("2024-01-01", "2024-02-01", "2024-03-01"):
            conn.execute(sa.text(
                "INSERT INTO perfdata.completion_rate (month, started, created, completed, completion_rate_percent) "
                "VALUES (:month, 4, 2, 1, 50.00)"), {"month": dt.date.fromisoformat(month)})
        # Every day of January and March; February without the 10th and 11th (a wiped ledger, say).
        days = [d for d in _days(dt.date(2024, 1, 1), dt.date(2024, 3, 31))
                if d not in (dt.date(2024, 2, 10), dt.date(2024, 2, 11))]
        record_loaded_days(conn, "lpa_lifecycle_events", days, dt.datetime.now(dt.timezone.utc))
        # Another asset's days do not count for this one.
        record_loaded_days(conn, "raw_feedback", [dt.date(2024, 2, 10), dt.date(2024, 2, 11)],
                           dt.datetime.now(dt.timezone.utc))

    check = _check("every_day_loaded", "completion_rate")
    result = check(database=backend.resource)
    assert not result.passed
    assert result.metadata["incomplete_months"].value == "2024-02 (2024-02-10, 2024-02-11)"

    with backend.dbs.perfdata.begin() as conn:
        record_loaded_days(conn, "lpa_lifecycle_events", [dt.date(2024, 2, 10), dt.date(2024, 2, 11)],
                           dt.datetime.now(dt.timezone.utc))
    result = check(database=backend.resource)
    assert result.passed and result.metadata["incomplete_months"].value == "none"


def test_every_day_loaded_passes_with_no_month_published(backend):
    result = _check("every_day_loaded", "user_satisfaction")(database=backend.resource)
    assert result.passed and result.metadata["incomplete_months"].value == "none"
