"""The stub itself: the contract it serves (validation, error bodies), its data, its CLI."""

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner

from perfdata_assets.devtools.sirius_stub import SiriusStub, sirius_stub, synthetic_channel_counts
from perfdata_assets.sources.sirius.counts import ChannelCount, parse_channel_counts_response

from .signing import signed_request

D = dt.date
PATH = "/v1/lpa-online-tool/channel-counts"


@pytest.fixture(scope="module")
def plain_stub():
    with SiriusStub(today=D(2025, 6, 15)) as s:
        yield s


def get(stub, target, **kwargs):
    return requests.get(stub.base_url + target, timeout=5, **kwargs)


def test_healthcheck(plain_stub):
    response = get(plain_stub, "/v1/healthcheck")
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_valid_request_follows_the_contract(plain_stub):
    response = get(plain_stub, PATH + "?from=2024-01-01&to=2024-01-03")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert (body["from"], body["to"], body["completeThrough"]) == ("2024-01-01", "2024-01-03", "2025-06-14")
    # The client's strict parser accepts it.
    parsed = parse_channel_counts_response(body, D(2024, 1, 1), D(2024, 1, 3))
    assert list(parsed.counts) == synthetic_channel_counts(D(2024, 1, 1), D(2024, 1, 3))


def test_exactly_92_days_is_accepted(plain_stub):
    assert get(plain_stub, PATH + "?from=2024-01-01&to=2024-04-01").status_code == 200


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("", "query parameter 'from' is required (YYYY-MM-DD)"),
        ("?from=2024-01-01", "query parameter 'to' is required (YYYY-MM-DD)"),
        ("?from=2024-01-01&to=", "query parameter 'to' is required (YYYY-MM-DD)"),
        ("?from=01/01/2024&to=2024-01-31", "query parameter 'from' must be a date in YYYY-MM-DD form, got '01/01/2024'"),
        ("?from=2024-01-01&to=2024-02-30", "query parameter 'to' must be a date in YYYY-MM-DD form, got '2024-02-30'"),
        ("?from=2024-01-01&from=2024-01-02&to=2024-01-31", "query parameter 'from' is given more than once"),
        ("?from=2024-02-01&to=2024-01-31", "'from' (2024-02-01) is after 'to' (2024-01-31)"),
        ("?from=2024-01-01&to=2024-04-02", "the range 2024-01-01..2024-04-02 is 93 days long; at most 92 days per request"),
    ],
)
def test_bad_parameters_get_400_with_an_opg_error_body(plain_stub, query, detail):
    response = get(plain_stub, PATH + query)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"code": "OPGDATA-API-INVALIDREQUEST", "title": "Invalid Request", "detail": detail}]
    }


def test_other_paths_and_methods_get_opg_errors(plain_stub):
    response = get(plain_stub, "/v1/lpa-online-tool/other")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "OPGDATA-API-NOTFOUND"
    response = requests.post(plain_stub.base_url + PATH, timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_request_count_counts_channel_count_requests_only():
    with SiriusStub() as s:
        get(s, "/v1/healthcheck")
        get(s, PATH + "?from=2024-01-01&to=2024-01-01")
        get(s, PATH)  # a 400 is still a request received
        assert s.request_count == 2
        assert [r.status for r in s.requests] == [200, 200, 400]


def test_faults_apply_in_sequence():
    with SiriusStub(throttle_first=1, retry_after=9, fail_first=2, fail_status=502) as s:
        first = get(s, PATH + "?from=2024-01-01&to=2024-01-01")
        second = get(s, PATH + "?from=2024-01-01&to=2024-01-01")
        third = get(s, PATH + "?from=2024-01-01&to=2024-01-01")
        health = get(s, "/v1/healthcheck")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "9")
    assert first.json()["errors"][0]["code"] == "OPGDATA-API-THROTTLED"
    assert second.status_code == 502 and second.json()["errors"][0]["code"] == "OPGDATA-API-SERVERERROR"
    assert third.status_code == 200
    assert health.status_code == 200  # faults leave the healthcheck alone


def test_dropped_connection_gets_no_response():
    with SiriusStub(drop_first=1) as s:
        with pytest.raises(requests.ConnectionError):
            get(s, PATH + "?from=2024-01-01&to=2024-01-01")
        assert get(s, PATH + "?from=2024-01-01&to=2024-01-01").status_code == 200


def test_signature_required_refuses_unsigned_requests_with_a_reason():
    with SiriusStub(require_signature=True, access_key="AKID", secret_key="secret") as s:
        response = get(s, PATH + "?from=2024-01-01&to=2024-01-01")
        health = get(s, "/v1/healthcheck")
    assert response.status_code == 403
    assert response.json()["errors"][0] == {
        "code": "OPGDATA-API-FORBIDDEN",
        "title": "Forbidden",
        "detail": "request signature refused: request has no Authorization header",
    }
    assert health.status_code == 403


def test_stale_signature_is_refused():
    with SiriusStub(require_signature=True, access_key="AKID", secret_key="secret") as s:
        url = s.base_url + PATH + "?from=2024-01-01&to=2024-01-01"
        stale = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)
        request = signed_request("GET", url, access_key="AKID", secret_key="secret", at=stale)
        with requests.Session() as session:
            response = session.send(request, timeout=5)
    assert response.status_code == 403
    assert "away from the server clock" in response.json()["errors"][0]["detail"]


def test_csv_data_is_served(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("date,channel,count\n2024-01-01,online,5\n2024-01-02,paper,3\n2024-03-01,online,1\n")
    with SiriusStub(csv_path=path, complete_through=D(2024, 1, 31)) as s:
        body = get(s, PATH + "?from=2024-01-01&to=2024-01-31").json()
    assert body == {
        "from": "2024-01-01",
        "to": "2024-01-31",
        "completeThrough": "2024-01-31",
        "counts": [
            {"date": "2024-01-01", "channel": "online", "count": 5},
            {"date": "2024-01-02", "channel": "paper", "count": 3},
        ],
    }


def test_no_counts_after_today():
    with SiriusStub(today=D(2024, 1, 10)) as s:
        body = get(s, PATH + "?from=2024-01-01&to=2024-01-31").json()
    assert max(c["date"] for c in body["counts"]) == "2024-01-10"
    assert body["completeThrough"] == "2024-01-09"


def test_default_today_is_london_today():
    with SiriusStub() as s:
        body = get(s, PATH + "?from=2024-01-01&to=2024-01-01").json()
    london_yesterday = dt.datetime.now(ZoneInfo("Europe/London")).date() - dt.timedelta(days=1)
    assert body["completeThrough"] == london_yesterday.isoformat()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fail_status": 501}, "fail_status must be one of"),
        ({"malformed": "wrong"}, "malformed must be one of"),
        ({"status": 200}, "status must be between 300 and 599"),
        ({"require_signature": True}, "require_signature needs access_key and secret_key"),
        ({"extra_channel": "online"}, "extra_channel must be a new, non-empty channel name"),
        ({"drop_first": -1}, "must not be negative"),
    ],
)
def test_bad_stub_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        SiriusStub(**options)


def test_stop_returns_promptly_even_during_a_delay():
    s = SiriusStub(delay_seconds=30).start()
    try:
        requests.get(s.base_url + PATH + "?from=2024-01-01&to=2024-01-01", timeout=0.2)
    except requests.Timeout:
        pass
    started = time.monotonic()
    s.stop()
    assert time.monotonic() - started < 2


# --- synthetic data ----------------------------------------------------------------


def test_synthetic_counts_are_deterministic_and_range_independent():
    year = synthetic_channel_counts(D(2024, 1, 1), D(2024, 12, 31), seed=1)
    assert year == synthetic_channel_counts(D(2024, 1, 1), D(2024, 12, 31), seed=1)
    june = synthetic_channel_counts(D(2024, 6, 1), D(2024, 6, 30), seed=1)
    assert june == [c for c in year if c.day.month == 6]
    assert year != synthetic_channel_counts(D(2024, 1, 1), D(2024, 12, 31), seed=2)
    assert year == sorted(year, key=lambda c: (c.day, c.channel))


def test_synthetic_counts_look_like_receipts():
    counts = synthetic_channel_counts(D(2019, 4, 1), D(2026, 12, 31), seed=0)
    assert {c.channel for c in counts} == {"online", "paper", "phone"}
    assert all(isinstance(c, ChannelCount) and c.count > 0 for c in counts)  # zeros are omitted
    totals, online = defaultdict(int), defaultdict(int)
    weekday_totals, weekend_totals = [], []
    for c in counts:
        totals[(c.day.year, c.day.month)] += c.count
        online[(c.day.year, c.day.month)] += c.count if c.channel == "online" else 0
    for month, total in totals.items():
        assert 0.60 <= online[month] / total <= 0.75, month
    daily = defaultdict(int)
    for c in counts:
        daily[c.day] += c.count
    for day, total in daily.items():
        (weekend_totals if day.weekday() >= 5 else weekday_totals).append(total)
    assert 100 <= min(daily.values()) and max(daily.values()) <= 3000
    assert sum(weekend_totals) / len(weekend_totals) < 0.5 * sum(weekday_totals) / len(weekday_totals)
    # Seasonality: January busier than August.
    assert totals[(2024, 1)] > totals[(2024, 8)]


def test_synthetic_extra_channel_is_small():
    counts = synthetic_channel_counts(D(2024, 1, 1), D(2024, 3, 31), extra_channel="assisted-digital")
    extra = [c.count for c in counts if c.channel == "assisted-digital"]
    assert extra and max(extra) <= 40
    with pytest.raises(ValueError, match="already a known channel"):
        synthetic_channel_counts(D(2024, 1, 1), D(2024, 1, 1), extra_channel="paper")


# --- CLI -----------------------------------------------------------------------------


def test_cli_help_lists_the_flags():
    result = CliRunner().invoke(sirius_stub, ["--help"])
    assert result.exit_code == 0
    for flag in (
        "--host", "--port", "--csv", "--seed", "--complete-through", "--extra-channel", "--fail-first",
        "--fail-status", "--throttle-first", "--retry-after", "--delay-seconds", "--drop-first", "--malformed",
        "--status", "--require-signature",
    ):
        assert flag in result.output


def test_cli_require_signature_needs_the_env(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    result = CliRunner().invoke(sirius_stub, ["--require-signature", "--port", "0"])
    assert result.exit_code == 2
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in result.output


def test_cli_refuses_a_bad_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("date,channel,count\n2024-01-01,online,x\n")
    result = CliRunner().invoke(sirius_stub, ["--csv", str(path), "--port", "0"])
    assert result.exit_code == 1
    assert f"channel counts CSV {path} line 2: count 'x' is not a non-negative integer" in result.output


def test_cli_serves_until_interrupted(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-c", "from perfdata_assets.devtools.sirius_stub import sirius_stub; sirius_stub()",
        "--port", "0", "--seed", "4", "--fail-first", "1",
    ]
    # Ctrl-C as a terminal sends it, whatever this test process does with SIGINT (an ignored
    # signal is inherited); the request log goes to a file, as a pipe nobody read could fill.
    parent_sigint = signal.getsignal(signal.SIGINT)
    log = (tmp_path / "stub.log").open("w")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"Sirius stub listening on (http://127\.0\.0\.1:\d+) \((.*)\)\n", line)
        assert match, line
        assert match.group(2) == "synthetic counts, seed 4; fail first 1 with 503"
        base_url = match.group(1)
        assert requests.get(base_url + "/v1/healthcheck", timeout=5).json() == {"ok": True}
        assert requests.get(base_url + PATH + "?from=2024-01-01&to=2024-01-01", timeout=5).status_code == 503
        body = requests.get(base_url + PATH + "?from=2024-01-01&to=2024-01-01", timeout=5).json()
        assert body["counts"][0] == {
            "date": "2024-01-01", "channel": "online",
            "count": synthetic_channel_counts(D(2024, 1, 1), D(2024, 1, 1), seed=4)[0].count,
        }
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.flush()
            pytest.fail(f"the stub did not stop on SIGINT (this process's SIGINT: {parent_sigint}); its log:\n"
                        + (tmp_path / "stub.log").read_text()[-3000:])
        assert code == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
