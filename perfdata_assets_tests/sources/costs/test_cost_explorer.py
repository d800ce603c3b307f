"""Cost Explorer against moto's server over HTTP (results configured through moto's own API for
them), through a fault proxy: pages, throttling, 5xx, access denied, web identity, malformed answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from perfdata_assets.devtools.costs_stub import aws_bill, months_between, queue_cost_and_usage
from perfdata_assets.sources.costs.cost_explorer import (
    AwsMonth,
    CostExplorerSettings,
    fetch_aws_months,
    parse_accounts,
)
from perfdata_assets.sources.costs.figures import CostRefused, CostSettingsError, CostUnavailable, to_gbp
from perfdata_assets_tests.aws import DUMMY_SECRET_KEY, FaultProxy, aws_env, web_identity_env

GET_COST_AND_USAGE = "AWSInsightsIndexService.GetCostAndUsage"
ACCOUNTS = ("111122223333", "444455556666")
FAST = CostExplorerSettings(max_attempts=3, connect_timeout_seconds=2, read_timeout_seconds=10)
Q1 = months_between(dt.date(2025, 1, 1), dt.date(2025, 3, 1))


@pytest.fixture
def cost_explorer(moto_server, monkeypatch):
    """A proxy in front of moto, and the environment pointing boto3's Cost Explorer (and STS) at it."""
    with FaultProxy(moto_server.url) as proxy:
        aws_env(monkeypatch, proxy.url, "cost-explorer", "sts")
        yield proxy


def month(raw: str, usd: str, estimated: bool = False, unit: str = "USD") -> dict:
    start = dt.date.fromisoformat(raw + "-01")
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Total": {"UnblendedCost": {"Amount": usd, "Unit": unit}}, "Groups": [], "Estimated": estimated}


def answer(*results: dict, token: str | None = None) -> dict:
    body = {"ResultsByTime": list(results), "DimensionValueAttributes": []}
    if token:
        body["NextPageToken"] = token
    return body


def cost_requests(proxy: FaultProxy) -> int:
    return sum(1 for r in proxy.requests if r.target == GET_COST_AND_USAGE)


def test_each_month_in_dollars_and_whether_it_is_an_estimate(cost_explorer, moto_server):
    queue_cost_and_usage(moto_server.url, answer(month("2025-01", "1234.5678"), month("2025-02", "0"),
                                                 month("2025-03", "99.995", estimated=True)))
    got = fetch_aws_months(ACCOUNTS, Q1, FAST)
    assert got == {
        dt.date(2025, 1, 1): AwsMonth(dt.date(2025, 1, 1), Decimal("1234.5678"), False),
        dt.date(2025, 2, 1): AwsMonth(dt.date(2025, 2, 1), Decimal("0"), False),
        dt.date(2025, 3, 1): AwsMonth(dt.date(2025, 3, 1), Decimal("99.995"), True),
    }
    assert cost_requests(cost_explorer) == 1


def test_the_answer_comes_in_pages(cost_explorer, moto_server):
    # moto gives each new request (the second carries the NextPageToken) the next queued answer.
    queue_cost_and_usage(moto_server.url, answer(month("2025-01", "10"), token="page-2"),
                         answer(month("2025-02", "20"), token="page-3"), answer(month("2025-03", "30")))
    got = fetch_aws_months(ACCOUNTS, Q1, FAST)
    assert [m.usd for m in got.values()] == [Decimal("10"), Decimal("20"), Decimal("30")]
    assert cost_requests(cost_explorer) == 3


def test_a_month_is_converted_once_half_away_from_zero():
    assert to_gbp(Decimal("1234.5678"), Decimal("1.2345")) == Decimal("1000.05")  # 1000.0549...
    assert to_gbp(Decimal("1235.7"), Decimal("1.2345")) == Decimal("1000.97")  # 1000.9720...
    assert to_gbp(Decimal("2.5"), Decimal("2")) == Decimal("1.25")
    assert to_gbp(Decimal("0.25"), Decimal("10")) == Decimal("0.03")  # 0.025, a half: away from zero
    assert to_gbp(Decimal("0.0249999"), Decimal("1")) == Decimal("0.02")
    assert to_gbp(Decimal("0"), Decimal("1.27")) == Decimal("0.00")


@pytest.mark.parametrize("status", [400, 429])
def test_throttling_is_retried_then_succeeds(cost_explorer, moto_server, status):
    queue_cost_and_usage(moto_server.url, aws_bill(Q1, seed=1))
    cost_explorer.throttle_next(2, status)
    assert len(fetch_aws_months(ACCOUNTS, Q1, FAST)) == 3
    assert [r.answered for r in cost_explorer.requests] == [status, status, 200]


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_outlasting_the_retries_is_unavailable(cost_explorer, moto_server, status):
    cost_explorer.fail_next(10, status)
    with pytest.raises(CostUnavailable, match=rf"answered {status} .*after 3 attempt\(s\)"):
        fetch_aws_months(ACCOUNTS, Q1, FAST)
    assert cost_explorer.request_count == 3


def test_access_denied_fails_at_once_with_what_aws_said(cost_explorer, moto_server):
    cost_explorer.deny_next(5)
    with pytest.raises(CostRefused) as refused:
        fetch_aws_months(ACCOUNTS, Q1, CostExplorerSettings(max_attempts=5))
    assert cost_explorer.request_count == 1
    message = str(refused.value)
    assert "answered 403 AccessDenied" in message and "not authorized to perform" in message
    # The account id in AWS's message is not repeated (no account ids in logs or metadata).
    assert "123456789012" not in message and DUMMY_SECRET_KEY not in message and "\n" not in message


def test_credentials_by_web_identity_through_sts(cost_explorer, moto_server, monkeypatch, tmp_path):
    queue_cost_and_usage(moto_server.url, aws_bill(Q1, seed=2))
    web_identity_env(monkeypatch, tmp_path, cost_explorer.url)
    assert len(fetch_aws_months(ACCOUNTS, Q1, FAST)) == 3
    assert [r.target for r in cost_explorer.requests] == ["AssumeRoleWithWebIdentity", GET_COST_AND_USAGE]


def test_no_credentials_is_refused_without_a_request(cost_explorer, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CostRefused, match="no usable AWS credentials"):
        fetch_aws_months(ACCOUNTS, Q1, FAST)
    assert cost_explorer.request_count == 0


@pytest.mark.parametrize("results, said", [
    ([month("2025-01", "10", unit="EUR"), month("2025-02", "1"), month("2025-03", "1")], "in 'EUR', not USD"),
    ([month("2025-01", "ten"), month("2025-02", "1"), month("2025-03", "1")], "amount 'ten' is not a number"),
    ([month("2025-01", "10"), month("2025-02", "1")], "no result for 2025-03"),
    ([month("2025-01", "10"), month("2025-01", "1"), month("2025-03", "1")], "2025-01 appears twice"),
    ([month("2024-12", "10"), month("2025-02", "1"), month("2025-03", "1")], "not one month of the request"),
    ([{**month("2025-01", "10"), "Estimated": "no"}, month("2025-02", "1"), month("2025-03", "1")],
     "no Estimated true/false"),
    ([month("2025-01", "-3.20"), month("2025-02", "1"), month("2025-03", "1")], "negative"),
], ids=["euros", "not-a-number", "missing-month", "twice", "outside", "estimated-not-boolean", "negative"])
def test_a_malformed_answer_fails_at_once(cost_explorer, moto_server, results, said):
    queue_cost_and_usage(moto_server.url, answer(*results))
    with pytest.raises(CostRefused, match=said):
        fetch_aws_months(ACCOUNTS, Q1, FAST)
    assert cost_requests(cost_explorer) == 1


def test_an_endless_next_page_token_fails(cost_explorer, moto_server):
    queue_cost_and_usage(moto_server.url, answer(month("2025-01", "10"), token="again"),
                         answer(month("2025-02", "10"), token="again"))
    with pytest.raises(CostRefused, match="NextPageToken repeats"):
        fetch_aws_months(ACCOUNTS, Q1, FAST)


@pytest.mark.parametrize("raw", ["12345678901", "1111222233334", "111122223333,abc", "111122223333,,444455556666",
                                 "111122223333,111122223333"])
def test_a_wrong_account_setting_names_the_variable(raw):
    with pytest.raises(CostSettingsError, match="^SERVICE_COST_AWS_ACCOUNTS: "):
        parse_accounts(raw)
    assert parse_accounts(" 111122223333, 444455556666") == ACCOUNTS
