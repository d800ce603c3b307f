"""The service_costs asset through real Dagster runs: the finance CSV's errors by line with nothing
written, settings checked before any request, and the AWS bill from Cost Explorer on moto's server,
an estimated month waiting until it is final."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from perfdata_assets.devtools.costs_stub import aws_bill, queue_cost_and_usage
from perfdata_assets.sources.costs.assets import NO_SERVICE_COSTS_SOURCE, ServiceCostsSource, service_costs
from perfdata_assets_tests.aws import FaultProxy, aws_env
from perfdata_assets_tests.support import materialize

Q4 = [dt.date(2025, 10, 1), dt.date(2025, 11, 1), dt.date(2025, 12, 1)]
FINANCE = ["month,channel,category,amount_gbp", "2025-10,digital,staff,100.00", "2025-11,digital,staff,100.00",
           "2025-12,digital,staff,100.00", "2025-12,shared,overheads,0"]
ACCOUNT = "111122223333"


def write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def run(backend, source: ServiceCostsSource, first="2025-10-01", last="2025-12-01"):
    return materialize([service_costs], backend, first, last, raise_on_error=False,
                       resources={"service_costs_source": source})


def failure(result) -> str:
    [event] = result.get_step_failure_events()
    return event.step_failure_data.user_failure_data.description


def stored(backend) -> list[tuple]:
    rows = backend.query("SELECT month, channel, category, amount_gbp, source FROM perfdata.service_costs "
                         "ORDER BY month, source, channel, category")
    return [(str(m)[:10], c, k, Decimal(str(a)).quantize(Decimal("0.01")), s) for m, c, k, a, s in rows]


def costed(backend) -> list[str]:
    return [str(d)[:10] for (d,) in backend.query(
        "SELECT day FROM perfdata.loaded_days WHERE asset = 'service_costs' ORDER BY day")]


def per_month(result) -> dict[str, dict]:
    return {e.partition: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events() if e.partition}


@pytest.mark.parametrize("bad, line, said", [
    ("2025-13,digital,staff,1.00", 3, "month '2025-13' is not a month in YYYY-MM form"),
    ("2025-11,online,staff,1.00", 3, "channel 'online' is not one of digital, paper, phone, shared"),
    ("2025-11,digital,staff,1.005", 3, "amount_gbp '1.005' is not an amount of pounds"),
    ("2025-11,digital,staff,-1.00", 3, "amount_gbp '-1.00' is not an amount of pounds"),
    ("2025-11,digital,,1.00", 3, "category must be 1 to 100 characters"),
    ("2025-11,digital,staff", 3, "has 3 columns, expected 4"),
    ("2025-10,digital,staff,5.00", 3, "2025-10 digital 'staff' appears again (first on line 2)"),
], ids=["month", "channel", "three-places", "negative", "no-category", "short", "twice"])
def test_a_bad_line_fails_the_run_naming_it_and_nothing_is_written(backend, tmp_path, bad, line, said):
    path = write(tmp_path / "costs.csv", [*FINANCE[:2], bad, *FINANCE[2:]])
    result = run(backend, ServiceCostsSource(csv_path=path))
    assert not result.success
    assert f"SERVICE_COSTS_CSV {path} line {line}: {said}" in failure(result)
    assert stored(backend) == [] and costed(backend) == []


def test_the_finance_csv_alone_costs_its_months(backend, tmp_path):
    result = run(backend, ServiceCostsSource(csv_path=write(tmp_path / "costs.csv", FINANCE)))
    assert result.success
    assert costed(backend) == ["2025-10-01", "2025-11-01", "2025-12-01"]
    assert stored(backend)[-1] == ("2025-12-01", "shared", "overheads", Decimal("0.00"), "finance")
    summary = result.get_asset_materialization_events()[-1].materialization.metadata
    assert "SERVICE_COST_AWS_ACCOUNTS is not set" in summary["aws_costs"].value


def test_a_month_without_a_finance_line_waits(backend, tmp_path):
    result = run(backend, ServiceCostsSource(csv_path=write(tmp_path / "costs.csv", FINANCE[:3])))
    assert result.success
    assert costed(backend) == ["2025-10-01", "2025-11-01"]
    assert per_month(result)["2025-12-01"]["waiting_for"] == "SERVICE_COSTS_CSV has no line for it"


@pytest.fixture
def cost_explorer(moto_server, monkeypatch):
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "cost-explorer", "sts")
        yield proxy


def test_an_estimated_aws_month_waits_and_is_costed_once_final(backend, tmp_path, cost_explorer, moto_server):
    rates = write(tmp_path / "rates.csv", ["month,usd_per_gbp", "2025-10,1.25", "2025-11,1.3", "2025-12,1.2"])
    source = ServiceCostsSource(csv_path=write(tmp_path / "costs.csv", FINANCE), aws_accounts=ACCOUNT,
                                rates_csv_path=rates)
    bill = aws_bill(Q4, seed=7, estimated=frozenset({dt.date(2025, 12, 1)}))
    for result_month, usd in zip(bill["ResultsByTime"], ("1000.00", "1300.013", "600.0")):
        result_month["Total"]["UnblendedCost"]["Amount"] = usd
    queue_cost_and_usage(moto_server.url, bill)
    result = run(backend, source)
    assert result.success
    # December's bill is an estimate: its finance lines are kept, the month is not costed, no AWS line.
    assert costed(backend) == ["2025-10-01", "2025-11-01"]
    assert per_month(result)["2025-12-01"]["waiting_for"] == "Cost Explorer's amount is still an estimate"
    # 1000.00 / 1.25 = 800.00; 1300.013 / 1.3 = 1000.01.
    assert [r for r in stored(backend) if r[4] == "aws"] == [
        ("2025-10-01", "digital", "aws", Decimal("800.00"), "aws"),
        ("2025-11-01", "digital", "aws", Decimal("1000.01"), "aws")]

    # AWS closes December's bill: the next night's run costs it (600.00 / 1.2 = 500.00).
    moto_server.reset()
    bill["ResultsByTime"][2]["Estimated"] = False
    queue_cost_and_usage(moto_server.url, bill)
    assert run(backend, source).success
    assert costed(backend) == ["2025-10-01", "2025-11-01", "2025-12-01"]
    assert ("2025-12-01", "digital", "aws", Decimal("500.00"), "aws") in stored(backend)
    # One GetCostAndUsage per run, for the whole window.
    assert sum(1 for r in cost_explorer.requests if r.target.endswith("GetCostAndUsage")) == 2


def test_a_month_without_its_rate_waits(backend, tmp_path, cost_explorer, moto_server):
    rates = write(tmp_path / "rates.csv", ["month,usd_per_gbp", "2025-10,1.25", "2025-11,1.3"])
    queue_cost_and_usage(moto_server.url, aws_bill(Q4, seed=7))
    result = run(backend, ServiceCostsSource(csv_path=write(tmp_path / "costs.csv", FINANCE), aws_accounts=ACCOUNT,
                                             rates_csv_path=rates))
    assert costed(backend) == ["2025-10-01", "2025-11-01"]
    assert per_month(result)["2025-12-01"]["waiting_for"] == "USD_GBP_RATES_CSV has no rate for it"


@pytest.mark.parametrize("accounts, rates, said", [
    ("1111-2222-3333", ["month,usd_per_gbp", "2025-10,1.25"],
     "SERVICE_COST_AWS_ACCOUNTS: item 1 of 1 is not a 12-digit AWS account id"),
    (ACCOUNT, ["month,usd_per_gbp", "2025-10,1.25", "2025-11,0"],
     "line 3: usd_per_gbp '0' is not a positive number"),
    (ACCOUNT, ["month,usd_per_gbp", "2025-10,-1.25"], "line 2: usd_per_gbp '-1.25' is not a positive number"),
    (ACCOUNT, None, "USD_GBP_RATES_CSV is not set"),
], ids=["account", "zero-rate", "negative-rate", "no-rates"])
def test_a_wrong_setting_fails_before_any_request_naming_the_variable(backend, tmp_path, cost_explorer,
                                                                       accounts, rates, said):
    source = ServiceCostsSource(csv_path=write(tmp_path / "costs.csv", FINANCE), aws_accounts=accounts,
                                rates_csv_path=write(tmp_path / "rates.csv", rates) if rates else "")
    result = run(backend, source)
    assert not result.success
    message = failure(result)
    assert said in message and ("USD_GBP_RATES_CSV" in message or "SERVICE_COST_AWS_ACCOUNTS" in message)
    assert cost_explorer.request_count == 0
    assert stored(backend) == []
    # Not retried: a setting is the same in a minute.
    assert len(result.get_step_failure_events()) == 1


def test_access_denied_fails_the_run_at_once_and_writes_nothing(backend, tmp_path, cost_explorer):
    rates = write(tmp_path / "rates.csv", ["month,usd_per_gbp", "2025-10,1.25"])
    cost_explorer.deny_next(5)
    result = run(backend, ServiceCostsSource(csv_path=write(tmp_path / "costs.csv", FINANCE), aws_accounts=ACCOUNT,
                                             rates_csv_path=rates))
    assert not result.success and "answered 403 AccessDenied" in failure(result)
    assert ACCOUNT not in failure(result)
    assert cost_explorer.request_count == 1 and stored(backend) == []


def test_unconfigured_it_says_what_to_set(backend):
    result = run(backend, ServiceCostsSource())
    assert not result.success and NO_SERVICE_COSTS_SOURCE in failure(result)
