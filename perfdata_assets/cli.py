"""The `perfdata` command: schema, backfills, the published figures, and the demo."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sys
from decimal import Decimal

import click
import sqlalchemy as sa

from perfdata_assets.config import ConfigError, check_settings, database_urls, perfdata_home
from perfdata_assets.devtools.sirius_stub import sirius_stub
from perfdata_assets.web.server import serve_command


def fail(message: str, code: int = 2) -> None:
    click.echo(f"perfdata: error: {message}", err=True)
    sys.exit(code)


class PerfdataGroup(click.Group):
    """Turns the errors a user can fix into one line, not a traceback (``--verbose`` adds it)."""

    def invoke(self, ctx: click.Context):
        from perfdata_assets.backfill import BackfillError
        from perfdata_assets.db.migrate import SchemaNotCurrent

        try:
            return super().invoke(ctx)
        except (ConfigError, BackfillError, SchemaNotCurrent) as exc:
            _trace_if_verbose(ctx)
            fail(str(exc))
        except sa.exc.OperationalError as exc:
            _trace_if_verbose(ctx)
            fail(f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}")


def _trace_if_verbose(ctx: click.Context) -> None:
    if (ctx.obj or {}).get("verbose"):
        import traceback

        traceback.print_exc()


@click.group(cls=PerfdataGroup)
@click.option("-v", "--verbose", is_flag=True, help="show Dagster's log and the full trace of an error")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """perfdata: the Make an LPA service's performance data, as Dagster assets."""
    ctx.obj = {"verbose": verbose}


@main.group()
def db() -> None:
    """The perfdata schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the perfdata tables (Alembic) to this version."""
    from perfdata_assets.db.engines import databases_for
    from perfdata_assets.db.migrate import upgrade

    check_settings()
    urls = database_urls()
    before, after = upgrade(databases_for(urls).perfdata)
    click.echo(f"perfdata schema: {before or 'empty'} -> {after}")


@db.command("grants")
@click.option("--role", required=True, help="the login role perfdata's runs connect as")
@click.option("--source-schema", default="public", show_default=True, help="schema of the service's tables")
def db_grants(role: str, source_schema: str) -> None:
    """Print the GRANTs that let ROLE run perfdata and read nothing else of the service's."""
    from perfdata_assets.db.grants import runtime_grants

    try:
        statements = runtime_grants(role, source_schema)
    except ValueError as exc:
        fail(str(exc))
    click.echo("\n".join(f"{s};" for s in statements))


def _date(_ctx, param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date in YYYY-MM-DD form", param=param) from None


@main.command()
@click.option("--start", required=True, callback=_date, help="first day, YYYY-MM-DD (UK local time)")
@click.option("--end", required=True, callback=_date, help="last day, YYYY-MM-DD, inclusive")
@click.option("--select", "select", default=None, metavar="NAMES",
              help="only these assets, comma-separated (e.g. raw_feedback,user_satisfaction,published_kpis)")
@click.pass_context
def backfill(ctx: click.Context, start: dt.date, end: dt.date, select: str | None) -> None:
    """Materialise every configured asset for the days START..END and the whole months in them.

    A source that is not configured (Sirius, the uptime health check, OPG's
    bucket) is skipped with one line saying why; the other KPIs are published.
    """
    names = [n.strip() for n in select.split(",") if n.strip()] if select is not None else None
    if select is not None and not names:
        fail("--select needs at least one asset name")
    from perfdata_assets.backfill import run_backfill

    run_backfill(start, end, names, echo=click.echo, verbose=ctx.obj["verbose"])


@main.command()
@click.option("--announce", is_flag=True,
              help="send the webhooks a monthly run would (kpis-published, kpis-revised, plausibility flags)")
def rebuild(announce: bool) -> None:
    """Drop the derived tables (the four KPI tables), recreate them, and fill them from the history alone.

    Then re-publishes and rewrites the export files over every whole month the
    loaded-days ledger covers, in one Dagster run. Never reads the service's
    tables and never delivers to OPG (docs/operations.md). Announces nothing
    through PERFDATA_WEBHOOK_URLS unless --announce is given.
    """
    from perfdata_assets.rebuild import RebuildError, run_rebuild

    try:
        run_rebuild(echo=click.echo, announce=announce)
    except RebuildError as exc:
        fail(str(exc))


@main.command()
@click.option("--months", default=12, show_default=True, help="how many of the latest months")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a table")
@click.option("--quarters", "quarters", type=int, default=None,
              help="cost per transaction instead: the latest N quarter ends, each over the twelve months to it")
def kpis(months: int, as_json: bool, as_csv: bool, quarters: int | None) -> None:
    """The latest published figures, month by month (or with --quarters, cost per transaction by quarter)."""
    from perfdata_assets.db.preflight import check_before_work
    from perfdata_assets.kpis.report import latest_months, latest_quarters, render_table

    if quarters is not None and quarters < 1:
        fail("--quarters: give a number of quarters, 1 or more")
    urls = check_before_work(source=False)
    rows = latest_quarters(urls, quarters) if quarters is not None else latest_months(urls, months)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=_json_default))
    elif as_csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["month"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    elif quarters is not None:
        click.echo(render_table(rows, empty="no quarter with twelve whole months of costs and counts yet"))
    else:
        click.echo(render_table(rows))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(type(value))


@main.command()
@click.option("--months", default=14, show_default=True,
              help="complete months of history to generate and publish (14 always hold a quarter's twelve months)")
@click.option("--seed", "seed_value", default=2024, show_default=True, help="random seed for the synthetic data")
@click.option("--database-url", default=None, metavar="URL",
              help="seed this PostgreSQL database instead (empty, or made by an earlier demo; "
                   "LPA_DATABASE_URL and PERFDATA_DATABASE_URL are then ignored)")
def demo(months: int, seed_value: int, database_url: str | None) -> None:
    """Generate a synthetic LPA database in the embedded SQLite default, backfill it, print the KPIs.

    With --database-url the synthetic tables and the perfdata schema go in that PostgreSQL
    database. It must not hold the service's tables (applications, feedback) or a perfdata
    schema that an earlier demo did not make: those are refused, never replaced.
    """
    from perfdata_assets.devtools.demo import run_demo
    from perfdata_assets.devtools.demo_database import demo_database_url

    if database_url is not None:
        database_url = demo_database_url(database_url)
    elif os.environ.get("LPA_DATABASE_URL") or os.environ.get("PERFDATA_DATABASE_URL"):
        fail("perfdata demo writes only the embedded SQLite default under "
             f"{perfdata_home()}/: unset LPA_DATABASE_URL and PERFDATA_DATABASE_URL, "
             "or name an empty PostgreSQL database to seed with --database-url")
    run_demo(months, seed_value, echo=click.echo, database_url=database_url)


@main.group()
def opg() -> None:
    """OPG's performance-data site: its Make an LPA data.json."""


@opg.command("reconcile")
@click.argument("data_json", metavar="DATA_JSON")
@click.option("--write", "write_to", default=None, metavar="FILE",
              help="write the corrected data.json here: string counts made numbers, exact repeats removed")
@click.option("--prefer-perfdata", is_flag=True,
              help="with --write, replace each hand figure that disagrees with perfdata's published value")
def opg_reconcile(data_json: str, write_to: str | None, prefer_perfdata: bool) -> None:
    """Check OPG's data.json (DATA_JSON) as OPG's validator and perfdata's contract would, and put its
    figures beside perfdata's published ones.

    Exit 0 when it is valid and agrees, 1 when it has findings, 2 on bad input.
    """
    from pathlib import Path

    from perfdata_assets.db.preflight import check_before_work
    from perfdata_assets.publishing.atomic import ExportError, write_files
    from perfdata_assets.publishing.reconcile import BadInput, read_records, reconcile, render
    from perfdata_assets.publishing.resource import PerformanceData

    if prefer_perfdata and write_to is None:
        fail("--prefer-perfdata changes only the file --write FILE writes: give --write too")
    target = Path(write_to) if write_to is not None else None
    if target is not None and (target.is_dir() or not target.parent.is_dir()):
        fail(f"--write {write_to}: " + ("is a directory" if target.is_dir() else "its directory does not exist"))
    try:
        data = Path(data_json).read_bytes()
        read_records(data)  # a file that is no list of records stops here, before the database is read
    except OSError as exc:
        fail(f"cannot read {data_json}: {exc.strerror or type(exc).__name__}")
    except BadInput as exc:
        fail(f"{data_json}: {exc}")
    urls = check_before_work(source=False)
    reader = PerformanceData(perfdata_database_url=urls.perfdata, lpa_database_url=urls.lpa)
    months = reader.published_months()
    values = reader.history(None, months[0], months[-1]) if months else []
    result = reconcile(data, values, prefer_perfdata=prefer_perfdata)
    if target is not None:
        try:
            write_files(target.parent, {target.name: result.corrected})
        except ExportError as exc:
            fail(str(exc))
    click.echo(render(result, Path(data_json).name, written=write_to), nl=False)
    sys.exit(0 if result.ok else 1)
@main.group("open-data")
def open_data_group() -> None:
    """The open data for data.gov.uk (kpis.md section 7)."""


@open_data_group.command("dataset")
@click.option("--base-url", required=True, metavar="URL",
              help="where `perfdata serve` is reached, e.g. https://perfdata.example.gov.uk (the files are under /open-data/)")
def open_data_dataset(base_url: str) -> None:
    """Print the data.gov.uk (CKAN) dataset record of the open data, as JSON, made from its CSVW metadata.

    OPG registers it once; the record names the two files served under BASE_URL/open-data/.
    """
    from perfdata_assets.publishing import open_data

    try:
        record = open_data.dataset_record(open_data.metadata(modified=None), base_url)
    except ValueError as exc:
        fail(str(exc))
    click.echo(json.dumps(record, indent=2, ensure_ascii=False))


main.add_command(sirius_stub)
main.add_command(serve_command)


if __name__ == "__main__":
    main()
