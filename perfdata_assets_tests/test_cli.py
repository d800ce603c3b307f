"""The commands a data engineer types, run as they would type them, against a real PostgreSQL."""

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from perfdata_assets.db import engines
from perfdata_assets.sources.lpa.tables import create_source_tables
from perfdata_assets_tests.event_log_runs import postgres_instance_yaml
from perfdata_assets_tests.support import SourceRows, london, utc

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.postgres


def seed(url: str) -> None:
    engine = engines.lpa_write_engine(url)
    create_source_tables(engine)
    src = SourceRows(engine)
    src.feedback(london("2024-01-31 23:30"), "very-satisfied")
    src.feedback(utc("2024-01-10 10:00"), "dissatisfied")
    src.feedback(utc("2024-02-10 10:00"), "satisfied", fromPage="/help/it&#039;s &amp; more?email=a&amp;b")
    src.feedback(utc("2024-02-11 10:00"), "Very-Satisfied")
    src.lpa(started=london("2024-01-05 10:00"), created=london("2024-02-01 00:10"))
    src.lpa(started=london("2024-01-06 10:00"))
    src.lpa(started=london("2024-02-06 10:00"), created=london("2024-02-07 10:00"), completed=london("2024-02-08 10:00"))
    engine.dispose()


def cli_env(url: str, tmp_path: Path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LPA_", "PERFDATA_", "SIRIUS_", "DAGSTER_", "UPTIME_", "SERVICE_UPTIME", "AWS_"))}
    return {**env, "LPA_DATABASE_URL": url, "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "PERFDATA_HOME": str(tmp_path / "home"), "PERFDATA_START_DATE": "2023-12-01", **extra}


def run(args: list[str], env: dict, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    (cwd / "dagster_home").mkdir(exist_ok=True)
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if ok:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def kpi_rows(url: str) -> dict:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        out = {
            "user_satisfaction": [tuple(r) for r in conn.exec_driver_sql(
                "SELECT month::text, responses, satisfied_percent::text, score_percent::text "
                "FROM perfdata.user_satisfaction ORDER BY month")],
            "completion_rate": [tuple(r) for r in conn.exec_driver_sql(
                "SELECT month::text, started, created, completed, completion_rate_percent::text "
                "FROM perfdata.completion_rate ORDER BY month")],
        }
    engine.dispose()
    return out


EXPECTED = {
    # Jan: very-satisfied + dissatisfied -> 50.00 %, score (4 + 1) / 8 = 62.50; Feb: satisfied only.
    "user_satisfaction": [("2024-01-01", 2, "50.00", "62.50"), ("2024-02-01", 1, "100.00", "75.00")],
    "completion_rate": [("2024-01-01", 2, 0, 0, "0.00"), ("2024-02-01", 1, 2, 1, "200.00")],
}


def test_upgrade_then_dagster_asset_materialize_with_partition_ranges(postgres_url, tmp_path):
    seed(postgres_url)
    env = cli_env(postgres_url, tmp_path)
    dagster = [str(BIN / "dagster"), "asset", "materialize", "-m", "perfdata_assets.definitions"]

    refused = run(dagster + ["--select", "raw_feedback", "--partition-range", "2024-01-01...2024-01-02"],
                  env, tmp_path, ok=False)
    assert refused.returncode != 0
    assert "run `perfdata db upgrade`" in refused.stdout + refused.stderr

    assert "empty -> 000" in run([str(BIN / "perfdata"), "db", "upgrade"], env, tmp_path).stdout
    run(dagster + ["--select", "raw_feedback,lpa_lifecycle_events", "--partition-range", "2024-01-01...2024-02-29"],
        env, tmp_path)
    run(dagster + ["--select", "user_satisfaction,completion_rate", "--partition-range", "2024-01-01...2024-02-01"],
        env, tmp_path)
    assert kpi_rows(postgres_url) == EXPECTED

    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        page = conn.exec_driver_sql(
            "SELECT from_page FROM perfdata.raw_feedback WHERE rating = 'satisfied'").scalar_one()
        tables = {r[0] for r in conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'perfdata'")}
    engine.dispose()
    assert page == "/help/it's & more"  # HTML entities decoded; the query string (personal data?) dropped
    assert {"raw_feedback", "lpa_lifecycle_events", "user_satisfaction", "completion_rate"} <= tables


def test_perfdata_backfill_and_kpis_in_one_command_each(postgres_url, tmp_path):
    seed(postgres_url)
    counts = tmp_path / "counts.csv"
    lines = ["date,channel,count"]
    for day in range(1, 32):
        lines += [f"2024-01-{day:02d},online,3", f"2024-01-{day:02d},paper,1"]
    for day in range(1, 30):
        lines += [f"2024-02-{day:02d},online,1", f"2024-02-{day:02d},phone,1"]
    counts.write_text("\n".join(lines) + "\n")
    env = cli_env(postgres_url, tmp_path, SIRIUS_CHANNEL_COUNTS_CSV=str(counts))
    perfdata = str(BIN / "perfdata")

    run([perfdata, "db", "upgrade"], env, tmp_path)
    out = run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2024-02-29"], env, tmp_path).stdout
    assert "daily run" in out and "monthly run" in out
    assert kpi_rows(postgres_url) == EXPECTED

    figures = json.loads(run([perfdata, "kpis", "--json"], env, tmp_path).stdout)
    assert [(f["month"], f["take_up_percent"], f["satisfied_percent"]) for f in figures] == [
        ("2024-01-01", 75.0, 50.0), ("2024-02-01", 50.0, 100.0)]
    csv_out = run([perfdata, "kpis", "--csv"], env, tmp_path).stdout.splitlines()
    assert csv_out[0].startswith("month,responses,satisfied_percent") and len(csv_out) == 3
    table = run([perfdata, "kpis"], env, tmp_path).stdout
    assert "2024-02-01" in table and "200.00" in table

    too_late = run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2999-01-01"], env, tmp_path, ok=False)
    assert too_late.returncode == 2 and "has not ended yet" in too_late.stderr and "Traceback" not in too_late.stderr


def published_data_types(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT period_start::text, data_type FROM perfdata.published_kpis ORDER BY period_start, data_type").all()
    engine.dispose()
    out: dict[str, list[str]] = {}
    for month, data_type in rows:
        out.setdefault(month, []).append(data_type)
    return out


SATISFACTION_AND_COMPLETION = sorted([
    "user-satisfaction-percent", "very-dissatisfied", "dissatisfied", "neither", "satisfied", "very-satisfied",
    "completion-rate-percent", "user-satisfaction-score"])


def test_with_only_the_lpa_database_backfill_publishes_what_it_can_and_names_what_it_skipped(postgres_url, tmp_path):
    seed(postgres_url)
    env = cli_env(postgres_url, tmp_path, PERFDATA_EXPORT_DIR=str(tmp_path / "exports"))
    perfdata = str(BIN / "perfdata")
    run([perfdata, "db", "upgrade"], env, tmp_path)

    out = run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2024-02-29"], env, tmp_path).stdout
    assert "skipping sirius_channel_counts, digital_take_up: no channel counts source: set SIRIUS_BASE_URL" in out
    assert "skipping health_check_uptime, service_uptime: no uptime source: set UPTIME_HEALTH_CHECK_ID" in out
    assert "skipping opg_publication_delivery: no delivery to OPG: PERFDATA_PUBLICATION_BUCKET is not set" in out
    assert "skipping service_costs, cost_per_transaction: no service costs source: set SERVICE_COSTS_CSV" in out
    assert kpi_rows(postgres_url) == EXPECTED
    assert published_data_types(postgres_url) == {
        "2024-01-01": SATISFACTION_AND_COMPLETION, "2024-02-01": SATISFACTION_AND_COMPLETION}
    january = json.loads((tmp_path / "exports" / "make_a_lasting_power_of_attorney_24_01.json").read_text())
    assert [r["dataType"] for r in january][:6] == [
        "user-satisfaction-percent", "very-dissatisfied", "dissatisfied", "neither", "satisfied", "very-satisfied"]

    # --select takes asset names; an unconfigured one is refused with the reason, an unknown one listed.
    refused = run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2024-01-31", "--select",
                   "raw_feedback,digital_take_up"], env, tmp_path, ok=False)
    assert refused.returncode == 2 and "--select names digital_take_up, but no channel counts source" in refused.stderr
    unknown = run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2024-01-31", "--select", "nope"],
                  env, tmp_path, ok=False)
    assert unknown.returncode == 2 and "--select: no asset named nope; the assets are" in unknown.stderr
    # A wrong cost setting stops the backfill before any run, in one line naming the variable.
    costs = tmp_path / "costs.csv"
    costs.write_text("month,channel,category,amount_gbp\n2024-01,digital,staff,1.00\n")
    wrong = run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2024-01-31"],
                {**env, "SERVICE_COSTS_CSV": str(costs), "SERVICE_COST_AWS_ACCOUNTS": "1234-5678-9012",
                 "USD_GBP_RATES_CSV": str(costs)}, tmp_path, ok=False)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr and "materialising" not in wrong.stdout
    assert [line for line in wrong.stderr.splitlines() if line.startswith("perfdata")] == [
        "perfdata: error: SERVICE_COST_AWS_ACCOUNTS='1234-5678-9012': expected comma-separated 12-digit AWS account "
        "ids, e.g. 123456789012,210987654321"]
    only = run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2024-01-31", "--select",
                "raw_feedback,user_satisfaction"], env, tmp_path).stdout
    assert "materialising daily assets (raw_feedback)" in only and "monthly assets (user_satisfaction)" in only


def test_with_only_the_lpa_database_dagster_asset_materialize_publishes_too(postgres_url, tmp_path):
    seed(postgres_url)
    env = cli_env(postgres_url, tmp_path, PERFDATA_EXPORT_DIR=str(tmp_path / "exports"))
    dagster = [str(BIN / "dagster"), "asset", "materialize", "-m", "perfdata_assets.definitions"]
    run([str(BIN / "perfdata"), "db", "upgrade"], env, tmp_path)
    run(dagster + ["--select", "raw_feedback,lpa_lifecycle_events", "--partition-range", "2024-01-01...2024-02-29"],
        env, tmp_path)
    run(dagster + ["--select", "user_satisfaction,completion_rate,published_kpis,performance_data_exports",
                   "--partition-range", "2024-01-01...2024-02-01"], env, tmp_path)
    assert published_data_types(postgres_url) == {
        "2024-01-01": SATISFACTION_AND_COMPLETION, "2024-02-01": SATISFACTION_AND_COMPLETION}
    assert (tmp_path / "exports" / "make_a_lasting_power_of_attorney_24_02.json").exists()


def test_dagster_materialize_against_a_sirius_that_throttles_and_fails_first(postgres_url, tmp_path):
    """The issue's acceptance: any server following the contract, 503 and 429 before 200."""
    from perfdata_assets.devtools.sirius_stub import SiriusStub, synthetic_channel_counts

    seed(postgres_url)
    with SiriusStub(seed=11, complete_through=dt.date(2024, 3, 31), throttle_first=1, fail_first=2, retry_after=1,
                    require_signature=True, access_key="AKIDCLITEST", secret_key="cli-test-secret") as stub:
        env = cli_env(postgres_url, tmp_path, SIRIUS_BASE_URL=stub.base_url, AWS_ACCESS_KEY_ID="AKIDCLITEST",
                      AWS_SECRET_ACCESS_KEY="cli-test-secret", NO_PROXY="127.0.0.1")
        dagster = [str(BIN / "dagster"), "asset", "materialize", "-m", "perfdata_assets.definitions"]
        run([str(BIN / "perfdata"), "db", "upgrade"], env, tmp_path)
        run(dagster + ["--select", "sirius_channel_counts", "--partition-range", "2024-01-01...2024-03-31"],
            env, tmp_path)
        run(dagster + ["--select", "digital_take_up", "--partition-range", "2024-01-01...2024-03-01"], env, tmp_path)
        assert stub.request_count == 3  # 429, then 503, then the 91 days in one request
    counts = synthetic_channel_counts(dt.date(2024, 1, 1), dt.date(2024, 3, 31), seed=11)
    expected = []
    for month in (1, 2, 3):
        digital = sum(c.count for c in counts if c.day.month == month and c.channel == "online")
        total = sum(c.count for c in counts if c.day.month == month)
        percent = (Decimal(100 * digital) / total).quantize(Decimal("0.01"), ROUND_HALF_UP)
        expected.append((f"2024-{month:02d}-01", digital, total, str(percent)))
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.exec_driver_sql(
            "SELECT month::text, digital, total, take_up_percent::text FROM perfdata.digital_take_up ORDER BY month")]
    engine.dispose()
    assert rows == expected


def postgres_dagster_home(tmp_path: Path, url: str, scheme: str) -> Path:
    """A DAGSTER_HOME whose instance stores its runs and events in the database at URL."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The storages as deploy/dagster.yaml names them, perfdata's event log included.
    (home / "dagster.yaml").write_text(
        postgres_instance_yaml(url, "perfdata_assets.event_log", "BatchedPostgresEventLogStorage", scheme))
    return home


def test_perfdata_backfill_on_a_postgres_instance_marks_a_failed_runs_partitions_failed(postgres_url, tmp_path):
    """`perfdata backfill` tunes the instance's event writes (batched, pooled connections), and the UI
    still sees every partition: materialised, or failed when the run failed (planned one by one)."""
    import dagster as dg

    from perfdata_assets.calendar import daily_partitions

    seed(postgres_url)
    january = tmp_path / "january.csv"
    january.write_text("date,channel,count\n" + "".join(f"2024-01-{d:02d},online,2\n" for d in range(1, 32)))
    home = postgres_dagster_home(tmp_path, postgres_url, "postgresql+psycopg2")  # as deploy/dagster.yaml
    env = cli_env(postgres_url, tmp_path, SIRIUS_CHANNEL_COUNTS_CSV=str(january))
    perfdata = str(BIN / "perfdata")
    run([perfdata, "db", "upgrade"], env, tmp_path)

    # February's counts are not in the file: the daily run fails on them.
    failed = run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2024-02-29"], env, tmp_path, ok=False)
    assert failed.returncode == 2 and "sirius_channel_counts" in failed.stderr, failed.stderr[-2000:]

    days = [f"2024-01-{d:02d}" for d in range(1, 32)] + [f"2024-02-{d:02d}" for d in range(1, 30)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage).__name__ == "BatchedPostgresEventLogStorage"

        def status(asset: str) -> set:
            return set(instance.get_status_by_partition(dg.AssetKey(asset), days, daily_partitions).values())

        assert status("raw_feedback") == {dg.AssetPartitionStatus.MATERIALIZED}
        assert status("sirius_channel_counts") == {dg.AssetPartitionStatus.FAILED}
        planned = instance.fetch_planned_materializations(dg.AssetKey("raw_feedback"), limit=1000).records
        assert sorted(r.partition_key for r in planned) == days  # one planned event per day

    # With February's counts the same command completes, and every partition is materialised.
    both = tmp_path / "both.csv"
    both.write_text(january.read_text() + "".join(f"2024-02-{d:02d},online,1\n" for d in range(1, 30)))
    run([perfdata, "backfill", "--start", "2024-01-01", "--end", "2024-02-29"],
        {**env, "SIRIUS_CHANNEL_COUNTS_CSV": str(both)}, tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        statuses = instance.get_status_by_partition(dg.AssetKey("sirius_channel_counts"), days, daily_partitions)
        assert set(statuses.values()) == {dg.AssetPartitionStatus.MATERIALIZED}


def test_perfdata_backfill_refuses_an_instance_dagster_postgres_cannot_use(postgres_url, tmp_path):
    # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, on which dagster-postgres fails mid-run.
    postgres_dagster_home(tmp_path, postgres_url, "postgresql")
    seed(postgres_url)  # every other check passes: only the instance is wrong
    env = cli_env(postgres_url, tmp_path)
    run([str(BIN / "perfdata"), "db", "upgrade"], env, tmp_path)
    refused = run([str(BIN / "perfdata"), "backfill", "--start", "2024-01-01", "--end", "2024-01-31"], env, tmp_path,
                  ok=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "dagster-postgres needs psycopg2: write the URL as postgresql+psycopg2://" in refused.stderr
