"""Two transactions replacing the same months of a KPI table, or of the publication: the second waits."""

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from perfdata_assets.kpis.assets import COMPLETION_RATE, DIGITAL_TAKE_UP, USER_SATISFACTION, write_kpi
from perfdata_assets.publishing.assets import publish
from perfdata_assets_tests.conftest import _make_backend
from perfdata_assets_tests.support import wait_for_activity

JANUARY, FEBRUARY = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
NOW = dt.datetime(2024, 3, 4, 8, 0, tzinfo=dt.timezone.utc)

WRITES = {
    "completion_rate": (lambda conn, months: write_kpi(conn, COMPLETION_RATE, months),
                        "SELECT month, count(*) FROM perfdata.completion_rate GROUP BY month ORDER BY month"),
    "published_kpis": (lambda conn, months: publish(conn, months, NOW),
                       "SELECT period_start, count(*) FROM perfdata.published_kpis GROUP BY period_start "
                       "ORDER BY period_start"),
}


@pytest.mark.postgres
@pytest.mark.parametrize("table", sorted(WRITES))
def test_a_second_writer_of_the_same_months_waits_for_the_first(postgres_url, table):
    backend = _make_backend("postgres", postgres_url, postgres_url)
    engine = backend.dbs.perfdata
    write, counts = WRITES[table]
    if table == "published_kpis":  # the publication reads the KPI tables' months
        with engine.begin() as conn:
            for kpi in (USER_SATISFACTION, COMPLETION_RATE, DIGITAL_TAKE_UP):
                write_kpi(conn, kpi, [JANUARY, FEBRUARY])

    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with engine.begin() as conn:
                write(conn, [FEBRUARY])
            outcome["second"] = "committed"
        except Exception as exc:  # noqa: BLE001 - the test reports whatever it was
            outcome["second"] = exc

    with engine.connect() as conn:
        first = conn.begin()
        write(conn, [JANUARY, FEBRUARY])  # uncommitted, holding the table's lock
        thread = threading.Thread(target=second)
        thread.start()
        wait_for_activity(
            postgres_url, "SELECT count(*) AS n FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event = 'advisory'",
            until=lambda row: row["n"] > 0, failure="the second writer never waited for the first", timeout=20)
        first.commit()
    thread.join(timeout=30)
    assert outcome == {"second": "committed"}
    with engine.connect() as conn:
        assert [(m, n) for m, n in conn.execute(sa.text(counts))] == (
            # user satisfaction (7 data types), completion rate and digital take-up
            [(JANUARY, 1), (FEBRUARY, 1)] if table == "completion_rate" else [(JANUARY, 9), (FEBRUARY, 9)])
