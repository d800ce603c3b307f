"""Materialise every perfdata asset over a window of days, through Dagster.

Two single-run backfills, in dependency order: every daily asset over the
window's days, then every monthly asset over the window's whole months. Each
is one Dagster run recorded in the instance, so it shows in the UI like a
backfill launched there. A source that is not configured is skipped, with a
line saying why, and so is the KPI made from it alone: the others go ahead.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import uuid
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


BACKFILL_TAG = "perfdata/backfill_id"
BACKFILL_JOB = "perfdata_backfill"


def check_source_settings(defs: dg.Definitions, wanted: set[dg.AssetKey]) -> None:
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
    verbose: bool = False,
    backfill_id: str | None = None,
) -> list[BackfillRun]:
    window, months = plan(start, end)
    wanted = selected_keys(defs, select, echo)
    check_source_settings(defs, wanted)
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
        # dg.materialize's own steps, with a logger of perfdata's: the terminal gets one line per
        # warning and, on failure, the cause (below); a run's full record, traces included, is
        # in the UI, or here with --verbose (Dagster's console logger).
        job = dg.Definitions(
            jobs=[dg.define_asset_job(BACKFILL_JOB, selection=keys)],
            assets=all_assets,
            resources=resources,
            loggers=None if verbose else {"perfdata_warnings": one_line_warnings(echo)},
        ).resolve_job_def(BACKFILL_JOB)
        result = job.execute_in_process(
            instance=instance,
            tags={
                **range_tags(first, last),
                "perfdata/launched_by": "perfdata backfill",
                BACKFILL_TAG: backfill_id or str(uuid.uuid4()),
            },
            raise_on_error=False,
            # A logger runs only when the run config names it (else Dagster's console logger does).
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}} if verbose else {"perfdata_warnings": {}}},
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
    """The root cause in words: a Failure's description, else the innermost error's last line
    (not Dagster's wrapper, "Error occurred while executing ...")."""
    data = event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "failed"
    lines = [line.strip() for line in error.message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else error.cls_name or "failed"


class _EchoWarnings(logging.Handler):
    """perfdata's own warnings, one line each; Dagster's events (a step failure and its trace)
    are left to the caller, which says the root cause once."""

    def __init__(self, echo) -> None:
        super().__init__(level=logging.WARNING)
        self.echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        if meta.get("dagster_event") is not None:
            return
        text = str(meta.get("orig_message") or record.getMessage()).strip()
        if text:
            self.echo(f"warning: {text.splitlines()[0]}")


def one_line_warnings(echo) -> dg.LoggerDefinition:
    @dg.logger(description="perfdata's warnings, one line each, to the command's output")
    def perfdata_warnings(_init_context) -> logging.Logger:
        logger = logging.Logger("perfdata.backfill", level=logging.WARNING)
        logger.addHandler(_EchoWarnings(echo))
        return logger

    return perfdata_warnings


class BackfillInterrupted(Exception):
    """Ctrl-C or SIGTERM: the runs in progress were marked canceled; the message says which."""


def run_backfill(
    start: dt.date, end: dt.date, select: list[str] | None = None, echo=print, verbose: bool = False
) -> list[BackfillRun]:
    """`perfdata backfill`: the code location's definitions, on the CLI's tuned Dagster instance.

    Every setting and both databases are checked first (db/preflight.py). The runs go on in
    a worker thread so that Ctrl-C or SIGTERM stops the command at once, whatever the run is
    doing (waiting to retry, inside a query): see ``_interruptible``.
    """
    from perfdata_assets.db.preflight import check_before_work
    from perfdata_assets.definitions import defs
    from perfdata_assets.instance import backfill_instance

    plan(start, end)
    reads_source = select is None or bool({"raw_feedback", "lpa_lifecycle_events"} & set(select))
    check_before_work(source=reads_source)
    backfill_id = str(uuid.uuid4())
    with backfill_instance() as instance:
        runs = _interruptible(
            lambda: backfill(defs, start, end, instance, echo=echo, select=select, verbose=verbose,
                             backfill_id=backfill_id),
            instance,
            backfill_id,
        )
    for run in runs:
        echo(f"  {run.what} run {run.run_id} succeeded ({run.first} .. {run.last})")
    return runs


def _interruptible(work, instance: dg.DagsterInstance, backfill_id: str):
    """Run ``work`` in a worker thread; on SIGINT or SIGTERM, mark this backfill's unfinished
    runs canceled and end the process.

    Dagster, running in the main thread, would hold a Ctrl-C back while a step waits to be
    retried (a minute or more) and never sees SIGTERM. Ending the process is safe for the
    data: every write is one transaction, which the database rolls back when the connection
    goes (PostgreSQL also ends the statement within seconds: client_connection_check_interval).
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the main thread as it is
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="perfdata-backfill", daemon=True)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.start()
        while worker.is_alive() and not stop.is_set():
            stop.wait(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.is_set() and worker.is_alive():
        canceled = cancel_runs(instance, backfill_id)
        name = signal.Signals(received[0]).name
        what = ", ".join(canceled) if canceled else "none had started"
        print(f"perfdata: interrupted ({name}): canceled run(s) {what}; the interrupted write was rolled back, "
              "every table is as it was before it", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # Not sys.exit: the worker may be inside a query or a retry wait; the process ends
        # now, and with it the connections, which is what rolls the write back.
        os._exit(130 if received[0] == signal.SIGINT else 143)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]


def cancel_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[str]:
    """Mark this backfill's runs that have not finished as canceled; their ids."""
    runs = instance.get_runs(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
    canceled = []
    for run in runs:
        if not run.is_finished:
            instance.report_run_canceled(run, message="perfdata backfill was interrupted (Ctrl-C or SIGTERM)")
            canceled.append(run.run_id)
    return canceled
