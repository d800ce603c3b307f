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

from perfdata_assets.config import ConfigError, database_urls, perfdata_home
from perfdata_assets.devtools.sirius_stub import sirius_stub
from perfdata_assets.web.server import serve_command


def fail(message: str, code: int = 2) -> None:
    click.echo(f"perfdata: error: {message}", err=True)
    sys.exit(code)


class PerfdataGroup(click.Group):
    """Turns the errors a user can fix into one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        from perfdata_assets.backfill import BackfillError
        from perfdata_assets.db.migrate import SchemaNotCurrent

        try:
            return super().invoke(ctx)
        except (ConfigError, BackfillError, SchemaNotCurrent) as exc:
            fail(str(exc))
        except sa.exc.OperationalError as exc:
            fail(f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}")


@click.group(cls=PerfdataGroup)
def main() -> None:
    """perfdata: the Make an LPA service's performance data, as Dagster assets."""


@main.group()
def db() -> None:
    """The perfdata schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the perfdata tables (Alembic) to this version."""
    from perfdata_assets.db.engines import databases_for
    from perfdata_assets.db.migrate import upgrade

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
def backfill(start: dt.date, end: dt.date, select: str | None) -> None:
    """Materialise every configured asset for the days START..END and the whole months in them.

    A source that is not configured (Sirius, the uptime health check, OPG's
    bucket) is skipped with one line saying why; the other KPIs are published.
    """
    names = [n.strip() for n in select.split(",") if n.strip()] if select is not None else None
    if select is not None and not names:
        fail("--select needs at least one asset name")
    from perfdata_assets.backfill import run_backfill

    run_backfill(start, end, names, echo=click.echo)


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
def kpis(months: int, as_json: bool, as_csv: bool) -> None:
    """The latest published figures, month by month."""
    from perfdata_assets.kpis.report import latest_months, render_table

    urls = database_urls()
    rows = latest_months(urls, months)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=_json_default))
    elif as_csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["month"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    else:
        click.echo(render_table(rows))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(type(value))


@main.command()
@click.option("--months", default=12, show_default=True, help="complete months of history to generate and publish")
@click.option("--seed", "seed_value", default=2024, show_default=True, help="random seed for the synthetic data")
def demo(months: int, seed_value: int) -> None:
    """Generate a synthetic LPA database in the embedded SQLite default, backfill it, print the KPIs."""
    from perfdata_assets.devtools.demo import run_demo

    if os.environ.get("LPA_DATABASE_URL") or os.environ.get("PERFDATA_DATABASE_URL"):
        fail("perfdata demo writes only the embedded SQLite default under "
             f"{perfdata_home()}/: unset LPA_DATABASE_URL and PERFDATA_DATABASE_URL")
    run_demo(months, seed_value, echo=click.echo)


main.add_command(sirius_stub)
main.add_command(serve_command)


if __name__ == "__main__":
    main()
