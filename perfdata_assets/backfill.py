"""Materialise every perfdata asset over a window of days, through Dagster.

Two single-run backfills, in dependency order: every daily asset over the
window's days, then every monthly asset over the window's whole months. Each
is one Dagster run recorded in the instance, so it shows in the UI like a
backfill launched there. A source that is not configured is skipped, with a
line saying why, and so is the KPI made from it alone: the others go ahead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from perfdata_assets.calendar import LONDON, DayWindow, daily_partitions, monthly_partitions, range_tags
from perfdata_assets.configured import skipped_sources


MONTHLY_SOURCES = ("service_costs",)


class BackfillError(Exception):
    """The window or a run failed; the message is one line for the CLI."""


@dataclass(frozen=True)
class BackfillRun:
    what: str
    first: str
    last: str
    run_id: str


def _assets_by_partitions(defs: dg.Definitions, partitions_def) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return [
        key
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and graph.get(key).partitions_def == partitions_def
    ]


def plan(start: dt.date, end: dt.date, today: dt.date | None = None) -> tuple[DayWindow, list[dt.date]]:
    """The days [start, end] and the whole months within them; refuses days that have not ended."""
    today = today or dt.datetime.now(LONDON).date()
    if end < start:
        raise BackfillError(f"--end {end} is before --start {start}")
    first_day = daily_partitions.start.date()
    if start < first_day:
        raise BackfillError(f"--start {start} is before the first partition {first_day} (PERFDATA_START_DATE)")
    if end >= today:
        raise BackfillError(f"--end {end} has not ended yet: the last day that can be loaded is {today - dt.timedelta(days=1)}")
    window = DayWindow(start, end + dt.timedelta(days=1))
    return window, window.months()


def selected_keys(defs: dg.Definitions, select: list[str] | None, echo=print) -> set[dg.AssetKey]:
    """The assets to materialise: those named (all by default), less the unconfigured sources'."""
    graph = defs.resolve_asset_graph()
    known = {k.to_user_string(): k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    if select:
        unknown = [name for name in select if name not in known]
        if unknown:
            raise BackfillError(f"--select: no asset named {', '.join(unknown)}; the assets are {', '.join(sorted(known))}")
    wanted = set(select or known)
    for skipped in skipped_sources(defs.resources):
        named = [name for name in skipped.assets if name in wanted]
        if not named:
            continue
        if select and any(name in select for name in named):
            raise BackfillError(f"--select names {', '.join(n for n in named if n in select)}, but {skipped.reason}")
        echo(f"skipping {', '.join(named)}: {skipped.reason}")
        wanted -= set(named)
    return {known[name] for name in wanted}


def check_settings(defs: dg.Definitions, wanted: set[dg.AssetKey]) -> None:
    """A wrong cost setting (an account id, a rates file) stops the backfill before any run starts,
    with the line the asset would fail with: the daily run would otherwise go ahead first."""
    from perfdata_assets.sources.costs.assets import ServiceCostsSource
    from perfdata_assets.sources.costs.figures import CostError

    source = (defs.resources or {}).get("service_costs_source")
    if dg.AssetKey("service_costs") not in wanted or not isinstance(source, ServiceCostsSource):
        return
    try:
        source.process_config_and_initialize().settings()
    except CostError as exc:
        raise BackfillError(str(exc)) from None


def backfill(
    defs: dg.Definitions,
    start: dt.date,
    end: dt.date,
    instance: dg.DagsterInstance,
    echo=print,
    select: list[str] | None = None,
) -> list[BackfillRun]:
    window, months = plan(start, end)
    wanted = selected_keys(defs, select, echo)
    check_settings(defs, wanted)
    all_assets = list(defs.assets or []) + list(defs.asset_checks or [])
    resources = defs.resources
    runs: list[BackfillRun] = []
    daily = [k for k in _assets_by_partitions(defs, daily_partitions) if k in wanted]
    monthly = [k for k in _assets_by_partitions(defs, monthly_partitions) if k in wanted]
    # A monthly source (the service's costs) loads in its own run first, like the daily ones: a bad
    # finance CSV then stops before the KPIs, never in the middle of the publication.
    sources = [k for k in monthly if k.to_user_string() in MONTHLY_SOURCES]
    monthly = [k for k in monthly if k not in sources]
    steps = []
    if daily:
        steps.append(("daily", daily, window.first.isoformat(), (window.end - dt.timedelta(days=1)).isoformat()))
    if months and sources:
        steps.append(("monthly source", sources, months[0].isoformat(), months[-1].isoformat()))
    if months and monthly:
        steps.append(("monthly", monthly, months[0].isoformat(), months[-1].isoformat()))
    elif monthly:
        echo(f"no whole month between {start} and {end}: monthly KPIs not computed")
    for what, keys, first, last in steps:
        names = ", ".join(k.to_user_string() for k in keys)
        echo(f"materialising {what} assets ({names}) for {first} .. {last}")
        result = dg.materialize(
            all_assets,
            selection=keys,
            instance=instance,
            resources=resources,
            tags={**range_tags(first, last), "perfdata/launched_by": "perfdata backfill"},
            raise_on_error=False,
            # Step-level DEBUG events belong in the UI, not on the terminal.
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        runs.append(BackfillRun(what, first, last, result.run_id))
        if not result.success:
            failed = [e.step_key for e in result.get_step_failure_events()]
            reasons = [f"{e.step_key}: {failure_text(e)}" for e in result.get_step_failure_events()]
            message = f"{what} run {result.run_id} failed: " + "; ".join(reasons or ["see the run's logs"])
            if what in ("daily", "monthly source") and months and failed:
                # The monthly run would publish from a history half refreshed; it is not
                # started. The scheduled runs keep each source apart already.
                message += (f" | the monthly run was not started; to publish the other KPIs now, run again with "
                            f"--select naming the assets without {', '.join(failed)}")
            raise BackfillError(message)
    return runs


def failure_text(event) -> str:
    data = event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    return data.error.message.strip().splitlines()[-1] if data.error else "failed"


def run_backfill(start: dt.date, end: dt.date, select: list[str] | None = None, echo=print) -> list[BackfillRun]:
    """`perfdata backfill`: the code location's definitions, on the CLI's tuned Dagster instance."""
    from perfdata_assets.definitions import defs
    from perfdata_assets.instance import backfill_instance

    with backfill_instance() as instance:
        runs = backfill(defs, start, end, instance, echo=echo, select=select)
    for run in runs:
        echo(f"  {run.what} run {run.run_id} succeeded ({run.first} .. {run.last})")
    return runs
