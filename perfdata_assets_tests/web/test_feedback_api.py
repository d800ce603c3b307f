"""POST /v1/feedback: every rule of sources.md, checked against the row stored in the LPA feedback table.

The cases run as one table per backend (SQLite and PostgreSQL's jsonb) so
that each case is a request, not a fresh database.
"""

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfdata_assets.web.feedback import htmlspecialchars
from perfdata_assets.web.ratelimit import RateLimit, RateLimiter
from perfdata_assets_tests.web.conftest import app_for, feedback_rows

UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
REFERER = "https://www.lastingpowerofattorney.service.gov.uk/user/dashboard?lpa=A12345678901&name=Ada"
BASE = {"rating": "satisfied", "details": "Quick and clear."}
STORED = {"rating": "satisfied", "details": "Quick and clear.", "email": "", "phone": "", "agent": UA,
          "fromPage": "/user/dashboard"}

# name, body (dict or raw bytes), extra headers, the message expected in the feedback table
VALID = [
    ("plain", BASE, {}, STORED),
    ("every rating", {**BASE, "rating": "neither-satisfied-or-dissatisfied"}, {},
     {**STORED, "rating": "neither-satisfied-or-dissatisfied"}),
    ("unicode and emoji", {**BASE, "details": "Très bien 👍🏽 — 完了 ✅"}, {},
     {**STORED, "details": "Très bien 👍🏽 — 完了 ✅"}),
    ("escaped as PHP htmlspecialchars ENT_QUOTES", {**BASE, "details": "<b>\"Tom\" & Jerry's</b> &amp;"},
     {"User-Agent": "O'Reilly <bot> \"1\" & co", "Referer": "https://example.org/it's/<x>?q=1"},
     {**STORED, "details": "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&#039;s&lt;/b&gt; &amp;amp;",
      "agent": "O&#039;Reilly &lt;bot&gt; &quot;1&quot; &amp; co", "fromPage": "/it&#039;s/&lt;x&gt;"}),
    ("SQL-looking text is stored verbatim and harmless",
     {**BASE, "details": "'); DROP TABLE feedback; -- \" OR 1=1; SELECT pg_sleep(10);"}, {},
     {**STORED, "details": "&#039;); DROP TABLE feedback; -- &quot; OR 1=1; SELECT pg_sleep(10);"}),
    ("2000 characters", {**BASE, "details": "é" * 2000}, {}, {**STORED, "details": "é" * 2000}),
    ("2000 emoji, each a JSON surrogate pair", json.dumps({**BASE, "details": "😀" * 2000}).encode(), {},
     {**STORED, "details": "😀" * 2000}),
    ("one character", {**BASE, "details": "x"}, {}, {**STORED, "details": "x"}),
    ("email lower-cased, phone kept", {**BASE, "email": "Ada.Lovelace+LPA@Example.CO.UK", "phone": "+44 (0)20 7946-0000"},
     {}, {**STORED, "email": "ada.lovelace+lpa@example.co.uk", "phone": "+44 (0)20 7946-0000"}),
    ("empty and null optional fields", {**BASE, "email": "", "phone": None}, {}, STORED),
    ("no referer", BASE, {"Referer": None}, {**STORED, "fromPage": "Unknown"}),
    ("referer without a path", BASE, {"Referer": "https://www.gov.uk"}, {**STORED, "fromPage": "Unknown"}),
    ("keys the form does not have are ignored; agent and page come from headers",
     {**BASE, "agent": "spoofed", "fromPage": "/spoofed", "received": "2001-01-01", "id": 1}, {}, STORED),
]

# name, body, content type, status, the errors' details
INVALID = [
    ("missing rating", {"details": "x"}, 400, ["rating: is required"]),
    ("rating in the wrong case", {**BASE, "rating": "Satisfied"}, 400, ["rating: must be one of very-dissatisfied"]),
    ("rating as a label", {**BASE, "rating": "Very satisfied"}, 400, ["rating: must be one of"]),
    ("rating as a number", {**BASE, "rating": 5}, 400, ["rating: must be one of"]),
    ("missing details", {"rating": "satisfied"}, 400, ["details: is required"]),
    ("empty details", {**BASE, "details": ""}, 400, ["details: must be text of 1 to 2000 characters"]),
    ("2001 characters", {**BASE, "details": "é" * 2001}, 400, ["details: must be text of 1 to 2000 characters"]),
    ("2001 emoji", {**BASE, "details": "😀" * 2001}, 400, ["details: must be text of 1 to 2000 characters"]),
    ("details not text", {**BASE, "details": ["x"]}, 400, ["details: must be text"]),
    ("details with NUL", {**BASE, "details": "a\u0000b"}, 400, ["details: must not contain NUL"]),
    ("details with an unpaired surrogate", b'{"rating": "satisfied", "details": "a\\ud800b"}', 400,
     ["details: must not contain NUL characters or unpaired surrogates"]),
    ("bad email", {**BASE, "email": "not-an-email"}, 400, ["email: must be a valid email address"]),
    ("email without a top-level domain", {**BASE, "email": "ada@localhost"}, 400, ["email: must be a valid"]),
    ("email with a space", {**BASE, "email": "ada lovelace@example.com"}, 400, ["email: must be a valid"]),
    ("email with a trailing newline", {**BASE, "email": "ada@example.com\n"}, 400, ["email: must be a valid"]),
    ("email as a number", {**BASE, "email": 42}, 400, ["email: must be a valid"]),
    ("phone with letters", {**BASE, "phone": "call me maybe"}, 400, ["phone: must be at most 20 digits"]),
    ("phone of 21 characters", {**BASE, "phone": "0" * 21}, 400, ["phone: must be at most 20 digits"]),
    ("phone without digits", {**BASE, "phone": "+()"}, 400, ["phone: must be at most 20 digits"]),
    ("two problems at once", {}, 400, ["rating: is required", "details: is required"]),
    ("not JSON", b"rating=satisfied&details=x", 400, ["body: must be a JSON object"]),
    ("not UTF-8", b'{"rating": "satisfied", "details": "\xff"}', 400, ["body: must be a JSON object"]),
    ("a JSON array", b'["satisfied", "x"]', 400, ["body: must be a JSON object"]),
    ("deeply nested JSON", b"[" * 20000, 400, ["body: must be a JSON object"]),
    ("empty body", b"", 400, ["body: must be a JSON object"]),
    ("oversize body", {**BASE, "details": "x" * 40_000}, 413, ["body: must be at most 32768 bytes"]),
]


def post(client, body, headers=None, content_type="application/json"):
    headers = {"User-Agent": UA, "Referer": REFERER, "Content-Type": content_type, **(headers or {})}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v1/feedback", content=content,
                       headers={k: v for k, v in headers.items() if v is not None})


def test_valid_submissions_are_stored_as_the_service_stores_them(backend):
    with TestClient(app_for(backend, feedback_rate_limit=RateLimit(burst=100))) as client:
        for name, body, headers, expected in VALID:
            before = dt.datetime.now(dt.timezone.utc)
            response = post(client, body, headers)
            assert response.status_code == 201, (name, response.text)
            feedback_id, received, message = feedback_rows(backend)[-1]
            assert response.json() == {"id": feedback_id}, name
            assert message == expected, name
            assert before - dt.timedelta(seconds=1) <= received <= dt.datetime.now(dt.timezone.utc), name
    assert len(feedback_rows(backend)) == len(VALID)
    # The SQL-looking text did nothing: the table and its rows are all still there.
    with backend.source.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM feedback")).scalar() == len(VALID)


def test_invalid_submissions_are_a_4xx_naming_the_field_and_store_nothing(backend):
    with TestClient(app_for(backend, feedback_rate_limit=RateLimit(burst=100))) as client:
        for name, body, status, details in INVALID:
            response = post(client, body)
            assert response.status_code == status, (name, response.text)
            errors = response.json()["errors"]
            assert len(errors) == len(details), (name, errors)
            for error, detail in zip(errors, details):
                assert error["detail"].startswith(detail), (name, error)
                assert error["code"] == ("OPGDATA-API-FILESIZELIMIT" if status == 413
                                         else "OPGDATA-API-INVALIDREQUEST"), name
            # The submitted values are never echoed back.
            assert "not-an-email" not in response.text and "call me" not in response.text
        opg = post(client, BASE, content_type="text/plain")
        assert opg.status_code == 415 and opg.json()["errors"][0]["detail"] == "Content-Type: must be application/json"
    assert feedback_rows(backend) == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_body_without_content_length_is_bounded_too(backend):
    def chunks():
        for _ in range(40):
            yield b" " * 1024

    with TestClient(app_for(backend)) as client:
        response = client.post("/v1/feedback", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert feedback_rows(backend) == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_rate_limit_answers_429_with_retry_after(backend):
    with TestClient(app_for(backend, feedback_rate_limit=RateLimit(burst=2, per_minute=2))) as client:
        assert [post(client, BASE).status_code for _ in range(2)] == [201, 201]
        limited = post(client, BASE)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "30"
        assert limited.json()["errors"][0]["code"] == "OPGDATA-API-TOOMANYREQUESTS"
        # Invalid submissions spend tokens too: flooding with junk is limited as well.
        assert post(client, {}).status_code == 429
    assert len(feedback_rows(backend)) == 2


def test_the_token_bucket_refills_per_client():
    now = [1000.0]
    limiter = RateLimiter(RateLimit(burst=2, per_minute=6), clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a"), limiter.take("a")] == [None, None, 10]
    assert limiter.take("b") is None  # another client has its own bucket
    now[0] += 9.5
    assert limiter.take("a") == 1  # half a second of the ten left: rounded up
    now[0] += 0.5
    assert limiter.take("a") is None
    now[0] += 3600
    assert [limiter.take("a"), limiter.take("a"), limiter.take("a")] == [None, None, 10]  # never more than burst


def test_the_bucket_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(RateLimiter, "MAX_CLIENTS", 3)
    limiter = RateLimiter(RateLimit(burst=1, per_minute=1), clock=lambda: 0.0)
    for client in "abcd":
        assert limiter.take(client) is None
    assert limiter.take("d") is not None  # recent clients are remembered
    assert limiter.take("a") is None  # the oldest was forgotten (a fresh bucket)


def test_the_database_failing_is_a_503_that_leaks_nothing(backend):
    with backend.source.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE feedback"))
    with TestClient(app_for(backend)) as client:
        response = post(client, {**BASE, "details": "secret details", "email": "jane@example.com"})
    assert response.status_code == 503
    assert response.json()["errors"][0]["detail"] == "the feedback could not be stored; try again later"
    assert "secret" not in response.text and "jane" not in response.text


@pytest.mark.parametrize(
    "text, escaped",
    [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#039;"), ("&amp;", "&amp;amp;"),
     ("plain é 😀", "plain é 😀")],
)
def test_htmlspecialchars_matches_php(text, escaped):
    assert htmlspecialchars(text) == escaped
