"""A feedback form POSTed to the API shows up in its month's user_satisfaction figure, and in its publication."""

import datetime as dt

from fastapi.testclient import TestClient

from perfdata_assets.kpis.assets import user_satisfaction
from perfdata_assets.publishing.assets import publish
from perfdata_assets.sources.lpa.assets import raw_feedback
from perfdata_assets.sources.lpa.tables import feedback
from perfdata_assets_tests.support import london, materialize
from perfdata_assets_tests.web.conftest import AUTH, app_for


def test_posted_feedback_is_counted_in_its_months_figure(backend):
    with TestClient(app_for(backend)) as client:
        for rating in ("very-satisfied", "dissatisfied", "very-satisfied"):
            response = client.post("/v1/feedback", json={"rating": rating, "details": "It's <fine> & quick"},
                                   headers={"User-Agent": "Mozilla/5.0", "Referer": "https://x/lpa/1/donor?a=b"})
            assert response.status_code == 201
    # Today has not ended, so no partition holds it yet: the rows are moved, exactly as
    # the API stored them, to a day that has (as if they had been posted then).
    with backend.source.engine.begin() as conn:
        conn.execute(feedback.update().values(received=london("2024-05-31 23:59")))
    assert materialize([raw_feedback], backend, "2024-05-01", "2024-05-31").success
    assert materialize([user_satisfaction], backend, "2024-05-01").success
    rows = backend.query("SELECT responses, very_satisfied, dissatisfied, satisfied_percent, score_percent "
                         "FROM perfdata.user_satisfaction")
    # 2 of 3 satisfied: 66.67; score 100 × (4 + 1 + 4) / 12 = 75.00
    assert [(r[0], r[1], r[2], round(float(r[3]), 2), round(float(r[4]), 2)) for r in rows] == [(3, 2, 1, 66.67, 75.0)]
    assert backend.query("SELECT DISTINCT from_page FROM perfdata.raw_feedback") == [("/lpa/1/donor",)]

    # Published, the API reads back the figure and the count at each level.
    with backend.dbs.perfdata.begin() as conn:
        publish(conn, [dt.date(2024, 5, 1)], dt.datetime(2024, 6, 2, tzinfo=dt.timezone.utc))
    with TestClient(app_for(backend)) as client:
        data = client.get("/v1/kpis", params={"from": "2024-05", "to": "2024-05"}, headers=AUTH).json()["data"]
    assert [(r["data_type"], r["value"], r["numerator"], r["denominator"]) for r in data] == [
        ("user-satisfaction-percent", 66.67, 2, 3),
        ("very-dissatisfied", 0, 0, 3), ("dissatisfied", 1, 1, 3), ("neither", 0, 0, 3), ("satisfied", 0, 0, 3),
        ("very-satisfied", 2, 2, 3),
        ("user-satisfaction-score", 75.0, None, 3),  # the other KPIs have no inputs for May: not published
    ]
