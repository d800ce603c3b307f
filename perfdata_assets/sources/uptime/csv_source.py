"""Per-day uptime supplied by hand as CSV (SERVICE_UPTIME_CSV), for a team without
CloudWatch access or for history older than CloudWatch keeps.

Same rules as the CloudWatch figures (docs/contract/uptime.md); every problem
is reported with its line number so whoever prepared the file can fix it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from pathlib import Path

from perfdata_assets.calendar import iso_date
from perfdata_assets.db.ledger import describe_days
from perfdata_assets.sources.uptime.figures import MAX_DAY_MINUTES, UptimeCsvError, UptimeDay, days_between

HEADER = ["date", "observed_minutes", "healthy_minutes"]
_DIGITS = re.compile(r"[0-9]{1,9}")


class _RowError(Exception):
    """A problem with one row; the caller adds the file and line."""


def _minutes(raw: str, column: str) -> int:
    if not _DIGITS.fullmatch(raw):
        raise _RowError(f"{column} {raw[:40]!r} is not a whole number of minutes")
    value = int(raw)
    if value > MAX_DAY_MINUTES:
        raise _RowError(f"{column} {value} is more than a day has ({MAX_DAY_MINUTES} minutes at most)")
    return value


def _parse_row(row: list[str]) -> UptimeDay:
    if len(row) != len(HEADER):
        raise _RowError(f"has {len(row)} columns, expected {len(HEADER)} ({','.join(HEADER)})")
    raw_date, raw_observed, raw_healthy = row
    day = iso_date(raw_date)
    if day is None:
        raise _RowError(f"date {raw_date[:40]!r} is not a YYYY-MM-DD date")
    observed = _minutes(raw_observed, "observed_minutes")
    healthy = _minutes(raw_healthy, "healthy_minutes")
    if healthy > observed:
        raise _RowError(f"healthy_minutes {healthy} is more than observed_minutes {observed}")
    return UptimeDay(day=day, observed_minutes=observed, healthy_minutes=healthy, resolution_seconds=None)


def _read_text(path: str | os.PathLike[str], where: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UptimeCsvError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UptimeCsvError(f"{where} line {line}: is not UTF-8 text") from None


def read_uptime_csv(path: str | os.PathLike[str], first: dt.date, last: dt.date) -> list[UptimeDay]:
    """Read and validate the whole file, then return the days first..last in order.

    Every row is checked, also those outside the range: a file with a bad row is a bad
    file. Unlike channel counts, a day without a row is not a zero day (the health
    check not reporting is written as observed_minutes 0), so a requested day missing
    from the file is an error naming it. A UTF-8 byte order mark (as spreadsheets
    write) and blank lines are accepted.
    """
    wanted = days_between(first, last)
    where = f"uptime CSV {os.fspath(path)}"
    reader = csv.reader(io.StringIO(_read_text(path, where), newline=""), strict=True)
    first_line: dict[dt.date, int] = {}
    rows: dict[dt.date, UptimeDay] = {}
    try:
        header = next(reader, None)
        if header is None:
            raise UptimeCsvError(f"{where} line 1: the file is empty, expected the header {','.join(HEADER)}")
        if header != HEADER:
            raise UptimeCsvError(f"{where} line 1: header is {','.join(header)[:80]!r}, expected {','.join(HEADER)!r}")
        for row in reader:
            if not row:  # a blank line carries no figure
                continue
            try:
                entry = _parse_row(row)
                if entry.day in first_line:
                    raise _RowError(f"{entry.day} appears again (first on line {first_line[entry.day]})")
            except _RowError as exc:
                raise UptimeCsvError(f"{where} line {reader.line_num}: {exc}") from None
            first_line[entry.day] = reader.line_num
            rows[entry.day] = entry
    except csv.Error as exc:
        raise UptimeCsvError(f"{where} line {reader.line_num}: is not valid CSV ({exc})") from None

    missing = [d for d in wanted if d not in rows]
    if missing:
        raise UptimeCsvError(f"{where}: has no line for {len(missing)} requested day(s): {describe_days(missing)}")
    return [rows[d] for d in wanted]
