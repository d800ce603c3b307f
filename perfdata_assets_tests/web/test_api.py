"""The HTTP API's read side: auth, the KPIs as JSON and CSV, the exports, errors, the OpenAPI document."""

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfdata_assets.publishing.assets import publish
from perfdata_assets.publishing.delivery import import_deadline
from perfdata_assets.publishing.published import ALL_DATA_TYPES, DATA_TYPES
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.publishing.staleness import DATASETS, expected_month, expected_quarter
from perfdata_assets.web import api, server
from perfdata_assets_tests.publishing.fixtures import MONTHS, seed_kpis, seed_publication
from perfdata_assets_tests.web.conftest import AUTH, TOKEN, app_for

EXPECTED = Path(__file__).parent.parent / "publishing" / "expected"
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi" / "perfdata-api.json"
STAMP = "2024-04-02T06:30:00+00:00"

LATEST_JSON = [
    {"period_start": "2024-03-01", "period": "month", "service": "make-a-lpa", "data_type": data_type,
     "value": value, "numerator": numerator, "denominator": denominator, "published_at": STAMP}
    for data_type, value, numerator, denominator in [
        ("user-satisfaction-percent", 66.67, 2, 3),
        ("very-dissatisfied", 1, 1, 3),  # the five levels: counts, JSON integers
        ("dissatisfied", 0, 0, 3),
        ("neither", 0, 0, 3),
        ("satisfied", 1, 1, 3),
        ("very-satisfied", 1, 1, 3),
        ("uptime-percent", 100.0, 44580, 44580),
        ("digital-take-up", 74.07, 1000, 1350),
        ("completion-rate-percent", 133.33, 4, 3),
        ("user-satisfaction-score", 58.33, None, 3),
    ]
]
LATEST_CSV = (
    "period_start,period,service,data_type,value,numerator,denominator,published_at\n"
    f"2024-03-01,month,make-a-lpa,user-satisfaction-percent,66.67,2,3,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,very-dissatisfied,1.00,1,3,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,dissatisfied,0.00,0,3,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,neither,0.00,0,3,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,satisfied,1.00,1,3,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,very-satisfied,1.00,1,3,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,uptime-percent,100.00,44580,44580,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,digital-take-up,74.07,1000,1350,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,completion-rate-percent,133.33,4,3,{STAMP}\n"
    f"2024-03-01,month,make-a-lpa,user-satisfaction-score,58.33,,3,{STAMP}\n"
)


def opg_error(response, status: int, code: str, detail_starts: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors"} and len(body["errors"]) >= 1
    assert all(set(e) == {"code", "title", "detail"} for e in body["errors"])
    assert body["errors"][0]["code"] == code
    assert body["errors"][0]["detail"].startswith(detail_starts), body


def test_healthcheck_is_open_and_reports_the_database(backend):
    with TestClient(app_for(backend, token=None)) as client:
        response = client.get("/v1/healthcheck")
        # Nothing published yet: the process is fine, every dataset is stale.
        assert response.status_code == 200 and response.json()["ok"] is True
        assert [s["dataset"] for s in response.json()["stale"]] == list(DATASETS)

    down = api.create_app("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", backend.lpa_url, TOKEN)
    with TestClient(down) as client:
        opg_error(client.get("/v1/healthcheck"), 503, "OPGDATA-API-UNAVAILABLE", "the perfdata database is unavailable")


# One moment for the whole test, so a run straddling 12:00 UTC on the 1st expects one month throughout.
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def publish_relative_to_today(backend) -> dt.date:
    """The fixtures' months, and satisfaction and completion rate also for the month expected today;
    no uptime at all. Returns the expected month."""
    expected, _due = expected_month(NOW)
    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("DELETE FROM perfdata.service_uptime"))
        for table in ("user_satisfaction", "completion_rate"):
            conn.execute(sa.text(f"UPDATE perfdata.{table} SET month = :expected WHERE month = :march")
                         .bindparams(sa.bindparam("expected", type_=sa.Date), sa.bindparam("march", type_=sa.Date)),
                         {"expected": expected, "march": MONTHS[2]})
        publish(conn, [*MONTHS, expected], NOW)
    return expected


def test_healthcheck_lists_each_stale_dataset_and_since_when(backend):
    expected = publish_relative_to_today(backend)
    quarter, quarter_due = expected_quarter(NOW)
    stale = [
        {"dataset": "uptime-percent", "latest_month": None, "expected_month": f"{expected:%Y-%m}",
         "due": import_deadline(expected).isoformat()},
        # Digital take-up was last published for March 2024: late since April was due, on 1 May.
        {"dataset": "digital-take-up", "latest_month": "2024-03", "expected_month": f"{expected:%Y-%m}",
         "due": "2024-05-01T12:00:00+00:00"},
        # Cost per transaction never published: judged by its quarter end.
        {"dataset": "cost-per-transaction", "latest_month": None, "expected_month": f"{quarter:%Y-%m}",
         "due": quarter_due.isoformat()},
    ]
    with TestClient(app_for(backend, token=None, clock=lambda: NOW)) as client:
        response = client.get("/v1/healthcheck")
        assert response.status_code == 200 and response.json() == {"ok": True, "stale": stale}
        for strict in ("1", "true"):
            response = client.get("/v1/healthcheck", params={"strict": strict})
            opg_error(response, 503, "OPGDATA-API-UNAVAILABLE", "uptime-percent: stale since ")
            assert [e["detail"] for e in response.json()["errors"]] == [
                f"uptime-percent: stale since {import_deadline(expected).isoformat()}: {expected:%Y-%m} expected, "
                "latest published none",
                f"digital-take-up: stale since 2024-05-01T12:00:00+00:00: {expected:%Y-%m} expected, "
                "latest published 2024-03",
                f"cost-per-transaction: stale since {quarter_due.isoformat()}: {quarter:%Y-%m} expected, "
                "latest published none",
            ]
        assert client.get("/v1/healthcheck", params={"strict": "0"}).status_code == 200
        opg_error(client.get("/v1/healthcheck", params={"strict": "maybe"}), 400, "OPGDATA-API-INVALIDREQUEST",
                  "strict")


def test_a_deployment_without_sirius_or_uptime_expects_neither(backend, monkeypatch):
    publish_relative_to_today(backend)
    for variable in ("SIRIUS_BASE_URL", "SIRIUS_CHANNEL_COUNTS_CSV", "UPTIME_HEALTH_CHECK_ID", "SERVICE_UPTIME_CSV",
                     "SERVICE_COSTS_CSV"):
        monkeypatch.delenv(variable, raising=False)
    datasets = server.configured_datasets()
    assert datasets == ["user-satisfaction-percent", "completion-rate-percent"]
    with TestClient(app_for(backend, token=None, expected_datasets=datasets, clock=lambda: NOW)) as client:
        assert client.get("/v1/healthcheck").json() == {"ok": True, "stale": []}
        assert client.get("/v1/healthcheck", params={"strict": "1"}).status_code == 200
    monkeypatch.setenv("SIRIUS_CHANNEL_COUNTS_CSV", "counts.csv")
    assert server.configured_datasets() == ["user-satisfaction-percent", "digital-take-up", "completion-rate-percent"]
    # Cost per transaction needs both the costs and the Sirius counts.
    monkeypatch.setenv("SERVICE_COSTS_CSV", "costs.csv")
    assert server.configured_datasets() == ["user-satisfaction-percent", "digital-take-up", "completion-rate-percent",
                                            "cost-per-transaction"]
    with pytest.raises(ValueError, match="unknown dataset"):
        app_for(backend, expected_datasets=["digital-take-up-percent"])


READ_ROUTES = ["/v1/kpis/latest", "/v1/kpis", "/v1/exports/performance-data/2024-01.json",
               "/v1/exports/transactions-by-channel.csv"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_read_route_needs_the_token(backend):
    seed_publication(backend)
    with TestClient(app_for(backend)) as client:
        for path in READ_ROUTES:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                            {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer"}):
                response = client.get(path, headers=headers)
                opg_error(response, 401, "OPGDATA-API-UNAUTHORISED", "Authorization:")
                assert response.headers["www-authenticate"] == "Bearer"
            assert client.get(path, headers=AUTH).status_code == 200, path
            # Bad parameters are not even looked at without the token.
            assert client.get(path + "?from=nonsense").status_code == 401, path


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_a_configured_token_the_read_routes_are_closed(backend):
    for token in (None, ""):
        with TestClient(app_for(backend, token=token)) as client:
            for path in READ_ROUTES:
                for headers in ({"Authorization": "Bearer "}, AUTH, {}):
                    opg_error(client.get(path, headers=headers), 503, "OPGDATA-API-UNAVAILABLE",
                              "PERFDATA_API_TOKEN is not set")
            assert client.get("/v1/healthcheck").status_code == 200


def test_latest_as_json_and_csv(backend, client):
    seed_publication(backend)
    response = client.get("/v1/kpis/latest", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == {"data": LATEST_JSON}
    # Counts are integers in the JSON (1, not 1.0), percentages numbers.
    assert '"data_type":"satisfied","value":1,' in response.text
    assert '"data_type":"uptime-percent","value":100.0,' in response.text

    for extra in ({"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}},
                  {"headers": {"Accept": "application/json;q=0.5, text/csv"}}):
        response = client.get("/v1/kpis/latest", params=extra.get("params"), headers={**AUTH, **extra.get("headers", {})})
        assert response.status_code == 200, extra
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.text == LATEST_CSV
    # ?format wins over Accept; a browser's Accept gets JSON.
    for params, accept in (({"format": "json"}, "text/csv"), ({}, "text/html,*/*;q=0.8"), ({}, "*/*")):
        response = client.get("/v1/kpis/latest", params=params, headers={**AUTH, "Accept": accept})
        assert response.json() == {"data": LATEST_JSON}, (params, accept)


def test_history_filters_and_formats(backend, client):
    seed_publication(backend)
    response = client.get("/v1/kpis", params={"data_type": "completion-rate-percent", "from": "2024-02",
                                              "to": "2024-03"}, headers=AUTH)
    assert response.status_code == 200
    assert [(r["period_start"], r["value"], r["numerator"], r["denominator"]) for r in response.json()["data"]] == [
        ("2024-02-01", None, 5, 0),
        ("2024-03-01", 133.33, 4, 3),
    ]
    everything = client.get("/v1/kpis", headers=AUTH).json()["data"]
    assert len(everything) == 30 and everything[-10:] == LATEST_JSON
    assert client.get("/v1/kpis", params={"from": "2024-04"}, headers=AUTH).json() == {"data": []}

    csv_text = client.get("/v1/kpis", params={"to": "2024-01", "format": "csv",
                                              "data_type": "user-satisfaction-score"}, headers=AUTH).text
    assert csv_text == (
        "period_start,period,service,data_type,value,numerator,denominator,published_at\n"
        f"2024-01-01,month,make-a-lpa,user-satisfaction-score,82.19,,80,{STAMP}\n"
    )
    feb = client.get("/v1/kpis", params={"from": "2024-02", "to": "2024-02", "format": "csv"}, headers=AUTH).text
    assert f"2024-02-01,month,make-a-lpa,user-satisfaction-percent,,0,0,{STAMP}\n" in feb
    # No responses: a level's value is empty, its count (the numerator) 0.
    assert f"2024-02-01,month,make-a-lpa,very-satisfied,,0,0,{STAMP}\n" in feb
    levels = client.get("/v1/kpis", params={"data_type": "neither"}, headers=AUTH).json()["data"]
    assert [(r["period_start"], r["value"], r["numerator"], r["denominator"]) for r in levels] == [
        ("2024-01-01", 5, 5, 80), ("2024-02-01", None, 0, 0), ("2024-03-01", 0, 0, 3)]


def test_a_full_month_lists_all_ten_data_types_in_order(backend, client):
    seed_publication(backend)
    for month in ("2024-01", "2024-02", "2024-03"):
        data = client.get("/v1/kpis", params={"from": month, "to": month}, headers=AUTH).json()["data"]
        assert [r["data_type"] for r in data] == list(DATA_TYPES) == [
            "user-satisfaction-percent", "very-dissatisfied", "dissatisfied", "neither", "satisfied",
            "very-satisfied", "uptime-percent", "digital-take-up", "completion-rate-percent",
            "user-satisfaction-score",
        ], month
        csv_rows = client.get("/v1/kpis", params={"from": month, "to": month, "format": "csv"},
                              headers=AUTH).text.splitlines()[1:]
        assert [line.split(",")[3] for line in csv_rows] == list(DATA_TYPES)
    # The old name is gone; the new one is a data type like any other.
    opg_error(client.get("/v1/kpis", params={"data_type": "digital-take-up-percent"}, headers=AUTH), 400,
              "OPGDATA-API-INVALIDREQUEST", "data_type:")
    assert client.get("/v1/kpis", params={"data_type": "digital-take-up"}, headers=AUTH).status_code == 200


def test_a_month_with_some_kpis_published_serves_only_those(backend, client):
    seed_kpis(backend)
    with backend.dbs.perfdata.begin() as conn:
        # Uptime's and take-up's inputs for March are not complete yet: their KPI rows are not there.
        for table in ("service_uptime", "digital_take_up"):
            conn.execute(sa.text(f"DELETE FROM perfdata.{table} WHERE month = :m").bindparams(
                sa.bindparam("m", type_=sa.Date)), {"m": MONTHS[2]})
        publish(conn, MONTHS, dt.datetime(2024, 4, 2, 6, 30, tzinfo=dt.timezone.utc))
    waiting = {"uptime-percent", "digital-take-up"}
    march = client.get("/v1/kpis", params={"from": "2024-03", "to": "2024-03"}, headers=AUTH).json()["data"]
    assert [r["data_type"] for r in march] == [t for t in DATA_TYPES if t not in waiting]
    assert client.get("/v1/kpis", params={"from": "2024-03", "data_type": "uptime-percent"},
                      headers=AUTH).json() == {"data": []}

    # Latest: each data type's own latest month; the waiting two are February's (of no figure).
    latest = client.get("/v1/kpis/latest", headers=AUTH).json()["data"]
    assert [(r["data_type"], r["period_start"], r["value"]) for r in latest if r["data_type"] in waiting] == [
        ("uptime-percent", "2024-02-01", None), ("digital-take-up", "2024-02-01", None)]
    assert [r for r in latest if r["data_type"] not in waiting] == [
        r for r in LATEST_JSON if r["data_type"] not in waiting]
    assert [r["data_type"] for r in latest] == [*(t for t in DATA_TYPES if t in waiting),
                                                *(t for t in DATA_TYPES if t not in waiting)]

    # March's file holds what is published for March, in order; the month is not a 404.
    response = client.get("/v1/exports/performance-data/2024-03.json", headers=AUTH)
    assert response.status_code == 200
    assert [r["dataType"] for r in response.json()] == [t for t in DATA_TYPES if t not in waiting]
    # January is complete: the same bytes as when everything is published.
    assert client.get("/v1/exports/performance-data/2024-01.json", headers=AUTH).content == (
        EXPECTED / "make_a_lasting_power_of_attorney_24_01.json").read_bytes()


BAD_PARAMETERS = [
    ({"from": "2024-1"}, "from: must be a month written YYYY-MM"),
    ({"from": "2024-13"}, "from: must be a month written YYYY-MM"),
    ({"from": "0000-01"}, "from: must be a month written YYYY-MM"),
    ({"to": "2024-01-01"}, "to: must be a month written YYYY-MM"),
    ({"to": "2024-01\n"}, "to: must be a month written YYYY-MM"),
    ({"to": "２０２４-01"}, "to: must be a month written YYYY-MM"),  # full-width digits
    ({"from": "2024-03", "to": "2024-02"}, "from: must not be after to"),
    ({"data_type": "completion_rate"}, "data_type: Input should be 'user-satisfaction-percent', 'very-dissatisfied'"),
    ({"data_type": "digital-take-up-percent"}, "data_type: Input should be"),  # renamed digital-take-up
    ({"data_type": ""}, "data_type:"),
    ({"format": "xml"}, "format: Input should be 'json' or 'csv'"),
]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bad_parameters_are_a_400_naming_the_field(backend):
    with TestClient(app_for(backend)) as client:
        for params, detail in BAD_PARAMETERS:
            opg_error(client.get("/v1/kpis", params=params, headers=AUTH), 400, "OPGDATA-API-INVALIDREQUEST", detail)


def test_exports_are_the_same_bytes_as_the_files(backend, client):
    seed_publication(backend)
    for month in ("2024-01", "2024-02", "2024-03"):
        response = client.get(f"/v1/exports/performance-data/{month}.json", headers=AUTH)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        name = f"make_a_lasting_power_of_attorney_{month[2:4]}_{month[5:]}.json"
        assert response.content == (EXPECTED / name).read_bytes()
        # Saved under the name OPG's import looks for.
        assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    response = client.get("/v1/exports/transactions-by-channel.csv", headers=AUTH)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content == (EXPECTED / "transactions-by-channel.csv").read_bytes()

    opg_error(client.get("/v1/exports/performance-data/2024-04.json", headers=AUTH), 404, "OPGDATA-API-NOTFOUND",
              "month: 2024-04 has not been published")
    opg_error(client.get("/v1/exports/performance-data/24-01.json", headers=AUTH), 400,
              "OPGDATA-API-INVALIDREQUEST", "month: must be a month")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unknown_routes_and_methods_answer_in_the_opg_shape(backend):
    with TestClient(app_for(backend)) as client:
        opg_error(client.get("/v1/nothing-here"), 404, "OPGDATA-API-NOTFOUND", "no such resource")
        opg_error(client.get("/kpis/latest", headers=AUTH), 404, "OPGDATA-API-NOTFOUND", "no such resource")
        response = client.delete("/v1/kpis/latest", headers=AUTH)
        opg_error(response, 405, "OPGDATA-API-METHODNOTALLOWED", "method: DELETE is not allowed here; use GET")
        opg_error(client.get("/v1/feedback"), 405, "OPGDATA-API-METHODNOTALLOWED", "method: GET")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unexpected_error_is_a_500_that_logs_no_message(backend, monkeypatch):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("perfdata.api")
    logger.addHandler(handler)

    def broken(self):
        raise RuntimeError("jane.doe@example.com wrote something personal")

    monkeypatch.setattr(PerformanceData, "latest_all", broken)
    try:
        with TestClient(app_for(backend)) as client:
            response = client.get("/v1/kpis/latest", headers=AUTH)
    finally:
        logger.removeHandler(handler)
    opg_error(response, 500, "OPGDATA-API-SERVERERROR", "an unexpected error occurred")
    assert "jane.doe" not in response.text
    logged = " ".join(r.getMessage() for r in records)
    assert "RuntimeError" in logged and "web/test_api.py" in logged
    assert "jane.doe" not in logged and not any(r.exc_info for r in records)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_committed_openapi_document_is_what_the_app_serves(backend):
    committed = OPENAPI_FILE.read_text(encoding="utf-8")
    assert committed == api.openapi_document(), (
        "openapi/perfdata-api.json is stale: run `python -m perfdata_assets.web.api` and commit it"
    )
    with TestClient(app_for(backend)) as client:
        assert client.get("/v1/openapi.json").json() == json.loads(committed)
        docs = client.get("/v1/docs")
        assert docs.status_code == 200 and "/v1/openapi.json" in docs.text
    document = json.loads(committed)
    assert sorted(document["paths"]) == [
        "/open-data/make-a-lasting-power-of-attorney-kpis.csv",
        "/open-data/make-a-lasting-power-of-attorney-kpis.csv-metadata.json",
        "/v1/exports/performance-data/{month}.json", "/v1/exports/transactions-by-channel.csv", "/v1/feedback",
        "/v1/healthcheck", "/v1/kpis", "/v1/kpis/latest", "/v1/kpis/revisions",
    ]
    assert "422" not in json.dumps(document["paths"])
    assert "security" not in document["paths"]["/v1/feedback"]["post"]
    assert document["paths"]["/v1/kpis"]["get"]["security"] == [{"HTTPBearer": []}]
    assert document["paths"]["/v1/kpis/revisions"]["get"]["security"] == [{"HTTPBearer": []}]
    # The documented data types are the publication's, in its order; no stale name or count remains.
    assert document["components"]["schemas"]["KpiValue"]["properties"]["data_type"]["enum"] == list(ALL_DATA_TYPES)
    for stale in ("make_a_lpa_", "digital-take-up-percent", "all four"):
        assert stale not in committed, stale
    export = document["paths"]["/v1/exports/performance-data/{month}.json"]["get"]
    assert "make_a_lasting_power_of_attorney_YY_MM.json" in export["description"]
    assert "Content-Disposition" in export["responses"]["200"]["headers"]


def test_revisions_list_every_restated_value_with_its_old_value(backend, client):
    seed_publication(backend)
    assert client.get("/v1/kpis/revisions", headers=AUTH).json() == {"data": []}
    assert client.get("/v1/kpis/revisions").status_code == 401
    # A late correction to March: completion rate and one satisfaction level change, then March is published again.
    with backend.dbs.perfdata.begin() as conn:
        conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 3, completion_rate_percent = 100.00 "
                             "WHERE month = '2024-03-01'"))
        conn.execute(sa.text("UPDATE perfdata.user_satisfaction SET very_satisfied = 2, satisfied = 0 "
                             "WHERE month = '2024-03-01'"))
        publish(conn, [MONTHS[2]], dt.datetime(2024, 4, 5, 9, 0, tzinfo=dt.timezone.utc), run_id="run-1")

    revisions = client.get("/v1/kpis/revisions", headers=AUTH).json()["data"]
    again = {"old_published_at": STAMP, "restated_at": "2024-04-05T09:00:00+00:00", "run_id": "run-1"}
    # Oldest restatement first, then by month and data type; counts as integers, as everywhere.
    assert revisions == [
        {"period_start": "2024-03-01", "period": "month", "data_type": "completion-rate-percent", "old_value": 133.33,
         "new_value": 100.0, **again},
        {"period_start": "2024-03-01", "period": "month", "data_type": "satisfied", "old_value": 1, "new_value": 0, **again},
        {"period_start": "2024-03-01", "period": "month", "data_type": "very-satisfied", "old_value": 1, "new_value": 2, **again},
    ]
