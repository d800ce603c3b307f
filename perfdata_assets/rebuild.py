"""`perfdata rebuild`: the derived tables dropped, recreated and filled again from perfdata's history alone.

In order:

1. The loaded-days ledger says what the history covers: its first day to its last
   loaded day. The rebuild covers every whole month in between. With nothing loaded,
   or no whole month, it stops before touching anything.
2. The four KPI tables are dropped and created empty, in one transaction
   (``db/derived.py``, which says why they, and nothing else, are derived).
3. One Dagster run over those months, recorded in the instance like a backfill (tag
   ``perfdata/launched_by: perfdata rebuild``): every KPI whose input has days in the
   ledger, then ``published_kpis`` and ``performance_data_exports``.

Never a source asset: the service may have pruned what the history still holds, and
a rebuild reads perfdata's own tables only, so it works with the source emptied. And
never ``opg_publication_delivery``: a rebuild must not deliver to OPG.

A KPI is rebuilt when its input has history, whether or not its source is configured
today: the KPI reads perfdata's tables only, so a restore into a deployment without
Sirius or CloudWatch settings still gets back every figure the history supports.

The publication is written as every monthly run writes it: an unchanged value is no
restatement; a different one (the code changed since) is recorded in
``published_kpis_restatements`` with its old value and when it was published. The
republished rows that changed get the rebuild's time as ``published_at``; an unchanged
row keeps its own (see docs/operations.md).

Quiet by default: the run is tagged ``perfdata/announce: no``, so no webhook is sent
for it (no ``kpis-published``, ``kpis-revised`` or plausibility flag); ``--announce``
sends what a monthly run would.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa

from perfdata_assets.backfill import BackfillRun, failure_text
from perfdata_assets.calendar import DayWindow, monthly_partitions, range_tags
from perfdata_assets.config import perfdata_home
from perfdata_assets.db.derived import recreate_derived_tables
from perfdata_assets.db.engines import SCHEMA, databases_for
from perfdata_assets.db.migrate import require_current_schema
from perfdata_assets.kpis.assets import KPIS
from perfdata_assets.publishing.webhooks import ANNOUNCE_TAG

# What a rebuild materialises after the KPIs; never a source, never the delivery to OPG.
PUBLICATION = ("published_kpis", "performance_data_exports")
NEVER = ("raw_feedback", "lpa_lifecycle_events", "sirius_channel_counts", "health_check_uptime", "service_costs",
         "opg_publication_delivery")
# Cost per transaction (not in KPIS: quarterly, and from two inputs) and the ledger entries it needs.
COST_PER_TRANSACTION = ("cost_per_transaction", ("service_costs", "sirius_channel_counts"))
LAUNCHED_BY = "perfdata rebuild"


class RebuildError(Exception):
    """Nothing to rebuild from, or the run failed; the message is one line for the CLI."""


@dataclass(frozen=True)
class History:
    """What the loaded-days ledger holds: each daily asset's loaded days, first and last."""

    first: dt.date
    last: dt.date
    assets: tuple[str, ...]

    def months(self) -> list[dt.date]:
        return DayWindow(self.first, self.last + dt.timedelta(days=1)).months()


@dataclass(frozen=True)
class Rebuilt:
    run: BackfillRun
    assets: tuple[str, ...]
    months: int
    restatements: int


def read_history(engine: sa.Engine) -> History:
    query = sa.text(
        f"SELECT asset, min(day) AS first, max(day) AS last FROM {SCHEMA}.loaded_days GROUP BY asset ORDER BY asset"
    ).columns(first=sa.Date, last=sa.Date)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        raise RebuildError(f"no history loaded yet: {SCHEMA}.loaded_days is empty, so there is nothing to rebuild "
                           "from (run `perfdata backfill` to load it)")
    return History(min(r.first for r in rows), max(r.last for r in rows), tuple(r.asset for r in rows))


def plan(history: History, echo=print) -> tuple[list[dt.date], list[str]]:
    """The months to rebuild and the assets to materialise; refuses before anything is dropped."""
    months = history.months()
    if not months:
        raise RebuildError(f"the history ({history.first} .. {history.last}) holds no whole month: nothing to rebuild")
    first_partition = monthly_partitions.start.date()
    if months[0] < first_partition:
        raise RebuildError(
            f"the history starts {history.first}, before the first monthly partition {first_partition}: "
            f"set PERFDATA_START_DATE to {history.first} or earlier (it is the start the history was loaded with)"
        )
    kpis = []
    for kpi in KPIS:
        if kpi.upstream in history.assets:
            kpis.append(kpi.name)
        else:
            echo(f"skipping {kpi.name}: {SCHEMA}.loaded_days has no day of {kpi.upstream}, so no history to rebuild it "
                 "from (its table is recreated empty)")
    name, inputs = COST_PER_TRANSACTION
    if all(i in history.assets for i in inputs):
        kpis.append(name)
    else:
        echo(f"skipping {name}: {SCHEMA}.loaded_days has nothing of {' or '.join(i for i in inputs if i not in history.assets)}, "
             "so no history to rebuild it from (its table is recreated empty)")
    assets = [*kpis, *PUBLICATION]
    assert not set(assets) & set(NEVER)
    return months, assets


def rebuild(
    defs: dg.Definitions, engine: sa.Engine, instance: dg.DagsterInstance, echo=print, announce: bool = False
) -> Rebuilt:
    """Recreate the derived tables, then materialise the KPIs and the publication over the history's months."""
    require_current_schema(engine)
    history = read_history(engine)
    echo(f"history in {SCHEMA}.loaded_days: {history.first} .. {history.last} ({', '.join(history.assets)})")
    months, assets = plan(history, echo)
    graph = defs.resolve_asset_graph()
    keys = [dg.AssetKey(name) for name in assets]
    missing = [k.to_user_string() for k in keys if not graph.has(k)]
    if missing:
        raise RebuildError(f"the code location has no asset named {', '.join(missing)}")

    recreated = recreate_derived_tables(engine)
    echo("recreated empty: " + ", ".join(r.describe() for r in recreated))

    first, last = months[0].isoformat(), months[-1].isoformat()
    echo(f"materialising {', '.join(assets)} for {first} .. {last} (no source asset, no delivery to OPG)")
    result = dg.materialize(
        list(defs.assets or []) + list(defs.asset_checks or []),
        selection=keys,
        instance=instance,
        resources=defs.resources,
        tags={**range_tags(first, last), "perfdata/launched_by": LAUNCHED_BY, ANNOUNCE_TAG: "yes" if announce else "no"},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    run = BackfillRun("monthly", first, last, result.run_id)
    if not result.success:
        reasons = [f"{e.step_key}: {failure_text(e)}" for e in result.get_step_failure_events()]
        raise RebuildError(
            f"rebuild run {result.run_id} failed: {'; '.join(reasons or ['see the run logs'])} | the derived tables "
            "may be incomplete: fix the cause and run `perfdata rebuild` again (published_kpis and the export "
            "files keep what was published)"
        )
    with engine.connect() as conn:
        restated = conn.execute(
            sa.text(f"SELECT count(*) FROM {SCHEMA}.published_kpis_restatements WHERE run_id = :run_id"),
            {"run_id": result.run_id},
        ).scalar_one()
    return Rebuilt(run, tuple(assets), len(months), restated)


def _table_months(engine: sa.Engine) -> list[str]:
    out = []
    with engine.connect() as conn:
        for kpi in KPIS:
            count = conn.execute(sa.text(f"SELECT count(*) FROM {SCHEMA}.{kpi.name}")).scalar_one()
            out.append(f"{SCHEMA}.{kpi.name} {count} month{'' if count == 1 else 's'}")
    return out


def run_rebuild(echo=print, announce: bool = False) -> Rebuilt:
    """`perfdata rebuild`: the code location's definitions, on the CLI's Dagster instance."""
    from perfdata_assets.db.preflight import check_before_work
    from perfdata_assets.definitions import defs
    from perfdata_assets.instance import backfill_instance

    engine = databases_for(check_before_work(source=False)).perfdata
    with backfill_instance() as instance:
        rebuilt = rebuild(defs, engine, instance, echo=echo, announce=announce)
    echo(f"  monthly run {rebuilt.run.run_id} succeeded ({rebuilt.run.first} .. {rebuilt.run.last})")
    echo("rebuilt: " + ", ".join(_table_months(engine)))
    if rebuilt.restatements:
        echo(f"published_kpis: {rebuilt.restatements} published value(s) differ from what was published before: "
             f"recorded in {SCHEMA}.published_kpis_restatements (GET /v1/kpis/revisions)")
    else:
        echo("published_kpis: every value as published before (no restatement recorded)")
    export_dir = os.environ.get("PERFDATA_EXPORT_DIR", "").strip() or str(perfdata_home() / "exports")
    echo(f"export files written to {export_dir}; nothing delivered to OPG")
    echo("announced through PERFDATA_WEBHOOK_URLS as a monthly run would" if announce
         else "nothing announced (--announce sends what a monthly run would)")
    return rebuilt
