"""`perfdata demo`: a synthetic LPA database, every source on loopback, a full backfill, the KPIs.

The sources run as in production, only pointed at stand-ins on 127.0.0.1: the
Sirius stub (signatures checked), CloudWatch, Cost Explorer and S3 from moto's
server, and a synthetic finance CSV. So the demo materialises every asset,
delivery to "OPG's bucket" included.

With ``--database-url`` the synthetic LPA tables and the perfdata schema go in a
PostgreSQL database instead of the embedded SQLite files (demo_database.py says
which databases it may use); the Dagster instance is the same local one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator

from sqlalchemy.engine import make_url

from perfdata_assets.calendar import LONDON
from perfdata_assets.config import DatabaseUrls, default_sqlite_urls, perfdata_home
from perfdata_assets.db.engines import databases, databases_for, lpa_write_engine, sqlite_perfdata_file
from perfdata_assets.db.migrate import upgrade
from perfdata_assets.devtools.demo_database import claim_demo_database, describe
from perfdata_assets.devtools.loopback import restored_environment
from perfdata_assets.devtools.lpa_seed import seed

# Demo credentials for the stub's signature check: not secrets, never used against AWS.
DEMO_AWS = {"AWS_ACCESS_KEY_ID": "AKIDPERFDATADEMO", "AWS_SECRET_ACCESS_KEY": "perfdata-demo-not-a-secret"}


def demo_window(months: int, today: dt.date) -> tuple[dt.date, dt.date]:
    """The last `months` complete months before today's month."""
    first = today.replace(day=1)
    for _ in range(months):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    last = today.replace(day=1) - dt.timedelta(days=1)
    return first, last


def reset_demo_files() -> None:
    urls = default_sqlite_urls()
    for path in (make_url(urls.lpa).database, str(sqlite_perfdata_file(make_url(urls.perfdata), make_url(urls.lpa)))):
        if path and os.path.exists(path):
            os.remove(path)
    databases.cache_clear()


# A made-up Route 53 health check id (ids are UUIDs): the demo CloudWatch holds its data.
DEMO_HEALTH_CHECK_ID = "0d5e1a2b-7c3d-4e5f-8a9b-0c1d2e3f4a5b"


def run_demo(months: int, seed_value: int, echo=print, database_url: str | None = None) -> None:
    """The demo on the embedded SQLite files, or on the PostgreSQL database ``database_url``
    (normalised by ``demo_database_url``), which the run's code location then reads."""
    import importlib.util

    if importlib.util.find_spec("moto") is None:
        from perfdata_assets.config import ConfigError

        raise ConfigError("perfdata demo runs CloudWatch and S3 stand-ins from moto, which this install lacks: "
                          "use `make demo`, or pip install 'perfdata[test]'")
    from perfdata_assets.devtools.bucket_stub import bucket_keys, bucket_stub_for_this_process
    from perfdata_assets.devtools.cloudwatch_stub import cloudwatch_stub_for_this_process
    from perfdata_assets.devtools.costs_stub import costs_stub_for_this_process
    from perfdata_assets.devtools.sirius_stub import signing_stub_for_this_process

    today = dt.datetime.now(LONDON).date()
    first, last = demo_window(months, today)
    if database_url is None:
        reset_demo_files()
        urls = default_sqlite_urls()
        where = make_url(urls.lpa).database
    else:
        claim_demo_database(database_url)
        urls = DatabaseUrls(lpa=database_url, perfdata=database_url)
        where = describe(database_url)
    echo(f"seeding a synthetic LPA database ({first} .. {last}) into {where}")
    summary = seed(lpa_write_engine(urls.lpa), first, last, seed_value)
    echo(f"  {summary.lpas} LPAs ({summary.deleted} deleted), {summary.feedback} feedback forms")
    before, after = upgrade(databases_for(urls).perfdata)
    echo(f"perfdata schema: {before or 'empty'} -> {after}")

    # The Sirius stub goes last: it sets the AWS credentials it checks signatures with,
    # which moto (accepting any) then receives too.
    with (
        cloudwatch_stub_for_this_process(DEMO_HEALTH_CHECK_ID, first, last, seed_value) as cloudwatch,
        bucket_stub_for_this_process(moto_endpoint=cloudwatch.url) as bucket_endpoint,
        costs_stub_for_this_process(cloudwatch.url, first, last, seed_value, perfdata_home()) as costs,
        signing_stub_for_this_process(DEMO_AWS, seed=seed_value, complete_through=last) as stub,
    ):
        echo(f"Sirius stub listening on {stub.base_url} (signatures checked)")
        echo(f"CloudWatch (moto) on {cloudwatch.url}, S3 bucket {os.environ['PERFDATA_PUBLICATION_BUCKET']} "
             f"(moto) on {bucket_endpoint}")
        echo(f"service costs: finance CSV {costs['finance_csv']}, AWS bill in Cost Explorer (moto) on {cloudwatch.url}")
        with _code_location_reads(database_url):
            from perfdata_assets.backfill import run_backfill

            run_backfill(first, last, echo=echo)
        delivered = bucket_keys()
    from perfdata_assets.kpis.report import latest_months, latest_quarters, render_table

    rows = latest_months(urls, months)
    echo("")
    echo(f"Make a Lasting Power of Attorney: KPIs for {first:%B %Y} to {last:%B %Y} (demo data)")
    echo(render_table(rows))
    echo("")
    echo("Cost per transaction, per quarter end over the twelve months to it (demo data)")
    echo(render_table(latest_quarters(urls, 4), empty="no quarter with twelve whole months of costs and counts yet: "
                      "run the demo with --months 14 or more"))
    echo("")
    exports = os.environ.get("PERFDATA_EXPORT_DIR") or str(perfdata_home() / "exports")
    echo(f"OPG performance-data files: {exports}/make_a_lasting_power_of_attorney_YY_MM.json "
         f"({len(delivered)} delivered to the demo bucket)")
    hand_kept = write_hand_kept_data_json(urls)
    echo(f"OPG's data.json as if kept by hand until perfdata (synthetic): {hand_kept}; "
         f"try: perfdata opg reconcile {hand_kept}")
    if database_url is None:
        echo("See these runs in the Dagster UI: make ui   (then open http://127.0.0.1:3000)")
    else:
        # The code location reads whichever database LPA_DATABASE_URL names.
        echo(f"The same figures: LPA_DATABASE_URL='{describe(database_url)}' perfdata kpis")
        echo(f"These runs in the Dagster UI: LPA_DATABASE_URL='{describe(database_url)}' make ui")


def write_hand_kept_data_json(urls) -> str:
    """OPG's data.json for the demo's months as the hand-made process would have left it (opg_history.py)."""
    from perfdata_assets.devtools.opg_history import hand_kept_data_json
    from perfdata_assets.publishing.resource import PerformanceData

    reader = PerformanceData(perfdata_database_url=urls.perfdata, lpa_database_url=urls.lpa)
    months = reader.published_months()
    values = reader.history(None, months[0], months[-1]) if months else []
    path = perfdata_home() / "opg-data.json"
    path.write_bytes(hand_kept_data_json(values))
    return str(path)


@contextlib.contextmanager
def _code_location_reads(database_url: str | None) -> Iterator[None]:
    """The code location takes its database from LPA_DATABASE_URL when its definitions load:
    pointed at the demo's PostgreSQL database (both variables, whatever they held) while the
    backfill runs. Without a URL, the embedded SQLite default (the CLI refused the variables)."""
    if database_url is None:
        yield
        return
    if "perfdata_assets.definitions" in sys.modules:
        raise RuntimeError("the code location was loaded before the demo chose its database")
    with restored_environment("LPA_DATABASE_URL", "PERFDATA_DATABASE_URL"):
        os.environ["LPA_DATABASE_URL"] = database_url
        os.environ.pop("PERFDATA_DATABASE_URL", None)
        yield
