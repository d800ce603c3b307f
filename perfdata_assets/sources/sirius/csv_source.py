"""Channel counts supplied by hand as CSV, until the Sirius endpoint exists.

Same rules as the API (docs/contract/sirius.md); every problem is
reported with its line number so whoever prepared the file can fix it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from pathlib import Path

from perfdata_assets.calendar import iso_date
from perfdata_assets.sources.sirius.counts import (
    MAX_COUNT,
    ChannelCount,
    ChannelCounts,
    ChannelCountsCsvError,
    sort_counts,
)

HEADER = ["date", "channel", "count"]
_DIGITS = re.compile(r"[0-9]+")


class _RowError(Exception):
    """A problem with one row; the caller adds the file and line."""


def _parse_row(row: list[str]) -> ChannelCount:
    if len(row) != len(HEADER):
        raise _RowError(f"has {len(row)} columns, expected {len(HEADER)} (date,channel,count)")
    raw_date, channel, raw_count = row
    day = iso_date(raw_date)
    if day is None:
        raise _RowError(f"date {raw_date[:40]!r} is not a YYYY-MM-DD date")
    if channel == "":
        raise _RowError("channel is empty")
    if channel != channel.strip():
        # ' online' would otherwise count as an unknown channel, not as digital.
        raise _RowError(f"channel {channel[:40]!r} has leading or trailing whitespace")
    if not _DIGITS.fullmatch(raw_count):
        raise _RowError(f"count {raw_count[:40]!r} is not a non-negative integer")
    count = int(raw_count)
    if count > MAX_COUNT:
        raise _RowError(f"count {raw_count[:40]} is too large (the maximum is {MAX_COUNT})")
    return ChannelCount(day=day, channel=channel, count=count)


def _read_text(path: str | os.PathLike[str], where: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ChannelCountsCsvError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ChannelCountsCsvError(f"{where} line {line}: is not UTF-8 text") from None


def read_channel_counts_csv(
    path: str | os.PathLike[str], start: dt.date | None = None, end: dt.date | None = None
) -> ChannelCounts:
    """Read and validate the whole file, then keep the rows within [start, end].

    Every row is checked, also those outside the range: a file with a bad row is a
    bad file. complete_through is the last date in the file (not just in the range),
    because hand-supplied figures are final and a day without a row is a zero day; it
    is None when the file has no data rows. Without a range, start/end are the first
    and last dates in the file (a header-only file then has no range and is refused).
    A UTF-8 byte order mark (as spreadsheets write) and blank lines are accepted.
    """
    if start is not None and end is not None and start > end:
        raise ValueError(f"start {start} is after end {end}")
    where = f"channel counts CSV {os.fspath(path)}"
    reader = csv.reader(io.StringIO(_read_text(path, where), newline=""), strict=True)
    first_line: dict[tuple[dt.date, str], int] = {}
    rows: list[ChannelCount] = []
    try:
        header = next(reader, None)
        if header is None:
            raise ChannelCountsCsvError(f"{where} line 1: the file is empty, expected the header date,channel,count")
        if header != HEADER:
            raise ChannelCountsCsvError(
                f"{where} line 1: header is {','.join(header)[:80]!r}, expected 'date,channel,count'"
            )
        for row in reader:
            if not row:  # a blank line carries no figure
                continue
            try:
                entry = _parse_row(row)
                key = (entry.day, entry.channel)
                if key in first_line:
                    raise _RowError(f"{entry.day} {entry.channel!r} appears again (first on line {first_line[key]})")
            except _RowError as exc:
                raise ChannelCountsCsvError(f"{where} line {reader.line_num}: {exc}") from None
            first_line[key] = reader.line_num
            rows.append(entry)
    except csv.Error as exc:
        raise ChannelCountsCsvError(f"{where} line {reader.line_num}: is not valid CSV ({exc})") from None

    last_day = max((r.day for r in rows), default=None)
    if start is None or end is None:
        if not rows:
            raise ChannelCountsCsvError(f"{where}: has no data rows, so no date range can be inferred; give start and end")
        start = start if start is not None else min(r.day for r in rows)
        end = end if end is not None else last_day
        if start > end:
            raise ValueError(f"start {start} is after the last date in the file, {end}")
    kept = [r for r in rows if start <= r.day <= end]
    return ChannelCounts(start=start, end=end, complete_through=last_day, counts=sort_counts(kept))
