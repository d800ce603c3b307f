"""bench/RESULTS.md: the measured figures, the ratios and the targets, as markdown."""

from __future__ import annotations

import datetime as dt

from bench.measure import Measurement


def _s(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds < 600 else f"{seconds / 60:,.1f} min"


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(*, dataset, machine, results: dict[str, Measurement], api, notes, problems, args, database, revision,
           load, total_seconds, experiments=()) -> str:
    a, b = results["A"], results["B"]
    years = dataset.months / 12
    lines = [
        "# perfdata benchmark",
        "",
        f"Measured {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by `python -m bench"
        + (f" --years {args.years}" if args.years != 5 else "")
        + (f" --lpas-per-month {args.lpas_per_month}" if args.lpas_per_month != 100_000 else "")
        + f"` (code {revision}).",
        "",
        f"- Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gb']:.0f} GB memory, "
        f"Linux {machine['kernel']}, Python {machine['python']}",
        f"- PostgreSQL {machine['postgres']}, server settings as installed: "
        + ", ".join(f"{k} {v}" for k, v in machine["pg_settings"].items()),
        f"- Load average (1 min) {load[0][0]:.1f} at the start, {load[1][0]:.1f} at the end "
        "(the machine is shared: other work running at the same time slows every step alike)",
        f"- History in database `{database}`: {dataset.first_day} .. {dataset.last_day} ({dataset.months} months), "
        f"{dataset.applications:,} LPAs ({dataset.deleted:,} deleted, {dataset.events:,} lifecycle events), "
        f"{dataset.feedback:,} feedback forms, Sirius counts for every day from the stub on loopback"
        + (f"; reused (generated in {dataset.generated_seconds:.0f} s)" if dataset.reused
           else f"; generated in {dataset.generated_seconds:.0f} s"),
        f"- Dagster instance: {args.dagster_storage} storage, a fresh one for each backfill; "
        "embedded architecture (PERFDATA_DATABASE_URL = LPA_DATABASE_URL)",
        "",
        "| step | what | wall time | peak RSS (Python) | PostgreSQL backends (peak anonymous) | temp files |",
        "|---|---|---:|---:|---:|---:|",
    ]

    def row(label: str, what: str, m: Measurement, seconds: float | None = None) -> None:
        lines.append(f"| {label} | {what} | {_s(seconds if seconds is not None else m.seconds)} | "
                     f"{m.max_rss_mb:,.0f} MB | {m.pg_anon_peak_mb:,.0f} MB | {m.pg_temp_mb:,.0f} MB |")

    row("A", f"`perfdata backfill`, all assets, {dataset.months} months, empty schema", a)
    row("B", "the floor: history copies + keys, figures from the sources (hand-written SQL)", b)
    c_scaled = None
    if "C" in results:
        c = results["C"]
        days = len(c.result["per_day_seconds"])
        per_day = c.result["daily_seconds"] / days
        total_days = (dataset.last_day - dataset.first_day).days + 1
        c_scaled = per_day * total_days + c.result["monthly_seconds"] * dataset.months
        row("C", f"one run per partition: {days} daily runs + 1 monthly run, measured", c)
        lines.append(f"| C (scaled) | … scaled to {total_days:,} daily runs + {dataset.months} monthly runs "
                     f"({per_day:.2f} s a day, {c.result['monthly_seconds']:.1f} s a month) | {_s(c_scaled)} | | | |")
    if "D" in results:
        row("D", "pandas: source rows read into DataFrames, aggregated there", results["D"])
    if "E" in results:
        row("E", "nightly: the two nightly jobs over 3 days + the monthly job, after A", results["E"])
    if "F" in results:
        row("F", "load client (its own process)", results["F"])
    lines.append("")

    growth = sorted((m for k, m in results.items() if k.startswith("A_") and k[2:-1].isdigit()),
                    key=lambda m: int(m.name[2:-1]))
    lines += ["## Ratios and targets", "", "| measure | value | target | |", "|---|---:|---|---|"]
    lines.append(f"| A / B | {a.seconds / b.seconds:.2f} (A = {_s(a.seconds)}, 1.5 B + 10 s = "
                 f"{_s(1.5 * b.seconds + 10)}) | A ≤ 1.5 × B + 10 s | {_mark(a.seconds <= 1.5 * b.seconds + 10)} |")
    flat = all(m.max_rss_mb <= growth[0].max_rss_mb * 1.15 + 20 for m in growth)
    lines.append("| A peak RSS | " + ", ".join(f"{m.max_rss_mb:,.0f} MB ({int(m.name[2:-1])} months)" for m in growth)
                 + f" | < 400 MB, flat | {_mark(max(m.max_rss_mb for m in growth) < 400 and flat)} |")
    if c_scaled is not None:
        lines.append(f"| C / A | {c_scaled / a.seconds:,.1f} | | |")
    if "D" in results:
        d = results["D"]
        lines.append(f"| D / A | {d.seconds / a.seconds:.2f} (peak RSS {d.max_rss_mb:,.0f} MB) | | |")
    if "E" in results:
        e = results["E"]
        lines.append(f"| E / A | {100 * e.seconds / a.seconds:.1f} % ({_s(e.seconds)}) | < 5 % | "
                     f"{_mark(e.seconds < 0.05 * a.seconds)} |")
        shorter = sorted((m for k, m in results.items() if k.startswith("E_")), key=lambda m: int(m.name[2:-1]))
        for m in shorter:
            lines.append(f"| E after {int(m.name[2:-1])} months of history | {_s(m.seconds)} "
                         f"({m.seconds / e.seconds:.2f} × E after {dataset.months}) | flat | "
                         f"{_mark(e.seconds <= m.seconds * 1.25 + 0.5)} |")
    if api:
        single, loaded = api["single"], api["loaded"]
        lines.append(f"| F p50 / p99, 1 client | {single['p50_ms']:.1f} ms / {single['p99_ms']:.1f} ms "
                     f"({single['rps']:.0f} requests/s) | p99 < 25 ms | {_mark(single['p99_ms'] < 25)} |")
        lines.append(f"| F p50 / p99, {loaded['concurrency']} clients | {loaded['p50_ms']:.1f} ms / "
                     f"{loaded['p99_ms']:.1f} ms, **{loaded['rps']:.0f} requests/s** ({loaded['requests']:,} requests "
                     f"in {loaded['seconds']:.1f} s) | p99 < 25 ms | {_mark(loaded['p99_ms'] < 25)} |")
    else:
        lines.append("| F | pending (see notes) | p99 < 25 ms | |")
    lines.append("")

    if len(growth) > 1:
        lines += ["## Cost growth with history (A)", "",
                  "| history | wall time | per month | peak RSS (Python) | PostgreSQL backends |",
                  "|---|---:|---:|---:|---:|"]
        for m in growth:
            n = int(m.name[2:-1])
            lines.append(f"| {n} months | {_s(m.seconds)} | {m.seconds / n:.2f} s | {m.max_rss_mb:,.0f} MB | "
                         f"{m.pg_anon_peak_mb:,.0f} MB |")
        small, big = growth[0], growth[-1]
        n_small, n_big = int(small.name[2:-1]), int(big.name[2:-1])
        lines.append("")
        lines.append(f"{n_big / n_small:.0f}× the history took {big.seconds / small.seconds:.2f}× the time "
                     f"({'at most linear' if big.seconds <= small.seconds * n_big / n_small * 1.05 else 'MORE than linear'}); "
                     f"peak RSS went from {small.max_rss_mb:,.0f} MB to {big.max_rss_mb:,.0f} MB.")
        lines.append("")

    if experiments:
        base = experiments[0][1]
        lines += ["## Where A's time goes: the Dagster event log", "",
                  f"The same {int(base.name.split('_')[1].split('m')[0])}-month backfill, each into an empty schema "
                  "and a fresh instance. Dagster writes one event per partition and asset when the run is planned "
                  "and another when the asset returns, whatever the asset does. By default each is written alone, "
                  "on a new PostgreSQL connection (dagster-postgres holds none); `perfdata backfill` batches the "
                  "materialisations (DAGSTER_EVENT_BATCH_SIZE=1000) and holds a small pool of connections, and "
                  "keeps the planned events one per partition.", "",
                  "| variant | wall time | vs as shipped | peak RSS |", "|---|---:|---:|---:|"]
        for what, m in experiments:
            lines.append(f"| {what} | {_s(m.seconds)} | {m.seconds - base.seconds:+.1f} s | {m.max_rss_mb:,.0f} MB |")
        lines.append("")
    lines += ["## Inside each step", ""]
    for key in ("A", "B", "C", "D", "E"):
        if key in results:
            detail = {k: v for k, v in results[key].result.items() if k != "per_day_seconds"}
            lines.append(f"- {key}: " + _detail(detail))
    if api:
        lines.append(f"- F: server `{api['command']}`, peak RSS {api['server_max_rss_mb']:,.0f} MB; "
                     f"single {_fmt(api['single'])}; loaded {_fmt(api['loaded'])}")
    lines.append("")
    lines += [
        "## What is measured",
        "",
        "- Wall time: of the step's whole subprocess (`python -m bench.steps STEP`), Python start-up and imports "
        "included, as a `perfdata` command would pay them.",
        "- Peak RSS (Python): `ru_maxrss` of that subprocess from `os.wait4` (the kernel's high-water mark).",
        "- PostgreSQL backends: not our processes; their RSS counts the shared buffers they touch. Instead the "
        "peak, over samples every 0.25 s, of the summed `Anonymous:` memory (`/proc/PID/smaps_rollup`: heap, "
        "sorts, hashes; not shared buffers, not the page cache) of every backend on the benchmark's databases "
        "and their parallel workers. Temp files: growth of `pg_stat_database.temp_bytes` (spills to disk).",
        "- A, C and E include the asset checks that run with the assets, and every Dagster event "
        "(per-partition materialisations and their metadata) written to the instance.",
        "- B (the floor): `CREATE TABLE … AS SELECT` of the columns perfdata keeps plus `ADD PRIMARY KEY`, for "
        "the events and the feedback; the Sirius counts fetched through perfdata's own client and `COPY`-ed in; "
        "the monthly figures computed straight from the source tables. A's figures are checked equal to B's, "
        "month by month, every KPI column (C's, D's and E's too).",
        "- C and E run with the image's DAGSTER_EVENT_BATCH_SIZE=1000, as scheduled runs would; A with what "
        "`perfdata backfill` sets (the same, and pooled connections for the instance).",
        "- C: each day of one month in its own `dg.materialize(…, partition_key=day)` run, then the month's "
        "run; scaled linearly to every day and month of the history.",
        "- F: `GET /v1/kpis/latest` with a bearer token, keep-alive HTTP/1.1 from a separate process "
        "(threads with `http.client`), after a warm-up; one client, then several; bounded in count and time. "
        "Client and server share the machine's cores.",
        "",
    ]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines.append("Figures check: " + ("**FAILED**: " + "; ".join(problems[:5]) if problems
                                      else "A, C, D and E equal the floor, month by month, every KPI column."))
    lines.append("")
    lines.append(f"Whole benchmark: {_s(total_seconds)}.")
    return "\n".join(lines) + "\n"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def _detail(result: dict) -> str:
    return "; ".join(f"{k} {_fmt(v)}" for k, v in result.items()) or "–"
