"""The open data over HTTP (kpis.md section 7): no token, the bytes of the files, ETag / Last-Modified / 304,
the Link to the metadata, and a CSVW validator finding the metadata from the CSV's URL over real HTTP."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import csvw
import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfdata_assets.publishing.assets import publish
from perfdata_assets.web import open_data as web_open_data
from perfdata_assets_tests.publishing.fixtures import MONTHS, PUBLISHED_AT, seed_publication
from perfdata_assets_tests.support import running_server
from perfdata_assets_tests.web.conftest import AUTH, app_for

EXPECTED = Path(__file__).parent.parent / "publishing" / "expected"
CSV_NAME = "make-a-lasting-power-of-attorney-kpis.csv"
METADATA_NAME = "make-a-lasting-power-of-attorney-kpis.csv-metadata.json"
CSV_URL = f"/open-data/{CSV_NAME}"
METADATA_URL = f"/open-data/{METADATA_NAME}"
LAST_MODIFIED = "Tue, 02 Apr 2024 06:30:00 GMT"  # fixtures.PUBLISHED_AT
LINK = f'<{METADATA_NAME}>; rel="describedby"; type="application/csvm+json"'


@pytest.mark.parametrize("token", ["test-token-0f3c9a", None])
def test_the_open_routes_need_no_token(backend, token):
    seed_publication(backend)
    with TestClient(app_for(backend, token=token)) as client:
        # The KPI routes are closed without the token (401), or altogether without one configured (503) ...
        assert client.get("/v1/kpis/latest").status_code == (401 if token else 503)
        # ... the open data is not.
        csv = client.get(CSV_URL)
        assert csv.status_code == 200
        assert csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert csv.content == (EXPECTED / CSV_NAME).read_bytes()
        assert csv.headers["link"] == LINK
        assert csv.headers["last-modified"] == LAST_MODIFIED
        assert csv.headers["access-control-allow-origin"] == "*"
        metadata = client.get(METADATA_URL)
        assert metadata.status_code == 200
        assert metadata.headers["content-type"] == "application/csvm+json"
        assert metadata.content == (EXPECTED / METADATA_NAME).read_bytes()
        assert metadata.json()["url"] == CSV_NAME and "link" not in metadata.headers
        assert metadata.headers["last-modified"] == LAST_MODIFIED
        assert csv.headers["etag"] != metadata.headers["etag"]
        # A token sent anyway changes nothing.
        assert client.get(CSV_URL, headers=AUTH).content == csv.content


def test_a_matching_etag_or_date_is_answered_304(backend):
    seed_publication(backend)
    with TestClient(app_for(backend)) as client:
        for url in (CSV_URL, METADATA_URL):
            first = client.get(url)
            etag = first.headers["etag"]
            assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
            for matching in (etag, f"W/{etag}", f'"other", {etag}', "*"):
                again = client.get(url, headers={"If-None-Match": matching})
                assert again.status_code == 304, (url, matching)
                assert again.content == b"" and again.headers["etag"] == etag
                assert again.headers["last-modified"] == LAST_MODIFIED
            assert client.get(url, headers={"If-None-Match": '"other"'}).content == first.content
            # If-Modified-Since: not modified since that moment or a later one; modified since an earlier one.
            assert client.get(url, headers={"If-Modified-Since": LAST_MODIFIED}).status_code == 304
            assert client.get(url, headers={"If-Modified-Since": "Wed, 03 Apr 2024 00:00:00 GMT"}).status_code == 304
            assert client.get(url, headers={"If-Modified-Since": "Tue, 02 Apr 2024 06:29:59 GMT"}).status_code == 200
            # An unreadable date is ignored; If-None-Match, when sent, decides alone.
            for junk in ("yesterday", "Tue, 99 Foo 2024 25:61:00 GMT", ""):
                assert client.get(url, headers={"If-Modified-Since": junk}).status_code == 200, junk
            both = {"If-None-Match": '"other"', "If-Modified-Since": LAST_MODIFIED}
            assert client.get(url, headers=both).status_code == 200


def test_a_restatement_changes_the_etag_and_last_modified(backend):
    seed_publication(backend)
    with TestClient(app_for(backend)) as client:
        before = client.get(CSV_URL)
        with backend.dbs.perfdata.begin() as conn:
            conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 3, completion_rate_percent = 100.00 "
                                 "WHERE month = '2024-03-01'"))
            publish(conn, [MONTHS[2]], dt.datetime(2024, 4, 5, 9, 0, tzinfo=dt.timezone.utc), run_id="run-1")
        after = client.get(CSV_URL, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
        assert after.headers["last-modified"] == "Fri, 05 Apr 2024 09:00:00 GMT"
        assert "2024-03-01,month,completion-rate-percent,100.00,3,3,percent,2024-04-05\r\n" in after.text
        metadata = client.get(METADATA_URL).json()
        assert metadata["dc:modified"]["@value"] == "2024-04-05T09:00:00Z"


def _counting_renderings(monkeypatch) -> list[int]:
    """Count the makings of the files behind the routes (the publication's rows into CSV and metadata)."""
    made: list[int] = []
    make = web_open_data.open_data.files

    def counted(rows):
        made.append(len(rows))
        return make(rows)

    monkeypatch.setattr(web_open_data.open_data, "files", counted)
    return made


def test_a_republication_in_the_same_second_is_served_by_the_next_request(backend, monkeypatch):
    """The files kept between requests are never stale: a figure republished with the same published_at,
    the same row count and no restatement (only its counts changed) is in the very next answer."""
    seed_publication(backend)
    made = _counting_renderings(monkeypatch)
    with TestClient(app_for(backend)) as client:
        before = client.get(CSV_URL)
        assert "2024-01-01,month,completion-rate-percent,75.00,150,200,percent,\r\n" in before.text
        with backend.dbs.perfdata.begin() as conn:
            conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 300, started = 400 "
                                 "WHERE month = '2024-01-01'"))
            publish(conn, [MONTHS[0]], PUBLISHED_AT, run_id="run-1")
        after = client.get(CSV_URL, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
        assert "2024-01-01,month,completion-rate-percent,75.00,300,400,percent,\r\n" in after.text
        assert after.headers["last-modified"] == LAST_MODIFIED  # the same second: only the rows tell
        assert len(made) == 2


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_unchanged_requests_reuse_the_files_made_for_the_publication(backend, monkeypatch):
    seed_publication(backend)
    made = _counting_renderings(monkeypatch)
    with TestClient(app_for(backend)) as client:
        first = client.get(CSV_URL)
        for _ in range(3):
            assert client.get(CSV_URL).content == first.content
            assert client.get(METADATA_URL).status_code == 200
            assert client.get(CSV_URL, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
        assert made == [len(first.text.splitlines()) - 1]  # made once, from every published row
        with backend.dbs.perfdata.begin() as conn:
            conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 3, completion_rate_percent = 100.00 "
                                 "WHERE month = '2024-03-01'"))
            publish(conn, [MONTHS[2]], dt.datetime(2024, 4, 5, 9, 0, tzinfo=dt.timezone.utc), run_id="run-1")
        restated = client.get(CSV_URL)
        assert "2024-03-01,month,completion-rate-percent,100.00,3,3,percent,2024-04-05\r\n" in restated.text
        assert client.get(CSV_URL).content == restated.content
        assert len(made) == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_before_the_first_publication_the_file_is_its_header(backend):
    with TestClient(app_for(backend)) as client:
        csv = client.get(CSV_URL)
        assert csv.status_code == 200 and csv.content == (
            b"period_start,period,measure,value,numerator,denominator,unit,last_revised\r\n")
        assert "last-modified" not in csv.headers and csv.headers["etag"]
        assert "dc:modified" not in client.get(METADATA_URL).json()
        assert client.get("/open-data/other.csv").status_code == 404
        assert client.post(CSV_URL).status_code == 405


def test_a_csvw_validator_finds_the_metadata_from_the_csv_url_over_real_http(backend):
    seed_publication(backend)
    with running_server(app_for(backend)) as base, httpx.Client(base_url=base, timeout=10) as http:
        head = http.head(CSV_URL)
        assert head.status_code == 200 and head.headers["link"] == LINK and head.content == b""
        assert http.get(CSV_URL, headers={"If-None-Match": head.headers["etag"]}).status_code == 304
        # The validator is given the CSV's URL only: it follows the Link header (CSVW, "Locating Metadata").
        validated = csvw.CSVW(f"{base}{CSV_URL}", validate=True)
        assert not validated.no_metadata
        assert validated.is_valid, [str(w.message) for w in validated.warnings]
        assert validated.t.common_props["dc:title"] == json.loads((EXPECTED / METADATA_NAME).read_text())["dc:title"]
        assert len(list(validated.tables[0].iterdicts())) == 30


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_open_routes_are_in_the_openapi_document_without_security(backend):
    with TestClient(app_for(backend)) as client:
        document = client.get("/v1/openapi.json").json()
    for path, media_type in ((CSV_URL, "text/csv"), (METADATA_URL, "application/csvm+json")):
        operation = document["paths"][path]["get"]
        assert "security" not in operation and set(document["paths"][path]) == {"get"}
        assert list(operation["responses"]["200"]["content"]) == [media_type]
        assert "304" in operation["responses"]
        assert {p["name"] for p in operation["parameters"]} == {"if-none-match", "if-modified-since"}
    assert "Link" in document["paths"][CSV_URL]["get"]["responses"]["200"]["headers"]
