"""The API behind a real uvicorn on loopback, and the ``serve`` command in a real process."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from perfdata_assets.devtools.loopback import free_port as _free_port
from perfdata_assets.web.server import serve_command
from perfdata_assets_tests.publishing.fixtures import seed_publication
from perfdata_assets_tests.support import running_server
from perfdata_assets_tests.web.conftest import AUTH, TOKEN, app_for, feedback_rows

EXPECTED = Path(__file__).parent.parent / "publishing" / "expected"
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi" / "perfdata-api.json"


def test_the_api_over_real_http(backend):
    seed_publication(backend)
    with running_server(app_for(backend)) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/v1/healthcheck").json()["ok"] is True
        assert http.get("/v1/kpis/latest").status_code == 401
        assert http.get("/v1/kpis/latest", headers={"Authorization": "Bearer nope"}).status_code == 401

        latest = http.get("/v1/kpis/latest", headers=AUTH).json()["data"]
        assert [(v["data_type"], v["value"]) for v in latest] == [
            ("user-satisfaction-percent", 66.67), ("very-dissatisfied", 1), ("dissatisfied", 0), ("neither", 0),
            ("satisfied", 1), ("very-satisfied", 1), ("uptime-percent", 100.0), ("digital-take-up", 74.07),
            ("completion-rate-percent", 133.33), ("user-satisfaction-score", 58.33),
        ]
        csv = http.get("/v1/kpis", params={"data_type": "digital-take-up"},
                       headers={**AUTH, "Accept": "text/csv"})
        assert csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert csv.text.splitlines()[1:] == [
            "2024-01-01,month,make-a-lpa,digital-take-up,91.00,91,100,2024-04-02T06:30:00+00:00",
            "2024-02-01,month,make-a-lpa,digital-take-up,,0,0,2024-04-02T06:30:00+00:00",
            "2024-03-01,month,make-a-lpa,digital-take-up,74.07,1000,1350,2024-04-02T06:30:00+00:00",
        ]
        uptime = http.get("/v1/kpis", params={"data_type": "uptime-percent", "from": "2024-01", "to": "2024-01"},
                          headers=AUTH).json()["data"]
        assert [(v["value"], v["numerator"], v["denominator"]) for v in uptime] == [(99.91, 44600, 44640)]
        export = http.get("/v1/exports/transactions-by-channel.csv", headers=AUTH)
        assert export.content == (EXPECTED / "transactions-by-channel.csv").read_bytes()
        monthly = http.get("/v1/exports/performance-data/2024-03.json", headers=AUTH)
        assert monthly.content == (EXPECTED / "make_a_lasting_power_of_attorney_24_03.json").read_bytes()
        assert monthly.headers["content-disposition"] == (
            'attachment; filename="make_a_lasting_power_of_attorney_24_03.json"')
        assert http.get("/v1/openapi.json").json() == json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))

        created = http.post("/v1/feedback", json={"rating": "very-satisfied", "details": "Done in <10 min's>"},
                            headers={"User-Agent": "curl/8.5", "Referer": "http://localhost/lpa/123/summary?x=y"})
        assert created.status_code == 201
        assert feedback_rows(backend)[-1][0] == created.json()["id"]
        assert feedback_rows(backend)[-1][2] == {
            "rating": "very-satisfied", "details": "Done in &lt;10 min&#039;s&gt;", "email": "", "phone": "",
            "agent": "curl/8.5", "fromPage": "/lpa/123/summary",
        }
        oversize = http.post("/v1/feedback", content=b"{" + b" " * 40_000 + b"}",
                             headers={"Content-Type": "application/json"})
        assert oversize.status_code == 413 and oversize.json()["errors"][0]["code"] == "OPGDATA-API-FILESIZELIMIT"
        assert http.get("/v1/healthcheck").status_code == 200  # the server is still fine afterwards


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_serve_command_runs_the_api(backend):
    seed_publication(backend)
    port = _free_port()
    env = {**os.environ, **backend.env(), "PERFDATA_API_TOKEN": TOKEN}
    process = subprocess.Popen(
        [sys.executable, "-m", "perfdata_assets.web.server", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/kpis/latest", headers=AUTH, timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "perfdata serve did not start"
                time.sleep(0.1)
        assert response.status_code == 200 and len(response.json()["data"]) == 10  # every data type
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_refuses_bad_configuration_in_one_line(monkeypatch):
    monkeypatch.delenv("LPA_DATABASE_URL", raising=False)
    monkeypatch.setenv("PERFDATA_DATABASE_URL", "sqlite:///x.sqlite")
    result = CliRunner().invoke(serve_command, [])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "perfdata: error: PERFDATA_DATABASE_URL is set but LPA_DATABASE_URL is not: "
        "perfdata needs the LPA service database to read from"
    ]
    monkeypatch.setenv("LPA_DATABASE_URL", "mysql://x@y/z")
    result = CliRunner().invoke(serve_command, [])
    assert result.exit_code == 2 and "LPA_DATABASE_URL uses 'mysql'" in result.output
