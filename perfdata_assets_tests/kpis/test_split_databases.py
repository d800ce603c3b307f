"""perfdata writing to another database than the LPA service's: rows stream through staging.

The figures must be exactly those of the embedded architecture, in both directions.
"""

import pytest

from perfdata_assets.db import engines
from perfdata_assets.kpis.assets import completion_rate, user_satisfaction
from perfdata_assets.sources.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets_tests.conftest import _make_backend
from perfdata_assets_tests.kpis.test_user_satisfaction_and_completion import (
    EXPECTED_COMPLETION,
    EXPECTED_SATISFACTION,
    as_tuple,
    completion_rows,
    satisfaction_rows,
    seed_feedback,
    seed_lpas,
)
from perfdata_assets_tests.support import materialize

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["lpa-on-postgres", "perfdata-on-postgres"])
def split_backend(request, postgres_url, tmp_path):
    sqlite = f"sqlite:///{tmp_path / 'other.sqlite'}"
    if request.param == "lpa-on-postgres":
        backend = _make_backend("split", lpa_url=postgres_url, perfdata_url=sqlite)
    else:
        backend = _make_backend("split", lpa_url=sqlite, perfdata_url=postgres_url)
    assert not backend.dbs.same_database
    yield backend
    engines.databases.cache_clear()


def test_streamed_figures_equal_the_embedded_ones(split_backend, monkeypatch):
    # Small batches, so the streaming loop really runs more than once.
    monkeypatch.setattr("perfdata_assets.db.transfer.BATCH_ROWS", 2)
    seed_feedback(split_backend.source)
    seed_lpas(split_backend.source)
    assert materialize([raw_feedback, lpa_lifecycle_events], split_backend, "2024-02-01", "2024-06-30").success
    assert materialize([user_satisfaction, completion_rate], split_backend, "2024-02-01", "2024-06-01").success
    assert [as_tuple(r) for r in satisfaction_rows(split_backend)] == EXPECTED_SATISFACTION
    assert completion_rows(split_backend)[:3] == EXPECTED_COMPLETION
    # Re-running merges the same rows: no duplicates.
    assert materialize([raw_feedback, lpa_lifecycle_events], split_backend, "2024-02-01", "2024-06-30").success
    assert split_backend.query("SELECT count(*) FROM perfdata.lpa_lifecycle_events") == [(9,)]
