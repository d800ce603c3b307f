"""A restated month is visible everywhere a reader looks: the API, the dashboard and the webhooks.

kpis.md section 5 keeps every restatement; issue #14 asks that none is silent.
One late correction to March is published again through Dagster, and each of
the three readers is asked what changed.
"""

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfdata_assets.calendar import LONDON
from perfdata_assets.publishing.assets import published_kpis
from perfdata_assets.publishing.sensors import published_kpis_webhook
from perfdata_assets.web.dashboard.views import date_name
from perfdata_assets_tests.publishing.fixtures import seed_kpis
from perfdata_assets_tests.support import materialize
from perfdata_assets_tests.web.conftest import AUTH, app_for
from perfdata_assets_tests.webhook_receiver import Receiver, notifier


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


def test_a_restated_month_is_served_marked_and_announced(backend, instance):
    seed_kpis(backend)
    assert materialize([published_kpis], backend, "2024-01-01", "2024-03-01", instance=instance).success

    with Receiver() as receiver:
        context = dg.build_sensor_context(instance=instance, resources={"webhooks": notifier(receiver.url)})
        published_kpis_webhook(context)
        assert [b["event"] for b in receiver.bodies] == ["kpis-published"] * 3
        first_published = receiver.bodies[2]["published_at"]

        # A late correction: two more LPAs created in March (133.33 % -> 200.00 %), published again.
        with backend.dbs.perfdata.begin() as conn:
            conn.execute(sa.text("UPDATE perfdata.completion_rate SET created = 6, completion_rate_percent = 200.00 "
                                 "WHERE month = '2024-03-01'"))
        assert materialize([published_kpis], backend, "2024-03-01", instance=instance).success
        published_kpis_webhook(context)
        # Announced: March published again, then what it revised, once.
        assert [(b["event"], b["month"]) for b in receiver.bodies[3:]] == [
            ("kpis-published", "2024-03"), ("kpis-revised", "2024-03")]
        revised = receiver.bodies[4]
        assert [(r["data_type"], r["old_value"], r["new_value"]) for r in revised["revisions"]] == [
            ("completion-rate-percent", 133.33, 200.0)]
        assert revised["text"].startswith("Make a LPA KPIs for 2024-03 revised: completion-rate-percent 133.33 → 200.00")
        assert published_kpis_webhook(context).skip_message == "no newly published month"
        assert len(receiver.bodies) == 5

    with TestClient(app_for(backend)) as client:
        # Served: the old value beside the new, and when.
        (revision,) = client.get("/v1/kpis/revisions", headers=AUTH).json()["data"]
        assert revision["period_start"] == "2024-03-01" and revision["data_type"] == "completion-rate-percent"
        assert (revision["old_value"], revision["new_value"]) == (133.33, 200.0)
        assert revision["restated_at"] == revised["revisions"][0]["restated_at"]
        restated_at = dt.datetime.fromisoformat(revision["restated_at"])
        assert revision["old_published_at"] == revised["revisions"][0]["old_published_at"] == first_published

        # Marked: in the month's table row and in the headline (March is the latest month), nowhere else.
        page = client.get("/").text
        mark = f"Revised on {date_name(restated_at.astimezone(LONDON).date())}, was 133.33%"
        assert f'id="completion-rate-revised-2024-03-01">{mark}</span>' in page
        assert f'id="completion-rate-latest-revised">{mark}</p>' in page
        assert page.count("Revised on") == 2
        assert "200.00%" in page
