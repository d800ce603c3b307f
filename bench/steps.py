"""The measured steps, each run in its own subprocess by bench.measure.run_step.

    python -m bench.steps STEP 'JSON ARGS' RESULT.json

Each step imports what it needs itself (Dagster, perfdata, pandas), so what a
step costs in time and memory is its own, imports included, as it would be
for a `perfdata` command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import threading
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

# Credentials the in-process Sirius stub checks SigV4 signatures with: not secrets.
STUB_AWS = {"AWS_ACCESS_KEY_ID": "AKIDPERFDATABENCH", "AWS_SECRET_ACCESS_KEY": "perfdata-bench-not-a-secret"}
VALID_RATINGS = ("very-dissatisfied", "dissatisfied", "neither-satisfied-or-dissatisfied", "satisfied", "very-satisfied")


@contextlib.contextmanager
def sirius_stub(last_day: dt.date):
    """The Sirius stub in this process, on loopback, checking signatures; SIRIUS_BASE_URL points at it."""
    from perfdata_assets.devtools.sirius_stub import signing_stub_for_this_process

    with signing_stub_for_this_process(STUB_AWS, complete_through=last_day) as stub:
        yield stub


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# --- A: perfdata backfill -------------------------------------------------------------


def backfill(args: dict) -> dict:
    """`perfdata backfill --start --end`, exactly as the command runs it (two single-run backfills)."""
    if args.get("without_partition_metadata"):
        _drop_partition_metadata()
    if args.get("without_connection_pool"):
        _keep_dagster_connections_unpooled()
    with sirius_stub(_day(args["end"])):
        from perfdata_assets.cli import main

        timings = {}
        started = time.perf_counter()
        try:
            main(["backfill", "--start", args["start"], "--end", args["end"]], standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise
        timings["backfill_seconds"] = time.perf_counter() - started
    return timings


def _drop_partition_metadata() -> None:
    """An experiment only: every ``add_asset_metadata(..., partition_key=...)`` call does nothing.

    The materialisation events themselves stay (Dagster writes one per partition
    whatever the asset does); only the per-partition figures attached to them go.
    """
    import dagster as dg

    original = dg.AssetExecutionContext.add_asset_metadata

    def add_asset_metadata(self, metadata, asset_key=None, partition_key=None):
        if partition_key is None:
            original(self, metadata, asset_key=asset_key)

    dg.AssetExecutionContext.add_asset_metadata = add_asset_metadata


def _keep_dagster_connections_unpooled() -> None:
    """An experiment only: the instance keeps dagster-postgres's default (a new connection per event)."""
    import dagster as dg

    dg.DagsterInstance.optimize_for_webserver = lambda self, *args, **kwargs: None


# --- A_ui: the backfill launched as the Dagster UI launches it --------------------------------

LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } ... on Error { message } } }"""
BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status } ... on PythonError { message } ... on Error { message } } }"""
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def ui_backfill(args: dict) -> dict:
    """The UI's "Materialize" of a range: one launchPartitionBackfill, then its status polled until done."""
    from bench.ui_backfill import graphql

    started = time.time()
    answer = graphql(args["graphql"], LAUNCH_BACKFILL, {"params": {
        "assetSelection": [{"path": name.split("/")} for name in args["assets"]],
        "partitionNames": args["partitions"],
        "fromFailure": False,
        "title": "bench A_ui",
    }})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"launchPartitionBackfill: {answer['__typename']}: {answer.get('message')}")
    backfill_id = answer["backfillId"]
    while True:
        # The UI's backfill page polls about as often.
        time.sleep(0.5)
        status = graphql(args["graphql"], BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if status.get("status") in BACKFILL_DONE:
            break
        if time.time() - started > args.get("timeout", 1800):
            raise RuntimeError(f"backfill {backfill_id} not done after {args.get('timeout', 1800)} s: {status}")
    return {"backfill_id": backfill_id, "status": status["status"], "launched_at": started, "finished_at": time.time()}


# --- E: the nightly runs ---------------------------------------------------------------


def nightly(args: dict) -> dict:
    """What the schedules launch: the two nightly jobs over the last 3 days, then the monthly job for the month."""
    # The set-up before the first run (imports, the instance, the stub) is timed apart from the runs, so
    # that the report can say how much of E's wall time is the runs and how much is getting to them.
    started = time.perf_counter()
    # The stub runs in the benchmark's own process when it says so (SIRIUS_BASE_URL is set).
    with contextlib.nullcontext() if args.get("stub_outside") else sirius_stub(_day(args["last"])):
        from perfdata_assets.calendar import range_tags
        from perfdata_assets.definitions import defs
        from perfdata_assets.instance import get_instance

        instance = get_instance()
        setup = time.perf_counter() - started
        runs = {}
        for job_name in ("lpa_history_job", "sirius_channel_counts_job"):
            started = time.perf_counter()
            result = defs.resolve_job_def(job_name).execute_in_process(
                instance=instance, tags={**range_tags(args["first"], args["last"]), "perfdata/trigger": "nightly"}
            )
            assert result.success, job_name
            runs[job_name] = time.perf_counter() - started
        started = time.perf_counter()
        result = defs.resolve_job_def("monthly_kpis_job").execute_in_process(
            instance=instance, partition_key=args["month"]
        )
        assert result.success, "monthly_kpis_job"
        runs["monthly_kpis_job"] = time.perf_counter() - started
    return {"runs": runs, "setup_seconds": setup}


# --- C: one partition per run ------------------------------------------------------------


def naive_dagster(args: dict) -> dict:
    """Each day of one month in its own run (all daily assets), then the month's own run."""
    days = [_day(d) for d in args["days"]]
    with sirius_stub(days[-1]):
        import dagster as dg

        from perfdata_assets.backfill import _assets_by_partitions, selected_keys
        from perfdata_assets.calendar import daily_partitions, monthly_partitions
        from perfdata_assets.definitions import defs
        from perfdata_assets.instance import get_instance

        instance = get_instance()
        everything = list(defs.assets or []) + list(defs.asset_checks or [])
        # What `perfdata backfill` would run: the configured sources' assets (the bench has no uptime source).
        configured = selected_keys(defs, None, echo=lambda _: None)
        daily_keys = [k for k in _assets_by_partitions(defs, daily_partitions) if k in configured]
        monthly_keys = [k for k in _assets_by_partitions(defs, monthly_partitions) if k in configured]
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        per_day = []
        for day in days:
            started = time.perf_counter()
            result = dg.materialize(everything, selection=daily_keys, instance=instance, resources=defs.resources,
                                    partition_key=day.isoformat(), run_config=quiet)
            assert result.success, day
            per_day.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = dg.materialize(everything, selection=monthly_keys, instance=instance, resources=defs.resources,
                                partition_key=args["month"], run_config=quiet)
        assert result.success
        monthly = time.perf_counter() - started
    return {"per_day_seconds": per_day, "daily_seconds": sum(per_day), "monthly_seconds": monthly}


# --- B: the floor ---------------------------------------------------------------------------

_UNESCAPE = [("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#039;", "''"), ("&#39;", "''"), ("&#x27;", "''"),
             ("&amp;", "&")]


def _unescape(expr: str) -> str:
    for entity, char in _UNESCAPE:
        expr = f"replace({expr}, '{entity}', '{char}')"
    return expr


def floor_statements() -> list[tuple[str, str]]:
    """The hand-written SQL: history copies with their keys, then the figures straight from the sources."""
    ratings = ", ".join(f"'{r}'" for r in VALID_RATINGS)
    london = "AT TIME ZONE 'Europe/London'"
    months = """SELECT m::date AS month FROM generate_series(CAST(:first AS date), CAST(:last_month AS date),
                interval '1 month') AS m"""

    def pct(n: str, d: str) -> str:
        return f"round(100.0 * ({n}) / NULLIF({d}, 0), 2)"

    return [
        ("copy lifecycle events", f"""
            CREATE TABLE bench_floor.lpa_lifecycle_events AS
            SELECT a.id AS lpa_id, e.event, e.occurred_at, (e.occurred_at {london})::date AS day,
                   a.document ->> 'type' AS lpa_type
              FROM applications a
             CROSS JOIN LATERAL (VALUES ('started', a."startedAt"), ('created', a."createdAt"),
                                        ('completed', a."completedAt")) AS e(event, occurred_at)
             WHERE e.occurred_at >= :starts_at AND e.occurred_at < :ends_at"""),
        ("lifecycle events key", "ALTER TABLE bench_floor.lpa_lifecycle_events ADD PRIMARY KEY (lpa_id, event)"),
        ("copy feedback", f"""
            CREATE TABLE bench_floor.raw_feedback AS
            SELECT id AS feedback_id, received AS received_at, (received {london})::date AS day,
                   CASE WHEN message ->> 'rating' IN ({ratings}) THEN message ->> 'rating' END AS rating,
                   {_unescape("(message ->> 'fromPage')")} AS from_page
              FROM feedback
             WHERE received >= :starts_at AND received < :ends_at"""),
        ("feedback key", "ALTER TABLE bench_floor.raw_feedback ADD PRIMARY KEY (feedback_id)"),
        ("completion rate", f"""
            CREATE TABLE bench_floor.completion_rate AS
            WITH counted AS (
                SELECT date_trunc('month', e.occurred_at {london})::date AS month,
                       count(*) FILTER (WHERE e.event = 'started') AS started,
                       count(*) FILTER (WHERE e.event = 'created') AS created,
                       count(*) FILTER (WHERE e.event = 'completed') AS completed
                  FROM applications a
                 CROSS JOIN LATERAL (VALUES ('started', a."startedAt"), ('created', a."createdAt"),
                                            ('completed', a."completedAt")) AS e(event, occurred_at)
                 WHERE e.occurred_at >= :starts_at AND e.occurred_at < :ends_at
                 GROUP BY 1)
            SELECT m.month, coalesce(started, 0) AS started, coalesce(created, 0) AS created,
                   coalesce(completed, 0) AS completed,
                   {pct("coalesce(created, 0)", "coalesce(started, 0)")} AS completion_rate_percent
              FROM ({months}) m LEFT JOIN counted USING (month)"""),
        ("user satisfaction", f"""
            CREATE TABLE bench_floor.user_satisfaction AS
            WITH counted AS (
                SELECT date_trunc('month', received {london})::date AS month,
                       count(*) AS responses,
                       count(*) FILTER (WHERE message ->> 'rating' = 'very-dissatisfied') AS very_dissatisfied,
                       count(*) FILTER (WHERE message ->> 'rating' = 'dissatisfied') AS dissatisfied,
                       count(*) FILTER (WHERE message ->> 'rating' = 'neither-satisfied-or-dissatisfied') AS neither,
                       count(*) FILTER (WHERE message ->> 'rating' = 'satisfied') AS satisfied,
                       count(*) FILTER (WHERE message ->> 'rating' = 'very-satisfied') AS very_satisfied
                  FROM feedback
                 WHERE received >= :starts_at AND received < :ends_at AND message ->> 'rating' IN ({ratings})
                 GROUP BY 1)
            SELECT m.month, coalesce(responses, 0) AS responses, coalesce(very_dissatisfied, 0) AS very_dissatisfied,
                   coalesce(dissatisfied, 0) AS dissatisfied, coalesce(neither, 0) AS neither,
                   coalesce(satisfied, 0) AS satisfied, coalesce(very_satisfied, 0) AS very_satisfied,
                   {pct("satisfied + very_satisfied", "responses")} AS satisfied_percent,
                   {pct("dissatisfied + 2 * neither + 3 * satisfied + 4 * very_satisfied", "4 * responses")}
                       AS score_percent
              FROM ({months}) m LEFT JOIN counted USING (month)"""),
        ("digital take-up", f"""
            CREATE TABLE bench_floor.digital_take_up AS
            WITH counted AS (
                SELECT date_trunc('month', day)::date AS month,
                       sum("count") FILTER (WHERE channel = 'online') AS digital, sum("count") AS total
                  FROM bench_floor.channel_counts GROUP BY 1)
            SELECT m.month, coalesce(digital, 0) AS digital, coalesce(total, 0) AS total,
                   {pct("coalesce(digital, 0)", "coalesce(total, 0)")} AS take_up_percent
              FROM ({months}) m LEFT JOIN counted USING (month)"""),
    ]


def _window(args: dict) -> dict:
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    first, last = _day(args["start"]), _day(args["end"])
    return {
        "first": first,
        "last_month": last.replace(day=1),
        "starts_at": dt.datetime.combine(first, dt.time(), london),
        "ends_at": dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), london),
    }


def fetch_channel_counts(first: dt.date, last: dt.date):
    """The Sirius counts through perfdata's own client (signed requests, 92-day ranges, validation)."""
    from perfdata_assets.sources.sirius.client import SiriusClient

    return SiriusClient(base_url=os.environ["SIRIUS_BASE_URL"]).fetch_channel_counts(first, last)


def floor(args: dict) -> dict:
    """B: the smallest hand-written SQL doing the same work, on one psycopg connection."""
    import sqlalchemy as sa

    params = _window(args)
    url = sa.engine.make_url(args["url"])
    timings, rows = {}, {}
    with _connect(url) as conn:
        for setting, value in args.get("session", {}).items():
            conn.execute(f"SET {setting} = '{value}'")
        conn.execute("DROP SCHEMA IF EXISTS bench_floor CASCADE")
        conn.execute("CREATE SCHEMA bench_floor")
        with sirius_stub(_day(args["end"])):
            started = time.perf_counter()
            counts = fetch_channel_counts(_day(args["start"]), _day(args["end"]))
            conn.execute('CREATE TABLE bench_floor.channel_counts (day date, channel text, "count" integer, '
                         'PRIMARY KEY (day, channel))')
            with conn.cursor().copy('COPY bench_floor.channel_counts (day, channel, "count") FROM STDIN') as copy:
                for c in counts.counts:
                    if counts.is_final(c.day):
                        copy.write_row((c.day, c.channel, c.count))
            timings["channel counts (HTTP + COPY)"] = time.perf_counter() - started
        for name, statement in floor_statements():
            started = time.perf_counter()
            used = {k: v for k, v in params.items() if f":{k}" in statement}
            for k in used:
                statement = statement.replace(f":{k}", f"%({k})s")
            cursor = conn.execute(statement, used)
            timings[name] = time.perf_counter() - started
            if statement.lstrip().startswith("CREATE TABLE"):
                rows[name] = cursor.rowcount  # CREATE TABLE AS reports the rows it wrote
        conn.commit()
    return {"statements": timings, "rows": rows}


def _connect(url):
    import psycopg

    return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                           dbname=url.database)


# --- B's rows against PostgreSQL's own COPY ----------------------------------------------------

COPY_CHUNK = 1 << 20


def copy_rate(args: dict) -> dict:
    """How fast this PostgreSQL moves B's lifecycle events by itself: COPY out, COPY in, CREATE TABLE AS.

    Its own step, after B, so that B's wall time does not include it. The rows go
    through a binary file in 1 MB chunks (constant memory), into a table with the
    same columns and no index, dropped afterwards.
    """
    import tempfile

    import sqlalchemy as sa

    source = "bench_floor.lpa_lifecycle_events"
    timings = {}
    with _connect(sa.engine.make_url(args["url"])) as conn, \
            tempfile.NamedTemporaryFile(dir=args["dir"], suffix=".copy") as spool:
        rows = conn.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
        conn.execute("DROP TABLE IF EXISTS bench_floor.copy_in, bench_floor.ctas")
        conn.commit()

        started = time.perf_counter()
        with conn.cursor().copy(f"COPY (SELECT * FROM {source}) TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                spool.write(chunk)
        spool.flush()
        timings["copy out"] = time.perf_counter() - started
        conn.commit()

        # Timed to the commit, as B's statements are (B commits once at the end, the WAL flush included).
        spool.seek(0)
        started = time.perf_counter()
        conn.execute(f"CREATE TABLE bench_floor.copy_in (LIKE {source})")
        with conn.cursor().copy("COPY bench_floor.copy_in FROM STDIN (FORMAT binary)") as copy:
            while chunk := spool.read(COPY_CHUNK):
                copy.write(chunk)
        conn.commit()
        timings["copy in"] = time.perf_counter() - started

        started = time.perf_counter()
        conn.execute(f"CREATE TABLE bench_floor.ctas AS SELECT * FROM {source}")
        conn.commit()
        timings["create table as"] = time.perf_counter() - started

        conn.execute("DROP TABLE bench_floor.copy_in, bench_floor.ctas")
        conn.commit()
        spool_mb = os.fstat(spool.fileno()).st_size / 2**20
    return {"rows": rows, "seconds": timings, "rows_per_second": {k: rows / v for k, v in timings.items()},
            "file_mb": spool_mb}


# --- D: pandas -------------------------------------------------------------------------------


def _percent(n: int, d: int) -> str | None:
    if d == 0:
        return None
    return str((Decimal(100 * n) / Decimal(d)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def naive_pandas(args: dict) -> dict:
    """D: read the source rows into pandas and aggregate them there, as a notebook would."""
    import pandas as pd
    import sqlalchemy as sa

    params = _window(args)
    first, last = _day(args["start"]), _day(args["end"])
    engine = sa.create_engine(args["url"])
    timings = {}
    started = time.perf_counter()
    with engine.connect() as conn:
        lpas = pd.read_sql_query(sa.text('SELECT id, "startedAt", "createdAt", "completedAt" FROM applications'), conn)
        timings["read applications"] = time.perf_counter() - started
        started = time.perf_counter()
        forms = pd.read_sql_query(sa.text("SELECT id, received, message ->> 'rating' AS rating FROM feedback"), conn)
        timings["read feedback"] = time.perf_counter() - started
    started = time.perf_counter()
    starts_at, ends_at = pd.Timestamp(params["starts_at"]), pd.Timestamp(params["ends_at"])

    def months_of(instants: pd.Series) -> pd.Series:
        instants = pd.to_datetime(instants, utc=True)
        instants = instants[(instants >= starts_at) & (instants < ends_at)]
        return instants.dt.tz_convert("Europe/London").dt.tz_localize(None).dt.to_period("M")

    completion = {
        event: months_of(lpas[column]).value_counts()
        for event, column in (("started", "startedAt"), ("created", "createdAt"), ("completed", "completedAt"))
    }
    forms = forms[forms["rating"].isin(VALID_RATINGS)]
    forms = forms.assign(month=months_of(forms["received"]))
    forms = forms.dropna(subset=["month"])
    levels = forms.groupby(["month", "rating"]).size().unstack(fill_value=0)
    timings["aggregate"] = time.perf_counter() - started

    started = time.perf_counter()
    with sirius_stub(last):
        counts = fetch_channel_counts(first, last)
    channel = pd.DataFrame([(c.day, c.channel, c.count) for c in counts.counts if counts.is_final(c.day)],
                           columns=["day", "channel", "count"])
    channel["month"] = pd.to_datetime(channel["day"]).dt.to_period("M")
    digital = channel[channel["channel"] == "online"].groupby("month")["count"].sum()
    total = channel.groupby("month")["count"].sum()
    timings["channel counts"] = time.perf_counter() - started

    figures = {"completion_rate": {}, "user_satisfaction": {}, "digital_take_up": {}}
    month = first.replace(day=1)
    while month <= last:
        period = pd.Period(month, "M")
        key = month.isoformat()
        started_n, created_n, completed_n = (int(completion[e].get(period, 0)) for e in ("started", "created", "completed"))
        figures["completion_rate"][key] = {"started": started_n, "created": created_n, "completed": completed_n,
                                           "completion_rate_percent": _percent(created_n, started_n)}
        level = {r: int(levels.loc[period, r]) if period in levels.index and r in levels.columns else 0
                 for r in VALID_RATINGS}
        responses = sum(level.values())
        weighted = (level["dissatisfied"] + 2 * level["neither-satisfied-or-dissatisfied"] + 3 * level["satisfied"]
                    + 4 * level["very-satisfied"])
        figures["user_satisfaction"][key] = {
            "responses": responses, "very_dissatisfied": level["very-dissatisfied"],
            "dissatisfied": level["dissatisfied"], "neither": level["neither-satisfied-or-dissatisfied"],
            "satisfied": level["satisfied"], "very_satisfied": level["very-satisfied"],
            "satisfied_percent": _percent(level["satisfied"] + level["very-satisfied"], responses),
            "score_percent": _percent(weighted, 4 * responses),
        }
        d, t = int(digital.get(period, 0)), int(total.get(period, 0))
        figures["digital_take_up"][key] = {"digital": d, "total": t, "take_up_percent": _percent(d, t)}
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return {"statements": timings, "figures": figures, "rows_read": int(len(lpas) + len(forms))}


# --- F: load on GET /v1/kpis/latest -----------------------------------------------------------------


def load(args: dict) -> dict:
    """Latency with one client, then throughput with `concurrency` clients; bounded in count and time.

    Each client asks for the URLs in turn (the API's latest KPIs, the open-data CSV).
    """
    import http.client
    import itertools
    from urllib.parse import urlsplit

    targets = [urlsplit(url) for url in args["urls"]]
    target = targets[0]
    headers = {"Authorization": f"Bearer {args['token']}", "Accept": "application/json"}

    def client(count: int, deadline: float, latencies: list[float], errors: list[str]) -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        try:
            for _, path in zip(range(count), itertools.cycle(t.path for t in targets)):
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                latencies.append(time.perf_counter() - started)
                answered = (json.loads(body).get("data") if path.startswith("/v1/")
                            else body.startswith(b"period_start,"))
                if response.status != 200 or not answered:
                    errors.append(f"{response.status} {body[:100]!r}")
                    return
        finally:
            conn.close()

    def phase(concurrency: int, requests: int, seconds: float) -> dict:
        latencies: list[float] = []
        errors: list[str] = []
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(requests // concurrency, deadline, latencies, errors))
                   for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"GET {', '.join(args['urls'])} failed: {errors[0]}")
        ordered = sorted(latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

        return {"concurrency": concurrency, "requests": len(ordered), "seconds": elapsed,
                "rps": len(ordered) / elapsed, "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
                "max_ms": ordered[-1] * 1000}

    phase(2, 200, 10)  # warm-up: connections, the pool, Python's first calls
    return {
        "single": phase(1, args["requests"] // 4, args["seconds"] / 2),
        "loaded": phase(args["concurrency"], args["requests"], args["seconds"]),
    }


STEPS = {
    "backfill": backfill,
    "ui_backfill": ui_backfill,
    "nightly": nightly,
    "naive_dagster": naive_dagster,
    "floor": floor,
    "copy_rate": copy_rate,
    "naive_pandas": naive_pandas,
    "load": load,
}


def main() -> None:
    step, args, result_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    result = STEPS[step](args)
    Path(result_path).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
