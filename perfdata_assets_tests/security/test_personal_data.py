"""Personal data planted in the source never reaches perfdata's tables, exports, logs,
metadata, the Dagster instance's storage, the API or the dashboard.

The whole pipeline runs as a data engineer runs it (`perfdata db upgrade`,
`perfdata backfill` in a real process, on PostgreSQL, the Dagster instance on
disk), then every place perfdata writes is searched byte for byte.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from perfdata_assets.db import engines
from perfdata_assets.sources.lpa.tables import create_source_tables
from perfdata_assets.web.api import create_app
from perfdata_assets_tests.support import SourceRows, london

pytestmark = pytest.mark.postgres
BIN = Path(sys.executable).parent

PLANTED = {
    "email": "planted.person@example.org",
    "phone": "07700 900982",
    "details": "PLANTED-DETAIL-7731 about my mother",
    "donor": "Zebedee Quartermaine",
    "account": "acct-PLANTED-5521",
    "agent": "PlantedBrowser/9.9",
}


def seed(url: str) -> None:
    engine = engines.lpa_write_engine(url)
    create_source_tables(engine)
    src = SourceRows(engine)
    for day in (3, 17):
        src.feedback(london(f"2024-01-{day:02d} 12:00"), "satisfied", details=PLANTED["details"],
                     email=PLANTED["email"], phone=PLANTED["phone"], agent=PLANTED["agent"],
                     fromPage=f"/user/reset?email={PLANTED['email']}&phone={PLANTED['phone']}")
        lpa = src.lpa(started=london(f"2024-01-{day:02d} 09:00"), created=london(f"2024-01-{day + 1:02d} 09:00"),
                      donor=PLANTED["donor"])
        src.update_lpa(lpa, user=PLANTED["account"], search=PLANTED["donor"])
    engine.dispose()


def channel_counts_csv(path: Path) -> Path:
    rows = ["date,channel,count"] + [f"2024-01-{d:02d},online,2" for d in range(1, 32)]
    path.write_text("\n".join(rows) + "\n")
    return path


def uptime_csv(path: Path) -> Path:
    rows = ["date,observed_minutes,healthy_minutes"] + [f"2024-01-{d:02d},1440,1439" for d in range(1, 32)]
    path.write_text("\n".join(rows) + "\n")
    return path


def found_in(blob: bytes) -> list[str]:
    return [name for name, value in PLANTED.items() if value.encode() in blob or value.lower().encode() in blob]


def test_planted_personal_data_is_found_nowhere(postgres_url, tmp_path):
    seed(postgres_url)
    home = tmp_path / "perfdata_home"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LPA_", "PERFDATA_", "SIRIUS_", "DAGSTER_", "SERVICE_UPTIME_", "UPTIME_"))}
    env.update(LPA_DATABASE_URL=postgres_url, PERFDATA_HOME=str(home), DAGSTER_HOME=str(dagster_home),
               PERFDATA_START_DATE="2024-01-01", PERFDATA_EXPORT_DIR=str(tmp_path / "exports"),
               SIRIUS_CHANNEL_COUNTS_CSV=str(channel_counts_csv(tmp_path / "counts.csv")),
               SERVICE_UPTIME_CSV=str(uptime_csv(tmp_path / "uptime.csv")))
    logs = b""
    for args in (["db", "upgrade"], ["backfill", "--start", "2024-01-01", "--end", "2024-01-31"], ["kpis"]):
        result = subprocess.run([str(BIN / "perfdata"), *args], env=env, capture_output=True, timeout=300)
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        logs += result.stdout + result.stderr
    assert b"monthly run" in logs  # the pipeline really ran

    # 1. Every perfdata table and view, every row, every column.
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        relations = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'perfdata'").scalars().all()
        assert {"raw_feedback", "lpa_lifecycle_events", "published_kpis", "latest_kpis"} <= set(relations)
        dump = "".join(str(conn.exec_driver_sql(f'SELECT * FROM perfdata."{r}"').all()) for r in relations)
        assert conn.exec_driver_sql("SELECT count(*) FROM perfdata.raw_feedback").scalar() == 2
    engine.dispose()
    assert found_in(dump.encode()) == []

    # 2. Every export file; 3. every log line of the runs; 4. the Dagster instance's storage
    # on disk: event logs (every metadata value), run records, compute logs.
    exports = list((tmp_path / "exports").iterdir())
    assert exports
    for path in [*exports, *[p for p in dagster_home.rglob("*") if p.is_file()]]:
        assert found_in(path.read_bytes()) == [], path
    assert found_in(logs) == []
    assert len([p for p in dagster_home.rglob("*") if p.is_file()]) > 1

    # 5. The API serves nothing of it either, nor the public dashboard beside it.
    client = TestClient(create_app(postgres_url, postgres_url, api_token="t0ken"))
    headers = {"Authorization": "Bearer t0ken"}
    for url in ("/v1/kpis/latest", "/v1/kpis?from=2024-01&to=2024-01", "/v1/kpis/latest?format=csv",
                "/v1/exports/performance-data/2024-01.json", "/v1/exports/transactions-by-channel.csv",
                "/", "/performance/exports/performance-data/2024-01.json",
                "/open-data/make-a-lasting-power-of-attorney-kpis.csv",
                "/open-data/make-a-lasting-power-of-attorney-kpis.csv-metadata.json"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        assert found_in(response.content) == [], url
