"""Cost per transaction (kpis.md section 6), through real Dagster runs on SQLite and PostgreSQL:
the finance CSV and Sirius counts (CSV) loaded by their assets, the quarterly KPI, its publication
with period year; every expected figure computed by hand in the comments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfdata_assets.calendar import next_month
from perfdata_assets.kpis.cost_per_transaction import cost_per_transaction, quarter_ends_for
from perfdata_assets.publishing import exports, published
from perfdata_assets.publishing.assets import published_kpis
from perfdata_assets.sources.costs.assets import ServiceCostsSource, service_costs
from perfdata_assets.sources.sirius.assets import ChannelCountsSource, sirius_channel_counts
from perfdata_assets_tests.support import materialize
from perfdata_assets_tests.web.conftest import AUTH, app_for

YEAR = [dt.date(2025, m, 1) for m in range(1, 13)]
DECEMBER = dt.date(2025, 12, 1)
# LPAs received: 600 online, 250 paper, 150 phone on 15 January; 30 online and 20 paper on 4 July;
# a zero on the window's last day, so the hand-supplied counts are final through it.
# N = 1050 transactions, n = 630 online: the digital share is 0.6.
COUNTS = [("2025-01-15", "online", 600), ("2025-01-15", "paper", 250), ("2025-01-15", "phone", 150),
          ("2025-07-04", "online", 30), ("2025-07-04", "paper", 20), ("2025-12-31", "online", 0)]


def finance_lines(months=YEAR, shared="333.33", extra=()) -> list[tuple[str, str, str, str]]:
    lines = []
    for m in months:
        lines += [(f"{m:%Y-%m}", "digital", "staff", "1000.00"), (f"{m:%Y-%m}", "paper", "printing", "250.50"),
                  (f"{m:%Y-%m}", "shared", "accommodation", shared)]
    return lines + list(extra)


def write_csv(path: Path, header: str, rows) -> Path:
    path.write_text("\n".join([header, *(",".join(map(str, r)) for r in rows)]) + "\n", encoding="utf-8")
    return path


class Year:
    """The sources as files, and the runs a deployment makes, for one backend."""

    def __init__(self, backend, tmp_path: Path):
        self.backend = backend
        self.costs = tmp_path / "costs.csv"
        self.counts = tmp_path / "counts.csv"

    def load_counts(self, rows=COUNTS, first="2025-01-01", last="2025-12-31"):
        write_csv(self.counts, "date,channel,count", rows)
        result = materialize([sirius_channel_counts], self.backend, first, last,
                             resources={"channel_counts_source": ChannelCountsSource(csv_path=str(self.counts))})
        assert result.success

    def load_costs(self, lines, first="2025-01-01", last="2025-12-01", raise_on_error=True, **source):
        write_csv(self.costs, "month,channel,category,amount_gbp", lines)
        return materialize([service_costs], self.backend, first, last, raise_on_error=raise_on_error,
                           resources={"service_costs_source": ServiceCostsSource(csv_path=str(self.costs), **source)})

    def publish(self, first="2025-12-01", last=None):
        result = materialize([cost_per_transaction, published_kpis], self.backend, first, last or first)
        assert result.success
        return result

    def row(self, window_end=DECEMBER) -> dict | None:
        query = sa.text("SELECT * FROM perfdata.cost_per_transaction WHERE window_end = :e").bindparams(
            sa.bindparam("e", type_=sa.Date)).columns(
            window_end=sa.Date, window_start=sa.Date, total_cost_gbp=sa.Numeric(14, 2),
            digital_cost_gbp=sa.Numeric(14, 2), cost_per_transaction_gbp=sa.Numeric(8, 2),
            digital_cost_per_transaction_gbp=sa.Numeric(8, 2))
        with self.backend.dbs.perfdata.connect() as conn:
            found = conn.execute(query, {"e": window_end}).mappings().first()
        return None if found is None else dict(found)

    def published(self) -> list[published.PublishedValue]:
        with self.backend.dbs.perfdata.connect() as conn:
            return published.values_between(conn, dt.date(2019, 1, 1), dt.date(2030, 1, 1), published.COST_DATA_TYPES)


@pytest.fixture
def year(backend, tmp_path) -> Year:
    return Year(backend, tmp_path)


def partition_metadata(result, asset: str, partition: dt.date) -> dict:
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key.to_user_string() == asset and e.partition == partition.isoformat()]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_shared_costs_are_split_by_the_share_of_transactions_made_online(year, backend):
    year.load_counts()
    # December also has a phone cost of exactly zero: a cost, not a missing month.
    year.load_costs(finance_lines(extra=[("2025-12", "phone", "contact-centre", "0")]))
    result = year.publish()
    # T = 12 × (1000.00 + 250.50 + 333.33) + 0 = 19005.96; D = 12 000.00; S = 12 × 333.33 = 3999.96.
    # Digital cost = D + S × 630 / 1050 = 12 000 + 2399.976 = 14 399.976 -> 14 399.98.
    # Per transaction: 19 005.96 / 1050 = 18.1009… -> 18.10; digital: 14 399.976 / 630 = 22.8571… -> 22.86.
    assert year.row() == {
        "window_end": DECEMBER, "window_start": dt.date(2025, 1, 1),
        "total_cost_gbp": Decimal("19005.96"), "digital_cost_gbp": Decimal("14399.98"),
        "transactions": 1050, "digital_transactions": 630,
        "cost_per_transaction_gbp": Decimal("18.10"), "digital_cost_per_transaction_gbp": Decimal("22.86"),
    }
    values = year.published()
    assert [(v.period_start, v.period, v.data_type, v.value, v.numerator, v.denominator) for v in values] == [
        (dt.date(2025, 1, 1), "year", "cost-per-transaction", Decimal("18.10"), Decimal("19005.96"), 1050),
        (dt.date(2025, 1, 1), "year", "digital-cost-per-transaction", Decimal("22.86"), Decimal("14399.98"), 630),
    ]
    assert partition_metadata(result, "cost_per_transaction", DECEMBER)["cost_per_transaction_gbp"] == 18.10
    # Never in OPG's monthly file, whatever it is given; the monthly reads do not see it.
    assert exports.performance_data_json(values) == b"[]\n"
    with backend.dbs.perfdata.connect() as conn:
        assert published.values_between(conn, dt.date(2025, 1, 1), DECEMBER) == []
        assert published.published_months(conn) == []
        assert published.published_months(conn, "cost-per-transaction") == [dt.date(2025, 1, 1)]

    # The API: filtered by data type, as JSON and CSV; and in the latest values.
    with TestClient(app_for(backend)) as client:
        body = client.get("/v1/kpis", params={"data_type": "cost-per-transaction"}, headers=AUTH).json()
        assert [{k: v for k, v in r.items() if k != "published_at"} for r in body["data"]] == [
            {"period_start": "2025-01-01", "period": "year", "service": "make-a-lpa",
             "data_type": "cost-per-transaction", "value": 18.1, "numerator": 19005.96, "denominator": 1050}]
        csv_text = client.get("/v1/kpis", params={"data_type": "digital-cost-per-transaction", "format": "csv"},
                              headers=AUTH).text
        assert csv_text.splitlines()[1].startswith(
            "2025-01-01,year,make-a-lpa,digital-cost-per-transaction,22.86,14399.98,630,")
        latest = client.get("/v1/kpis/latest", headers=AUTH).json()["data"]
        assert {r["data_type"] for r in latest} == {"cost-per-transaction", "digital-cost-per-transaction"}


def test_the_digital_cost_is_divided_unrounded(year):
    # One day: 202 LPAs online, 808 on paper (N = 1010, n = 202, a share of 0.2); £5.03 of shared
    # costs in January, every other month costed at exactly £0.
    year.load_counts([("2025-03-10", "online", 202), ("2025-03-10", "paper", 808), ("2025-12-31", "online", 0)])
    zero = [(f"{m:%Y-%m}", "paper", "printing", "0") for m in YEAR[1:]]
    year.load_costs([("2025-01", "shared", "overheads", "5.03"), *zero])
    year.publish()
    row = year.row()
    # Digital cost = 503p × 0.2 = 100.6p -> £1.01. Divided unrounded: 100.6p / 202 = 0.498p -> £0.00
    # (the rounded £1.01 / 202 would be 0.5p -> £0.01). Per transaction: 503p / 1010 = 0.498p -> £0.00.
    assert (row["total_cost_gbp"], row["digital_cost_gbp"]) == (Decimal("5.03"), Decimal("1.01"))
    assert row["digital_cost_per_transaction_gbp"] == Decimal("0.00")
    assert row["cost_per_transaction_gbp"] == Decimal("0.00")


def test_a_window_without_transactions_has_no_cost_per_transaction(year):
    year.load_counts([("2025-12-31", "online", 0)])
    year.load_costs(finance_lines(shared="0"))
    year.publish()
    # 12 × 1250.50 = 15 006.00 spent, nothing received: every figure divided by 0 is NULL.
    row = year.row()
    assert (row["total_cost_gbp"], row["transactions"], row["digital_transactions"]) == (Decimal("15006.00"), 0, 0)
    assert row["digital_cost_gbp"] is None
    assert row["cost_per_transaction_gbp"] is None and row["digital_cost_per_transaction_gbp"] is None
    assert [(v.data_type, v.value, v.numerator, v.denominator) for v in year.published()] == [
        ("cost-per-transaction", None, Decimal("15006.00"), 0), ("digital-cost-per-transaction", None, None, 0)]


def test_a_quarter_waits_for_a_month_not_costed_and_is_written_once_it_is(year):
    year.load_counts()
    year.load_costs([line for line in finance_lines() if line[0] != "2025-11"])
    result = year.publish()
    assert year.row() is None and year.published() == []
    waiting = partition_metadata(result, "cost_per_transaction", DECEMBER)["waiting_for"]
    assert waiting == "service_costs: 1 month(s) not costed (2025-11)"

    year.load_costs(finance_lines())
    year.publish()
    assert year.row()["cost_per_transaction_gbp"] == Decimal("18.10")


def test_a_quarter_waits_for_days_without_sirius_counts(year):
    year.load_counts(first="2025-01-01", last="2025-12-30")  # the last day not loaded
    year.load_costs(finance_lines())
    result = year.publish()
    assert year.row() is None
    assert partition_metadata(result, "cost_per_transaction", DECEMBER)["waiting_for"] == (
        "sirius_channel_counts: 1 day(s) not loaded (in 2025-12)")


def test_a_month_restated_after_publication_restates_the_year(year, backend):
    year.load_counts()
    year.load_costs(finance_lines())
    year.publish()
    # Finance corrects March's shared costs: 333.33 -> 1383.33 (+1050.00). Only March is loaded again.
    corrected = [(m, c, k, "1383.33" if (m, c) == ("2025-03", "shared") else a) for m, c, k, a in finance_lines()]
    year.load_costs(corrected, first="2025-03-01", last="2025-03-01")
    # The next month's run (January) recomputes the quarters that ended in the twelve months up to it.
    year.publish(first="2026-01-01")
    # T = 19 005.96 + 1050 = 20 055.96 -> 20 055.96 / 1050 = 19.1009… -> 19.10.
    # Digital = 12 000 + (3999.96 + 1050) × 0.6 = 15 029.976 -> / 630 = 23.8571… -> 23.86.
    assert [(v.data_type, v.value, v.numerator) for v in year.published()] == [
        ("cost-per-transaction", Decimal("19.10"), Decimal("20055.96")),
        ("digital-cost-per-transaction", Decimal("23.86"), Decimal("15029.98")),
    ]
    with backend.dbs.perfdata.connect() as conn:
        restated = published.restatements(conn)
    assert [(r.period_start, r.period, r.data_type, r.old_value, r.new_value) for r in restated] == [
        (dt.date(2025, 1, 1), "year", "cost-per-transaction", Decimal("18.10"), Decimal("19.10")),
        (dt.date(2025, 1, 1), "year", "digital-cost-per-transaction", Decimal("22.86"), Decimal("23.86")),
    ]
    with TestClient(app_for(backend)) as client:
        revisions = client.get("/v1/kpis/revisions", headers=AUTH).json()["data"]
    assert [(r["period"], r["data_type"], r["old_value"], r["new_value"]) for r in revisions] == [
        ("year", "cost-per-transaction", 18.1, 19.1), ("year", "digital-cost-per-transaction", 22.86, 23.86)]


@pytest.mark.parametrize("month", [dt.date(2025, 3, 1), dt.date(2025, 4, 1), dt.date(2025, 10, 1),
                                   dt.date(2025, 11, 1)], ids=["GMT-to-BST", "BST", "BST-to-GMT", "GMT"])
def test_a_month_is_the_month_whatever_the_clocks_do(year, backend, month):
    # Each monthly partition starts at 00:00 London time (23:00 UTC the day before in BST): its costs
    # are the CSV's lines for that month, no more and no fewer.
    lines = [(f"{m:%Y-%m}", "digital", "staff", f"{m.month}.00") for m in YEAR]
    result = year.load_costs(lines, first=month.isoformat(), last=month.isoformat())
    assert backend.query("SELECT month, amount_gbp FROM perfdata.service_costs") in (
        [(month, Decimal(f"{month.month}.00"))], [(month.isoformat(), float(month.month))])
    assert backend.query("SELECT day FROM perfdata.loaded_days WHERE asset = 'service_costs'") in (
        [(month,)], [(month.isoformat(),)])
    assert partition_metadata(result, "service_costs", month)["finance_gbp"] == float(month.month)


def test_the_quarters_a_month_recomputes():
    assert quarter_ends_for([dt.date(2026, 1, 1)]) == [dt.date(2025, 3, 1), dt.date(2025, 6, 1),
                                                       dt.date(2025, 9, 1), dt.date(2025, 12, 1)]
    assert quarter_ends_for([dt.date(2025, 12, 1)]) == [dt.date(2025, 3, 1), dt.date(2025, 6, 1),
                                                        dt.date(2025, 9, 1), dt.date(2025, 12, 1)]
    assert quarter_ends_for([dt.date(2025, 2, 1)])[-1] == dt.date(2024, 12, 1)
    # The partitions start in April 2019 (PERFDATA_START_DATE): no year before March 2020 can be complete.
    assert quarter_ends_for([dt.date(2019, 12, 1)]) == []
    assert quarter_ends_for([dt.date(2020, 3, 1)]) == [dt.date(2020, 3, 1)]
    assert next_month(DECEMBER) == dt.date(2026, 1, 1)


def test_perfdata_kpis_prints_the_quarters(year, backend, monkeypatch):
    import json

    from click.testing import CliRunner

    from perfdata_assets.cli import main

    year.load_counts()
    year.load_costs(finance_lines())
    year.publish()
    for name, value in backend.env().items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["kpis", "--quarters", "4", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{
        "quarter_end": "2025-12-01", "year_from": "2025-01-01", "total_cost_gbp": 19005.96, "transactions": 1050,
        "cost_per_transaction_gbp": 18.1, "digital_cost_gbp": 14399.98, "digital_transactions": 630,
        "digital_cost_per_transaction_gbp": 22.86}]
    table = CliRunner().invoke(main, ["kpis", "--quarters", "4"]).output
    assert table.splitlines()[2].split() == ["2025-12-01", "2025-01-01", "19005.96", "1050", "18.10", "14399.98", "630",
                                             "22.86"]
    refused = CliRunner().invoke(main, ["kpis", "--quarters", "0"])
    assert refused.exit_code == 2 and "--quarters" in refused.output


def test_the_check_passes_on_what_the_asset_wrote_and_fails_on_a_quarter_written_by_hand(year, backend):
    from perfdata_assets.kpis.cost_per_transaction import cost_per_transaction_complete_and_consistent

    year.load_counts()
    year.load_costs(finance_lines())
    result = materialize([cost_per_transaction, cost_per_transaction_complete_and_consistent], backend,
                         "2025-12-01")
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["quarters_checked"].value == 1
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("INSERT INTO perfdata.cost_per_transaction VALUES "
                             "('2025-09-01', '2024-10-01', 10.00, 20.00, 5, 6, 2.00, 3.33)"))
    result = materialize([cost_per_transaction, cost_per_transaction_complete_and_consistent], backend,
                         "2025-12-01", raise_on_error=False)
    [check] = result.get_asset_check_evaluations()
    problems = check.metadata["problems"].value
    assert not check.passed
    assert "2025-09: written while service_costs: 3 month(s) not costed (2024-10, 2024-11, 2024-12)" in problems
    assert "2025-09: 6 online of 5 LPAs" in problems and "2025-09: digital cost 20.00 over the total 10.00" in problems
