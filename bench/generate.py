"""A production-sized LPA service database, generated set-based inside PostgreSQL.

The tables come from ``perfdata_assets.sources.lpa.tables`` (same columns, types,
primary keys and indexes as the service). Rows are made by
``INSERT … SELECT … generate_series`` in a few statements, the secondary
indexes built afterwards, then ``VACUUM (FREEZE, ANALYZE)`` so that no measured
step pays for hint bits or statistics. A marker table records the generator
version and parameters: a later run with the same ones reuses the data.

What makes it production-like:

- ``lpas_per_month`` LPAs started per month on average, with seasons (a January
  peak, August and December dips) and quieter weekends; start times uniform over
  every hour of the London day, so clock-change days have 23 or 25 hours of them;
- drop-off: 72 % are created (after an exponential 3 days on average), 85 % of
  those completed (2 more days); nothing happens after the end of the history;
- random 11-digit LPA ids, as the service gives them (so perfdata's primary key
  is filled in random order, the hard case);
- a ~600-byte ``document`` (donor, attorneys, certificate provider, instructions),
  ``user``, ``search``, ``payment`` and ``metadata`` columns, so the scans read
  rows of a realistic width;
- 3 % of LPAs deleted the service's way: every column but ``id`` and ``updatedAt`` NULL;
- ``feedback_per_month`` feedback forms, 3 % with an invalid rating (wrong case,
  a number, empty, missing), HTML-escaped text as the service stores it.

Sirius channel counts are not stored: the measured steps ask the Sirius stub
(``perfdata_assets.devtools.sirius_stub.SiriusStub``) for them over loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from perfdata_assets.sources.lpa.tables import applications, feedback, metadata

GENERATOR_VERSION = 3
MARKER = "perfdata_bench_marker"

# Mean of SEASON over the months and of the weekday factors over a week, so
# that the average month gets lpas_per_month.
SEASON = {1: 1.25, 2: 1.1, 3: 1.1, 4: 1.0, 5: 0.95, 6: 0.9, 7: 0.85, 8: 0.75, 9: 0.95, 10: 1.05, 11: 1.05, 12: 0.7}
WEEKDAY, WEEKEND = 1.15, 0.6


@dataclass(frozen=True)
class Params:
    years: int
    lpas_per_month: int
    feedback_per_month: int
    seed: float = 0.42


@dataclass(frozen=True)
class Dataset:
    params: Params
    first_day: dt.date
    last_day: dt.date
    applications: int
    deleted: int
    events: int
    feedback: int
    generated_seconds: float
    reused: bool

    @property
    def months(self) -> int:
        return (self.last_day.year - self.first_day.year) * 12 + self.last_day.month - self.first_day.month + 1


def history_window(years: int, today: dt.date) -> tuple[dt.date, dt.date]:
    """`years` whole months × 12 ending with the last month before today's."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    first = dt.date(last.year - years, last.month, 1) + dt.timedelta(days=31)
    return first.replace(day=1), last


def _season_sql() -> str:
    return "(ARRAY[" + ", ".join(str(SEASON[m]) for m in range(1, 13)) + "])[extract(month FROM day)::int]"


def _per_day(p: Params) -> float:
    mean_season = sum(SEASON.values()) / 12
    mean_week = (5 * WEEKDAY + 2 * WEEKEND) / 7
    return p.lpas_per_month * 12 / 365.25 / mean_season / mean_week


DAYS = """
    SELECT day::date AS day,
           (day::timestamp AT TIME ZONE 'Europe/London') AS day_start,
           ((day + interval '1 day')::timestamp AT TIME ZONE 'Europe/London') AS day_end
      FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS day
"""

FIRST_NAMES = ["Ada", "Bilal", "Ceri", "Deborah", "Emeka", "Fiona", "Gareth", "Harpreet", "Iain", "Jadwiga",
               "Kwame", "Lowri", "Mohammed", "Niamh", "Olu", "Priya", "Rhys", "Siobhan", "Tomasz", "Una"]
LAST_NAMES = ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
              "Roberts", "Khan", "Patel", "Lewis", "Walker", "O'Brien", "Hughes", "Edwards", "Green", "Hall"]


def _pick(values: list[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"(ARRAY[{quoted}])[1 + floor(random() * {len(values)})::int]"


def _applications_sql(p: Params) -> str:
    name = lambda: f"jsonb_build_object('title', 'Mx', 'first', {_pick(FIRST_NAMES)}, 'last', {_pick(LAST_NAMES)})"  # noqa: E731
    address = (
        "jsonb_build_object('address1', (1 + floor(random() * 200))::int || ' High Street', "
        "'address2', 'Flat ' || (1 + floor(random() * 20))::int, 'address3', 'Townsville', "
        "'postcode', 'AB' || (1 + floor(random() * 99))::int || ' ' || (1 + floor(random() * 9))::int || 'CD')"
    )
    person = lambda: f"jsonb_build_object('name', {name()}, 'address', {address}, 'dob', jsonb_build_object('date', '1950-01-01T00:00:00.000Z'))"  # noqa: E731
    return f"""
    INSERT INTO applications
           (id, "user", "updatedAt", "startedAt", "createdAt", "completedAt", "lockedAt", locked,
            "whoAreYouAnswered", seed, "repeatCaseNumber", document, payment, metadata, search)
    WITH days AS ({DAYS}),
    counts AS (
        SELECT day, day_start, day_end,
               round({_per_day(p)} * {_season_sql()}
                     * CASE WHEN extract(isodow FROM day) >= 6 THEN {WEEKEND} ELSE {WEEKDAY} END
                     * (0.85 + 0.3 * random()))::int AS n
          FROM days
    ),
    started AS (
        SELECT day_start + random() * (day_end - day_start) AS started_at,
               random() < 0.72 AS will_create, random() < 0.85 AS will_complete,
               random() < 0.03 AS deleted,
               -ln(1 - random()) * interval '3 days' AS create_after,
               -ln(1 - random()) * interval '2 days' AS complete_after,
               random() * interval '30 days' AS delete_after
          FROM counts, generate_series(1, n)
    ),
    lifecycle AS (
        SELECT started_at, deleted, delete_after,
               CASE WHEN will_create AND started_at + create_after < :history_end
                    THEN started_at + create_after END AS created_at,
               CASE WHEN will_create AND will_complete
                         AND started_at + create_after + complete_after < :history_end
                    THEN started_at + create_after + complete_after END AS completed_at,
               row_number() OVER () AS rn
          FROM started
    ),
    pool AS MATERIALIZED (
        -- 4,096 distinct documents, donors and accounts: building a ~600-byte jsonb
        -- per row would cost more than everything else together.
        SELECT k, {_pick(["property-and-finance", "health-and-welfare"])} AS lpa_type, {person()} AS donor,
               {person()} AS attorney, jsonb_build_object('name', {name()}, 'address', {address}) AS certificate_provider,
               CASE WHEN random() < 0.3 THEN 'My attorneys must consult my children.' ELSE '' END AS instruction,
               CASE WHEN random() < 0.3 THEN 'I would like to stay in my own home.' ELSE '' END AS preference
          FROM generate_series(0, 4095) AS k
    ),
    docs AS MATERIALIZED (
        SELECT k, lpa_type,
               jsonb_build_object(
                   'type', lpa_type,
                   'donor', donor || jsonb_build_object('email', jsonb_build_object('address', 'donor' || k || '@example.com'),
                                                        'canSign', true, 'otherNames', ''),
                   'primaryAttorneys', jsonb_build_array(attorney),
                   'certificateProvider', certificate_provider,
                   'whoIsRegistering', 'donor',
                   'instruction', instruction,
                   'preference', preference) AS document,
               (donor -> 'name' ->> 'first') || ' ' || (donor -> 'name' ->> 'last') AS search
          FROM pool
    ),
    lpas AS (
        SELECT 10000000000 + (rn * 1000000007) % 89999999999 AS id, l.*, d.document, d.search
          FROM lifecycle l JOIN docs d ON d.k = l.rn % 4096
    )
    SELECT id,
           CASE WHEN NOT deleted THEN md5(id::text) END,
           CASE WHEN deleted THEN least(coalesce(completed_at, created_at, started_at) + delete_after, :history_end)
                ELSE coalesce(completed_at, created_at, started_at) END,
           CASE WHEN NOT deleted THEN started_at END,
           CASE WHEN NOT deleted THEN created_at END,
           CASE WHEN NOT deleted THEN completed_at END,
           CASE WHEN NOT deleted THEN completed_at END,
           CASE WHEN NOT deleted THEN completed_at IS NOT NULL END,
           CASE WHEN NOT deleted THEN created_at IS NOT NULL END,
           NULL, NULL,
           CASE WHEN NOT deleted THEN document END,
           CASE WHEN NOT deleted AND completed_at IS NOT NULL
                THEN jsonb_build_object('method', 'card', 'amount', 82, 'reference', 'PAY' || id,
                                        'date', completed_at) END,
           CASE WHEN NOT deleted THEN jsonb_build_object('analyticsReturnCount', (id % 5)::int) END,
           CASE WHEN NOT deleted THEN search END
      FROM lpas
    """


RATINGS = [("very-satisfied", 44), ("satisfied", 30), ("neither-satisfied-or-dissatisfied", 10),
           ("dissatisfied", 7), ("very-dissatisfied", 5)]


def _rating_sql() -> str:
    """A weighted valid rating, or (3 %) an invalid one: wrong case, a number, empty, or no key at all."""
    total = sum(w for _, w in RATINGS)
    cases, acc = [], 0
    for rating, weight in RATINGS:
        acc += weight
        cases.append(f"WHEN r < {0.97 * acc / total} THEN to_jsonb('{rating}'::text)")
    return (
        "CASE " + " ".join(cases)
        + " WHEN r < 0.98 THEN to_jsonb('Satisfied'::text) WHEN r < 0.99 THEN to_jsonb(5)"
        + " WHEN r < 0.995 THEN to_jsonb(''::text) ELSE NULL END"
    )


def _feedback_sql(p: Params) -> str:
    per_day = p.feedback_per_month * 12 / 365.25 / ((5 * WEEKDAY + 2 * WEEKEND) / 7)
    pages = ["/home", "/user/dashboard", "/lpa/type", "/guide#what&#039;s-new", "Unknown", "/help &amp; support"]
    details = ["It&#039;s quick &amp; easy", "Couldn&#039;t find the &lt;save&gt; button", "Great service",
               "Too many &quot;questions&quot;"]
    return f"""
    INSERT INTO feedback (received, message)
    WITH days AS ({DAYS}),
    counts AS (
        SELECT day_start, day_end,
               round({per_day} * CASE WHEN extract(isodow FROM day) >= 6 THEN {WEEKEND} ELSE {WEEKDAY} END
                     * (0.6 + 0.8 * random()))::int AS n
          FROM days
    ),
    forms AS (
        SELECT day_start + random() * (day_end - day_start) AS received, random() AS r
          FROM counts, generate_series(1, n)
    )
    SELECT received,
           jsonb_strip_nulls(jsonb_build_object(
               'rating', {_rating_sql()},
               'details', {_pick(details)},
               'email', CASE WHEN random() < 0.4 THEN 'someone@example.com' ELSE '' END,
               'phone', '',
               'agent', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36',
               'fromPage', {_pick(pages)}))
      FROM forms
     ORDER BY received
    """


def _marker(conn: sa.Connection) -> dict | None:
    exists = conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f"public.{MARKER}"}).scalar()
    if not exists:
        return None
    row = conn.execute(sa.text(f"SELECT * FROM public.{MARKER}")).mappings().first()
    return dict(row) if row else None


def ensure_database(admin_url: str, name: str) -> str:
    """CREATE DATABASE name if missing; returns its URL."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def ensure_dataset(url: str, params: Params, today: dt.date, echo=print, force: bool = False) -> Dataset:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            marker = _marker(conn)
        wanted = {"version": GENERATOR_VERSION, **asdict(params)}
        if marker and marker["params"] == wanted and not force:
            echo(f"reusing the generated LPA database (generated {marker['generated_at']:%Y-%m-%d %H:%M}, "
                 f"{marker['seconds']:.0f} s)")
            return _dataset(marker, params, reused=True)
        if marker:
            echo(f"regenerating: the database holds {marker['params']}, wanted {wanted}")
        first, last = history_window(params.years, today)
        return _generate(engine, params, wanted, first, last, echo)
    finally:
        engine.dispose()


def _dataset(marker: dict, params: Params, reused: bool) -> Dataset:
    return Dataset(params, marker["first_day"], marker["last_day"], marker["applications"], marker["deleted"],
                   marker["events"], marker["feedback"], float(marker["seconds"]), reused)


def _generate(engine: sa.Engine, params: Params, wanted: dict, first: dt.date, last: dt.date, echo) -> Dataset:
    from zoneinfo import ZoneInfo

    history_end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), ZoneInfo("Europe/London"))
    bind = {"first": first, "last": last, "history_end": history_end}
    echo(f"generating {params.years} years ({first} .. {last}) of LPAs, {params.lpas_per_month:,} a month; "
         f"{params.feedback_per_month:,} feedback forms a month")
    started = time.monotonic()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS public.{MARKER}")
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS perfdata CASCADE")
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS bench_floor CASCADE")
        metadata.drop_all(conn)
        metadata.create_all(conn)
        # Secondary indexes are built once the rows are in (faster), from the same definitions.
        secondary = [i for t in (applications, feedback) for i in t.indexes]
        for index in secondary:
            index.drop(conn)
    step = time.monotonic()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.execute(sa.text("SELECT setseed(:s)"), {"s": params.seed})
        n = conn.execute(sa.text(_applications_sql(params)), bind).rowcount
        echo(f"  applications: {n:,} rows in {time.monotonic() - step:.0f} s")
        step = time.monotonic()
        f = conn.execute(sa.text(_feedback_sql(params)), bind).rowcount
        echo(f"  feedback: {f:,} rows in {time.monotonic() - step:.0f} s")
    step = time.monotonic()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        for index in secondary:
            index.create(conn)
    echo(f"  indexes in {time.monotonic() - step:.0f} s")
    step = time.monotonic()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (FREEZE, ANALYZE) applications")
        conn.exec_driver_sql("VACUUM (FREEZE, ANALYZE) feedback")
    echo(f"  vacuum/analyze in {time.monotonic() - step:.0f} s")
    with engine.begin() as conn:
        counts = conn.execute(sa.text(
            """SELECT count(*) AS applications, count(*) FILTER (WHERE "user" IS NULL) AS deleted,
                      count("startedAt") + count("createdAt") + count("completedAt") AS events
                 FROM applications""")).mappings().one()
        seconds = time.monotonic() - started
        conn.exec_driver_sql(
            f"""CREATE TABLE public.{MARKER} (params jsonb NOT NULL, first_day date NOT NULL, last_day date NOT NULL,
                applications bigint NOT NULL, deleted bigint NOT NULL, events bigint NOT NULL,
                feedback bigint NOT NULL, seconds numeric NOT NULL, generated_at timestamptz NOT NULL DEFAULT now())"""
        )
        conn.execute(
            sa.text(f"""INSERT INTO public.{MARKER} (params, first_day, last_day, applications, deleted, events,
                        feedback, seconds) VALUES (CAST(:params AS jsonb), :first, :last, :a, :d, :e, :f, :s)"""),
            {"params": json.dumps(wanted), "first": first, "last": last, "a": counts["applications"],
             "d": counts["deleted"], "e": counts["events"], "f": f, "s": seconds},
        )
        marker = _marker(conn)
    echo(f"  generated in {seconds:.0f} s")
    return _dataset(marker, params, reused=False)
