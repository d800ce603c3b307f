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
from perfdata_assets.publishing.server import serve_command
from perfdata_assets.sirius.stub import sirius_stub


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
    from perfdata_assets.db.engines import databases
    from perfdata_assets.db.migrate import upgrade

    urls = database_urls()
    before, after = upgrade(databases(urls.perfdata, urls.lpa).perfdata)
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
    run_backfill(start, end, names)


def run_backfill(start: dt.date, end: dt.date, select: list[str] | None = None) -> None:
    from perfdata_assets.backfill import backfill as do_backfill
    from perfdata_assets.definitions import defs
    from perfdata_assets.instance import backfill_instance

    with backfill_instance() as instance:
        runs = do_backfill(defs, start, end, instance, echo=click.echo, select=select)
    for run in runs:
        click.echo(f"  {run.what} run {run.run_id} succeeded ({run.first} .. {run.last})")


@main.command()
@click.option("--months", default=12, show_default=True, help="how many of the latest months")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a table")
def kpis(months: int, as_json: bool, as_csv: bool) -> None:
    """The latest published figures, month by month."""
    from perfdata_assets.kpis.report import latest_months

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


def render_table(rows: list[dict]) -> str:
    if not rows:
        return "no published months yet: run `perfdata backfill` (or `perfdata demo`)"
    headers = list(rows[0])

    def cell(v: object) -> str:
        return "–" if v is None else (f"{v:.2f}" if isinstance(v, Decimal) else str(v))

    cells = [[cell(r[h]) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths))
    body = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


@main.command()
@click.option("--months", default=12, show_default=True, help="complete months of history to generate and publish")
@click.option("--seed", "seed_value", default=2024, show_default=True, help="random seed for the synthetic data")
def demo(months: int, seed_value: int) -> None:
    """Generate a synthetic LPA database in the embedded SQLite default, backfill it, print the KPIs."""
    from perfdata_assets.demo.run import run_demo

    if os.environ.get("LPA_DATABASE_URL") or os.environ.get("PERFDATA_DATABASE_URL"):
        fail("perfdata demo writes only the embedded SQLite default under "
             f"{perfdata_home()}/: unset LPA_DATABASE_URL and PERFDATA_DATABASE_URL")
    run_demo(months, seed_value, echo=click.echo)


main.add_command(sirius_stub)
main.add_command(serve_command)


if __name__ == "__main__":
    main()
